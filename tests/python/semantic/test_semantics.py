"""Behaviour beyond the oracle: where we follow the documentation rather than a MetricFlow bug,
features MetricFlow lacks, and the hooks other parts of opsmetrics use."""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from analysis_py.semantic import SemanticLayer

from .compare import rows_equal


def test_cumulative_by_agg_time_dimension_name_accumulates(sl):
    """dbt-labs/metricflow#806: MetricFlow ignores the window when the agg time dimension is
    named instead of metric_time; the documented meaning is the same as metric_time."""
    a = sl.query(
        metrics=["order_total_7d", "cumulative_order_total"], group_by=["order__ordered_at__week"]
    )
    b = sl.query(
        metrics=["order_total_7d", "cumulative_order_total"], group_by=["metric_time__week"]
    )
    assert a.columns[0] == "order__ordered_at__week"
    ok, why = rows_equal(a.fetchall(), b.fetchall(), ordered=False)
    assert ok, why


def test_date_part(sl):
    rows = sl.query(metrics=["order_count"], group_by=["metric_time__extract_month"]).fetchall()
    assert sorted(r[0] for r in rows) == [1, 2, 3, 4]
    assert sum(r[1] for r in rows) == sl.query(metrics=["order_count"]).fetchall()[0][0]


def test_relation_resolver_points_at_other_relations(sl_project):
    seen = []

    def resolver(rel):
        seen.append(rel["alias"])
        return exp.to_table(f"policy.{rel['alias']}")

    sl = SemanticLayer.from_manifest(sl_project.manifest, relation_resolver=resolver)
    sql = sl.compile(metrics=["order_total"], group_by=["customer__segment"]).sql
    tables = {t.sql() for t in sqlglot.parse_one(sql, read="duckdb").find_all(exp.Table) if t.db}
    assert tables == {"policy.fct_orders", "policy.dim_customers"}
    assert "fct_orders" in seen


def test_no_database_part_by_default(sl):
    sql = sl.compile(metrics=["order_total"]).sql
    assert "main.fct_orders" in sql and "sl_fixture." not in sql


def test_readable_ctes_one_per_model(sl):
    tree = sl.compile(metrics=["order_total", "visits"], group_by=["customer__segment"]).expression
    names = [c.alias for c in tree.args["with_"].expressions]
    assert names[:3] == ["orders", "customers", "visits"]


def test_fan_out_safe(sl):
    """A customer-level measure grouped with an order dimension is not multiplied by orders."""
    total = sl.query(metrics=["new_customers"]).fetchall()[0][0]
    by_region = sl.query(metrics=["new_customers"], group_by=["region__region_name"]).fetchall()
    assert sum(r[1] for r in by_region) == total == 10


def test_saved_query_with_extra_where(sl):
    base = sl.query(saved_query="weekly_orders").fetchall()
    narrowed = sl.query(
        saved_query="weekly_orders", where="{{ Dimension('order__channel') }} = 'online'"
    ).fetchall()
    assert 0 < len(narrowed) < len(base)
    assert {r[1] for r in narrowed} == {"online"}
