"""The PostgreSQL rendering of every fixture request, run on a real PostgreSQL holding the
fixture project's tables, gives the rows DuckDB gives for the DuckDB rendering.

The tables are copied from the fixture's DuckDB file into schema ``main`` with the matching
PostgreSQL types; the server is the local ``initdb``/``pg_ctl`` one the wire tests use (the test
skips where PostgreSQL is not installed, like those).
"""

from __future__ import annotations

import json
import math

import duckdb
import psycopg
import pytest

from tests.python.serve.pgref import running_reference

from .compare import norm, rows_equal
from .conftest import REQUESTS

#: DuckDB column type → PostgreSQL column type (prefix match, first wins)
PG_TYPES = [
    ("TIMESTAMP WITH TIME ZONE", "timestamptz"),
    ("TIMESTAMP", "timestamp"),
    ("DATE", "date"),
    ("DECIMAL", None),  # kept as written: numeric(p,s)
    ("DOUBLE", "double precision"),
    ("FLOAT", "real"),
    ("HUGEINT", "numeric"),
    ("BIGINT", "bigint"),
    ("INTEGER", "integer"),
    ("SMALLINT", "smallint"),
    ("BOOLEAN", "boolean"),
    ("VARCHAR", "text"),
]


def _pg_type(duck: str) -> str:
    for prefix, pg in PG_TYPES:
        if duck.upper().startswith(prefix):
            return duck.replace("DECIMAL", "numeric") if pg is None else pg
    raise AssertionError(f"no PostgreSQL type for DuckDB type {duck}")


@pytest.fixture(scope="module")
def pg(sl_project):
    """A reference PostgreSQL holding every table of the fixture's schema ``main``."""
    with running_reference() as ref:
        src = duckdb.connect(str(sl_project.db), read_only=True)
        tables = [
            r[0]
            for r in src.execute(
                "select table_name from information_schema.tables where table_schema = 'main'"
            ).fetchall()
        ]
        with psycopg.connect(ref.dsn, autocommit=True) as c:
            c.execute("create schema main")
            for t in tables:
                cols = src.execute(f'describe main."{t}"').fetchall()
                ddl = ", ".join(f'"{name}" {_pg_type(typ)}' for name, typ, *_ in cols)
                c.execute(f'create table main."{t}" ({ddl})')
                rows = src.execute(f'select * from main."{t}"').fetchall()
                if rows:
                    marks = ", ".join(["%s"] * len(cols))
                    with c.cursor() as cur:
                        cur.executemany(f'insert into main."{t}" values ({marks})', rows)
        src.close()
        yield ref


#: where the engines differ by design, the tolerance the comparison allows, and why
TOLERANCE = {
    # DuckDB's QUANTILE_CONT over DECIMAL(…, 2) keeps the column's two places (as MetricFlow's
    # answers on DuckDB do); PostgreSQL's percentile_cont returns double precision
    "percentiles_segment": {"abs_tol": 0.005},
    # PostgreSQL has no approximate percentile: its exact one against DuckDB's t-digest
    "approximate_percentile": {"rel_tol": 0.05},
}


#: a user's derived expression dividing by zero: DuckDB gives infinity (or NULL), PostgreSQL
#: stops with an error, as MetricFlow's SQL does on each
DIVIDES_BY_ZERO = {"derived_input_filled_after_the_join"}


def _close(ours: list, theirs: list, tol: dict) -> bool:
    a = [[norm(v) for v in r] for r in ours]
    b = [[norm(v) for v in r] for r in theirs]
    a.sort(key=lambda r: [str(x) for x in r[:1]])
    b.sort(key=lambda r: [str(x) for x in r[:1]])
    return len(a) == len(b) and all(
        x == y or (isinstance(x, float) and isinstance(y, float) and math.isclose(x, y, **tol))
        for r, t in zip(a, b, strict=True)
        for x, y in zip(r, t, strict=True)
    )


@pytest.mark.parametrize("rid", [r["id"] for r in json.loads(REQUESTS.read_text())])
def test_postgres_rendering_gives_duckdbs_rows(rid, sl, pg):
    req = next(r for r in json.loads(REQUESTS.read_text()) if r["id"] == rid)
    req = {k: v for k, v in req.items() if k != "id"}
    q = sl.query(**req)
    with psycopg.connect(pg.dsn, autocommit=True) as c:
        if rid in DIVIDES_BY_ZERO:
            assert any(math.isinf(v) for r in q.fetchall() for v in r if isinstance(v, float))
            with pytest.raises(psycopg.errors.DivisionByZero):
                c.execute(q.sql_for("postgres"))
            return
        theirs = c.execute(q.sql_for("postgres")).fetchall()
    if rid in TOLERANCE:
        assert _close(q.fetchall(), theirs, TOLERANCE[rid])
        return
    ok, why = rows_equal(q.fetchall(), theirs, ordered=bool(req.get("order_by")))
    assert ok, why


def test_the_tolerances_name_real_requests():
    ids = {r["id"] for r in json.loads(REQUESTS.read_text())}
    assert set(TOLERANCE) | DIVIDES_BY_ZERO <= ids


def test_tables_were_copied(pg):
    with psycopg.connect(pg.dsn) as c:
        ((n,),) = c.execute("select count(*) from main.fct_orders").fetchall()
    assert n > 0
