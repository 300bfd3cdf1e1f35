"""The plan stage: a request's plan is immutable data, holds the decisions MetricFlow's
semantics ask for, and renders to the same SQL every time without being changed."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest
import sqlglot

from analysis_py.errors import QueryError
from analysis_py.semantic import plan as P
from analysis_py.semantic.layer import SemanticLayer

from .conftest import cli

ALL_TYPES = [
    "order_total",
    "average_order_amount",
    "completion_rate",
    "order_total_wow",
    "order_total_month_start",
    "cumulative_order_total",
    "visit_to_purchase_rate",
]


@pytest.fixture(scope="module")
def layer(sl_project, tmp_path_factory):
    """The fixture's manifest plus one ratio of two unfiltered simple metrics of one model
    (MetricFlow computes it in the scan of those metrics)."""
    manifest = json.loads(sl_project.manifest.read_text())
    ratio = copy.deepcopy(next(m for m in manifest["metrics"] if m["name"] == "completion_rate"))
    ratio["name"], ratio["label"] = "average_order_amount", "Average order amount"
    ratio["type_params"]["numerator"]["name"] = "order_total"
    manifest["metrics"].append(ratio)
    path = tmp_path_factory.mktemp("plan") / "semantic_manifest.json"
    path.write_text(json.dumps(manifest))
    return SemanticLayer(str(path))


def _nodes(node):
    """Every dataclass reachable from ``node`` (plan nodes, items, filters, metrics)."""
    yield node
    for f in dataclasses.fields(node):
        v = getattr(node, f.name)
        for x in v if isinstance(v, tuple) else (v,):
            for y in x if isinstance(x, tuple) else (x,):
                if dataclasses.is_dataclass(y):
                    yield from _nodes(y)


def _metric_names(layer) -> list[str]:
    return [m for m in ALL_TYPES if m in layer.manifest.metrics]


def test_every_node_of_a_plan_is_frozen(layer):
    names = _metric_names(layer)
    assert len(names) == len(ALL_TYPES), "the fixture lost a metric type this test covers"
    plan = layer.plan(names, ["metric_time__month", "customer__segment"])
    kinds = {type(n) for n in _nodes(plan)}
    assert {P.RatiosFrom, P.Derived, P.ShiftPeriods, P.Cumulative, P.Conversion} <= kinds
    for n in _nodes(plan):
        assert n.__dataclass_params__.frozen, f"{type(n).__name__} is mutable"
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.branches = ()


def test_rendering_leaves_the_plan_unchanged_and_gives_the_compiled_sql(layer):
    names = _metric_names(layer)
    req = {"metrics": names, "group_by": ["metric_time__week"], "limit": 10}
    plan = layer.plan(**req)
    before = plan.describe()
    c = layer._compiler
    outer = c._local.__dict__.get("state")
    sqls = []
    for _ in range(2):
        from analysis_py.semantic.compiler import _State

        c._local.state = _State(c)
        try:
            tree, cols = c.render(plan)
        finally:
            c._local.state = outer
        sqls.append(tree.sql(dialect="duckdb"))
    compiled = sqlglot.parse_one(layer.compile(**req).sql, dialect="duckdb")
    assert sqls[0] == sqls[1] == compiled.sql(dialect="duckdb")
    assert plan.describe() == before and plan == layer.plan(**req)
    assert cols == ["metric_time__week", *names]


def test_the_plan_holds_the_semantic_decisions(layer):
    # a ratio over the same rows as a simple metric rides on its scan
    p = layer.plan(["order_total", "average_order_amount"], ["metric_time__day"])
    (b,) = p.branches
    assert isinstance(b.node, P.RatiosFrom) and [m.name for m in b.node.ratios] == [
        "average_order_amount"
    ]
    # a ratio whose numerator is filtered reads its inputs apart
    p = layer.plan(["completion_rate"], ["metric_time__day"])
    r = p.branches[0].node
    assert isinstance(r, P.Ratio) and r.parts is None and r.numerator.column == "__num"
    # an offset at the query's grain shifts periods after aggregating; at a coarser grain
    # than the offset it shifts rows before aggregating (MetricFlow's two cases)
    at_week = layer.plan(["order_total_wow"], ["metric_time__week"]).branches[0].node
    shifted = at_week.inputs[1].node
    assert isinstance(shifted, P.ShiftPeriods) and shifted.offset.granularity == "week"
    at_month = layer.plan(["order_total_wow"], ["metric_time__month"]).branches[0].node
    shifted = at_month.inputs[1].node
    assert isinstance(shifted, P.ShiftRows) and shifted.grains == ("month",)
    # offset_to_grain computes the input at the base grain
    mstart = layer.plan(["order_total_month_start"], ["metric_time__month"]).branches[0].node
    sp = mstart.inputs[0].node
    assert isinstance(sp, P.ShiftPeriods) and sp.base.name == "metric_time__day"
    assert sp.node.items[0] is sp.base
    # join_to_timespine: the spine join fills, no second COALESCE
    filled = layer.plan(["order_total_filled"], ["metric_time__day"]).branches[0]
    assert filled.node.fill is None and filled.fills == (("order_total_filled", 0),)
    # filters are inherited down to every leaf
    w = "{{ Dimension('customer__segment') }} = 'sme'"
    d = layer.plan(["order_total_wow"], ["metric_time__week"], where=[w]).branches[0].node
    leaves = [i.node for i in d.inputs]
    assert leaves[0].filters[-1].text == w and leaves[1].node.filters[-1].text == w


def test_describe_reads_as_the_plan(layer):
    text = layer.plan(
        ["order_total_wow", "completion_rate"],
        ["metric_time__week"],
        where=["{{ Dimension('customer__segment') }} = 'sme'"],
        order_by=["-metric_time__week"],
        limit=3,
    ).describe()
    assert "group by: metric_time__week" in text
    assert "derived order_total_wow" in text
    assert "shift metric_time__week periods by 1 week" in text
    assert "order by: -metric_time__week; limit 3" in text


def test_a_plan_needs_metrics(layer):
    with pytest.raises(QueryError, match="needs metrics"):
        layer.plan([], ["customer__segment"])


def test_cli_prints_the_plan(sl_project):
    proc = cli(
        "query",
        "--manifest",
        str(sl_project.manifest),
        "--metrics",
        "order_total_wow",
        "--group-by",
        "metric_time__month",
        "--plan",
    )
    assert proc.returncode == 0, proc.stderr
    assert "shift rows by 1 week before aggregating" in proc.stdout
    assert "Traceback" not in proc.stderr
    bad = cli("query", "--manifest", str(sl_project.manifest), "--metrics", "x", "--plan")
    assert bad.returncode != 0 and "unknown metric 'x'" in bad.stderr
    assert "Traceback" not in bad.stderr
    both = cli(
        "query", "--manifest", str(sl_project.manifest), "--metrics", "order_total",
        "--plan", "--explain",
    )  # fmt: skip
    assert both.returncode != 0 and "choose one" in both.stderr
