"""--effects validation: defaults, partial overrides, and bad files that write nothing."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from analysis_py.errors import EffectsError
from analysis_py.generate import DEFAULTS, generate, resolve_effects

OPSMETRICS = str(Path(sys.executable).with_name("opsmetrics"))


def test_defaults_are_the_design_table():
    eff = resolve_effects(None)
    assert eff == DEFAULTS
    assert eff["case_volume"] == {
        "weekend_factor": 0.15,
        "holiday_factor": 0.30,
        "annual_growth": 0.20,
        "month_end_uplift": 0.25,
    }
    assert eff["resolution"]["channel_multiplier"] == {
        "chat": 0.70, "phone": 0.80, "portal": 1.00, "email": 1.20
    }  # fmt: skip
    assert eff["resolution"]["priority_multiplier"] == {
        "P1": 0.30, "P2": 0.60, "P3": 1.00, "P4": 1.50
    }  # fmt: skip
    assert eff["resolution"]["process_change"] == {
        "product": "Payments", "start_date": "2025-04-01", "multiplier": 0.85
    }  # fmt: skip
    assert eff["incidents"] == {"case_volume_multiplier": 2.0, "stp_drop": 0.10}
    assert eff["stp"]["base_rate"] == {
        "RTP": 0.97, "ACH": 0.95, "SEPA": 0.94, "FEDWIRE": 0.92, "CHAPS": 0.90, "SWIFT": 0.85
    }  # fmt: skip
    assert eff["stp"]["api_uplift"] == 0.03
    assert eff["adoption"]["digital_share"] == {"start": 0.55, "end": 0.75}
    assert eff["anomalies"]["count"] == 12
    assert eff["csat"]["resolution_slope"] == -0.15


def test_partial_override_keeps_other_defaults():
    eff = resolve_effects({"resolution": {"channel_multiplier": {"chat": 0.5}}})
    assert eff["resolution"]["channel_multiplier"] == {
        "chat": 0.5, "phone": 0.8, "portal": 1.0, "email": 1.2
    }  # fmt: skip
    assert eff["stp"] == DEFAULTS["stp"]


def test_yaml_file_with_dates_and_ints(tmp_path):
    f = tmp_path / "e.yml"
    f.write_text(
        "resolution:\n  process_change:\n    start_date: 2025-06-01\n    multiplier: 1\n"
        "anomalies:\n  count: 3\n"
    )
    eff = resolve_effects(f)
    assert eff["resolution"]["process_change"]["start_date"] == "2025-06-01"
    assert eff["resolution"]["process_change"]["multiplier"] == 1.0
    assert eff["anomalies"]["count"] == 3


@pytest.mark.parametrize(
    ("effects", "key"),
    [
        ({"case_volume": {"weekend_fact": 0.2}}, "case_volume.weekend_fact"),
        ({"volume": {}}, "volume"),
        ({"resolution": {"channel_multiplier": {"sms": 0.5}}}, "resolution.channel_multiplier.sms"),
        ({"resolution": {"priority_multiplier": {"P5": 2}}}, "resolution.priority_multiplier.P5"),
        ({"stp": {"base_rate": {"BACS": 0.9}}}, "stp.base_rate.BACS"),
        ({"case_volume": {"weekend_factor": "high"}}, "case_volume.weekend_factor"),
        ({"case_volume": {"weekend_factor": 0}}, "case_volume.weekend_factor"),
        ({"case_volume": {"weekend_factor": True}}, "case_volume.weekend_factor"),
        ({"resolution": {"channel_multiplier": {"chat": -0.7}}}, "resolution.channel_multiplier.chat"),
        ({"resolution": {"channel_multiplier": 0.7}}, "resolution.channel_multiplier"),
        ({"resolution": {"process_change": {"product": "Loans"}}}, "resolution.process_change.product"),
        ({"resolution": {"process_change": {"start_date": "2027-01-01"}}},
         "resolution.process_change.start_date"),
        ({"resolution": {"process_change": {"start_date": "April"}}},
         "resolution.process_change.start_date"),
        ({"stp": {"base_rate": {"SWIFT": 1.2}}}, "stp.base_rate.SWIFT"),
        ({"incidents": {"stp_drop": -0.1}}, "incidents.stp_drop"),
        ({"incidents": {"case_volume_multiplier": 0}}, "incidents.case_volume_multiplier"),
        ({"anomalies": {"count": 2.5}}, "anomalies.count"),
        ({"adoption": {"digital_share": {"start": 1.5}}}, "adoption.digital_share.start"),
        ({"csat": {"resolution_slope": None}}, "csat.resolution_slope"),
    ],
)  # fmt: skip
def test_bad_effects_name_the_key(effects, key):
    with pytest.raises(EffectsError) as exc:
        resolve_effects(effects)
    assert f"'{key}'" in str(exc.value)


def test_bad_yaml_is_an_effects_error(tmp_path):
    f = tmp_path / "bad.yml"
    f.write_text("case_volume:\n  weekend_factor: [0.2\n")
    with pytest.raises(EffectsError, match="not valid YAML at line"):
        resolve_effects(f)
    f.write_text("- 1\n- 2\n")
    with pytest.raises(EffectsError, match="must hold a mapping"):
        resolve_effects(f)
    with pytest.raises(EffectsError, match="cannot read"):
        resolve_effects(tmp_path / "missing.yml")


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("case_volume:\n  weekend_factr: 0.2\n", "case_volume.weekend_factr"),
        ("stp:\n  base_rate:\n    SWIFT: 2\n", "stp.base_rate.SWIFT"),
        ("csat: [\n", "not valid YAML"),
    ],
)
def test_cli_bad_effects_fail_and_write_nothing(tmp_path, text, needle):
    eff = tmp_path / "effects.yml"
    eff.write_text(text)
    fresh = tmp_path / "fresh"
    r = subprocess.run(
        [OPSMETRICS, "generate", "--scale", "0.01", "--effects", str(eff), "--out", str(fresh)],
        capture_output=True,
        text=True,
    )
    assert r.returncode != 0
    assert needle in r.stderr
    assert "Traceback" not in r.stderr
    assert not fresh.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["effects.yml"]


def test_failed_run_leaves_prior_dataset_intact(tmp_path):
    out = tmp_path / "raw"
    generate(out, scale=0.01, seed=5, progress=False)
    before = _digest(out)
    eff = tmp_path / "effects.yml"
    eff.write_text("resolution:\n  priority_multiplier:\n    P2: 0\n")
    r = subprocess.run(
        [OPSMETRICS, "generate", "--scale", "0.01", "--seed", "6", "--effects", str(eff),
         "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert r.returncode != 0 and "resolution.priority_multiplier.P2" in r.stderr
    assert _digest(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["effects.yml", "raw"]


def test_error_during_generation_leaves_prior_dataset_intact(tmp_path):
    out = tmp_path / "raw"
    generate(out, scale=0.01, seed=5, progress=False)
    before = _digest(out)
    with pytest.raises(Exception, match="scale"):
        generate(out, scale=-1, seed=5, progress=False)
    # A failure after the temp folder exists: the swap never happens and it is removed.
    from analysis_py.generate.writer import AtomicDir

    with pytest.raises(RuntimeError), AtomicDir(out) as tmp:
        (tmp / "half.parquet").write_bytes(b"x")
        raise RuntimeError("boom")
    assert _digest(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


def test_cli_generates_with_effects_file_and_records_them(tmp_path):
    eff = tmp_path / "effects.yml"
    eff.write_text("case_volume:\n  weekend_factor: 0.5\nanomalies:\n  count: 0\n")
    out = tmp_path / "raw"
    r = subprocess.run(
        [OPSMETRICS, "generate", "--scale", "0.01", "--seed", "1", "--effects", str(eff),
         "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and r.stderr == ""
    truth = json.loads((out / "ground_truth.json").read_text())
    assert truth["effects"]["case_volume"]["weekend_factor"] == 0.5
    assert truth["effects"]["case_volume"]["holiday_factor"] == 0.30
    assert truth["anomalies"] == {"count": 0, "cells": []}


def test_background_write_error_reaches_the_caller(tmp_path):
    import pyarrow as pa

    from analysis_py.generate.writer import BackgroundWriter

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    table = pa.table({"a": [1, 2, 3]})
    with pytest.raises(OSError), BackgroundWriter() as sink:
        sink(tmp_path / "ok" / "load_0001.parquet", table)
        sink(blocker / "load_0002.parquet", table)
    assert (tmp_path / "ok" / "load_0001.parquet").is_file()
