"""``opsmetrics serve``: the demo quick start, password hashing, TLS, config errors."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from analysis_py.serve.config import load_config
from analysis_py.serve.run import start_in_thread
from analysis_py.serve.scram import make_verifier
from analysis_py.warehouse.results import SCHEMAS
from tests.python.serve.tiny import make_warehouse

OPSMETRICS = str(Path(sys.executable).with_name("opsmetrics"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_demo_refuses_to_start_without_password(tmp_path):
    wh = make_warehouse(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "OPSMETRICS_PASSWORD"}
    env["OPSMETRICS_WAREHOUSE_DIR"] = str(wh)
    p = subprocess.run(
        [OPSMETRICS, "serve", "--demo"], env=env, capture_output=True, text=True, timeout=60
    )
    assert p.returncode != 0 and "OPSMETRICS_PASSWORD" in p.stderr


def test_demo_serves_public_marts_without_pii(tmp_path):
    wh = make_warehouse(tmp_path)
    port = _free_port()
    env = {**os.environ, "OPSMETRICS_PASSWORD": "demo-secret", "OPSMETRICS_WAREHOUSE_DIR": str(wh)}
    proc = subprocess.Popen(
        [OPSMETRICS, "serve", "--demo", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        conn = None
        for _ in range(100):
            try:
                conn = psycopg.connect(
                    f"host=127.0.0.1 port={port} dbname=opsmetrics user=demo "
                    "password=demo-secret sslmode=disable",
                    autocommit=True,
                )
                break
            except psycopg.OperationalError:
                time.sleep(0.2)
        assert conn is not None, proc.stdout.read() if proc.poll() is not None else "no start"
        with conn:
            assert conn.execute("select legal_name from dim_clients limit 1").fetchone() == (
                "****",
            )
            assert conn.execute("select count(*) from fct_payments").fetchone() == (1000,)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(
                f"host=127.0.0.1 port={port} dbname=opsmetrics user=demo "
                "password=wrong sslmode=disable"
            )
    finally:
        proc.terminate()
        proc.wait(20)
        proc.stdout.close()


def test_hash_password_reads_stdin_and_verifier_authenticates(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "OPSMETRICS_PASSWORD"}
    p = subprocess.run(
        [OPSMETRICS, "serve", "--hash-password"],
        input="s3cret\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    verifier = p.stdout.strip()
    assert verifier.startswith("SCRAM-SHA-256$4096:") and "s3cret" not in verifier
    wh = make_warehouse(tmp_path)
    cfg = load_config(
        data={
            "server": {"port": 0},
            "roles": {"r": {"marts": "*"}},
            "users": {"u": {"password": verifier, "role": "r"}},
        }
    )
    running = start_in_thread(cfg, wh)
    try:
        with psycopg.connect(
            f"host=127.0.0.1 port={running.port} dbname=opsmetrics user=u "
            "password=s3cret sslmode=disable"
        ) as c:
            assert c.execute("select 1").fetchone() == (1,)
    finally:
        running.stop()


@pytest.mark.parametrize(
    "data,message",
    [
        ({"users": {"u": {"password": "plain", "role": "r"}}, "roles": {"r": {}}}, "SCRAM"),
        ({"users": {"u": {"password": make_verifier("x"), "role": "nope"}}}, "not defined"),
        ({"users": {}}, "no users"),
        ({"roles": {"r": {"row_policies": ["missing"]}}, "users": {}}, "unknown row policies"),
        (
            {"row_policies": {"p": {"table": "t", "filter": "a = (select 1)"}}, "users": {}},
            "plain boolean",
        ),
        ({"bogus": 1}, "unknown sections"),
    ],
)
def test_config_errors(data, message):
    from analysis_py.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        load_config(data=data)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_tls_when_a_certificate_is_configured(tmp_path):
    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    wh = make_warehouse(tmp_path)
    cfg = load_config(
        data={
            "server": {"port": 0, "tls": {"cert": str(cert), "key": str(key)}},
            "roles": {"r": {"marts": "*"}},
            "users": {"u": {"password": make_verifier("pw"), "role": "r"}},
        }
    )
    running = start_in_thread(cfg, wh)
    try:
        with psycopg.connect(
            f"host=127.0.0.1 port={running.port} dbname=opsmetrics user=u "
            "password=pw sslmode=require"
        ) as c:
            assert c.pgconn.ssl_in_use
            assert c.execute("select count(*) from dim_clients").fetchone() == (4,)
    finally:
        running.stop()


def test_example_config_loads_and_documents_its_passwords():
    cfg = load_config(Path(__file__).resolve().parents[3] / "config" / "serve.example.yml")
    assert cfg.host == "127.0.0.1" and cfg.roles["emea_analyst"].row_policies
    salt = b"opsmetrics-example"
    assert cfg.users["analyst"].verifier == make_verifier("analyst-example", salt=salt)
    assert cfg.users["emea"].verifier == make_verifier("emea-example", salt=salt)
    from analysis_py.agents.server import token_hash

    agent = cfg.users["emea_agent"]
    assert agent.verifier is None and agent.token_sha256 == token_hash(
        "opsm_example-token-replace-me"
    )


def test_sql_never_imports_pandas(tmp_path):
    """The server's SQL path reads analysis results through the pandas-free results layout:
    pandas (2 s of start-up) stays unimported with or without an analysis folder, and once
    the folder exists its tables are served."""
    wh = make_warehouse(tmp_path)
    probe = (
        "import sys, analysis_py.pg as s; t = s.execute({sql!r}, {wh!r}); "
        "print(t.column(0)[0].as_py(), 'pandas' in sys.modules)"
    )
    run = [sys.executable, "-c", probe.format(sql="select count(*) from fct_payments", wh=str(wh))]
    p = subprocess.run(run, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split()[1] == "False"
    (wh / "analysis").mkdir()
    sql = "select count(*) from information_schema.tables where table_schema = 'analysis'"
    run = [sys.executable, "-c", probe.format(sql=sql, wh=str(wh))]
    p = subprocess.run(run, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    n, pandas_loaded = p.stdout.split()
    assert int(n) == len(SCHEMAS) and pandas_loaded == "False"  # runs, effects, … served
