"""The server over the project's own warehouse (generated data, real dbt build): public marts,
PII tags from the dbt YAML, the project's metrics, an EMEA row policy on a metric."""

from __future__ import annotations

import psycopg
import pytest

from analysis_py.serve.config import load_config
from analysis_py.serve.run import start_in_thread
from analysis_py.serve.scram import make_verifier


@pytest.fixture(scope="module")
def served(built_warehouse, tmp_path_factory):
    cfg = load_config(
        data={
            "server": {"port": 0},
            "row_policies": {
                "emea": {"table": "dim_clients", "key": "client_id", "filter": "region = 'EMEA'"}
            },
            "roles": {
                "analyst": {"marts": "*", "metrics": "*"},
                "emea": {"marts": "*", "metrics": "*", "row_policies": ["emea"]},
            },
            "users": {u: {"password": make_verifier("pw"), "role": u} for u in ("analyst", "emea")},
        }
    )
    running = start_in_thread(
        cfg, built_warehouse.paths.warehouse_dir, project_dir=built_warehouse.paths.project_dir
    )
    yield running
    running.stop()


def connect(served, user="analyst"):
    return psycopg.connect(
        f"host=127.0.0.1 port={served.port} dbname=opsmetrics user={user} "
        "password=pw sslmode=disable",
        autocommit=True,
    )


def test_public_marts_listed_with_pii_masked(served):
    with connect(served) as c:
        tables = {
            r[0]
            for r in c.execute(
                "select table_name from information_schema.tables where table_schema = 'main'"
            )
        }
        assert {"fct_payments", "fct_cases", "dim_clients"} <= tables
        assert not any(t.startswith(("stg_", "int_")) for t in tables)
        pii = [r[0] for r in c.execute("select legal_name from dim_clients limit 5")]
        assert pii and set(pii) <= {"****", None}


def test_metric_by_semantic_sql_and_row_policy(served, built_warehouse):
    with connect(served) as c:
        metrics = {r[0] for r in c.execute("select name from {{ semantic_layer.metrics() }}")}
        assert "stp_rate" in metrics
        by_region = dict(
            c.execute("select client__region, stp_rate from metrics group by 1").fetchall()
        )
    with connect(served, "emea") as c:
        emea = c.execute("select client__region, stp_rate from metrics group by 1").fetchall()
    assert [r[0] for r in emea] == ["EMEA"]
    assert float(emea[0][1]) == pytest.approx(float(by_region["EMEA"]))
    assert 0.5 < float(emea[0][1]) <= 1.0


def _copy(conn, sql: str) -> tuple[bytes, int]:
    cur = conn.cursor()
    with cur.copy(sql) as cp:
        data = b"".join(bytes(b) for b in cp)
    return data, cur.rowcount


def test_copy_of_a_metric_query_equals_its_rows(served):
    """Semantic SQL and the JDBC syntax inside COPY go through the semantic layer, and the
    EMEA row policy still holds."""
    q = "select metric_time__month, client__region, stp_rate from metrics group by all order by 1, 2"
    with connect(served) as c:
        rows = c.execute(q).fetchall()
        data, n = _copy(c, f"copy ({q}) to stdout with (format csv, header)")
        jdbc, n_jdbc = _copy(
            c,
            "copy (select * from {{ semantic_layer.query(metrics=['stp_rate'], "
            "group_by=[Dimension('metric_time').grain('month'), 'client__region'], "
            "order_by=['metric_time__month', 'client__region']) }}) to stdout csv",
        )
    lines = data.decode().splitlines()
    assert lines[0] == "metric_time__month,client__region,stp_rate"
    assert n == len(rows) == len(lines) - 1 > 0
    for line, (month, region, rate) in zip(lines[1:], rows, strict=True):
        m, r, v = line.split(",")
        assert (m, r) == (str(month), region or "")
        assert float(v) == pytest.approx(float(rate))
    assert n_jdbc == n and jdbc.decode().splitlines() == lines[1:]
    with connect(served, "emea") as c:
        emea, _ = _copy(c, f"copy ({q}) to stdout")
    assert {line.split("\t")[1] for line in emea.decode().splitlines()} == {"EMEA"}


@pytest.mark.parametrize("fmt", ["text", "binary"])
def test_copy_wide_mart_rows_equal_duckdb(served, built_warehouse, fmt):
    """The project's 23-column payments mart, typed by psycopg from COPY text or binary."""
    import duckdb

    q = "select * from fct_payments order by payment_id limit 20000"
    with connect(served) as c:
        types = [
            c.execute(f"select * from ({q}) t limit 0").description[i].type_code for i in range(23)
        ]
        cur = c.cursor()
        with cur.copy(f"copy ({q}) to stdout (format {fmt})") as cp:
            cp.set_types(types)
            rows = list(cp.rows())
    db = duckdb.connect(str(built_warehouse.duckdb_path), read_only=True)
    try:
        expected = db.execute(q).fetchall()
    finally:
        db.close()
    assert len(rows) == len(expected) > 1000
    for got, want in zip(rows, expected, strict=True):
        assert got == tuple(w if not isinstance(w, float) else pytest.approx(w) for w in want)


def test_bi_idioms_over_a_metric_table(served):
    """What Superset sends over a metric's table: a time range as STRPTIME/TO_TIMESTAMP of
    constants, COUNT(*) for samples (also around a LIMIT subquery), formatting of the time
    column. A metric's table is that metric by day, so these read its rows as a table."""
    with connect(served) as c:

        def rows(sql):
            return c.execute(sql).fetchall()

        plain = rows(
            "select metric_time__day, stp_rate from metrics.stp_rate "
            "where metric_time__day >= cast('2025-01-01' as timestamp) order by 1"
        )
        for parsed in (
            "STRPTIME('2025-01-01 00:00:00.000000', '%Y-%m-%d %H:%M:%S.%f')",
            "TO_TIMESTAMP('2025-01-01 00:00:00.000000', 'YYYY-MM-DD HH24:MI:SS.US')",
        ):
            assert (
                rows(
                    f"select metric_time__day, stp_rate from metrics.stp_rate "
                    f"where metric_time__day >= {parsed} order by 1"
                )
                == plain
            )
        days = rows("select metric_time__day from metrics.stp_rate")
        assert rows("select count(*) from metrics.stp_rate") == [(len(days),)]
        assert rows(
            "SELECT count(*) AS count FROM (SELECT * FROM metrics.stp_rate LIMIT 100) "
            "AS virtual_table"
        ) == [(min(100, len(days)),)]
        by_year = dict(
            rows(
                "select extract(year from metric_time__day) as y, count(*) "
                "from metrics.stp_rate group by 1"
            )
        )
        assert sum(by_year.values()) == len(days)
        months = rows("select distinct to_char(metric_time__day, 'YYYY-MM') from metrics.stp_rate")
        assert {m for (m,) in months} == {d.strftime("%Y-%m") for (d,) in days}


def test_metric_table_as_rows_keeps_grants_and_the_guard(built_warehouse, tmp_path_factory):
    """The metric table read as rows is still that metric: a role not granted it cannot count
    it, and a constant folded for a time range cannot smuggle in a file read."""
    cfg = load_config(
        data={
            "server": {"port": 0},
            "roles": {"cases_only": {"marts": "*", "metrics": ["cases_opened"]}},
            "users": {"cases_only": {"password": make_verifier("pw"), "role": "cases_only"}},
        }
    )
    running = start_in_thread(
        cfg, built_warehouse.paths.warehouse_dir, project_dir=built_warehouse.paths.project_dir
    )
    try:
        with connect(running, "cases_only") as c:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute("select count(*) from metrics.stp_rate")
            with pytest.raises(psycopg.Error):
                c.execute(
                    "select metric_time__day, cases_opened from metrics.cases_opened where "
                    "metric_time__day >= strptime(read_text('/etc/passwd'), '%Y')"
                )
            assert c.execute("select count(*) from metrics.cases_opened").fetchall()[0][0] > 0
    finally:
        running.stop()
