"""Parts of MetricFlow's spec that the fixture project does not exercise by itself, checked on
its data against hand-written SQL: a semantic model's ``primary_entity`` that is not among its
entities, and a boolean dimension used as a whole filter."""

from __future__ import annotations

import copy
import json

import duckdb
import pytest

from analysis_py.semantic.layer import SemanticLayer


@pytest.fixture(scope="module")
def con(sl_project):
    c = duckdb.connect(str(sl_project.db), read_only=True)
    yield c
    c.close()


def _with_primary_entity(manifest: dict) -> dict:
    """The fixture manifest with `visits` declaring `primary_entity: visit` and no entity of
    that name (MetricFlow's shape for a model whose rows have no key of their own)."""
    out = copy.deepcopy(manifest)
    for sm in out["semantic_models"]:
        if sm["name"] == "visits":
            sm["entities"] = [e for e in sm["entities"] if e["name"] != "visit"]
            sm["primary_entity"] = "visit"
    return out


def _rows(layer, con, **req):
    sql = layer.compile(**req).expression.sql(dialect="duckdb")
    return sorted(con.execute(sql).fetchall(), key=repr)


def test_primary_entity_qualifies_the_models_own_dimensions(sl_project, con):
    manifest = _with_primary_entity(json.loads(sl_project.manifest.read_text()))
    layer = SemanticLayer(manifest)
    got = _rows(layer, con, metrics=["visits"], group_by=["visit__referrer"])
    want = sorted(
        con.execute("select referrer, count(*) from fct_visits group by 1").fetchall(), key=repr
    )
    assert got == [(r, float(n)) for r, n in want] or got == want
    dims = {d["name"] for d in layer.dimensions(metrics=["visits"])}
    assert "visit__referrer" in dims and "customer__segment" in dims  # joins still work


@pytest.mark.parametrize(
    "where,sql",
    [
        ("{{ Dimension('order__is_large') }}", "is_large"),
        ("not {{ Dimension('order__is_large') }}", "not is_large"),
        ("({{ Dimension('order__is_large') }})", "is_large"),
    ],
)
def test_a_boolean_dimension_is_a_filter_by_itself(sl, con, where, sql):
    (got,) = sl.compile(metrics=["order_total"], where=[where]).fetchall()
    (want,) = con.execute(f"select sum(amount) from fct_orders where {sql}").fetchall()
    assert got == want


def test_a_non_boolean_reference_alone_is_still_refused_by_the_engine(sl):
    from analysis_py.errors import OpsMetricsError

    with pytest.raises((OpsMetricsError, duckdb.Error)):
        sl.compile(metrics=["order_total"], where=["{{ Dimension('order__status') }}"]).fetchall()


@pytest.mark.parametrize(
    "group_by,column",
    [
        ("metric_time__extract_dow", "ordered_at"),
        ("order__ordered_at__extract_dow", "ordered_at"),
    ],
)
def test_day_of_week_is_iso(sl, con, group_by, column):
    """MetricFlow's ``extract_dow`` is ISO: Monday 1 … Sunday 7 (DuckDB's DOW has Sunday 0)."""
    got = sorted(sl.compile(metrics=["order_count"], group_by=[group_by]).fetchall())
    want = sorted(
        con.execute(f"select isodow({column}), count(*) from fct_orders group by 1").fetchall()
    )
    assert [(int(d), int(n)) for d, n in got] == [(int(d), int(n)) for d, n in want]
    assert {int(d) for d, _ in got} <= set(range(1, 8)) and 7 in {int(d) for d, _ in got}


@pytest.mark.parametrize(
    "dialect", ["duckdb", "postgres", "snowflake", "spark", "bigquery", "trino"]
)
def test_day_of_week_sql_per_dialect(sl, dialect):
    sql = sl.compile(metrics=["order_count"], group_by=["metric_time__extract_dow"]).sql_for(
        dialect
    )
    iso = {
        "duckdb": "EXTRACT(ISODOW FROM",
        "postgres": "EXTRACT(ISODOW FROM",
        "snowflake": "DAYOFWEEKISO",
        "spark": "EXTRACT(DAYOFWEEK_ISO FROM",
        "bigquery": "MOD(EXTRACT(DAYOFWEEK FROM",
        "trino": "DAY_OF_WEEK(",
    }[dialect]
    assert iso in sql, sql


def test_metric_time_without_a_grain_takes_the_metrics_default(sl):
    """Each metric's default is its agg time dimension's grain (at least day); several metrics
    take the coarsest of theirs. An hour-grain metric defaults to day."""
    assert sl.compile(metrics=["visits"], group_by=["metric_time"]).columns[0] == "metric_time__day"


def test_min_max_only_gives_each_items_range(sl, con):
    q = sl.compile(group_by=["customer__segment", "metric_time__month"], min_max_only=False)
    assert q.columns == ["metric_time__month", "customer__segment"]
    q = sl.compile(group_by=["customer__segment"], min_max_only=True)
    assert q.columns == ["customer__segment__min", "customer__segment__max"]
    assert (
        q.fetchall()
        == con.execute("select min(segment), max(segment) from dim_customers").fetchall()
    )


def test_apply_group_by_false_keeps_duplicates(sl, con):
    deduped = sl.compile(group_by=["order__channel"]).fetchall()
    raw = sl.compile(group_by=["order__channel"], apply_group_by=False).fetchall()
    (n,) = con.execute("select count(*) from fct_orders").fetchone()
    assert len(raw) == n and sorted(set(raw)) == sorted(deduped)


def test_metric_time_with_a_dimension_is_the_spine_crossed_with_its_values(sl, con):
    rows = sl.compile(
        group_by=["metric_time__month", "order__channel"],
        start_time="2024-01-01",
        end_time="2024-03-31",
    ).fetchall()
    channels = {r[0] for r in con.execute("select distinct channel from fct_orders").fetchall()}
    assert len(rows) == 3 * len(channels) and {r[1] for r in rows} == channels


def test_min_max_and_no_dedupe_are_for_queries_without_metrics(sl):
    from analysis_py.errors import QueryError

    with pytest.raises(QueryError, match="without metrics"):
        sl.compile(metrics=["order_total"], group_by=["customer__segment"], min_max_only=True)


@pytest.mark.parametrize(
    "bare,template",
    [
        ("order__status = 'completed'", "{{ Dimension('order__status') }} = 'completed'"),
        (
            "CAST(metric_time__day AS TIMESTAMP) >= CAST('2024-03-01' AS TIMESTAMP)",
            "{{ TimeDimension('metric_time', 'day') }} >= '2024-03-01'",
        ),
    ],
)
def test_a_bare_semantic_name_in_a_filter_is_the_object(sl, bare, template):
    """MetricFlow's filters may name group-by items bare (``metric_time__day``); they resolve
    as semantic objects, never as raw columns (``amount > 1`` is still refused)."""
    got = sl.compile(metrics=["order_total"], group_by=["metric_time__month"], where=[bare])
    want = sl.compile(metrics=["order_total"], group_by=["metric_time__month"], where=[template])
    assert got.fetchall() == want.fetchall()


@pytest.mark.parametrize(
    "metric", ["order_total_wow", "order_count_prev_month", "order_total_month_start"]
)
@pytest.mark.parametrize("grain", ["day", "month"])
def test_an_offset_by_the_agg_time_dimension_equals_the_one_by_metric_time(sl, metric, grain):
    """MetricFlow shifts an offset input along the metric's agg time dimension as along
    metric_time; the answers are the same, under the dimension's name."""
    by_mt = sl.compile(metrics=[metric], group_by=[f"metric_time__{grain}"]).fetchall()
    by_atd = sl.compile(metrics=[metric], group_by=[f"order__ordered_at__{grain}"])
    assert by_atd.columns == [f"order__ordered_at__{grain}", metric]
    assert sorted(by_atd.fetchall(), key=repr) == sorted(by_mt, key=repr)
