"""Attacks through semantic SQL and dbt's JDBC syntax, over the wire and from the CLI.

Semantic SQL is compiled, not passed through: the parts a client writes around the metric
query (projection, HAVING, ORDER BY, LIMIT/OFFSET, JDBC's outer SELECT) must meet the same
guard as plain SQL, and every metric a request reads must be granted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from analysis_py.serve.scram import make_verifier
from tests.python.security.conftest import assert_clean, connect, leaked

OPSMETRICS = str(Path(sys.executable).with_name("opsmetrics"))

#: scalar subqueries that would read what the gb role may not see, or engine internals
STEALERS = [
    "(select string_agg(customer_name || country, ',') from gen_1.main.dim_customers where country <> 'GB')",
    "(select string_agg(customer_name, ',') from role_admin.main.dim_customers)",
    "(select string_agg(customer_name, ',') from _sem.dim_customers)",
    "(select string_agg(path, ',') from duckdb_databases())",
    "(select string_agg(sql, ',') from duckdb_views())",
    "(select string_agg(content, ',') from read_text('/etc/passwd'))",
    "(select string_agg(customer_name, ',') from '/etc/passwd')",
    "(select count(*) from system.main.duckdb_tables)",
]

POSITIONS = [
    "select order_total from metrics limit {p}",
    "select order_total from metrics limit 1 offset {p}",
    "select order_total from metrics fetch first {p} rows only",
    "select {p} as x, order_total from metrics",
    "select order_total from metrics order by {p}",
    "select customer__segment, order_total from metrics group by 1 having order_total > length({p})",
    "select order_total from metrics where customer__segment = {p}",
    "select {p} as x from {{{{ semantic_layer.query(metrics=['order_total']) }}}}",
    "select * from {{{{ semantic_layer.query(metrics=['order_total']) }}}} limit {p}",
    "select * from {{{{ semantic_layer.metrics() }}}} where name = {p}",
]


def _attempt(conn, sql: str) -> str:
    """The rows or the error text the client gets (never an exception without SQLSTATE)."""
    try:
        return repr(conn.execute(sql).fetchall())
    except psycopg.Error as exc:
        assert exc.sqlstate and exc.sqlstate != "XX000", (sql, exc.sqlstate, str(exc))
        return f"{exc.sqlstate} {exc}"


@pytest.mark.parametrize("position", POSITIONS, ids=[p[:48] for p in POSITIONS])
def test_no_clause_of_semantic_sql_reads_what_the_role_may_not(server, secrets, position):
    with connect(server) as c:
        for p in STEALERS:
            sql = position.format(p=p)
            got = _attempt(c, sql)
            assert not leaked(got, secrets, sql), (position, p, got)
            assert c.execute("select 1").fetchone() == (1,)


def test_the_red_teams_repro_is_refused_on_every_path(server, secrets):
    sql = (
        "select order_total from metrics limit (select string_agg(customer_name||' '||country, ' | ') "
        "from gen_1.main.dim_customers where country <> 'GB')"
    )
    with connect(server) as c:
        with pytest.raises(psycopg.errors.SyntaxError, match="must be a whole number"):
            c.execute(sql)  # simple protocol
        with pytest.raises(psycopg.errors.SyntaxError):
            c.execute(sql, prepare=True)  # extended protocol (Parse/Bind/Execute)
        with pytest.raises(psycopg.errors.SyntaxError), c.cursor().copy(f"copy ({sql}) to stdout"):
            pass
        with pytest.raises(psycopg.errors.SyntaxError):
            c.execute("explain analyze " + sql)
        with c.transaction(), pytest.raises(psycopg.errors.SyntaxError):
            c.execute(f"declare cur cursor for {sql}")
        # a number bound as a parameter is what LIMIT may be
        assert len(c.execute("select order_total from metrics limit %s", [1]).fetchall()) == 1
    assert_clean(server, secrets)


def test_cli_sql_as_a_restricted_user_is_guarded_the_same(server, secrets, tmp_path):
    cfg = tmp_path / "serve.yml"
    cfg.write_text(
        "row_policies:\n  gb: {table: dim_customers, key: customer_id, filter: \"country = 'GB'\"}\n"
        "roles:\n  gb: {marts: '*', metrics: [order_total], row_policies: [gb]}\n"
        f"users:\n  g: {{password: '{make_verifier('x')}', role: gb}}\n"
    )
    env = {**os.environ, "OPSMETRICS_WAREHOUSE_DIR": str(server.warehouse_dir)}
    for sql in (
        "select order_total from metrics limit (select string_agg(customer_name, ',') "
        "from gen_1.main.dim_customers)",
        "select * from (with duckdb_databases as (select 1) select 1) a, duckdb_databases",
        "select current_setting('allowed_directories') as d, order_total from metrics",
    ):
        p = subprocess.run(
            [OPSMETRICS, "sql", sql, "--config", str(cfg), "--as", "g"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        out = p.stdout + p.stderr
        assert "Traceback" not in out
        assert not leaked(out, secrets, sql), out


@pytest.mark.parametrize(
    "sql",
    [
        "select * from (with duckdb_databases as (select 1) select 1) a, duckdb_databases",
        "select * from (with sqlite_master as (select 1) select 1) a, sqlite_master",
        "select * from (with pg_views as (select 1) select 1) a, pg_views",
        "select * from (with pg_settings as (select 1) select 1) a, pg_settings",
        "with x as (with duckdb_settings as (select 1) select 1) select * from x, duckdb_settings",
        "select * from pg_prepared_statements",
        "select * from main.duckdb_tables",
        "select * from information_schema.tables t, duckdb_databases d",
    ],
)
def test_a_cte_name_does_not_open_system_views(server, secrets, sql):
    with connect(server) as c:
        got = _attempt(c, sql)
    assert not leaked(got, secrets, sql), got
    for internal in ("allowed_directories", "CREATE VIEW", ".duckdb", "role_"):
        assert internal not in got, got


def test_a_cte_in_scope_still_works(server):
    with connect(server) as c:
        assert c.execute(
            "with duckdb_tables as (select 2 as n) select n from duckdb_tables"
        ).fetchall() == [(2,)]
        assert c.execute(
            "with recursive r(n) as (select 1 union all select n + 1 from r where n < 3) "
            "select max(n) from r"
        ).fetchone() == (3,)


@pytest.mark.parametrize(
    "sql",
    [
        "select current_setting('allowed_directories') as x, order_total from metrics",
        "select current_database() as x, order_total from metrics",
        "select current_catalog as x, order_total from metrics",
        "select current_setting('allowed_directories') as x from {{ semantic_layer.metrics() }}",
        "select current_database() as x from {{ semantic_layer.metrics() }}",
    ],
)
def test_settings_do_not_leak_through_semantic_or_jdbc_sql(server, secrets, sql):
    with connect(server) as c:
        got = _attempt(c, sql)
    assert not leaked(got, secrets), got
    assert "role_" not in got and "/" not in got.replace("'/'", ""), got


def test_saved_query_needs_its_metrics_granted(server):
    with (
        connect(server, "narrow") as c,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"),
    ):
        c.execute("select * from {{ semantic_layer.query(saved_query='weekly_orders') }}")
    with connect(server, "admin") as c:
        assert c.execute(
            "select * from {{ semantic_layer.query(saved_query='weekly_orders') }}"
        ).fetchall()


@pytest.mark.parametrize(
    "sql",
    [
        "select * from {{ semantic_layer.query(metrics=['order_total'], "
        "where=[\"{{ Metric('large_orders', group_by=['customer']) }} > 0\"]) }}",
        "select order_total from metrics "
        "where {{ Metric('large_orders', group_by=['customer']) }} > 0",
        "select * from {{ semantic_layer.dimension_values(metrics=['order_total'], "
        "group_by=['customer__segment'], "
        "where=[\"{{ Metric('large_orders', group_by=['customer']) }} > 1\"]) }}",
    ],
)
def test_a_metric_in_a_filter_needs_a_grant(server, sql):
    with connect(server, "narrow") as c:
        with pytest.raises(psycopg.Error) as info:
            c.execute(sql)
        assert info.value.sqlstate in ("42501", "42601"), str(info.value)
        assert c.execute("select order_total from metrics").fetchone()[0] is not None


def test_derived_and_ratio_inputs_need_grants(server):
    # completion_rate = completed_orders / order_count: none of them granted
    with (
        connect(server, "narrow") as c,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="completion_rate"),
    ):
        c.execute("select completion_rate from metrics")
    with connect(server, "gb") as c:  # granted with both inputs
        assert c.execute("select completion_rate from metrics").fetchone()[0] is not None
        # completion_rate_pct reads completion_rate, which gb has, but is not granted itself
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("select completion_rate_pct from metrics")


def test_metadata_lists_only_what_the_roles_metrics_reach(server):
    with connect(server, "narrow") as c:
        dims = {r[0] for r in c.execute("select name from {{ semantic_layer.dimensions() }}")}
        ents = {r[0] for r in c.execute("select name from {{ semantic_layer.entities() }}")}
        metrics = {r[0] for r in c.execute("select name from {{ semantic_layer.metrics() }}")}
        saved = c.execute("select name from {{ semantic_layer.saved_queries() }}").fetchall()
    assert metrics == {"order_total"}
    assert dims and not any(d.startswith(("balance__", "visit__", "purchase__")) for d in dims)
    assert "balance" not in ents and "visit" not in ents
    assert saved == []  # weekly_orders reads order_count too
    with connect(server, "admin") as c:
        all_dims = {r[0] for r in c.execute("select name from {{ semantic_layer.dimensions() }}")}
    assert any(d.startswith("balance__") for d in all_dims)


def test_row_policy_and_masking_hold_in_metric_queries(server, secrets):
    with connect(server, "gb") as c:
        rows = c.execute(
            "select customer__country, order_total from metrics group by 1 order by 1"
        ).fetchall()
        jdbc = c.execute(
            "select * from {{ semantic_layer.query(metrics=['order_total'], "
            "group_by=['customer__country']) }}"
        ).fetchall()
    assert [r[0] for r in rows] == ["****"] and [r[0] for r in jdbc] == ["****"]
    with connect(server, "admin") as c:
        (gb_total,) = c.execute(
            "select order_total from metrics where customer__country = 'GB'"
        ).fetchone()
    assert rows[0][1] == gb_total


def test_jinja_looking_text_in_outer_sql(server):
    with connect(server) as c:
        rows = c.execute("select '{{' as a, name from {{ semantic_layer.metrics() }}").fetchall()
        assert rows and all(r[0] == "{{" for r in rows)
        with pytest.raises(psycopg.errors.SyntaxError):
            c.execute("select '}}' from {{ semantic_layer.metrics( }}")
        assert c.execute("select 1").fetchone() == (1,)


@pytest.mark.parametrize(
    "sql",
    [
        "select * from {{ semantic_layer.query(group_by=['balance__balance_date__day']) }}",
        "select * from {{ semantic_layer.query(group_by=['customer__segment']) }}",
        "select * from {{ semantic_layer.dimension_values(group_by=['customer__segment']) }}",
    ],
)
def test_distinct_values_without_metrics_need_every_metric_granted(server, sql):
    with connect(server, "narrow") as c, pytest.raises(psycopg.errors.InsufficientPrivilege):
        c.execute(sql)
    with connect(server, "admin") as c:
        assert c.execute(sql).fetchall()
