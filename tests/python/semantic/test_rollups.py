"""Rollups answer requests exactly as the marts do: a rollup over the semantic fixture
project (metrics of every kind it holds, by day and two dimensions) against the same
requests compiled for the marts, on the same file; what a rollup cannot answer goes to the
marts, with the reason."""

from __future__ import annotations

import dataclasses
import shutil

import duckdb
import pytest

from analysis_py.errors import QueryError
from analysis_py.semantic import SemanticLayer
from analysis_py.semantic import rollups as ru
from analysis_py.semantic.manifest import SavedQuery, load_manifest

METRICS = [
    "order_total",  # sum
    "order_count",  # sum of 1
    "large_orders",  # sum_boolean
    "avg_order_amount",  # average: sum and count
    "min_order_amount",
    "max_order_amount",
    "total_discount",  # sum over a nullable column: NULL groups stay rows
    "order_customers",  # count_distinct: exact group-by only
    "median_order_amount",  # percentile: exact group-by only
    "completion_rate",  # ratio
    "net_total",  # derived
    "completed_orders",  # simple with a metric filter
    "order_total_7d",  # cumulative: not held
    "order_total_wow",  # derived with an offset: not held
]
GROUP = ("metric_time__day", "order__channel", "customer__region")
GROUP_BYS = [
    [],
    ["metric_time__day"],
    ["metric_time__week"],
    ["metric_time__month", "order__channel"],
    ["metric_time__quarter"],
    ["customer__region"],
    ["order__channel", "customer__region", "metric_time__day"],
]
WHERES = [
    [],
    ["{{ Dimension('order__channel') }} = 'online'"],
    ["{{ TimeDimension('metric_time', 'month') }} >= '2024-02-01'"],
]


@pytest.fixture(scope="module")
def layers(sl_project, tmp_path_factory):
    """(layer on a file holding rollup ``r1``, the rollup's spec)."""
    manifest = load_manifest(sl_project.manifest)
    manifest = dataclasses.replace(
        manifest,
        saved_queries={**manifest.saved_queries, "r1": SavedQuery("r1", tuple(METRICS), GROUP)},
    )
    spec, sql = ru.build_sql(SemanticLayer, manifest, "r1")
    db = tmp_path_factory.mktemp("rollups") / "build.duckdb"
    shutil.copy(sl_project.db, db)
    con = duckdb.connect(str(db))
    con.execute("create schema rollups")
    con.execute(f"create table rollups.r1 as {sql}")
    spec = ru.with_types(con, spec)
    con.execute("create table rollups._catalog (name varchar, spec varchar)")
    con.execute("insert into rollups._catalog values (?, ?)", ["r1", spec.to_json()])
    con.close()
    return SemanticLayer(manifest, connection=duckdb.connect(str(db), read_only=True)), spec


def _rounded(rows):
    """Rows with floats to 12 significant digits: an average re-aggregated as SUM / COUNT
    differs from AVG in the last bits."""
    return [tuple(float(f"{v:.12g}") if isinstance(v, float) else v for v in r) for r in rows]


def _rows(q):
    return sorted(_rounded(q.fetchall()), key=repr)


def test_the_rollup_holds_what_it_can_and_says_how(layers):
    _sl, spec = layers
    kinds = {m: p["kind"] for m, p in spec.plans.items()}
    assert kinds["order_total"] == "sum" and kinds["min_order_amount"] == "min"
    assert kinds["avg_order_amount"] == "avg" and kinds["completion_rate"] == "ratio"
    assert kinds["net_total"] == "derived" and kinds["order_customers"] == "exact"
    assert "order_total_7d" not in kinds and "order_total_wow" not in kinds
    assert set(spec.group) == set(GROUP)


@pytest.mark.parametrize("metric", METRICS)
def test_every_request_answers_the_same_from_the_rollup_and_the_marts(layers, metric):
    sl, spec = layers
    from_rollup = 0
    for gb in GROUP_BYS:
        for where in WHERES:
            try:
                marts = sl.compile(metrics=[metric], group_by=gb, where=where, use_rollups=False)
            except QueryError:
                continue  # a request the marts refuse (a window metric without time)
            q = sl.compile(metrics=[metric], group_by=gb, where=where)
            assert q.columns == marts.columns
            assert _rows(q) == _rows(marts), (metric, gb, where, q.answered_from)
            types = q.to_arrow().schema.types, marts.to_arrow().schema.types
            assert types[0] == types[1], (metric, gb, types)
            from_rollup += q.answered_from == "rollup r1"
    plan = spec.plans.get(metric)
    if plan is None:
        assert from_rollup == 0
    elif plan["kind"] == "exact":
        assert from_rollup == 2  # the exact group-by, unfiltered and filtered on the channel
    else:
        assert from_rollup >= 15


def test_several_metrics_order_and_limit(layers):
    sl, _spec = layers
    req = {
        "metrics": ["order_total", "completion_rate", "avg_order_amount"],
        "group_by": ["metric_time__month", "order__channel"],
        "order_by": ["-order_total"],
        "limit": 5,
    }
    q = sl.compile(**req)
    assert q.answered_from == "rollup r1"
    assert _rounded(q.fetchall()) == _rounded(sl.compile(**req, use_rollups=False).fetchall())


@pytest.mark.parametrize(
    "req,why",
    [
        (
            {"metrics": ["order_total"], "group_by": ["order__status"]},
            "does not hold at that grain",
        ),
        (
            {"metrics": ["order_total"], "group_by": ["order__ordered_at__day"]},
            "does not hold at that grain",
        ),
        ({"metrics": ["visits"]}, "does not hold visits"),
        (
            {"metrics": ["order_total"], "where": ["{{ Dimension('order__status') }} = 'done'"]},
            "a filter on order__status",
        ),
        (
            {"metrics": ["order_customers"], "group_by": ["metric_time__month"]},
            "stored only at its own group-by",
        ),
        ({"metrics": ["order_total"], "start_time": "2024-02-01"}, "a time range"),
    ],
)
def test_requests_a_rollup_cannot_answer_go_to_the_marts_with_the_reason(layers, req, why):
    sl, _spec = layers
    q = sl.compile(**req)
    assert q.answered_from == "marts" and why in q.why, q.why
    assert q.fetchall() == sl.compile(**req, use_rollups=False).fetchall()


def test_a_rollup_saved_query_with_a_filter_is_refused(sl_project):
    manifest = load_manifest(sl_project.manifest)
    assert manifest.saved_queries["weekly_orders"].where
    with pytest.raises(QueryError, match="has a where filter"):
        ru.build_sql(SemanticLayer, manifest, "weekly_orders")


def test_the_projects_rollups_answer_as_the_marts(built_warehouse):
    """This project's declared rollups, as `opsmetrics build` made them: every metric they
    hold, by each of their dimensions and time at coarser grains, filtered and not."""
    from analysis_py.warehouse import open_duckdb

    target = built_warehouse.paths.warehouse_dir / "target"
    sl = SemanticLayer(
        target / "semantic_manifest.json", connection=open_duckdb(built_warehouse.duckdb_path)
    )
    held = sl.rollups()
    assert {r.name for r in held} >= {"daily_case_rollup", "daily_payment_rollup"}
    compared = 0
    for r in held:
        dims = [g for g in r.group if not g.startswith("metric_time")]
        time = [g for g in r.group if g.startswith("metric_time")]
        coarser = ["metric_time__month"] if time == ["metric_time__day"] else time
        for metric in r.plans:
            for gb in ([], coarser, [*coarser, dims[0]], dims[-1:]):
                for where in ([], [f"{{{{ Dimension('{dims[0]}') }}}} is not null"]):
                    q = sl.compile(metrics=[metric], group_by=gb, where=where)
                    marts = sl.compile(
                        metrics=[metric], group_by=gb, where=where, use_rollups=False
                    )
                    exact = r.plans[metric]["kind"] == "exact"
                    assert exact or q.answered_from == f"rollup {r.name}", (metric, gb, q.why)
                    assert _rows(q) == _rows(marts), (r.name, metric, gb, where)
                    compared += 1
    assert compared > 150
