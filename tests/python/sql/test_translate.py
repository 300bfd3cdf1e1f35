"""Semantic SQL and JDBC syntax → metric requests (pure translation, no database)."""

from __future__ import annotations

import pytest
import sqlglot

from analysis_py.errors import SQLStateError
from analysis_py.sql import jdbc
from analysis_py.sql import semantic_sql as semantic
from analysis_py.sql.split import split_statements

KNOWN = {"stp_rate", "payment_count", "order_total"}


def tr(sql):
    return semantic.translate(sqlglot.parse_one(sql, read="postgres"), KNOWN)


CASES = [
    (
        "select metric_time__month, client__segment, stp_rate from metrics "
        "where client__region = 'EMEA' group by all order by 1 limit 100",
        {
            "metrics": ["stp_rate"],
            "group_by": ["metric_time__month", "client__segment"],
            "where": ["{{ Dimension('client__region') }} = 'EMEA'"],
        },
    ),
    (
        "select date_trunc('month', metric_time__day) as m, sum(stp_rate) from metrics.stp_rate "
        "group by 1",
        {"metrics": ["stp_rate"], "group_by": ["metric_time__month"], "where": None},
    ),
    (
        "select metric_time__week, stp_rate, payment_count from metrics where metric_time >= "
        "'2025-01-01' and metric_time__month < '2025-06-01' and payment__rail in ('ACH', 'RTP')",
        {
            "metrics": ["stp_rate", "payment_count"],
            "group_by": ["metric_time__week"],
            "where": [
                "{{ TimeDimension('metric_time', 'day') }} >= '2025-01-01'",
                "{{ TimeDimension('metric_time', 'month') }} < '2025-06-01'",
                "{{ Dimension('payment__rail') }} IN ('ACH', 'RTP')",
            ],
        },
    ),
    (
        "select client, payment_count from metrics where client = 7 group by client",
        {
            "metrics": ["payment_count"],
            "group_by": ["client"],
            "where": ["{{ Entity('client') }} = 7"],
        },
    ),
    (
        'select "metrics"."stp_rate"."client__segment" as "seg", measure("stp_rate"."stp_rate") '
        'as "v" from "metrics"."stp_rate" group by 1 order by 2 desc',
        {"metrics": ["stp_rate"], "group_by": ["client__segment"], "where": None},
    ),
]


@pytest.mark.parametrize("sql,expected", CASES, ids=[c[0][:40] for c in CASES])
def test_semantic_sql_to_request(sql, expected):
    assert tr(sql).kwargs() == expected


def test_ratio_is_never_reaggregated():
    q = tr(
        "select client__segment, avg(stp_rate) as r from metrics group by 1 "
        "having avg(stp_rate) > 0.9 order by r desc"
    )
    outer = q.outer().sql(dialect="duckdb")
    assert "AVG" not in outer.upper() and "SUM" not in outer.upper()
    assert 'WHERE _m."stp_rate" > 0.9' in outer
    assert 'ORDER BY _m."stp_rate" DESC' in outer


def test_outer_expressions_run_on_the_result():
    q = tr(
        "select metric_time__month, stp_rate * 100 as pct from metrics order by 1 limit 3 offset 1"
    )
    outer = q.outer().sql(dialect="duckdb")
    assert '_m."stp_rate" * 100 AS "pct"' in outer and "LIMIT 3" in outer and "OFFSET 1" in outer


@pytest.mark.parametrize(
    "sql,message",
    [
        ("select client__segment from metrics", "at least one metric"),
        ("select count(*) from metrics", "COUNT"),
        ("select stp_rate from metrics where stp_rate > 1", "HAVING"),
        ("select stp_rate from metrics join fct_payments on true", "no joins"),
        ("select stp_rate from metrics where client__segment in (select 1)", "subqueries"),
        ("select * from metrics.nope", "does not exist"),
    ],
)
def test_semantic_sql_errors(sql, message):
    with pytest.raises(SQLStateError, match=message):
        tr(sql)


def test_references_metrics():
    assert semantic.references_metrics(sqlglot.parse_one("select x from metrics"))
    assert semantic.references_metrics(sqlglot.parse_one("select x from metrics.stp_rate"))
    assert not semantic.references_metrics(sqlglot.parse_one("select x from fct_payments"))


def test_bind_params_inlines_values():
    tree = sqlglot.parse_one(
        "select stp_rate from metrics where client__region = $1", read="postgres"
    )
    q = semantic.translate(semantic.bind_params(tree, ["EMEA"]), KNOWN)
    assert q.where == ["{{ Dimension('client__region') }} = 'EMEA'"]


def test_jdbc_query_call():
    c = jdbc.parse_call(
        "select * from {{ semantic_layer.query(metrics=['stp_rate', 'payment_count'], "
        "group_by=[Dimension('metric_time').grain('month'), 'client__segment', "
        "TimeDimension('metric_time', 'week'), Entity('client')], "
        "where=[\"{{ Dimension('client__region') }} = 'EMEA'\"], "
        "order_by=[Metric('stp_rate').descending(True), 'metric_time__month'], limit=10, "
        "start_time='2025-01-01') }}"
    )
    kw = c.query_kwargs()
    assert kw["metrics"] == ["stp_rate", "payment_count"]
    assert kw["group_by"] == [
        "metric_time__month",
        "client__segment",
        "metric_time__week",
        "client",
    ]
    assert kw["where"] == ["{{ Dimension('client__region') }} = 'EMEA'"]
    assert kw["order_by"] == ["-stp_rate", "metric_time__month"]
    assert kw["limit"] == 10 and kw["start_time"] == "2025-01-01"


def test_jdbc_metadata_calls_and_outer_sql():
    assert jdbc.parse_call("select * from {{ semantic_layer.metrics() }}").method == "metrics"
    c = jdbc.parse_call(
        "select name from {{ semantic_layer.dimensions(metrics=['x']) }} "
        "where name like 'client%' limit 5"
    )
    assert c.method == "dimensions" and c.kwargs == {"metrics": ["x"]}
    assert (
        c.outer_tree.sql()
        == "SELECT name FROM semantic_layer_result WHERE name LIKE 'client%' LIMIT 5"
    )


@pytest.mark.parametrize(
    "sql",
    [
        "select * from {{ semantic_layer.query(metrics=__import__('os').system('id')) }}",
        "select * from {{ semantic_layer.query(metrics=[open('/etc/passwd').read()]) }}",
        "select * from {{ semantic_layer.query(metrics=['a'] + ['b']) }}",
        "select * from {{ semantic_layer.__class__() }}",
        "select * from {{ semantic_layer.query('positional') }}",
        "select * from {{ semantic_layer.query(metrics=['a']) }} join fct_payments on true",
        "select * from {{ semantic_layer.query(metrics=['a']",
        "select * from {{ os.system('id') }}",
    ],
)
def test_jdbc_is_parsed_never_evaluated(sql):
    with pytest.raises(SQLStateError):
        jdbc.parse_call(sql)


def test_split_statements():
    assert split_statements("select 1; select ';'; select $x$;$x$") == [
        "select 1",
        "select ';'",
        "select $x$;$x$",
    ]
    assert split_statements(
        'select * from {{ semantic_layer.query(where=["a;b"]) }}; select 2'
    ) == ['select * from {{ semantic_layer.query(where=["a;b"]) }}', "select 2"]


def test_row_policy_fails_closed_without_its_reference_table():
    from analysis_py.pg.governance import MartInfo, Role, RowPolicy, view_sql

    fact = MartInfo("fct_x", "main", (("client_id", "INTEGER"), ("v", "DOUBLE")))
    role = Role("r", row_policies=(RowPolicy("p", "dim_missing", "region = 'EMEA'", "client_id"),))
    assert view_sql(fact, "gen_1", role, {"fct_x": fact}).endswith("WHERE false")
    other = MartInfo("dim_dates", "main", (("date_day", "DATE"),))
    assert "WHERE" not in view_sql(other, "gen_1", role, {"fct_x": fact})


def test_python_expression_parsing_is_serialised_across_threads():
    """CPython 3.11's AST converter keeps its recursion depth in state shared by threads, so
    two parses at once can fail ("AST constructor recursion depth mismatch", seen from the
    server's parallel JDBC-syntax compiles): every parse of a template or JDBC call holds
    one lock, here held by the test while another thread tries to parse."""
    import threading

    from analysis_py.semantic import names

    done = threading.Event()

    def parse():
        jdbc.parse_call("select * from {{ semantic_layer.query(metrics=['m']) }}")
        done.set()

    with names._AST_LOCK:
        t = threading.Thread(target=parse)
        t.start()
        assert not done.wait(0.3), "the JDBC call was parsed without the AST lock"
    t.join(5)
    assert done.is_set()


def test_a_projects_custom_grain_is_a_time_grain_in_semantic_sql():
    """``<dimension>__<grain>`` names a custom grain of the project's time spine only when
    the caller passes the project's grains: otherwise it is a dimension name."""
    sql = "select metric_time__martian_day, payment_count from metrics where metric_time__martian_day > '2025-01-01'"
    tree = sqlglot.parse_one(sql, read="postgres")
    custom = semantic.translate(tree, KNOWN, grains={*semantic.GRAINS, "martian_day"})
    assert custom.group_by == ["metric_time__martian_day"]
    assert custom.where == ["{{ TimeDimension('metric_time', 'martian_day') }} > '2025-01-01'"]
    plain = semantic.translate(tree, KNOWN)
    assert plain.where == ["{{ Dimension('metric_time__martian_day') }} > '2025-01-01'"]
