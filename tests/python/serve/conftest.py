"""A real server on 127.0.0.1 (random free port) over a tiny published warehouse."""

from __future__ import annotations

import contextlib
import os

import pytest

from analysis_py.serve.config import load_config
from analysis_py.serve.run import start_in_thread
from analysis_py.serve.scram import make_verifier
from tests.python.serve.tiny import make_warehouse

PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}


def serve_config(tmp, **server):
    return load_config(
        data={
            "server": {
                "port": 0,
                "query_log": str(tmp / "queries.jsonl"),
                "poll_interval": 0.1,
                **server,
            },
            "row_policies": {
                "emea": {"table": "dim_clients", "key": "client_id", "filter": "region = 'EMEA'"}
            },
            "roles": {
                "admin": {"marts": "*", "metrics": "*", "analysis": "*", "pii": True},
                "emea_analyst": {
                    "marts": ["dim_clients", "fct_payments"],
                    "metrics": "*",
                    "row_policies": ["emea"],
                },
                "clients_only": {"marts": ["dim_clients"], "metrics": []},
            },
            "users": {
                "alice": {"password": make_verifier(PASSWORDS["alice"]), "role": "admin"},
                "bob": {"password": make_verifier(PASSWORDS["bob"]), "role": "emea_analyst"},
                "carol": {"password": make_verifier(PASSWORDS["carol"]), "role": "clients_only"},
            },
        }
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    wh = make_warehouse(tmp, n_payments=5000)
    (wh / "analysis").mkdir()  # as after `opsmetrics analyze`: the analysis schema is served
    cfg = serve_config(tmp)
    running = start_in_thread(cfg, wh)
    running.tmp = tmp
    running.warehouse_dir = wh
    yield running
    running.stop()


def dsn(server, user="alice", password=None, **extra) -> str:
    pw = PASSWORDS.get(user, "x") if password is None else password
    parts = [
        f"host=127.0.0.1 port={server.port} dbname=opsmetrics user={user} password={pw}",
        "sslmode=disable" if "sslmode" not in extra else "",
    ]
    parts += [f"{k}={v}" for k, v in extra.items()]
    return " ".join(p for p in parts if p)


@contextlib.contextmanager
def project_server(built_warehouse, roles=None, users=None):
    """A real server over the project's own warehouse (generated data, real dbt build); by
    default one user ``analyst`` (password ``pw``) granted every mart and metric."""
    roles = roles or {"analyst": {"marts": "*", "metrics": "*"}}
    users = users or {"analyst": {"password": make_verifier("pw"), "role": "analyst"}}
    cfg = load_config(data={"server": {"port": 0}, "roles": roles, "users": users})
    running = start_in_thread(
        cfg, built_warehouse.paths.warehouse_dir, project_dir=built_warehouse.paths.project_dir
    )
    try:
        yield running
    finally:
        running.stop()


def require_driver(available: bool, what: str):
    """Skip a driver's tests where it is not installed, or fail them when CI asks for every
    driver (``OPSMETRICS_REQUIRE_DRIVERS=1``, set by ``.ci/run``), so that none goes
    silently untested there."""
    if available:
        return pytest.mark.skipif(False, reason="")
    if os.environ.get("OPSMETRICS_REQUIRE_DRIVERS") == "1":
        return pytest.mark.missing_driver(what)
    return pytest.mark.skip(reason=f"{what} is not installed")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "missing_driver(what): fails the test, CI requires this client (conftest)"
    )


def pytest_runtest_setup(item):
    mark = item.get_closest_marker("missing_driver")
    if mark is not None:
        pytest.fail(f"OPSMETRICS_REQUIRE_DRIVERS=1 but {mark.args[0]} is not installed")


def run_probe(built_warehouse, argv: list[str], **kw) -> dict[str, dict]:
    """Run a driver probe (``argv`` + host, port, user, password) against a server over the
    project's warehouse; its JSON lines by operation (``{"op", "ok", "rows" | "error"}``)."""
    import json
    import subprocess

    with project_server(built_warehouse) as running:
        proc = subprocess.run(
            [*argv, "127.0.0.1", str(running.port), "analyst", "pw"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            **kw,
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {r["op"]: r for r in map(json.loads, proc.stdout.splitlines())}


def probe_rows(probe: dict[str, dict], op: str):
    """The rows of a probe operation, which must have succeeded."""
    r = probe[op]
    assert r["ok"], f"{op}: {r.get('error')} [{r.get('code')}]"
    return r["rows"]


def warehouse_rows(built_warehouse, sql: str) -> list[tuple]:
    """``sql`` on the warehouse's DuckDB file itself: the answer a probe is compared with."""
    import duckdb

    con = duckdb.connect(str(built_warehouse.duckdb_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()
