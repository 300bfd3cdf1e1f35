"""The catalog statements BI tools send (recorded in Cube's SQL API test suite) run
through the real server and return what those tools rely on."""

from __future__ import annotations

import psycopg
import pytest

from tests.python.serve.bi_queries import QUERIES
from tests.python.serve.conftest import dsn


@pytest.fixture(scope="module")
def conn(server):
    with psycopg.connect(dsn(server), autocommit=True) as c:
        yield c


@pytest.fixture(scope="module")
def oid(conn):
    return conn.execute("select 'main.fct_payments'::regclass::oid").fetchone()[0]


@pytest.mark.parametrize("name,sql,check", QUERIES, ids=[q[0] for q in QUERIES])
def test_recorded_bi_query(conn, oid, name, sql, check):
    rows = conn.execute(sql.replace("{oid}", str(oid))).fetchall()
    if check is not None:
        assert check(rows), rows[:5]


def test_oid_casts(conn, oid):
    assert conn.execute("select 'fct_payments'::regclass::oid").fetchone() == (oid,)
    assert conn.execute(f"select {oid}::regclass::text").fetchone() == ("fct_payments",)
    assert conn.execute("select 23::regtype::text").fetchone() == ("integer",)
