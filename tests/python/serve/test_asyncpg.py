"""asyncpg against the server over the project's warehouse: it prepares every statement (Parse,
Describe, then Bind), sends parameters in binary in the types ParameterDescription reports,
and refuses a Python int for a parameter described as text. So the server must infer the type
of each ``$n`` as PostgreSQL does, and answer Describe for semantic SQL and dbt's JDBC syntax
whose parameters have no values yet."""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal

import duckdb
import pytest

from tests.python.serve.conftest import project_server

asyncpg = pytest.importorskip("asyncpg")


@pytest.fixture(scope="module")
def served(built_warehouse):
    with project_server(built_warehouse) as running:
        yield running


def _run(served, fn):
    async def main():
        conn = await asyncpg.connect(
            host="127.0.0.1",
            port=served.port,
            user="analyst",
            password="pw",
            database="opsmetrics",
            ssl=False,
        )
        try:
            return await fn(conn)
        finally:
            await conn.close()

    return asyncio.run(main())


def _duck(built_warehouse, sql, params=()):
    con = duckdb.connect(str(built_warehouse.duckdb_path), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def test_parameter_types_are_inferred_as_postgresql_does(served):
    async def types(conn):
        out = {}
        for sql in (
            "select count(*) from fct_payments where repair_minutes > $1",
            "select count(*) from fct_payments where created_at >= $1",
            "select $1::int + 1",
            "select $1::numeric(10, 2)",
            "select count(*) from fct_payments where rail in ($1, $2)",
            "select client__region, stp_rate from metrics where client__region = $1 group by 1",
        ):
            stmt = await conn.prepare(sql)
            out[sql] = [t.name for t in stmt.get_parameters()]
        return out

    got = _run(served, types)
    assert got["select count(*) from fct_payments where repair_minutes > $1"][0] in (
        "int4",
        "int8",
        "numeric",
        "float8",
    )
    assert got["select count(*) from fct_payments where created_at >= $1"] == [
        "timestamptz"
    ] or got["select count(*) from fct_payments where created_at >= $1"] == ["timestamp"]
    assert got["select $1::int + 1"] == ["int4"]
    assert got["select $1::numeric(10, 2)"] == ["numeric"]
    assert got["select count(*) from fct_payments where rail in ($1, $2)"] == ["text", "text"]
    assert got[
        "select client__region, stp_rate from metrics where client__region = $1 group by 1"
    ] == ["text"]


def test_typed_parameters_give_duckdbs_answers(served, built_warehouse):
    since = dt.datetime(2025, 1, 1)  # created_at is a timestamp without time zone

    async def ask(conn):
        return [
            await conn.fetchval("select count(*) from fct_payments where repair_minutes > $1", 5),
            await conn.fetchval("select count(*) from fct_payments where created_at >= $1", since),
            await conn.fetchval("select $1::numeric + 1", decimal.Decimal("1.5")),
            await conn.fetchval("select $1::int * 2", 21),
        ]

    got = _run(served, ask)
    ((repaired,),) = _duck(
        built_warehouse, "select count(*) from main.fct_payments where repair_minutes > 5"
    )
    ((recent,),) = _duck(
        built_warehouse,
        "select count(*) from main.fct_payments where created_at >= ?",
        [since],
    )
    assert got == [repaired, recent, decimal.Decimal("2.5"), 42]


def test_semantic_sql_and_jdbc_syntax_with_parameters(served):
    async def ask(conn):
        by_region = dict(
            await conn.fetch("select client__region, stp_rate from metrics group by 1")
        )
        one = await conn.fetch(
            "select client__region, stp_rate from metrics where client__region = $1 group by 1",
            "EMEA",
        )
        rails = dict(
            await conn.fetch(
                "select * from {{ semantic_layer.query(metrics=['payments'], "
                "group_by=['payment__rail']) }}"
            )
        )
        swift = await conn.fetch(
            "select * from {{ semantic_layer.query(metrics=['payments'], "
            "group_by=['payment__rail']) }} where payment__rail = $1",
            "SWIFT",
        )
        return by_region, one, rails, swift

    by_region, one, rails, swift = _run(served, ask)
    assert [tuple(r) for r in one] == [("EMEA", by_region["EMEA"])]
    assert [tuple(r) for r in swift] == [("SWIFT", rails["SWIFT"])]


def test_types_asyncpg_introspects_and_binary_arrays(served):
    """asyncpg looks up uuid and json through set_config('jit', 'off') and pg_type; text[]
    comes back in binary as PostgreSQL's array_send writes it; a numeric literal keeps its
    digits (PostgreSQL's numeric is not DuckDB's DECIMAL(18, 3))."""

    async def ask(conn):
        return [
            await conn.fetchval("select '00000000-0000-0000-0000-000000000001'::uuid"),
            await conn.fetchval("""select '{"a": 1}'::json"""),
            await conn.fetchval("select array['x', null, 'z']"),
            await conn.fetchval("select 12345678901234567890.123::numeric"),
            await conn.fetchval("select set_config('jit', 'off', false)"),
        ]

    got = _run(served, ask)
    assert str(got[0]) == "00000000-0000-0000-0000-000000000001"
    assert got[1].replace(" ", "") == '{"a":1}'
    assert got[2] == ["x", None, "z"]
    assert got[3] == decimal.Decimal("12345678901234567890.123")
    assert got[4] == "off"


def test_function_columns_are_named_as_postgresql_names_them(served):
    async def names(conn):
        out = []
        for sql in (
            "select version()",
            "select current_user",
            "select current_schema(), session_user",
            "select count(*) from fct_payments",
            "select 1 + 1",
        ):
            stmt = await conn.prepare(sql)
            out.append([a.name for a in stmt.get_attributes()])
        return out

    assert _run(served, names) == [
        ["version"],
        ["current_user"],
        ["current_schema", "session_user"],
        ["count"],
        ["?column?"],
    ]
