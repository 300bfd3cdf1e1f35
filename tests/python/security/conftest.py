"""The red team's fixtures: a real server over a warehouse built by dbt from the semantic
fixture project, with an unrestricted role and restricted ones, and what the restricted
ones must never see (other countries' customers, PII values, engine internals).

Every module here attacks one interface. The checks that apply to all of them are in
:func:`assert_clean`: a refusal is an error with a SQLSTATE, and neither a result nor an
error message nor the query log nor the server log holds a secret or a traceback.
"""

from __future__ import annotations

import json
import logging
import re

import duckdb
import psycopg
import pytest

from analysis_py.serve.config import load_config
from analysis_py.serve.run import start_in_thread
from analysis_py.serve.scram import make_verifier
from tests.python.sql.conftest import sl_warehouse  # noqa: F401  (the shared dbt build)

PASSWORD = "red-team-pw"
#: metrics of the restricted roles (a ratio and the two metrics it is computed from)
GB_METRICS = ["order_total", "completion_rate", "completed_orders", "order_count"]
ROW_POLICIES = {"gb": {"table": "dim_customers", "key": "customer_id", "filter": "country = 'GB'"}}
#: an unrestricted role, a restricted one (a row policy, four metrics, PII masked) and one
#: with a single mart and metric
ROLES = {
    "admin": {"marts": "*", "metrics": "*", "pii": True},
    "gb": {"marts": "*", "metrics": GB_METRICS, "row_policies": ["gb"]},
    "narrow": {"marts": ["fct_orders"], "metrics": ["order_total"]},
}


class LogCapture(logging.Handler):
    """Every record the server logs while the module's server runs."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        return "\n".join(self.format(r) for r in self.records)


def red_team_config(tmp, **server):
    return load_config(
        data={
            "server": {
                "port": 0,
                "query_log": str(tmp / "queries.jsonl"),
                "poll_interval": 0.2,
                "auth_failure_delay": 0.02,
                "auth_failure_max_delay": 0.2,
                **server,
            },
            "row_policies": ROW_POLICIES,
            "roles": ROLES,
            "users": {
                u: {"password": make_verifier(PASSWORD), "role": u}
                for u in ("admin", "gb", "narrow")
            },
        }
    )


@pytest.fixture(scope="module")
def server(sl_warehouse, tmp_path_factory):  # noqa: F811
    tmp = tmp_path_factory.mktemp("redteam")
    capture = LogCapture()
    logger = logging.getLogger("opsmetrics")
    old_level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(capture)
    running = start_in_thread(red_team_config(tmp), sl_warehouse)
    running.tmp = tmp
    running.log = capture
    running.warehouse_dir = sl_warehouse
    yield running
    running.stop()
    logger.removeHandler(capture)
    logger.setLevel(old_level)


def connect(server, user="gb", **kw) -> psycopg.Connection:
    return psycopg.connect(
        f"host=127.0.0.1 port={server.port} dbname=opsmetrics user={user} "
        f"password={PASSWORD} sslmode=disable",
        autocommit=True,
        **kw,
    )


@pytest.fixture(scope="module")
def secrets(sl_warehouse) -> list[str]:  # noqa: F811
    """Strings a `gb` user may not see: names of customers outside GB, every country code
    (country is PII, masked for gb), engine-internal names and paths."""
    con = duckdb.connect(str(sl_warehouse / "opsmetrics.duckdb"), read_only=True)
    try:
        others = [
            r[0]
            for r in con.execute(
                "select customer_name from dim_customers where country <> 'GB'"
            ).fetchall()
        ]
        countries = [
            r[0] for r in con.execute("select distinct country from dim_customers").fetchall()
        ]
    finally:
        con.close()
    assert others and countries
    return [
        *others,
        *countries,
        "gen_1",
        "role_admin",
        "role_gb",
        "_sem",
        str(sl_warehouse),
        "/tmp/",
    ]


def leaked(text: str, secrets: list[str], sent: str = "") -> list[str]:
    """The secrets found in ``text``, as whole words (``Customer 2`` is not in ``Customer 21``);
    a name the attacker wrote (``sent``) may come back in an error that quotes the statement."""
    found = []
    for s in secrets:
        if s in sent:
            continue
        if len(s) <= 3:  # a country code: as a value ('GB'), not the keyword IN of a hint
            if re.search(rf"'{re.escape(s)}'", text):
                found.append(s)
            continue
        left = r"(?<![\w])" if s[0].isalnum() else ""
        right = r"(?![\w])" if s[-1].isalnum() else ""
        if re.search(left + re.escape(s) + right, text):
            found.append(s)
    return found


def assert_clean(server, secrets: list[str]) -> None:
    """Nothing secret and no traceback in the query log or the server log."""
    qlog = (server.tmp / "queries.jsonl").read_text()
    for line in qlog.splitlines():
        rec = json.loads(line)
        # the attacker's own SQL is logged as sent; values never are
        found = leaked(rec.get("error") or "", secrets, rec.get("sql") or "")
        assert not found, rec
    assert "Traceback" not in qlog
    server_log = server.log.text()
    assert "Traceback" not in server_log
    assert not [r for r in server.log.records if r.exc_info], server_log
    assert not [r for r in server.log.records if r.levelno >= logging.ERROR], server_log
