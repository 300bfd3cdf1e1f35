"""A published warehouse built from the semantic-layer fixture dbt project (real dbt build),
laid out like a real one so the server and ``opsmetrics sql`` serve its metrics."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from analysis_py.config import resolve_paths
from analysis_py.warehouse.publish import publish

REPO = Path(__file__).resolve().parents[3]


def _shared_build(tmp_path_factory) -> Path:
    import fcntl

    from tests.python.conftest import shared_dir  # one build for all xdist workers
    from tests.python.semantic.conftest import build_project

    root = shared_dir(tmp_path_factory, "sl-warehouse")
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        wh = root / "warehouse"
        if not (root / ".done").exists():
            project = build_project(root / "project")
            builds = wh / "builds"
            builds.mkdir(parents=True, exist_ok=True)
            db = builds / "sl0001.duckdb"
            shutil.copy(project.db, db)
            target = builds / "sl0001.target"
            target.mkdir(exist_ok=True)
            manifest = json.loads((project.dir / "target" / "manifest.json").read_text())
            for node in manifest["nodes"].values():  # governance tags the fixture lacks
                if node.get("resource_type") == "model":
                    node["access"] = "public"
                    if node["name"] == "dim_customers":
                        node.setdefault("columns", {}).setdefault("country", {})["meta"] = {
                            "pii": True
                        }
            (target / "manifest.json").write_text(json.dumps(manifest))
            shutil.copy(project.dir / "target" / "semantic_manifest.json", target)
            paths = resolve_paths(project_dir=REPO, warehouse_dir=wh, data_dir=root / "raw")
            publish(paths, "sl0001", db, target, {})
            (root / ".done").write_text("ok")
    return wh


@pytest.fixture(scope="session")
def sl_warehouse(tmp_path_factory) -> Path:
    return _shared_build(tmp_path_factory)
