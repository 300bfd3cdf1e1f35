"""`opsmetrics serve --demo` with real psql, and `--help` everywhere."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import pytest

from analysis_py.cli import COMMANDS
from tests.python.conftest import OPSMETRICS, REPO
from tests.python.e2e.conftest import assert_ok, cli


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _psql(port: int, password: str, sql: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PGPASSWORD": password, "PGSSLMODE": "disable", "PGCONNECT_TIMEOUT": "5"}
    return subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "demo", "-d", "opsmetrics",
         "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.mark.skipif(shutil.which("psql") is None, reason="psql is not installed")
def test_serve_demo_with_psql(wh):
    port = _free_port()
    env = {**wh.env, "OPSMETRICS_PASSWORD": "e2e-secret"}
    proc = subprocess.Popen(
        [OPSMETRICS, "serve", "--demo", "--port", str(port)],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            p = _psql(port, "e2e-secret", "select 1")
            if p.returncode == 0:
                break
            assert proc.poll() is None, f"server exited: {proc.stdout.read()}"
            assert time.monotonic() < deadline, f"server not up: {p.stderr}"
            time.sleep(0.5)
        p = _psql(port, "e2e-secret", "select count(*) from fct_payments")
        assert p.returncode == 0 and int(p.stdout.strip()) > 1000, p.stderr
        p = _psql(
            port,
            "e2e-secret",
            "select metric_time__month, stp_rate from metrics group by all order by 1 limit 3",
        )
        assert p.returncode == 0, p.stderr
        rows = p.stdout.strip().splitlines()
        assert len(rows) == 3 and all(0 < float(r.split("|")[1]) < 1 for r in rows)
        # no PII for the demo user, no writes
        p = _psql(port, "e2e-secret", "select legal_name from dim_clients limit 1")
        assert p.returncode == 0 and p.stdout.strip() == "****", p.stdout + p.stderr
        p = _psql(port, "e2e-secret", "drop table fct_payments")
        assert p.returncode != 0, p.stdout
        assert "read-only" in p.stderr.lower() or "not allowed" in p.stderr.lower(), p.stderr
        p = _psql(port, "wrong", "select 1")
        assert p.returncode != 0 and "password authentication failed" in p.stderr
    finally:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert "Traceback" not in out, out[-3000:]


@pytest.mark.parametrize("cmd", ["", *sorted(COMMANDS)])
def test_help_is_fast_and_clean(cmd):
    args = [cmd, "--help"] if cmd else ["--help"]
    t0 = time.perf_counter()
    p = cli(*args)
    elapsed = time.perf_counter() - t0
    assert_ok(p)
    assert p.stdout.startswith("Usage: opsmetrics")
    assert "not available" not in p.stdout, f"`{cmd}` is not wired to a module"
    # generous: the machine is shared; help must not import dbt/pandas/statsmodels (≈ 0.3 s)
    assert elapsed < 10, f"`opsmetrics {cmd} --help` took {elapsed:.1f}s"
    print(f"\nopsmetrics {cmd} --help: {elapsed:.2f}s")


def test_help_lists_every_command():
    p = cli("--help")
    assert_ok(p)
    for name in COMMANDS:
        assert name in p.stdout


def test_version():
    p = cli("--version")
    assert_ok(p)
    assert "opsmetrics" in p.stdout
