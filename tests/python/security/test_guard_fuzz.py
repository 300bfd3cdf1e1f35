"""Property-based fuzz of the one guard: generated statements that embed forbidden names —
other databases, hidden schemas, system views, file readers, engine settings — in every
clause position of plain SQL, semantic SQL and JDBC calls, in varied spellings. Whatever
the statement, the session either refuses it with a SQLSTATE or answers without a secret.

Runs against a real Session over the dbt-built warehouse (no wire: thousands of statements
in seconds); the wire paths are the same Session.execute."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis_py.errors import SQLStateError
from analysis_py.pg.engine import Engine
from analysis_py.pg.session import Session
from tests.python.security.conftest import leaked, red_team_config

RELATIONS = [
    "gen_1.main.dim_customers",
    "gen_1.dim_customers",
    '"gen_1"."main"."dim_customers"',
    "role_admin.main.dim_customers",
    "role_admin.dim_customers",
    "_sem.dim_customers",
    "memory.main.dim_customers",
    "system.main.duckdb_databases",
    "duckdb_databases",
    "duckdb_settings",
    "pg_settings",
    "pg_views",
    "sqlite_master",
    "information_schema.tables",
    "'/etc/passwd'",
    "read_text('/etc/passwd')",
    "duckdb_databases()",
    "pragma_database_list",
]
#: an expression over each relation that brings its text out
COLUMNS = ["*", "customer_name", "country", "path", "sql", "value", "content", "setting"]
SCALARS = [
    "current_setting('allowed_directories')",
    "current_setting('temp_directory')",
    "current_database()",
    "current_catalog",
    "current_query()",
    "getenv('HOME')",
    "version()",
]
STATEMENTS = [
    "select {e} as x from dim_customers",
    "select customer_name from dim_customers where customer_name = {e}",
    "select customer_name from dim_customers order by {e}",
    "select customer_name from dim_customers limit length({e})",
    "with c as (select {e} as x) select * from c",
    "select * from (with {n} as (select 1) select 1) a, {r}",
    "select * from dim_customers, {r}",
    "select {e} as x, order_total from metrics",
    "select order_total from metrics limit {e}",
    "select order_total from metrics offset {e}",
    "select order_total from metrics order by {e}",
    "select customer__segment, order_total from metrics group by 1 having order_total > length({e})",
    "select order_total from metrics where customer__segment = {e}",
    "select {e} as x from {{{{ semantic_layer.query(metrics=['order_total']) }}}}",
    "select * from {{{{ semantic_layer.query(metrics=['order_total'], "
    "where=[\"{{{{ Dimension('customer__segment') }}}} = {e}\"]) }}}}",
    "select * from {{{{ semantic_layer.metrics() }}}} where name = {e}",
]


@pytest.fixture(scope="module")
def session(server):
    """A session of the restricted role on the red team's server engine."""
    cfg = server.server.config
    return Session(server.engine, "gb", cfg.roles["gb"], max_rows=cfg.max_rows)


@st.composite
def attack(draw):
    rel = draw(st.sampled_from(RELATIONS))
    col = draw(st.sampled_from(COLUMNS))
    sub = f"(select string_agg(cast({col} as varchar), ',') from {rel})"
    if col == "*":
        sub = f"(select count(*) from {rel})"
    e = draw(st.sampled_from([sub, *SCALARS]))
    wrap = draw(st.sampled_from(["{}", "upper({})", "coalesce({}, 'x')", "cast({} as varchar)"]))
    e = wrap.format(e)
    if draw(st.booleans()):
        e = e.upper() if draw(st.booleans()) else e.replace(" ", "\n  ")
    name = rel.split(".")[-1].strip('"').split("(")[0].strip("'")
    sql = draw(st.sampled_from(STATEMENTS)).format(
        e=e, r=rel, n=name if name.isidentifier() else "x"
    )
    return sql


@settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sql=attack())
def test_generated_attacks_are_refused_or_harmless(session, secrets, sql):
    try:
        result = session.execute(sql)
    except SQLStateError as exc:
        assert exc.sqlstate and exc.sqlstate != "XX000", (sql, exc)
        assert not leaked(str(exc), secrets, sql), (sql, str(exc))
        session.status = "I"
        return
    rows = []
    if result.source is not None:
        chunk = result.source.fetch(1000)
        rows = chunk.to_pylist() if hasattr(chunk, "to_pylist") else chunk
        result.source.close()
    text = repr(rows)
    assert not leaked(text, secrets, sql), (sql, text[:500])
    for internal in ("role_", "gen_", "_sem", "/tmp/", ".duckdb", "allowed_directories"):
        if internal not in sql:
            assert internal not in text, (sql, text[:500])


def test_the_engine_refuses_the_unguarded_config_values(tmp_path, sl_warehouse):
    """Config values reach DuckDB as checked literals (a quote cannot end the SET)."""
    from analysis_py.errors import ConfigError
    from analysis_py.pg.engine import EngineOptions

    cfg = red_team_config(tmp_path)
    with pytest.raises(ConfigError, match="memory size"):
        Engine(sl_warehouse, cfg.roles, EngineOptions(memory_limit="1TB'; drop"))
