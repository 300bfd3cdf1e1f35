"""A real PostgreSQL server (the local ``initdb``/``pg_ctl`` binaries) as the reference the
wire server's output is compared with byte for byte. Trust authentication on a Unix socket
in a temporary folder; as root it runs as ``nobody`` (PostgreSQL refuses to run as root)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path


def _bindir() -> Path | None:
    for cand in (shutil.which("pg_ctl"), *sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))):
        if cand and Path(cand).exists():
            return Path(os.path.realpath(cand)).parent
    return None


class PgReference:
    def __init__(self, root: Path, port: int):
        self.bindir = _bindir()
        if self.bindir is None:
            raise FileNotFoundError("PostgreSQL server binaries (pg_ctl, initdb) not found")
        self.root = root
        self.port = port
        self.data = root / "data"
        self._as = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
        if os.geteuid() == 0:
            shutil.chown(root, "nobody")
        self._run(
            "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync",
            "-E", "UTF8", "--locale=C",
        )  # fmt: skip
        opts = f"-p {port} -k {root} -c listen_addresses='' -c fsync=off"
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(root / "log"), "-w", "start"
        )

    def _run(self, exe: str, *args: str) -> None:
        subprocess.run(
            [*self._as, str(self.bindir / exe), *args],
            check=True,
            capture_output=True,
            timeout=120,
            cwd=self.root,
        )

    @property
    def dsn(self) -> str:
        return f"host={self.root} port={self.port} dbname=postgres user=postgres"

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")


@contextlib.contextmanager
def running_reference():
    """A started reference PostgreSQL in a temporary folder, stopped and removed afterwards;
    the calling test is skipped (failed under ``OPSMETRICS_REQUIRE_DRIVERS=1``) when the server
    binaries are missing or cannot start."""
    import socket
    import tempfile

    if _bindir() is None:
        missing("PostgreSQL server binaries")
    root = Path(tempfile.mkdtemp(prefix="pgref-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    try:
        ref = PgReference(root, port)
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        missing(f"a reference PostgreSQL that starts ({exc})")
    try:
        yield ref
    finally:
        ref.stop()
        shutil.rmtree(root, ignore_errors=True)


def missing(what: str):
    """Skip the calling test because ``what`` is not installed; fail it instead where CI asks
    for every client and server (``OPSMETRICS_REQUIRE_DRIVERS=1``, set by ``.ci/run``)."""
    import pytest

    if os.environ.get("OPSMETRICS_REQUIRE_DRIVERS") == "1":
        pytest.fail(f"OPSMETRICS_REQUIRE_DRIVERS=1 but {what} is not installed")
    pytest.skip(f"{what} is not installed")
