"""node-postgres (``pg``) and postgres.js (``postgres``) against the server over the project's
warehouse. postgres.js prepares every statement (Parse, Describe, then Bind) and types its
parameters from ParameterDescription; node-postgres sends text parameters, untyped. ``.ci/run``
installs Node.js and the pinned packages (``npm ci`` in tests/python/serve/node); elsewhere
the test skips unless ``OPSMETRICS_REQUIRE_DRIVERS=1`` makes a missing driver a failure."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.python.serve.conftest import (
    probe_rows,
    require_driver,
    run_probe,
    warehouse_rows,
)

NODE_DIR = Path(__file__).with_name("node")
pytestmark = require_driver(
    shutil.which("node") is not None and (NODE_DIR / "node_modules" / "pg").is_dir(),
    "Node.js or the probe's packages (npm ci in tests/python/serve/node)",
)


@pytest.fixture(scope="module")
def probe(built_warehouse):
    return run_probe(built_warehouse, ["node", "probe.mjs"], cwd=NODE_DIR)


_ok = probe_rows


def _count(built_warehouse, where: str) -> str:
    ((n,),) = warehouse_rows(
        built_warehouse, f"select count(*) from main.fct_payments where {where}"
    )
    return str(n)  # both drivers give a bigint as a string (it may not fit a JS number)


@pytest.mark.parametrize("driver", ["pg", "js"])
def test_semantic_sql_and_jdbc_syntax_with_parameters(probe, driver):
    """postgres.js describes before binding; node-postgres binds text: both get the metric of
    one region and one rail, equal to that row of the unfiltered answer."""
    everything = {r[0]: r[1] for r in _ok(probe, "pg_semantic_all")}
    rails = {r[0]: r[1] for r in _ok(probe, "pg_jdbc_all")}
    assert _ok(probe, f"{driver}_semantic_param") == [["EMEA", everything["EMEA"]]]
    assert _ok(probe, f"{driver}_jdbc_syntax_param") == [["SWIFT", rails["SWIFT"]]]
    if driver == "js":
        assert _ok(probe, "js_tagged_semantic") == [["EMEA", everything["EMEA"]]]


@pytest.mark.parametrize("driver", ["pg", "js"])
def test_typed_parameters_give_duckdbs_counts(probe, built_warehouse, driver):
    assert _ok(probe, f"{driver}_simple_count") == [[_count(built_warehouse, "true")]]
    assert _ok(probe, f"{driver}_int_decimal_params") == [
        [_count(built_warehouse, "repair_minutes > 5 and amount_usd > 71815.25")]
    ]
    assert _ok(probe, f"{driver}_date_param") == [
        [_count(built_warehouse, "created_date = date '2025-06-02'")]
    ]
    assert _ok(probe, f"{driver}_array_param") == [
        [_count(built_warehouse, "rail in ('SWIFT', 'SEPA')")]
    ]
    if driver == "pg":
        assert _ok(probe, "pg_timestamp_param") == [
            [_count(built_warehouse, "created_at >= timestamp '2025-06-01'")]
        ]


@pytest.mark.parametrize("driver", ["pg", "js"])
def test_result_types_as_postgresql_sends_them(probe, driver):
    assert _ok(probe, f"{driver}_array_result") == [[[1, 2, 3], ["x", None]]]
    row = _ok(probe, f"{driver}_types")[0]
    assert row[:7] == [
        1,
        "2",
        "1.50",
        True,
        None,
        "2025-06-01T00:00:00.000Z",
        "2025-06-01T12:30:00.000Z",
    ]


def test_node_postgres_named_statement_and_field_types(probe, built_warehouse):
    assert _ok(probe, "pg_named_prepared_twice") == [
        _count(built_warehouse, "repair_minutes > 5"),
        _count(built_warehouse, "repair_minutes > 50"),
    ]
    # text, numeric, timestamp: the OIDs PostgreSQL gives these columns
    assert _ok(probe, "pg_field_metadata") == [
        ["payment_id", 25],
        ["amount_usd", 1700],
        ["created_at", 1114],
    ]
    assert _ok(probe, "pg_types")[0][7] == "a'b"


def test_postgres_js_cursor_transaction_and_describe(probe, built_warehouse):
    # a cursor of 10 rows is Execute with a row limit, resumed after each PortalSuspended
    assert _ok(probe, "js_cursor_batches") == [["10,10,5", 25]]
    ((cases,),) = warehouse_rows(built_warehouse, "select count(*) from main.fct_cases")
    assert _ok(probe, "js_transaction") == [[str(cases)]]
    assert _ok(probe, "js_describe") == [[1, "payment_id,amount_usd"]]


@pytest.mark.parametrize("driver", ["pg", "js"])
def test_an_error_keeps_its_sqlstate_and_the_connection(probe, driver):
    assert _ok(probe, f"{driver}_error_then_usable") == [["42P01", 1]]
