"""A raw landing that breaks a business rule makes `dbt build` fail on the test that states
the rule, and the same data without the bad row builds clean (the control)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.python.conftest import REPO, run_cli

DBT = str(Path(sys.executable).with_name("dbt"))


@pytest.fixture(scope="module")
def tiny_raw(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny") / "raw"
    run_cli("generate", "--scale", "0.01", "--seed", "3", "--out", str(out), "--quiet")
    return out


def _copy_with_extra_rows(raw: Path, dest: Path, extra: dict[tuple[str, str], dict]) -> Path:
    """A raw folder of symlinks to `raw`, plus, for each (source, table) in `extra`, one more
    landing holding a copy of that table's first row with the given changes applied."""
    for src_dir in raw.glob("*/*"):
        (dest / src_dir.relative_to(raw)).mkdir(parents=True, exist_ok=True)
        for f in src_dir.glob("*.parquet"):
            (dest / f.relative_to(raw)).symlink_to(f)
    for (source, table), change in extra.items():
        first = sorted((raw / source / table).glob("*.parquet"))[0]
        row = pq.read_table(first).slice(0, 1).to_pylist()[0]
        row.update(change)
        schema = pq.read_schema(first)
        pq.write_table(
            pa.Table.from_pylist([row], schema=schema), dest / source / table / "load_9999.parquet"
        )
    return dest


def _dbt_build(raw: Path, work: Path, select: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "OPSMETRICS_DATA_DIR": str(raw),
        "OPSMETRICS_DUCKDB_PATH": str(work / "build.duckdb"),
    }
    return subprocess.run(
        [DBT, "build", "--project-dir", str(REPO), "--profiles-dir", str(REPO / "profiles"),
         "--target-path", str(work / "target"), "--log-path", str(work / "logs"),
         "--select", select, "--indirect-selection", "cautious"],
        env=env, capture_output=True, text=True, timeout=600, cwd=REPO,
    )  # fmt: skip


#: (source, table) -> the broken row's changes, and the dbt test that must catch it
BROKEN = {
    # an STP payment that went through repair contradicts "STP => no repair, no exception"
    ("payments", "payment_instructions"): (
        {
            "payment_id": "PM999999999",
            "stp_flag": "Y",
            "repair_minutes": 12.0,
            "exception_code": "E042",
        },
        "fct_payments_stp_has_no_repair",
    ),
    # a channel label no seed maps cannot be canonicalised
    ("crm", "cases"): (
        {"case_id": "CS99999999", "channel": "Carrier Pigeon"},
        "not_null_stg_crm__cases_channel",
    ),
}
SELECT = "+fct_payments +stg_crm__cases"


def test_clean_landing_builds(tiny_raw, tmp_path):
    raw = _copy_with_extra_rows(tiny_raw, tmp_path / "raw", {})
    proc = _dbt_build(raw, tmp_path, SELECT)
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_broken_landing_fails_build_on_the_rule_it_breaks(tiny_raw, tmp_path):
    raw = _copy_with_extra_rows(tiny_raw, tmp_path / "raw", {k: v[0] for k, v in BROKEN.items()})
    proc = _dbt_build(raw, tmp_path, SELECT)
    assert proc.returncode != 0
    failed = {
        line.split("Failure in test ")[1].split()[0]
        for line in proc.stdout.splitlines()
        if "Failure in test " in line
    }
    assert {test for _, test in BROKEN.values()} <= failed, proc.stdout[-3000:]
