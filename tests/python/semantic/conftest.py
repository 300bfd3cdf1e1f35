"""Fixtures: the semantic-layer fixture dbt project built with dbt-duckdb, and MetricFlow's
answers for the oracle requests (run once per session in .venv-oracle)."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
FIXTURE = REPO / "tests" / "fixtures" / "semantic" / "sl_project"
REQUESTS = REPO / "tests" / "fixtures" / "semantic" / "oracle_requests.json"
ORACLE_VENV = REPO / ".venv-oracle"

#: scripts run inside MetricFlow's own virtualenv (.venv-oracle), not importable here: kept
#: out of the doctest collection of this folder
collect_ignore = ["latest_shape.py", "oracle_runner.py"]


@dataclass(frozen=True)
class Project:
    dir: Path
    db: Path
    manifest: Path

    @property
    def manifest_data(self) -> dict:
        return json.loads(self.manifest.read_text())


def _dbt() -> str:
    cand = Path(sys.executable).with_name("dbt")
    return str(cand) if cand.exists() else (shutil.which("dbt") or "dbt")


def build_project(dest: Path) -> Project:
    shutil.copytree(
        FIXTURE,
        dest,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("target", "logs", "*.duckdb*"),
    )
    db = dest / "sl_fixture.duckdb"
    env = {**os.environ, "SL_FIXTURE_DUCKDB": str(db), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    proc = subprocess.run(
        [_dbt(), "build", "--project-dir", str(dest), "--profiles-dir", str(dest)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"dbt build of the semantic fixture failed:\n{proc.stdout[-3000:]}")
    return Project(dest, db, dest / "target" / "semantic_manifest.json")


def shared_once(tmp_path_factory, name: str, make):
    """Run ``make(folder)`` once per session across xdist workers (file lock), return its
    folder; the other workers wait and reuse the result."""
    from tests.python.conftest import shared_dir

    root = shared_dir(tmp_path_factory, name)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / ".done").exists():
            make(root)
            (root / ".done").write_text("ok")
    return root


@pytest.fixture(scope="session")
def sl_project(tmp_path_factory) -> Project:
    root = shared_once(tmp_path_factory, "semantic-fixture", lambda r: build_project(r / "project"))
    dest = root / "project"
    return Project(dest, dest / "sl_fixture.duckdb", dest / "target" / "semantic_manifest.json")


@pytest.fixture(scope="session")
def sl(sl_project):
    from analysis_py.semantic import SemanticLayer

    return SemanticLayer.from_manifest(sl_project.manifest, sl_project.db)


@pytest.fixture(scope="session")
def oracle_requests() -> list[dict]:
    return json.loads(REQUESTS.read_text())


def ensure_oracle() -> Path:
    """Create/refresh .venv-oracle (cached); fail loudly — never skip — if it cannot be made."""
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "oracle_venv.sh")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(
            "MetricFlow oracle could not be installed (scripts/oracle_venv.sh failed):\n"
            + (proc.stdout + proc.stderr)[-3000:],
            pytrace=False,
        )
    return ORACLE_VENV / "bin" / "python"


def run_oracle(
    project: Project,
    requests: list[dict],
    workdir: Path,
    explain: bool = False,
    profiles_subdir: str = "",
    db_env: str = "SL_FIXTURE_DUCKDB",
) -> list[dict]:
    py = ensure_oracle()
    # MetricFlow opens the file read-write through dbt; give it its own copy
    odir = workdir / "oracle_project"
    shutil.copytree(
        project.dir, odir, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.duckdb*", "logs")
    )
    # same file stem: dbt-duckdb bakes the stem into the manifest's database names
    (workdir / "db").mkdir(exist_ok=True)
    profiles = odir / profiles_subdir if profiles_subdir else odir
    odb = workdir / "db" / project.db.name
    shutil.copyfile(project.db, odb)
    req_path = workdir / "requests.json"
    req_path.write_text(json.dumps([{k: v for k, v in r.items() if k != "id"} for r in requests]))
    out = workdir / "oracle_out.json"
    env = {**os.environ, db_env: str(odb), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    args = [
        str(py),
        str(Path(__file__).with_name("oracle_runner.py")),
        str(odir),
        str(profiles),
        str(req_path),
        str(out),
    ]
    if explain:
        args.append("--explain")
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=900, check=False)
    if proc.returncode != 0:
        pytest.fail(
            f"MetricFlow oracle run failed:\n{(proc.stdout + proc.stderr)[-3000:]}", pytrace=False
        )
    return json.loads(out.read_text())


@pytest.fixture(scope="session")
def oracle_answers(sl_project, oracle_requests, tmp_path_factory) -> dict[str, dict]:
    def make(root: Path) -> None:
        results = run_oracle(sl_project, oracle_requests, root)
        (root / "answers.json").write_text(json.dumps(results))

    root = shared_once(tmp_path_factory, "semantic-oracle", make)
    results = json.loads((root / "answers.json").read_text())
    return {r["id"]: res for r, res in zip(oracle_requests, results, strict=True)}


def cli(*args, env=None):
    """Run ``opsmetrics ARGS`` in a subprocess (as a user runs it)."""
    return subprocess.run(
        [sys.executable, "-m", "analysis_py.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, **(env or {})},
    )
