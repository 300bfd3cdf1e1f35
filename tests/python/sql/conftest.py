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


def governed_config(**server):
    """A serve config over the fixture warehouse with three roles: ``admin`` (everything, PII
    granted), ``gb`` (a row policy to GB customers, country masked) and ``nopii`` (every row,
    country masked); each user is named after its role, password ``pw``."""
    from analysis_py.serve.config import load_config
    from analysis_py.serve.scram import make_verifier

    return load_config(
        data={
            "server": {"port": 0, **server},
            "row_policies": {
                "gb": {"table": "dim_customers", "key": "customer_id", "filter": "country = 'GB'"}
            },
            "roles": {
                "admin": {"marts": "*", "metrics": "*", "pii": True},
                "gb": {"marts": "*", "metrics": "*", "row_policies": ["gb"]},
                "nopii": {"marts": "*", "metrics": "*"},
            },
            "users": {
                u: {"password": make_verifier("pw"), "role": u} for u in ("admin", "gb", "nopii")
            },
        }
    )


def private_build(src: Path, dest: Path, build_id: str) -> tuple[Path, Path, Path]:
    """A copy of the shared build in a warehouse folder of its own (for tests that change or
    publish builds): (warehouse folder, build file, its dbt target), not yet published."""
    wh = dest / "warehouse"
    (wh / "builds").mkdir(parents=True, exist_ok=True)
    db = wh / "builds" / f"{build_id}.duckdb"
    shutil.copy(next((src / "builds").glob("*.duckdb")), db)
    target = wh / "builds" / f"{build_id}.target"
    shutil.copytree(next((src / "builds").glob("*.target")), target)
    return wh, db, target


def publish_private(wh: Path, build_id: str, db: Path, target: Path) -> None:
    paths = resolve_paths(project_dir=REPO, warehouse_dir=wh, data_dir=wh.parent / "raw")
    publish(paths, build_id, db, target, {})
