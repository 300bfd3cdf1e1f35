"""Publishing: a build becomes visible atomically, and a failed build changes nothing."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import duckdb
import pytest

from analysis_py.config import resolve_paths
from analysis_py.errors import DataNotFoundError
from analysis_py.warehouse.publish import current, publish
from tests.python.conftest import REPO, run_cli

PROJECT_PARTS = ("dbt_project.yml", "models", "macros", "seeds", "profiles", "tests/dbt")


def _fake_build(paths, build_id: str, value: int) -> tuple[Path, Path]:
    paths.builds_dir.mkdir(parents=True, exist_ok=True)
    db = paths.builds_dir / f"{build_id}.duckdb"
    con = duckdb.connect(str(db))
    con.execute(f"create table t as select {value} as v")
    con.close()
    target = paths.builds_dir / f"{build_id}.target"
    target.mkdir()
    (target / "manifest.json").write_text("{}")
    return db, target


def test_publish_swaps_stable_name_and_prunes(tmp_path):
    paths = resolve_paths(
        project_dir=REPO, data_dir=tmp_path / "raw", warehouse_dir=tmp_path / "wh"
    )
    with pytest.raises(DataNotFoundError, match="no published warehouse"):
        current(paths)
    for i in range(5):
        bid = f"b2026010{i}T000000000Z-abcd"
        db, target = _fake_build(paths, bid, i)
        pub = publish(paths, bid, db, target, {"note": i})
        assert pub.build_id == bid
        assert paths.published_path.is_symlink()
        assert os.path.realpath(paths.published_path) == str(db)
        con = duckdb.connect(str(paths.published_path), read_only=True)
        assert con.execute("select v from t").fetchone()[0] == i
        con.close()
        assert json.loads((paths.warehouse_dir / "current.json").read_text())["note"] == i
    left = sorted(p.name for p in paths.builds_dir.glob("*.duckdb"))
    assert len(left) == 3 and left[-1].startswith("b20260104")


def test_reader_keeps_its_build_across_a_publish(tmp_path):
    paths = resolve_paths(
        project_dir=REPO, data_dir=tmp_path / "raw", warehouse_dir=tmp_path / "wh"
    )
    db1, t1 = _fake_build(paths, "b20260101T000000000Z-0001", 1)
    publish(paths, "b20260101T000000000Z-0001", db1, t1, {})
    reader = duckdb.connect(str(paths.published_path), read_only=True)
    db2, t2 = _fake_build(paths, "b20260102T000000000Z-0002", 2)
    publish(paths, "b20260102T000000000Z-0002", db2, t2, {})
    assert reader.execute("select v from t").fetchone()[0] == 1  # the open handle is unchanged
    fresh = duckdb.connect(str(paths.published_path), read_only=True)
    assert fresh.execute("select v from t").fetchone()[0] == 2
    reader.close()
    fresh.close()


def test_build_without_raw_data_is_a_clear_error(tmp_path):
    env = {
        **os.environ,
        "OPSMETRICS_DATA_DIR": str(tmp_path / "nothing"),
        "OPSMETRICS_WAREHOUSE_DIR": str(tmp_path / "wh"),
    }
    proc = run_cli("build", "--quiet", env=env, check=False)
    assert proc.returncode != 0
    assert "no raw data" in proc.stderr and "opsmetrics generate" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "wh" / "current.json").exists()


def test_failed_build_leaves_published_warehouse_untouched(built_warehouse, tmp_path):
    """Break a copy of the project with a failing data test; the published build must survive."""
    project = tmp_path / "project"
    for part in PROJECT_PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, project / part)
        elif src.exists():
            (project / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, project / part)
    broken = project / "tests" / "dbt" / "test_deliberately_broken.sql"
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_text("-- a data test that always fails\nselect 1 as failure\n")

    # A private warehouse dir that starts as a copy of the good published state.
    wh = tmp_path / "wh"
    before = current(built_warehouse.paths)
    good_db = before.duckdb_path
    paths = resolve_paths(project_dir=project, data_dir=built_warehouse.raw_dir, warehouse_dir=wh)
    paths.builds_dir.mkdir(parents=True)
    shutil.copy(good_db, paths.builds_dir / good_db.name)
    shutil.copytree(before.target_path, paths.builds_dir / before.target_path.name)
    publish(
        paths,
        before.build_id,
        paths.builds_dir / good_db.name,
        paths.builds_dir / before.target_path.name,
        {},
    )
    snapshot = (wh / "current.json").read_text()

    env = {**os.environ, **paths.env()}
    proc = run_cli(
        "build",
        "--quiet",
        "--no-docs",
        "--project-dir",
        str(project),
        env=env,
        check=False,
        cwd=project,
    )
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "test_deliberately_broken" in proc.stderr
    assert "left as it was" in proc.stderr
    assert (wh / "current.json").read_text() == snapshot
    assert os.path.realpath(paths.published_path) == str(paths.builds_dir / good_db.name)
    # the failed build's file was removed, nothing half-written is left behind
    assert sorted(p.name for p in paths.builds_dir.glob("*.duckdb")) == [good_db.name]
    con = duckdb.connect(str(paths.published_path), read_only=True)
    assert con.execute("select count(*) from main.fct_cases").fetchone()[0] > 0
    con.close()
