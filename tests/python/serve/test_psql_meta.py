"""psql 15's meta-commands against the server answer as PostgreSQL 15 does: no error, the same
column headers as a real PostgreSQL (the local initdb/pg_ctl server) gives, and empty where
the server has nothing of the kind (tablespaces, conversions, text search, foreign data)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.python.serve.conftest import PASSWORDS, require_driver
from tests.python.serve.pgref import running_reference

PSQL = shutil.which("psql")
pytestmark = require_driver(PSQL is not None, "psql")

#: the ones that once failed, then the rest a user types; each answers like PostgreSQL
COMMANDS = [
    r"\db", r"\dd", r"\dc", r"\dF", r"\des", r"\drds", r"\dy", r"\dO", r"\dL", r"\dRs",
    r"\dFp", r"\dFd", r"\dFt", r"\dew", r"\deu", r"\dAc", r"\do", r"\dX",
    r"\dt", r"\dn", r"\df", r"\dT", r"\du", r"\dv", r"\di", r"\ds", r"\dx", r"\dp", r"\dD",
    r"\dC", r"\dRp", r"\det", r"\dg", r"\dA", r"\dE", r"\dm", r"\dP", r"\z",
]  # fmt: skip


def _psql(args: list[str], command: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PSQL, *args, "-X", "-A", "-F", "|", "-c", command],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _header(out: str) -> str | None:
    """The column-name line of psql's unaligned output (the first line with a separator)."""
    return next((line for line in out.splitlines() if "|" in line), None)


@pytest.fixture(scope="module")
def pg_headers():
    with running_reference() as ref:
        args = ["-h", str(ref.root), "-p", str(ref.port), "-U", "postgres", "-d", "postgres"]
        yield {c: _header(_psql(args, c, {}).stdout) for c in COMMANDS}


@pytest.mark.parametrize("command", COMMANDS)
def test_meta_command_answers_as_postgresql(server, pg_headers, command):
    args = ["-h", "127.0.0.1", "-p", str(server.port), "-U", "alice", "-d", "opsmetrics"]
    proc = _psql(args, command, {"PGPASSWORD": PASSWORDS["alice"]})
    assert proc.returncode == 0 and "ERROR" not in proc.stderr, proc.stderr
    ours = _header(proc.stdout)
    if ours is not None and pg_headers[command] is not None:
        assert ours == pg_headers[command]
