"""Expressions a client selects come back as from a real PostgreSQL 15: the column name
PostgreSQL gives them, the type OID it reports, and the value its driver decodes — through
psycopg (text and binary results) and asyncpg (which introspects array types with an
``oid[]`` query of pg_type, so those must be described as PostgreSQL describes them)."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from tests.python.serve.conftest import PASSWORDS, dsn
from tests.python.serve.pgref import running_reference

asyncpg = pytest.importorskip("asyncpg")

EXPRESSIONS = [
    "1::int2",
    "2::float4",
    "1::integer",
    "1::bigint",
    "1.5::double precision",
    "true::boolean",
    "1::numeric(5,2)",
    "'a'::text",
    "'2025-01-01'::date",
    "'2025-01-01 10:00'::timestamp",
    "interval '1 day 02:00:00'",
    "'x'::bytea",
    "array[1, 2, 3]",
    "array[[1, 2], [3, 4]]",
    "array[1, 2]::int8[]",
    "array[1.5, 2.25]",
    "array[date '2025-01-01', null]",
    "array[timestamp '2025-01-01 10:00']",
    "array[interval '1 day']",
    "array['00000000-0000-0000-0000-000000000001'::uuid]",
    "array['a b', null, 'c']",
    "array[true, false]",
]


@pytest.fixture(scope="module")
def reference():
    with running_reference() as ref:
        yield ref


def _psycopg(conninfo: str, binary: bool):
    with psycopg.connect(conninfo, autocommit=True) as c:
        out = []
        for e in EXPRESSIONS:
            cur = c.cursor(binary=binary)
            cur.execute(f"select {e}")
            (d,) = cur.description
            out.append((e, d.name, d.type_code, cur.fetchone()[0]))
        return out


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_names_types_and_values_as_postgresql(server, reference, binary):
    want = _psycopg(reference.dsn, binary)
    got = _psycopg(dsn(server), binary)
    assert got == want


def test_asyncpg_decodes_every_array_as_from_postgresql(server, reference):
    async def fetch(**conn):
        c = await asyncpg.connect(**conn)
        try:
            return [(e, list((await c.fetchrow(f"select {e} as v")).values())) for e in EXPRESSIONS]
        finally:
            await c.close()

    want = asyncio.run(
        fetch(host=str(reference.root), port=reference.port, user="postgres", database="postgres")
    )
    got = asyncio.run(
        fetch(
            host="127.0.0.1",
            port=server.port,
            user="alice",
            password=PASSWORDS["alice"],
            database="opsmetrics",
            ssl=False,
        )
    )
    assert got == want


def test_catalog_oid_columns_are_oids(server, reference):
    q = (
        "select c.oid, c.relnamespace, array_agg(a.atttypid) from pg_class c "
        "join pg_attribute a on a.attrelid = c.oid where a.attnum > 0 group by 1, 2 limit 1"
    )
    types = []
    for conninfo in (reference.dsn, dsn(server)):
        with psycopg.connect(conninfo) as c:
            cur = c.execute(q)
            types.append([d.type_code for d in cur.description])
    assert types[1] == types[0] == [26, 26, 1028]
