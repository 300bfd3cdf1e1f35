"""The oracle on OUR project: generate a small dataset, build the marts with dbt, and check that
our answers for the ops KPIs equal MetricFlow's.

Metric column order: MetricFlow's source-scan optimizer sometimes moves a simple metric after a
ratio it merges with; we compare metric columns by name and group-by columns by position
(docs/semantic_layer.md, "Differences from MetricFlow").
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .compare import rows_equal
from .conftest import REPO, Project, run_oracle

REQUESTS = REPO / "tests" / "fixtures" / "semantic" / "project_requests.json"
IDS = [r["id"] for r in json.loads(REQUESTS.read_text())]


@pytest.fixture(scope="session")
def ops_project(tmp_path_factory) -> Project:
    base = tmp_path_factory.mktemp("ops_project")
    proj = base / "project"
    proj.mkdir()
    for item in ("dbt_project.yml", "models", "macros", "seeds", "profiles"):
        src = REPO / item
        if src.is_dir():
            shutil.copytree(src, proj / item)
        elif src.exists():
            shutil.copyfile(src, proj / item)
    raw = base / "raw"
    wh = base / "wh"
    wh.mkdir()
    db = wh / "opsmetrics.duckdb"
    env = {
        **os.environ,
        "OPSMETRICS_DATA_DIR": str(raw),
        "OPSMETRICS_WAREHOUSE_DIR": str(wh),
        "OPSMETRICS_DUCKDB_PATH": str(db),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    gen = subprocess.run(
        [
            sys.executable,
            "-m",
            "analysis_py.cli",
            "generate",
            "--scale",
            "0.02",
            "--seed",
            "7",
            "--out",
            str(raw),
            "-q",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert gen.returncode == 0, gen.stderr[-2000:]
    dbt = str(Path(sys.executable).with_name("dbt"))
    for cmd in ("seed", "run"):
        proc = subprocess.run(
            [dbt, cmd, "--project-dir", str(proj), "--profiles-dir", str(proj / "profiles")],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout[-3000:]
    os.environ["OPSMETRICS_DUCKDB_PATH"] = str(db)  # the oracle's dbt profile reads it
    return Project(proj, db, proj / "target" / "semantic_manifest.json")


@pytest.fixture(scope="session")
def ops_answers(ops_project, tmp_path_factory):
    reqs = json.loads(REQUESTS.read_text())
    work = tmp_path_factory.mktemp("ops_oracle")
    # run_oracle copies the db next to a copy of the project; the profile points at it by env var
    old = os.environ.get("OPSMETRICS_DUCKDB_PATH")
    (work / "db").mkdir()
    os.environ["OPSMETRICS_DUCKDB_PATH"] = str(work / "db" / ops_project.db.name)
    try:
        res = run_oracle(ops_project, reqs, work, profiles_subdir="profiles")
    finally:
        if old is not None:
            os.environ["OPSMETRICS_DUCKDB_PATH"] = old
    return {r["id"]: x for r, x in zip(reqs, res, strict=True)}


@pytest.mark.oracle
@pytest.mark.parametrize("rid", IDS)
def test_ops_kpis_equal_metricflow(rid, ops_project, ops_answers):
    from analysis_py.semantic import SemanticLayer

    req = next(r for r in json.loads(REQUESTS.read_text()) if r["id"] == rid)
    theirs = ops_answers[rid]
    assert "error" not in theirs, theirs.get("error")
    sl = SemanticLayer.from_manifest(ops_project.manifest, ops_project.db)
    q = sl.query(**{k: v for k, v in req.items() if k != "id"})
    ours_cols = q.columns
    assert sorted(ours_cols) == sorted(theirs["columns"])
    keys = [c for c in theirs["columns"] if c not in sl.manifest.metrics]
    assert ours_cols[: len(keys)] == keys
    idx = [ours_cols.index(c) for c in theirs["columns"]]
    rows = [[r[i] for i in idx] for r in q.fetchall()]
    ok, why = rows_equal(rows, theirs["rows"], ordered=bool(req.get("order_by")))
    assert ok, why
    sl.connection.close()
