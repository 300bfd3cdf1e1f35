"""The real ``opsmetrics generate`` command: default output folder, progress, quiet."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

OPSMETRICS = str(Path(sys.executable).with_name("opsmetrics"))
REPO = Path(__file__).resolve().parents[3]


def test_default_out_is_the_configured_data_dir(tmp_path):
    data = tmp_path / "data-dir"
    env = {**os.environ, "OPSMETRICS_DATA_DIR": str(data)}
    r = subprocess.run(
        [OPSMETRICS, "generate", "--scale", "0.01", "--seed", "3"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )
    assert r.returncode == 0, r.stderr
    truth = json.loads((data / "ground_truth.json").read_text())
    assert truth["seed"] == 3 and truth["scale"] == 0.01
    assert (data / "crm" / "cases" / "load_0001.parquet").is_file()
    # Progress goes to stderr, one line per table, the summary to stdout.
    for name in ("crm.clients", "crm.cases", "payments.payment_instructions", "platform.requests"):
        assert name in r.stderr
    assert "wrote" in r.stdout
    # Nothing but the dataset is left next to it (the temp folder was renamed).
    assert [p.name for p in tmp_path.iterdir()] == ["data-dir"]


def test_bad_scale_is_a_clear_error(tmp_path):
    r = subprocess.run(
        [OPSMETRICS, "generate", "--scale", "0", "--out", str(tmp_path / "x")],
        capture_output=True,
        text=True,
    )
    assert r.returncode != 0
    assert "scale must be" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x").exists()
