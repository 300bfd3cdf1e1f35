"""Go's pgx (v4) and lib/pq against the server over the project's warehouse. pgx prepares every
statement and sends binary parameters in the types ParameterDescription reports (it refuses
an int for a parameter described as text); lib/pq prepares an unnamed statement and sends
text. The probe is built in GOPATH mode from Debian's packages, which ``.ci/run`` installs;
elsewhere the test skips unless ``OPSMETRICS_REQUIRE_DRIVERS=1``."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.python.serve.conftest import (
    probe_rows,
    require_driver,
    run_probe,
    warehouse_rows,
)

GOPATH = Path("/usr/share/gocode")
PROBE = Path(__file__).with_name("go") / "probe.go"
pytestmark = require_driver(
    shutil.which("go") is not None
    and (GOPATH / "src/github.com/jackc/pgx/v4").is_dir()
    and (GOPATH / "src/github.com/lib/pq").is_dir(),
    "Go with Debian's golang-github-jackc-pgx-v4-dev and golang-github-lib-pq-dev",
)


@pytest.fixture(scope="module")
def probe(built_warehouse, tmp_path_factory):
    work = tmp_path_factory.mktemp("go")
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": str(GOPATH),
        "GOCACHE": str(work / "cache"),
    }
    exe = work / "probe"
    build = subprocess.run(
        ["go", "build", "-o", str(exe), str(PROBE)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    return run_probe(built_warehouse, [str(exe)])


def _count(built_warehouse, where: str) -> int:
    ((n,),) = warehouse_rows(
        built_warehouse, f"select count(*) from main.fct_payments where {where}"
    )
    return n


_ok = probe_rows


@pytest.mark.parametrize("driver", ["pgx", "pq"])
def test_semantic_sql_and_jdbc_syntax_with_parameters(probe, driver):
    everything = dict(map(tuple, _ok(probe, "pgx_semantic_all")))
    rails = dict(map(tuple, _ok(probe, "pq_jdbc_all")))
    assert _ok(probe, f"{driver}_semantic_param") == [["EMEA", everything["EMEA"]]]
    assert _ok(probe, f"{driver}_jdbc_param") == [["SWIFT", rails["SWIFT"]]]


@pytest.mark.parametrize("driver", ["pgx", "pq"])
def test_typed_parameters_give_duckdbs_counts(probe, built_warehouse, driver):
    cases = {
        "int_param": "repair_minutes > 5",
        "float_param": "amount_usd > 71815.25",
        "date_param": "created_date = date '2025-06-02'",
        "timestamp_param": "created_at >= timestamp '2025-06-01'",
        "array_param": "rail in ('SWIFT', 'SEPA')",
    }
    for op, where in cases.items():
        assert _ok(probe, f"{driver}_{op}") == [[_count(built_warehouse, where)]], op
    assert 0 < _count(built_warehouse, cases["float_param"]) < _count(built_warehouse, "true")


def test_pgx_binary_results_and_simple_protocol(probe, built_warehouse):
    # arrays come back in PostgreSQL's binary array format, which pgx decodes itself
    assert _ok(probe, "pgx_array_result") == [["[1 2 3]", "x", "nil"]]
    assert _ok(probe, "pgx_types") == [
        [1, 2, 1.5, True, True, "2025-06-01T00:00:00Z", "2025-06-01T12:30:00Z"]
    ]
    # the simple protocol: pgx quotes the value into the text itself
    assert _ok(probe, "pgx_simple_protocol") == [[_count(built_warehouse, "repair_minutes > 5")]]


def test_lib_pq_prepared_statement_and_transaction(probe, built_warehouse):
    assert _ok(probe, "pq_prepared_twice") == [
        [
            _count(built_warehouse, "repair_minutes > 5"),
            _count(built_warehouse, "repair_minutes > 50"),
        ]
    ]
    ((cases,),) = warehouse_rows(built_warehouse, "select count(*) from main.fct_cases")
    assert _ok(probe, "pq_transaction") == [[cases]]


@pytest.mark.parametrize("driver", ["pgx", "pq"])
def test_an_error_keeps_its_sqlstate_and_the_connection(probe, driver):
    assert _ok(probe, f"{driver}_error_then_usable") == [["42P01", 1]]
