"""Filters are parsed, never pasted: every injection form is refused with a clear error, on a
copy of the warehouse, and nothing is executed or changed."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from analysis_py.errors import FilterError, QueryError
from analysis_py.semantic.where import parse_filter

INJECTIONS = {
    "second_statement": "{{ Dimension('order__status') }} = 'x'; DROP TABLE main.fct_orders",
    "create_table": "1 = 1; CREATE TABLE main.pwned AS SELECT 1 AS x",
    "subquery": "{{ Dimension('order__status') }} in (select status from main.fct_orders)",
    "scalar_subquery_table_function": "(select count(*) from read_csv('/etc/passwd')) > 0",
    "table_function_call": "{{ Dimension('order__status') }} = read_csv('/etc/passwd')",
    "raw_column": "amount > 100",
    "qualified_raw_column": "{{ Dimension('order__status') }} = 'x' or fct_orders.amount > 0",
    "ddl_alone": "DROP TABLE main.fct_orders",
    "union": "{{ Dimension('order__status') }} = 'x' UNION SELECT 1",
    "copy_to": "COPY (SELECT 1) TO '/tmp/opsmetrics_pwned.csv'",
    "attach": "ATTACH '/tmp/opsmetrics_pwned.duckdb'",
    "jinja_statement": "{% set x = 1 %}{{ Dimension('order__status') }} = 'x'",
    "python_in_template": "{{ __import__('os').system('touch /tmp/opsmetrics_pwned') }} = 0",
    "unknown_function": "getenv('HOME') = 'x'",
    "not_boolean": "{{ Dimension('order__status') }} || 'x'",
    "pragma": "PRAGMA database_list",
}


@pytest.mark.parametrize("name", sorted(INJECTIONS))
def test_injection_refused_by_parser(name):
    with pytest.raises(FilterError) as err:
        parse_filter(INJECTIONS[name])
    text = (err.value.message + " " + (err.value.hint or "")).lower()
    assert "refused" in text or "allowed" in text or "not a semantic object" in text


def test_legitimate_filters_are_kept():
    f = parse_filter(
        "{{ Dimension('order__status') }} = 'a;b' and {{ TimeDimension('metric_time', 'month') }}"
        " >= '2024-02-01' -- a comment"
    )
    sql = f.tree.sql()
    assert "a;b" in sql and "comment" not in sql


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def warehouse_copy(sl_project, tmp_path) -> Path:
    dest = tmp_path / sl_project.db.name
    shutil.copyfile(sl_project.db, dest)
    return dest


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "analysis_py.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("name", sorted(INJECTIONS))
def test_injection_via_api_changes_nothing(name, sl_project, warehouse_copy):
    from analysis_py.semantic import SemanticLayer

    before = _digest(warehouse_copy)
    layer = SemanticLayer.from_manifest(sl_project.manifest, warehouse_copy)
    with pytest.raises(FilterError):
        layer.query(
            metrics=["order_total"], group_by=["order__status"], where=INJECTIONS[name]
        ).fetchall()
    layer.connection.close()
    assert _digest(warehouse_copy) == before


CLI_FORMS = [
    "second_statement",
    "create_table",
    "scalar_subquery_table_function",
    "copy_to",
    "python_in_template",
]


@pytest.mark.parametrize("name", CLI_FORMS)
def test_injection_via_cli_changes_nothing(name, sl_project, warehouse_copy):
    before = _digest(warehouse_copy)
    proc = _cli(
        "query",
        "--manifest",
        str(sl_project.manifest),
        "--database",
        str(warehouse_copy),
        "--metrics",
        "order_total",
        "--where",
        INJECTIONS[name],
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "Error:" in proc.stderr
    assert _digest(warehouse_copy) == before
    assert not Path("/tmp/opsmetrics_pwned").exists()
    assert not Path("/tmp/opsmetrics_pwned.csv").exists()


def test_unknown_names_suggest_closest(sl):
    with pytest.raises(QueryError) as err:
        sl.query(metrics=["order_totl"])
    assert "order_total" in err.value.hint
    with pytest.raises(QueryError) as err:
        sl.query(metrics=["order_total"], group_by=["customer__segmnt"])
    assert "customer__segment" in (err.value.hint or "")


def test_grain_a_dimension_does_not_have(sl):
    with pytest.raises(QueryError) as err:
        sl.query(metrics=["order_total"], group_by=["order__ordered_at__hour"])
    assert "day" in err.value.message
    with pytest.raises(QueryError):
        sl.query(metrics=["order_total"], group_by=["metric_time__hour"])


def test_malformed_template(sl):
    with pytest.raises(FilterError):
        sl.query(metrics=["order_total"], where="{{ Dimension('order__status' }} = 'x'")
    with pytest.raises(FilterError):
        sl.query(metrics=["order_total"], where="{{ Dimension('order__status') = 'x'")


def test_filter_on_unreachable_dimension(sl):
    with pytest.raises(QueryError) as err:
        sl.query(metrics=["visits"], where="{{ Dimension('order__status') }} = 'x'")
    assert "order__status" in err.value.message


def test_cli_errors_have_no_traceback(sl_project):
    for args in (
        ["--metrics", "nope"],
        ["--metrics", "order_total", "--group-by", "nope__x"],
        ["--metrics", "order_total", "--order", "-nope"],
        ["--metrics", "order_total", "--limit", "-1"],
        ["--metrics", "order_total", "--start-time", "yesterday"],
        ["--metrics", "order_total", "--dialect", "oracle", "--explain"],
    ):
        proc = _cli(
            "query", "--manifest", str(sl_project.manifest), "--database", str(sl_project.db), *args
        )
        assert proc.returncode != 0, args
        assert "Traceback" not in proc.stderr, proc.stderr
        assert "Error" in proc.stderr


def test_a_group_by_reached_by_other_names_is_refused_with_both(sl):
    """region__region_name is the customers' own region for new_customers, but only the end of
    customer__region__region_name for order_total: as MetricFlow, no common item, so refused,
    and the hint names what it is for the other metric."""
    with pytest.raises(QueryError) as err:
        sl.compile(metrics=["new_customers", "order_total"], group_by=["region__region_name"])
    assert "cannot be reached" in err.value.message
    assert "customer__region__region_name" in err.value.hint
    # alone, each metric takes the name (order_total through the longer path)
    for m in ("new_customers", "order_total"):
        assert sl.compile(metrics=[m], group_by=["region__region_name"]).fetchall()


def test_a_suggestion_never_proposes_the_name_that_failed(sl):
    """order__channel exists, but visits cannot reach it: the error says so, and proposes no
    name equal to the one that failed; a misspelling still gets the close names."""
    with pytest.raises(QueryError) as err:
        sl.compile(metrics=["visits"], group_by=["order__channel"])
    assert "no entity of it leads there" in err.value.message
    assert "order__channel" not in (err.value.hint or "")
    with pytest.raises(QueryError) as err:
        sl.compile(metrics=["order_total"], group_by=["order__chanel"])
    assert "order__channel" in err.value.hint and "order__chanel," not in err.value.hint
