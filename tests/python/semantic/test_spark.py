"""The SQL built for Spark (a tree per dialect, not transpiled text) gives DuckDB's answers when
run on a local Spark session over the same fixture tables (DESIGN.md §7)."""

from __future__ import annotations

import datetime as dt
import decimal
import math

import pytest

from tests.python.conftest import PY4J_SOCKETS

pytestmark = PY4J_SOCKETS

REQUESTS = {
    "simple_month": dict(
        metrics=["order_total", "order_count", "avg_order_amount"], group_by=["metric_time__month"]
    ),
    "multi_hop": dict(
        metrics=["order_total"], group_by=["metric_time__quarter", "customer__region__region_name"]
    ),
    "percentiles": dict(
        metrics=["median_order_amount", "p90_order_amount", "p90_order_amount_discrete"],
        group_by=["order__channel"],
    ),
    "distinct_boolean": dict(
        metrics=["order_customers", "large_orders"], group_by=["metric_time__week"]
    ),
    "ratio_derived": dict(
        metrics=["completion_rate", "online_share", "avg_amount_derived", "net_total"],
        group_by=["metric_time__month"],
    ),
    "offset": dict(metrics=["order_total_wow"], group_by=["metric_time__week"]),
    "offset_to_grain": dict(metrics=["order_total_month_start"], group_by=["metric_time__day"]),
    "cumulative": dict(
        metrics=["cumulative_order_total", "order_total_7d", "order_total_mtd"],
        group_by=["metric_time__week"],
    ),
    "cumulative_distinct": dict(metrics=["active_customers_7d"], group_by=["metric_time__day"]),
    "conversion": dict(
        metrics=["visit_to_purchase_rate", "visit_to_purchase_same_referrer"],
        group_by=["metric_time__month"],
    ),
    "nad": dict(
        metrics=["total_balance", "latest_balance_per_customer"], group_by=["metric_time__month"]
    ),
    "spine_fill": dict(
        metrics=["order_total_filled", "order_count_zero"],
        group_by=["metric_time__day"],
        start_time="2024-01-01",
        end_time="2024-01-20",
    ),
    "custom_grain": dict(metrics=["order_total"], group_by=["metric_time__fiscal_quarter"]),
    "filters_order_limit": dict(
        metrics=["order_total"],
        group_by=["metric_time__month", "order__channel"],
        where=[
            "{{ Dimension('customer__segment') }} in ('sme', 'corporate') and {{ TimeDimension('metric_time', 'day') }} >= '2024-02-01'"
        ],
        order_by=["-order_total"],
        limit=4,
    ),
}

TABLES = [
    "fct_orders",
    "dim_customers",
    "dim_regions",
    "fct_visits",
    "fct_purchases",
    "fct_balances",
    "metricflow_time_spine",
]


@pytest.fixture(scope="module")
def spark(sl, tmp_path_factory):
    pyspark = pytest.importorskip("pyspark", reason="pyspark is the optional [spark] extra")
    from pyspark.sql import SparkSession

    from analysis_py.warehouse.spark_target import java_opts

    wh = tmp_path_factory.mktemp("spark_wh")
    session = (
        SparkSession.builder.master("local[1]")
        .appName("opsmetrics-semantic-test")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.warehouse.dir", str(wh))
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", java_opts(0))  # tiny fixture: C1 JIT only
        .getOrCreate()
    )
    session.sql("CREATE DATABASE IF NOT EXISTS main")
    for t in TABLES:
        rel = sl.connection.sql(f"select * from main.{t}")
        schema = ", ".join(
            f"`{c}` {_spark_type(str(ty))}" for c, ty in zip(rel.columns, rel.types, strict=True)
        )
        df = session.createDataFrame(rel.fetchall(), schema=schema)
        df.write.mode("overwrite").saveAsTable(f"main.{t}")
    yield session
    session.stop()
    del pyspark


def _spark_type(duck: str) -> str:
    d = duck.upper()
    if d.startswith("DECIMAL"):
        return d.lower()
    return {
        "VARCHAR": "string",
        "INTEGER": "int",
        "BIGINT": "bigint",
        "DOUBLE": "double",
        "BOOLEAN": "boolean",
        "DATE": "date",
        "TIMESTAMP": "timestamp",
    }.get(d, "string")


def _norm(rows):
    out = []
    for r in rows:
        vals = []
        for v in r:
            if isinstance(v, decimal.Decimal):
                v = float(v)
            if isinstance(v, dt.date) and not isinstance(v, dt.datetime):
                v = dt.datetime(v.year, v.month, v.day)
            vals.append(v)
        out.append(vals)
    return out


@pytest.mark.spark
@pytest.mark.xdist_group("spark-semantic")  # one JVM: one worker runs them all
@pytest.mark.slow  # a Spark session costs ~1-2 min on these 2 cores: `pytest --runslow -m spark`
@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_spark_sql_gives_duckdb_answers(name, sl, spark):
    q = sl.query(**REQUESTS[name])
    expected = q.fetchall()
    got = [tuple(r) for r in spark.sql(q.sql_for("spark")).collect()]
    ordered = bool(REQUESTS[name].get("order_by"))
    # DECIMAL arithmetic differs by engine in the last digits (DuckDB rounds an interpolated
    # percentile of a DECIMAL(12,2) column to 2 places, Spark's AVG(decimal) keeps 6); wrong SQL
    # would be far off, so compare at 1e-4 relative
    a, b = _norm(got), _norm(expected)
    if not ordered:
        a, b = (
            sorted(a, key=lambda r: [str(x)[:10] for x in r]),
            sorted(b, key=lambda r: [str(x)[:10] for x in r]),
        )
    assert len(a) == len(b), f"{len(a)} rows vs {len(b)}"
    for x, y in zip(a, b, strict=True):
        for p, q in zip(x, y, strict=True):
            if isinstance(p, int | float) and isinstance(q, int | float):
                assert math.isclose(p, q, rel_tol=1e-4, abs_tol=1e-9), (x, y)
            else:
                assert p == q, (x, y)
