"""pgcli and SQLAlchemy's reflection against the server over the project's warehouse,
compared with a real PostgreSQL 15 holding the same shapes: the catalog queries pgcli's
completer runs at start-up, its backslash commands through pgspecial, and the foreign keys
the project declares (dbt relationships tests, semantic entities), which BI tools and pgcli
use to suggest joins — through psycopg, SQLAlchemy sync and async (asyncpg)."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
import sqlalchemy as sa

from tests.python.serve.conftest import project_server
from tests.python.serve.pgref import running_reference

pgexecute = pytest.importorskip("pgcli.pgexecute")
pgspecial_main = pytest.importorskip("pgspecial.main")

COMMANDS = ["\\dt", "\\dv", "\\di", "\\dn", "\\df", "\\dT", "\\l", "\\du", "\\d fct_cases"]


@pytest.fixture(scope="module")
def served(built_warehouse):
    with project_server(built_warehouse) as running:
        yield running


@pytest.fixture(scope="module")
def ours(served):
    ex = pgexecute.PGExecute("opsmetrics", "analyst", "pw", "127.0.0.1", served.port, None)
    yield ex
    ex.conn.close()


@pytest.fixture(scope="module")
def reference():
    """A real PostgreSQL with the two tables and the foreign key the tests look at."""
    with running_reference() as ref:
        with psycopg.connect(ref.dsn, autocommit=True) as c:
            c.execute("create schema main")
            c.execute("create table main.dim_clients (client_id text primary key)")
            c.execute(
                "create table main.fct_cases (case_id text primary key, "
                "client_id text references main.dim_clients (client_id))"
            )
        ex = pgexecute.PGExecute(dsn=ref.dsn)
        yield ref, ex
        ex.conn.close()


def _run(ex, command):
    _title, rows, headers, _status = next(
        iter(ex.run(command, pgspecial=pgspecial_main.PGSpecial()))
    )[:4]
    return headers, list(rows or [])


@pytest.mark.parametrize("command", COMMANDS)
def test_backslash_commands_answer_as_postgresql(ours, reference, command):
    want_headers, _ = _run(reference[1], command.replace("fct_cases", "main.fct_cases"))
    headers, rows = _run(ours, command)
    assert headers == want_headers
    if command in ("\\dt", "\\dn", "\\l", "\\d fct_cases"):
        assert rows, f"{command} lists nothing"


def test_completion_catalog(ours):
    assert {"main", "metrics", "pg_catalog", "information_schema"} <= set(ours.schemata())
    tables = set(ours.tables())
    assert {("main", "fct_cases"), ("main", "dim_clients")} <= tables
    assert ("metrics", "cases_opened") in set(ours.views())
    cols = {(s, t, c) for s, t, c, *_ in ours.table_columns()}
    assert ("main", "fct_cases", "client_id") in cols
    assert list(ours.search_path()) == ["pg_catalog", "main"]
    assert list(ours.databases()) == ["opsmetrics"]
    funcs = list(ours.functions())
    assert funcs and all(f.schema_name == "pg_catalog" for f in funcs)
    assert "???" not in {f.return_type for f in funcs}
    by_name = {}
    for f in funcs:
        by_name.setdefault(f.func_name, []).append(f)
    # what a client can call is listed, with its kind and types; what the guard refuses is not
    assert all(f.is_aggregate for f in by_name["sum"])
    assert ("text", "date") in {f.arg_types for f in by_name["date_trunc"]}
    assert "format_type" in by_name and "row_number" in by_name
    assert not {"getenv", "read_csv", "query", "duckdb_tables"} & set(by_name)


def test_completion_foreign_keys_as_postgresql_reports_them(ours, reference):
    (want,) = list(reference[1].foreignkeys())
    got = set(ours.foreignkeys())
    assert want in got  # main.fct_cases.client_id -> main.dim_clients.client_id
    assert ("main", "fct_cases", "case_id", "main", "fct_case_events", "case_id") in {
        tuple(fk) for fk in got
    }


def _fks(url: str) -> list[dict]:
    eng = sa.create_engine(url)
    try:
        return sa.inspect(eng).get_foreign_keys("fct_cases", schema="main")
    finally:
        eng.dispose()


def test_sqlalchemy_reflects_foreign_keys_as_from_postgresql(served, reference):
    ref = reference[0]
    want = _fks(f"postgresql+psycopg://postgres@/postgres?host={ref.data.parent}&port={ref.port}")
    got = _fks(f"postgresql+psycopg://analyst:pw@127.0.0.1:{served.port}/opsmetrics")
    assert got == want


def test_sqlalchemy_async_reflection_and_query(served, built_warehouse):
    """SQLAlchemy's asyncpg dialect: prepared statements, typed parameters, reflection."""
    pytest.importorskip("asyncpg")
    from sqlalchemy.ext.asyncio import create_async_engine

    async def main():
        eng = create_async_engine(
            f"postgresql+asyncpg://analyst:pw@127.0.0.1:{served.port}/opsmetrics"
        )
        try:
            async with eng.connect() as c:
                fks = await c.run_sync(
                    lambda sc: sa.inspect(sc).get_foreign_keys("fct_cases", schema="main")
                )
                n = (
                    await c.execute(
                        sa.text("select count(*) from fct_cases where client_id = :c"),
                        {"c": "C0001"},
                    )
                ).scalar_one()
                rate = (
                    await c.execute(
                        sa.text(
                            "select client__region, stp_rate from metrics "
                            "where client__region = :r group by 1"
                        ),
                        {"r": "EMEA"},
                    )
                ).all()
            return fks, n, rate
        finally:
            await eng.dispose()

    fks, n, rate = asyncio.run(main())
    got = {
        (tuple(f["constrained_columns"]), f["referred_schema"], f["referred_table"]) for f in fks
    }
    assert (("client_id",), "main", "dim_clients") in got
    import duckdb

    con = duckdb.connect(str(built_warehouse.duckdb_path), read_only=True)
    try:
        ((want,),) = con.execute(
            "select count(*) from main.fct_cases where client_id = 'C0001'"
        ).fetchall()
    finally:
        con.close()
    assert n == want and [r[0] for r in rate] == ["EMEA"]


def test_a_foreign_key_to_an_ungranted_mart_is_not_shown(built_warehouse):
    roles = {"cases_only": {"marts": ["fct_cases", "fct_case_events"], "metrics": []}}
    from analysis_py.serve.scram import make_verifier

    users = {"c": {"password": make_verifier("pw"), "role": "cases_only"}}
    with (
        project_server(built_warehouse, roles=roles, users=users) as running,
        psycopg.connect(
            f"host=127.0.0.1 port={running.port} user=c password=pw dbname=opsmetrics"
        ) as conn,
    ):
        rows = conn.execute(
            "select tc.table_name, kcu.column_name, ccu.table_name "
            "from information_schema.table_constraints tc "
            "join information_schema.key_column_usage kcu "
            "  on kcu.constraint_name = tc.constraint_name "
            "join information_schema.constraint_column_usage ccu "
            "  on ccu.constraint_name = tc.constraint_name "
            "where tc.constraint_type = 'FOREIGN KEY' order by 1"
        ).fetchall()
    assert rows == [("fct_case_events", "case_id", "fct_cases")]


def test_row_description_points_at_the_catalog(served):
    """Each column read from a table carries that table's pg_class OID and its pg_attribute
    number; NOT NULL in the catalog is what the project guarantees (primary key, not_null)."""
    with psycopg.connect(
        f"host=127.0.0.1 port={served.port} user=analyst password=pw dbname=opsmetrics"
    ) as c:
        cur = c.execute(
            "select x.case_id, cl.segment, x.closed_at, 2 as two, * from fct_cases x "
            "join dim_clients cl on cl.client_id = x.client_id limit 1"
        )
        res = cur.pgresult
        got = [(res.fname(i).decode(), res.ftable(i), res.ftablecol(i)) for i in range(res.nfields)]
        catalog = {
            (r[0], r[1]): (r[2], r[3], r[4])
            for r in c.execute(
                "select c.relname, a.attname, c.oid, a.attnum, a.attnotnull from pg_class c "
                "join pg_attribute a on a.attrelid = c.oid "
                "where c.relname in ('fct_cases', 'dim_clients') and a.attnum > 0"
            )
        }
        n_cases = sum(1 for t, _a in catalog if t == "fct_cases")
        n_clients = sum(1 for t, _a in catalog if t == "dim_clients")
        nullable = dict(
            c.execute(
                "select column_name, is_nullable from information_schema.columns "
                "where table_name = 'fct_cases'"
            ).fetchall()
        )
    assert got[0][1:] == catalog[("fct_cases", "case_id")][:2]
    assert got[1][1:] == catalog[("dim_clients", "segment")][:2]
    assert got[2][1:] == catalog[("fct_cases", "closed_at")][:2]
    assert got[3][1:] == (0, 0)
    star = got[4:]
    assert len(star) == n_cases + n_clients
    assert [col for _n, _t, col in star[:n_cases]] == list(range(1, n_cases + 1))
    assert catalog[("fct_cases", "case_id")][2] is True and nullable["case_id"] == "NO"
    assert catalog[("fct_cases", "closed_at")][2] is False and nullable["closed_at"] == "YES"
