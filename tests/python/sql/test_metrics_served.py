"""Metrics through the real server and the CLI, on a warehouse built with dbt from the
semantic fixture project: semantic SQL, JDBC syntax, the metrics schema, grants, PII
masking and row policies on metric queries."""

from __future__ import annotations

import csv
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from analysis_py.serve.config import load_config
from analysis_py.serve.run import start_in_thread
from analysis_py.serve.scram import make_verifier

OPSMETRICS = str(Path(sys.executable).with_name("opsmetrics"))


@pytest.fixture(scope="module")
def server(sl_warehouse, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("slserve")
    cfg = load_config(
        data={
            "server": {"port": 0, "query_log": str(tmp / "q.jsonl")},
            "row_policies": {
                "gb": {"table": "dim_customers", "key": "customer_id", "filter": "country = 'GB'"}
            },
            "roles": {
                "admin": {"marts": "*", "metrics": "*", "pii": True},
                "gb": {
                    "marts": "*",
                    "metrics": ["order_total", "completion_rate"],
                    "row_policies": ["gb"],
                },
                "tables_only": {"marts": ["fct_orders"], "metrics": []},
            },
            "users": {
                u: {"password": make_verifier("pw"), "role": u}
                for u in ("admin", "gb", "tables_only")
            },
        }
    )
    running = start_in_thread(cfg, sl_warehouse)
    yield running
    running.stop()


def connect(server, user="admin"):
    return psycopg.connect(
        f"host=127.0.0.1 port={server.port} dbname=opsmetrics user={user} "
        "password=pw sslmode=disable",
        autocommit=True,
    )


def direct(sl_warehouse, **kw):
    """The same request compiled by the semantic layer and run on the build file directly."""
    from analysis_py.semantic import SemanticLayer

    target = next((sl_warehouse / "builds").glob("*.target"))
    sl = SemanticLayer.from_manifest(
        target / "semantic_manifest.json", str(next((sl_warehouse / "builds").glob("*.duckdb")))
    )
    return [tuple(r) for r in sl.query(**kw).fetchall()]


def test_semantic_sql_matches_the_semantic_layer(server, sl_warehouse):
    with connect(server) as c:
        got = c.execute(
            "select metric_time__month, customer__segment, completion_rate, order_total "
            "from metrics where customer__country = 'GB' group by all order by 1, 2"
        ).fetchall()
    want = direct(
        sl_warehouse,
        metrics=["completion_rate", "order_total"],
        group_by=["metric_time__month", "customer__segment"],
        where=["{{ Dimension('customer__country') }} = 'GB'"],
        order_by=["metric_time__month", "customer__segment"],
    )
    assert len(got) == len(want) > 0
    for g, w in zip(got, want, strict=True):
        # over the wire a month bucket is a date (the semantic layer's own result: timestamp)
        assert type(g[0]) is dt.date and g[0] == w[0].date()
        assert g[1] == w[1]
        assert g[2] == pytest.approx(w[2], nan_ok=True) if w[2] is not None else g[2] is None
        assert float(g[3]) == pytest.approx(float(w[3]))


def test_ratio_metric_not_reaggregated_by_bi_style_sql(server, sl_warehouse):
    with connect(server) as c:
        got = dict(
            c.execute(
                'select "customer__segment", sum("completion_rate") from "metrics"."completion_rate" '
                "group by 1"
            ).fetchall()
        )
    want = dict(direct(sl_warehouse, metrics=["completion_rate"], group_by=["customer__segment"]))
    assert got.keys() == want.keys()
    for k in got:
        assert got[k] == pytest.approx(want[k])
        assert 0 <= got[k] <= 1  # a rate, not a sum of rates


def test_jdbc_syntax(server, sl_warehouse):
    with connect(server) as c:
        rows = c.execute(
            "select * from {{ semantic_layer.query(metrics=['order_total'], "
            "group_by=[Dimension('metric_time').grain('month')], "
            "order_by=[Dimension('metric_time').grain('month')], limit=3) }}"
        ).fetchall()
        names = [r[0] for r in c.execute("select name from {{ semantic_layer.metrics() }}")]
        dims = [
            r[0]
            for r in c.execute(
                "select name from {{ semantic_layer.dimensions(metrics=['order_total']) }}"
            )
        ]
        segs = [
            r[0]
            for r in c.execute(
                "select * from {{ semantic_layer.dimension_values(metrics=['order_total'], "
                "group_by=['customer__segment']) }}"
            )
        ]
    want = direct(
        sl_warehouse,
        metrics=["order_total"],
        group_by=["metric_time__month"],
        order_by=["metric_time__month"],
        limit=3,
    )
    assert [float(r[1]) for r in rows] == pytest.approx([float(w[1]) for w in want])
    assert "order_total" in names and "completion_rate" in names
    assert "customer__segment" in dims
    named = [s for s in segs if s is not None]
    assert named == sorted(named) and len(named) >= 2 and len(set(segs)) == len(segs)


def test_metrics_schema_in_the_catalog(server):
    import sqlalchemy as sa

    eng = sa.create_engine(f"postgresql+psycopg://admin:pw@127.0.0.1:{server.port}/opsmetrics")
    try:
        insp = sa.inspect(eng)
        assert "metrics" in insp.get_schema_names()
        views = insp.get_view_names(schema="metrics")
        assert "order_total" in views
        cols = [c["name"] for c in insp.get_columns("order_total", schema="metrics")]
        assert {
            "metric_time__day",
            "metric_time__month",
            "customer__segment",
            "order_total",
        } <= set(cols)
    finally:
        eng.dispose()
    with connect(server, "gb") as c:
        names = {
            r[0]
            for r in c.execute(
                "select table_name from information_schema.tables where table_schema = 'metrics'"
            )
        }
    assert names == {"order_total", "completion_rate"}


def test_row_policy_and_masking_apply_to_metric_queries(server, sl_warehouse):
    with connect(server, "gb") as c:
        rows = c.execute("select customer__country, order_total from metrics group by 1").fetchall()
    gb_total = dict(direct(sl_warehouse, metrics=["order_total"], group_by=["customer__country"]))[
        "GB"
    ]
    assert len(rows) == 1
    assert rows[0][0] == "****"  # country is tagged PII and this role is not granted it
    assert float(rows[0][1]) == pytest.approx(float(gb_total))
    with connect(server, "gb") as c:
        total = c.execute("select order_total from metrics").fetchone()[0]
    assert float(total) == pytest.approx(float(gb_total))  # the policy holds without grouping


def test_metric_grants(server):
    with connect(server, "gb") as c, pytest.raises(psycopg.errors.InsufficientPrivilege):
        c.execute("select order_count from metrics")
    with connect(server, "tables_only") as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("select * from {{ semantic_layer.query(metrics=['order_total']) }}")
        assert c.execute("select count(*) from fct_orders").fetchone()[0] > 0


def test_semantic_errors_have_sqlstates(server):
    with connect(server) as c:
        with pytest.raises(psycopg.errors.UndefinedTable):
            c.execute("select * from metrics.no_such_metric")
        with pytest.raises(psycopg.Error, match=r"no_such_dimension|unknown"):
            c.execute("select no_such_dimension, order_total from metrics group by 1")
        assert c.execute("select 1").fetchone() == (1,)


def test_cli_sql_and_csv(sl_warehouse, tmp_path):
    env = {**os.environ, "OPSMETRICS_WAREHOUSE_DIR": str(sl_warehouse)}
    out = tmp_path / "out.csv"
    p = subprocess.run(
        [
            OPSMETRICS,
            "sql",
            "select metric_time__month, order_total from metrics group by 1 order by 1",
            "--csv",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    rows = list(csv.reader(out.read_text().splitlines()))
    assert rows[0] == ["metric_time__month", "order_total"] and len(rows) > 2
    p = subprocess.run(
        [OPSMETRICS, "sql", "select count(*) as n from fct_orders"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0 and "n" in p.stdout, p.stderr
    bad = tmp_path / "bad.csv"
    p = subprocess.run(
        [OPSMETRICS, "sql", "drop table fct_orders", "--csv", str(bad)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode != 0 and "read-only" in p.stderr and not bad.exists()


BI_METRIC_QUERIES = [
    # Superset's explore: a dimension and an aggregate "metric" ordered by its label
    'SELECT "customer__segment" AS "customer__segment", MAX("completion_rate") AS '
    '"MAX(completion_rate)" FROM "metrics"."completion_rate" GROUP BY "customer__segment" '
    'ORDER BY "MAX(completion_rate)" DESC LIMIT 10000',
    # Metabase's query builder: fully qualified columns, a month bucket, its row cap
    'SELECT CAST(date_trunc(\'month\', "metrics"."order_total"."metric_time__day") AS '
    'timestamp) AS "metric_time__day", SUM("metrics"."order_total"."order_total") AS "sum" '
    'FROM "metrics"."order_total" GROUP BY CAST(date_trunc(\'month\', '
    '"metrics"."order_total"."metric_time__day") AS timestamp) ORDER BY CAST(date_trunc('
    '\'month\', "metrics"."order_total"."metric_time__day") AS timestamp) ASC LIMIT 1048575',
]


@pytest.mark.parametrize("sql", BI_METRIC_QUERIES, ids=["superset", "metabase"])
def test_bi_generated_metric_queries(server, sl_warehouse, sql):
    with connect(server) as c:
        rows = c.execute(sql).fetchall()
    assert len(rows) >= 2
    if "completion_rate" in sql:
        want = dict(
            direct(sl_warehouse, metrics=["completion_rate"], group_by=["customer__segment"])
        )
        assert [r[1] for r in rows] == sorted((r[1] for r in rows), reverse=True)
        for seg, v in rows:
            assert v == pytest.approx(want[seg])
    else:
        want = direct(
            sl_warehouse,
            metrics=["order_total"],
            group_by=["metric_time__month"],
            order_by=["metric_time__month"],
        )
        assert [float(r[1]) for r in rows] == pytest.approx([float(w[1]) for w in want])


P = psycopg.errors.InsufficientPrivilege


@pytest.mark.parametrize(
    "sql,error",
    [
        ("select order_total from metrics where customer__country = getvariable('x')", P),
        (
            "select order_total from metrics having max(order_total) > (select 1)",
            psycopg.errors.SyntaxError,
        ),
        (
            "select * from {{ semantic_layer.query(metrics=['order_total'], where=[\"{{ "
            "Dimension('customer__country') }} in (select country from dim_customers)\"]) }}",
            P,
        ),
        (
            "select * from {{ semantic_layer.query(metrics=['order_total'], "
            "where=[\"read_text('/etc/passwd') is not null\"]) }}",
            P,
        ),
    ],
)
def test_semantic_paths_refuse_smuggled_sql(server, sql, error):
    with connect(server) as c, pytest.raises(error):
        c.execute(sql)


def test_cli_sql_as_a_governed_user(sl_warehouse, tmp_path):
    cfg = tmp_path / "serve.yml"
    cfg.write_text(
        "row_policies:\n  gb: {table: dim_customers, key: customer_id, filter: \"country = 'GB'\"}\n"
        "roles:\n  gb: {marts: '*', metrics: '*', row_policies: [gb]}\n"
        f"users:\n  g: {{password: '{make_verifier('x')}', role: gb}}\n"
    )
    env = {**os.environ, "OPSMETRICS_WAREHOUSE_DIR": str(sl_warehouse)}
    p = subprocess.run(
        [
            OPSMETRICS,
            "sql",
            "select count(distinct country) as n from dim_customers",
            "--config",
            str(cfg),
            "--as",
            "g",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[2].strip() == "1"  # only GB rows are visible


def test_jdbc_compile_returns_sql(server):
    with connect(server) as c:
        (sql,) = c.execute(
            "select * from {{ semantic_layer.query(metrics=['order_total'], "
            "group_by=['metric_time__month'], compile=True) }}"
        ).fetchone()
    assert "SELECT" in sql.upper() and "fct_orders" in sql and "main." in sql
    assert "_sem" not in sql


def test_parallel_clients_get_their_own_answers(server):
    """Dashboard tiles at once: 8 clients, each statement compiled for the first time (a
    distinct LIMIT defeats the plan cache), every answer equal to the serial one."""
    import threading

    queries = [
        "select metric_time__month, order_total from metrics group by 1 order by 1",
        "select customer__segment, completion_rate from metrics group by 1 order by 1",
        "select metric_time__week, order_total_7d from metrics group by 1 order by 1",
        "select customer__region__region_name, avg_order_amount from metrics group by 1 order by 1",
        "select metric_time__month, order_total_wow from metrics group by 1 order by 1",
        "select metric_time__day, visit_to_purchase_rate from metrics group by 1 order by 1",
        "select order__channel, order_count from metrics group by 1 order by 1",
        "select metric_time__month, customer__segment, net_total from metrics "
        "group by 1, 2 order by 1, 2",
    ]
    with connect(server) as c:
        expected = [c.execute(q).fetchall() for q in queries]
    wrong, errors = [], []

    def client(k: int):
        try:
            with connect(server) as c:
                for i in range(12):
                    j = (k + i) % len(queries)
                    got = c.execute(f"{queries[j]} limit {100000 + k * 100 + i}").fetchall()
                    if got != expected[j]:
                        wrong.append((k, j))
        except Exception as exc:  # reported below, with the others
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]
    assert not wrong, wrong[:5]
