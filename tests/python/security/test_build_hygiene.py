"""Kill points in build and publish: builds that died never count, leftovers are cleaned,
and dbt dies with the build that started it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

from analysis_py.config import resolve_paths
from analysis_py.warehouse.publish import current, prune
from tests.python.serve.tiny import REPO, make_build, make_warehouse, publish_build


def _killed_build(wh, build_id):
    """What a `kill -9` during `dbt build` leaves: a database file and a target folder
    without run results, and no publication mark."""
    db, target = make_build(wh, build_id)
    (target / "run_results.json").unlink(missing_ok=True)
    return db, target


def test_killed_builds_never_push_a_published_one_out(tmp_path):
    wh = make_warehouse(tmp_path)  # b0001 published
    publish_build(wh, "b0002", 100, marker=2)
    publish_build(wh, "b0003", 100, marker=3)
    _killed_build(wh, "b0004")
    _killed_build(wh, "b0005")
    (wh / "builds" / "b0006.target").mkdir()  # an interrupted prune's orphan
    publish_build(wh, "b0007", 100, marker=7)
    builds = sorted(p.name for p in (wh / "builds").iterdir())
    # the three newest published builds stay (keep = 3); the dead ones and the orphan are gone
    assert {b.split(".")[0] for b in builds} == {"b0002", "b0003", "b0007"}, builds
    paths = resolve_paths(project_dir=REPO, warehouse_dir=wh, data_dir=tmp_path / "raw")
    assert current(paths).build_id == "b0007"
    assert prune(paths) == []  # idempotent


def test_a_warehouse_from_before_publication_marks_keeps_its_finished_builds(tmp_path):
    wh = make_warehouse(tmp_path)
    for b in ("b0002", "b0003"):
        _db, target = make_build(wh, b)
        (target / "run_results.json").write_text(json.dumps({"results": []}))
    for mark in (wh / "builds").glob("*.published"):
        mark.unlink()
    _killed_build(wh, "b0004")
    paths = resolve_paths(project_dir=REPO, warehouse_dir=wh, data_dir=tmp_path / "raw")
    assert prune(paths) == ["b0004"]
    assert (wh / "builds" / "b0002.duckdb").is_file() and (wh / "builds" / "b0003.duckdb").is_file()


def test_dbt_dies_with_a_killed_build(tmp_path):
    """The child started by run_dbt is killed by the kernel when its parent is kill -9'd."""
    marker = tmp_path / "child.pid"
    fake = tmp_path / "dbt"
    fake.write_text(f"#!/bin/sh\necho $$ > {marker}\nexec sleep 60\n")
    fake.chmod(0o755)
    parent = textwrap.dedent(f"""
        import os, sys
        os.environ["PATH"] = {str(tmp_path)!r} + os.pathsep + os.environ["PATH"]
        from pathlib import Path
        from analysis_py.warehouse import dbt_runner
        dbt_runner.dbt_executable = lambda: {str(fake)!r}
        dbt_runner.run_dbt(["build"], project_dir=Path({str(tmp_path)!r}), env={{}},
                           log_path=Path({str(tmp_path / "dbt.log")!r}))
    """)
    proc = subprocess.Popen([sys.executable, "-c", parent], cwd=REPO)
    deadline = time.time() + 30
    while not marker.exists() and time.time() < deadline:
        time.sleep(0.1)
    child = int(marker.read_text())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(child, signal.SIGKILL)
        raise AssertionError("dbt outlived the killed build")


def test_a_build_on_a_full_disk_is_a_clean_error(tmp_path):
    """The warehouse on a 3 MB tmpfs: the build fails with a clear message and no traceback,
    and leaves nothing half-written (needs root for the mount, as CI and these machines are)."""
    from tests.python.conftest import run_cli

    disk = tmp_path / "disk"
    disk.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)], capture_output=True
        ).returncode
    ):
        import pytest

        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        raw = tmp_path / "raw"
        run_cli("generate", "--scale", "0.01", "--seed", "1", "--out", str(raw), "--quiet")
        env = {
            **os.environ,
            "OPSMETRICS_DATA_DIR": str(raw),
            "OPSMETRICS_WAREHOUSE_DIR": str(disk / "wh"),
        }
        p = run_cli("build", "--quiet", env=env, check=False)
        assert p.returncode != 0
        assert "disk holding" in p.stderr and "is full" in p.stderr, p.stderr
        assert "Traceback" not in p.stderr + p.stdout
        assert list((disk / "wh" / "builds").iterdir()) == []
        assert not (disk / "wh" / "opsmetrics.duckdb").exists()
    finally:
        subprocess.run(["umount", str(disk)], check=False)
