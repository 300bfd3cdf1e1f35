"""Shared fixtures: a real warehouse built from generated data, once per test session.

``built_warehouse`` runs the real CLI (``opsmetrics generate`` then ``opsmetrics build``) into
a temporary folder at a small scale. Under pytest-xdist the workers share one build: the first
worker builds under a file lock, the others wait and reuse it.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from analysis_py.config import Paths, resolve_paths

REPO = Path(__file__).resolve().parents[2]
OPSMETRICS = str(Path(sys.executable).with_name("opsmetrics"))

#: Scale of the shared test warehouse: big enough for the planted effects to be recoverable
#: (≈25k cases, 200k payments, 500k requests), small enough to build in well under a minute.
TEST_SCALE = float(os.environ.get("OPSMETRICS_TEST_SCALE", "0.1"))
TEST_SEED = 7


@dataclass(frozen=True)
class BuiltWarehouse:
    paths: Paths
    raw_dir: Path
    duckdb_path: Path
    ground_truth: dict
    scale: float
    seed: int

    @property
    def env(self) -> dict[str, str]:
        """Environment that points the CLI and dbt at this warehouse."""
        return {**os.environ, **self.paths.env()}


#: py4j (pyspark's bridge to the JVM) leaves its gateway sockets to the garbage collector:
#: their ResourceWarnings are pyspark's, not ours, and fire at collection during the Spark
#: tests, which carry this mark
PY4J_SOCKETS = pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    check: bool = True,
    cwd: Path = REPO,
    timeout: float = 900,
):
    """Run the real ``opsmetrics`` command; returns the CompletedProcess."""
    proc = subprocess.run(
        [OPSMETRICS, *args],
        cwd=cwd,
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"opsmetrics {' '.join(args)} exited {proc.returncode}\nstdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
        )
    return proc


def make_warehouse(
    root: Path, *, scale: float, seed: int, effects: Path | None = None
) -> BuiltWarehouse:
    """Generate raw data and build a published warehouse under ``root`` (idempotent)."""
    root.mkdir(parents=True, exist_ok=True)
    raw, wh = root / "raw", root / "warehouse"
    paths = resolve_paths(project_dir=REPO, data_dir=raw, warehouse_dir=wh)
    env = {**os.environ, **paths.env()}
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / ".done").exists():
            gen = [
                "generate",
                "--scale",
                str(scale),
                "--seed",
                str(seed),
                "--out",
                str(raw),
                "--quiet",
            ]
            if effects is not None:
                gen += ["--effects", str(effects)]
            run_cli(*gen, env=env)
            run_cli("build", "--quiet", env=env)
            (root / ".done").write_text("ok")
    return BuiltWarehouse(
        paths=paths,
        raw_dir=raw,
        duckdb_path=paths.published_path,
        ground_truth=json.loads((raw / "ground_truth.json").read_text()),
        scale=scale,
        seed=seed,
    )


def shared_dir(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A folder shared by all xdist workers of this session."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    return base / name


@pytest.fixture(scope="session")
def built_warehouse(tmp_path_factory: pytest.TempPathFactory) -> BuiltWarehouse:
    return make_warehouse(
        shared_dir(tmp_path_factory, "warehouse-default"), scale=TEST_SCALE, seed=TEST_SEED
    )


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
