"""Lock-down and governance through the real server: forbidden statements and functions,
authentication failures, denied marts, masked PII, row policies, the query log."""

from __future__ import annotations

import json

import psycopg
import pytest

from tests.python.serve.conftest import dsn


@pytest.fixture
def conn(server):
    with psycopg.connect(dsn(server), autocommit=True) as c:
        yield c


FORBIDDEN = [
    ("create table t (a int)", psycopg.errors.ReadOnlySqlTransaction),
    (
        "insert into dim_clients values (9, 'x', 'y', 'z', 'EMEA', 'GB')",
        psycopg.errors.ReadOnlySqlTransaction,
    ),
    ("update dim_clients set region = 'x'", psycopg.errors.ReadOnlySqlTransaction),
    ("delete from fct_payments", psycopg.errors.ReadOnlySqlTransaction),
    ("drop table dim_clients", psycopg.errors.ReadOnlySqlTransaction),
    ("copy dim_clients to '/tmp/x.csv'", psycopg.errors.InsufficientPrivilege),
    ("copy dim_clients from stdin", psycopg.errors.ReadOnlySqlTransaction),
    ("select * into t2 from dim_clients", psycopg.errors.ReadOnlySqlTransaction),
    ("attach '/tmp/x.duckdb' as x", psycopg.errors.InsufficientPrivilege),
    ("install httpfs", psycopg.errors.InsufficientPrivilege),
    ("load httpfs", psycopg.errors.InsufficientPrivilege),
    ("pragma database_list", psycopg.errors.InsufficientPrivilege),
    ("checkpoint", psycopg.errors.InsufficientPrivilege),
    ("select * from read_csv('/etc/passwd')", psycopg.errors.InsufficientPrivilege),
    ("select * from read_text('/etc/passwd')", psycopg.errors.InsufficientPrivilege),
    ("select * from read_parquet('x.parquet')", psycopg.errors.InsufficientPrivilege),
    ("select * from '/etc/passwd'", psycopg.errors.InsufficientPrivilege),
    ('select * from "/etc/passwd"', psycopg.errors.InsufficientPrivilege),
    ("select * from glob('/*')", psycopg.errors.InsufficientPrivilege),
    ("select * from duckdb_tables()", psycopg.errors.InsufficientPrivilege),
    ("select * from query('select 1')", psycopg.errors.InsufficientPrivilege),
    ("select pg_read_file('/etc/passwd')", psycopg.errors.InsufficientPrivilege),
    ("select * from gen_1.main.fct_payments", psycopg.errors.InsufficientPrivilege),
    ("select * from _sem.dim_clients", psycopg.errors.InsufficientPrivilege),
    ("select * from role_admin.main.dim_clients", psycopg.errors.InsufficientPrivilege),
    ("select * from duckdb_databases", psycopg.errors.InsufficientPrivilege),
    ("select legal_name from gen_1.dim_clients", psycopg.errors.InsufficientPrivilege),
    ("select * from role_admin.dim_clients", psycopg.errors.InsufficientPrivilege),
    ("select * from _analysis.x", psycopg.errors.InsufficientPrivilege),
    ("select role_admin._pg.obj_description(1)", psycopg.errors.InsufficientPrivilege),
    ("select * from memory.main.x", psycopg.errors.InsufficientPrivilege),
    ("select * from main.duckdb_views", psycopg.errors.InsufficientPrivilege),
    ("select * from sqlite_master", psycopg.errors.InsufficientPrivilege),
    ("select * from system.main.duckdb_tables", psycopg.errors.InsufficientPrivilege),
    ("with x as (select 1) insert into t select * from x", psycopg.errors.ReadOnlySqlTransaction),
]


@pytest.mark.parametrize("sql,error", FORBIDDEN, ids=[s[:30] for s, _ in FORBIDDEN])
def test_forbidden_statements(conn, sql, error):
    with pytest.raises(error):
        conn.execute(sql)
    assert conn.execute("select 1").fetchone() == (1,)  # the session survives


def test_set_cannot_change_engine_configuration(conn):
    conn.execute("set threads = 1")  # accepted as a session setting, never reaches DuckDB
    conn.execute("set enable_external_access = true")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("select * from read_csv('/etc/passwd')")
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        conn.execute("set default_transaction_read_only = off")


@pytest.mark.parametrize(
    "user,password,error",
    [
        ("alice", "wrong", "password authentication failed"),
        ("mallory", "whatever", "password authentication failed"),
        ("alice", "", "password"),
    ],
)
def test_authentication_failures(server, user, password, error):
    with pytest.raises(psycopg.OperationalError, match=error):
        psycopg.connect(dsn(server, user=user, password=password), connect_timeout=10)


def test_unknown_database(server):
    with pytest.raises(psycopg.OperationalError, match='database "other" does not exist'):
        psycopg.connect(dsn(server).replace("dbname=opsmetrics", "dbname=other"))


def test_denied_mart_is_invisible_and_unreadable(server):
    with psycopg.connect(dsn(server, user="carol"), autocommit=True) as c:
        with pytest.raises(psycopg.errors.UndefinedTable):
            c.execute("select * from fct_payments")
        names = [
            r[0]
            for r in c.execute(
                "select table_name from information_schema.tables where table_schema = 'main'"
            )
        ]
        assert names == ["dim_clients"]
        rel = [
            r[0] for r in c.execute("select relname from pg_catalog.pg_class where relkind = 'r'")
        ]
        assert "fct_payments" not in rel


def test_pii_masked_unless_granted(server):
    with psycopg.connect(dsn(server, user="carol"), autocommit=True) as c:
        rows = c.execute(
            "select legal_name, contact_email, segment from dim_clients order by client_id"
        ).fetchall()
    assert rows[0] == ("****", "****", "Corporate")
    assert rows[3][1] is None  # a NULL stays NULL
    with psycopg.connect(dsn(server, user="alice"), autocommit=True) as c:
        assert c.execute("select legal_name from dim_clients where client_id = 1").fetchone() == (
            "Acme Bank",
        )


def test_row_policy_applies_to_reference_table_joins_and_facts(server):
    with psycopg.connect(dsn(server, user="bob"), autocommit=True) as c:
        regions = {r[0] for r in c.execute("select region from dim_clients")}
        assert regions == {"EMEA"}
        clients = {r[0] for r in c.execute("select distinct client_id from fct_payments")}
        assert clients == {1, 3}
        n = c.execute(
            "select count(*) from fct_payments p join dim_clients d using (client_id)"
        ).fetchone()[0]
        assert n == 2500
        assert c.execute("select count(*) from fct_payments where client_id = 2").fetchone() == (0,)


def test_query_log_records_user_sql_rows_and_time(server):
    with psycopg.connect(dsn(server, user="bob"), autocommit=True) as c:
        c.execute("select 'log-marker', client_id from dim_clients").fetchall()
    lines = [json.loads(x) for x in (server.tmp / "queries.jsonl").read_text().splitlines()]
    rec = [r for r in lines if "log-marker" in r.get("sql", "")][-1]
    assert rec["user"] == "bob" and rec["role"] == "emea_analyst" and rec["rows"] == 2
    assert rec["ms"] >= 0
