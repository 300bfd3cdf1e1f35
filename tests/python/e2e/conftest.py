"""Helpers for the end-to-end suite: run the real ``opsmetrics`` CLI as a user would.

Every test here goes through a subprocess (``run_cli``) against the session's shared
warehouse (``built_warehouse``, scale 0.1). Anything a test writes goes to ``tmp_path``; the
analysis commands get a private warehouse folder whose ``opsmetrics.duckdb`` and ``target``
are symlinks to the shared build, so results written by one test never leak into another.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from tests.python.conftest import BuiltWarehouse, run_cli


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout=600):
    """Run ``opsmetrics`` without asserting the exit code."""
    kw = {"cwd": cwd} if cwd is not None else {}
    return run_cli(*args, env=env, check=False, timeout=timeout, **kw)


def assert_ok(proc) -> None:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out[-3000:]}"
    assert "Traceback" not in out, out[-3000:]


def assert_clean_error(proc, *needles: str) -> str:
    """Non-zero exit, no traceback, and the message names each of ``needles``."""
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, f"expected a failure, got exit 0:\n{out[-3000:]}"
    assert "Traceback" not in out, f"traceback printed:\n{out[-3000:]}"
    assert "Error" in proc.stderr, f"no 'Error' line on stderr:\n{out[-3000:]}"
    for needle in needles:
        assert needle.lower() in out.lower(), f"{needle!r} not in message:\n{out[-3000:]}"
    return out


def file_digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@pytest.fixture(scope="session")
def wh(built_warehouse: BuiltWarehouse) -> BuiltWarehouse:
    """The shared scale-0.1 warehouse (generated and built by the real CLI)."""
    return built_warehouse


@pytest.fixture(scope="session")
def wh_digest(wh: BuiltWarehouse) -> str:
    """Digest of the published DuckDB file before any e2e test touched it."""
    return file_digest(wh.duckdb_path.resolve())


@pytest.fixture
def private_wh(wh: BuiltWarehouse, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A warehouse folder of our own (symlinks to the shared build) and an env pointing at it."""
    d = tmp_path / "wh"
    (d / "builds").mkdir(parents=True)
    src = wh.duckdb_path.resolve()
    # The SQL engine only opens files inside the warehouse folder: hard-link the build there.
    try:
        os.link(src, d / "builds" / src.name)
    except OSError:
        shutil.copy2(src, d / "builds" / src.name)
    (d / "opsmetrics.duckdb").symlink_to(Path("builds") / src.name)
    (d / "target").symlink_to((wh.paths.warehouse_dir / "target").resolve())
    return d, {**wh.env, "OPSMETRICS_WAREHOUSE_DIR": str(d)}
