"""The server over the project's own warehouse (generated data, real dbt build): public marts,
PII tags from the dbt YAML, the project's metrics, an EMEA row policy on a metric."""

from __future__ import annotations

import psycopg
import pytest

from analysis_py.serve.config import load_config
from analysis_py.serve.run import start_in_thread
from analysis_py.serve.scram import make_verifier


@pytest.fixture(scope="module")
def served(built_warehouse, tmp_path_factory):
    cfg = load_config(
        data={
            "server": {"port": 0},
            "row_policies": {
                "emea": {"table": "dim_clients", "key": "client_id", "filter": "region = 'EMEA'"}
            },
            "roles": {
                "analyst": {"marts": "*", "metrics": "*"},
                "emea": {"marts": "*", "metrics": "*", "row_policies": ["emea"]},
            },
            "users": {u: {"password": make_verifier("pw"), "role": u} for u in ("analyst", "emea")},
        }
    )
    running = start_in_thread(
        cfg, built_warehouse.paths.warehouse_dir, project_dir=built_warehouse.paths.project_dir
    )
    yield running
    running.stop()


def connect(served, user="analyst"):
    return psycopg.connect(
        f"host=127.0.0.1 port={served.port} dbname=opsmetrics user={user} "
        "password=pw sslmode=disable",
        autocommit=True,
    )


def test_public_marts_listed_with_pii_masked(served):
    with connect(served) as c:
        tables = {
            r[0]
            for r in c.execute(
                "select table_name from information_schema.tables where table_schema = 'main'"
            )
        }
        assert {"fct_payments", "fct_cases", "dim_clients"} <= tables
        assert not any(t.startswith(("stg_", "int_")) for t in tables)
        pii = [r[0] for r in c.execute("select legal_name from dim_clients limit 5")]
        assert pii and set(pii) <= {"****", None}


def test_metric_by_semantic_sql_and_row_policy(served, built_warehouse):
    with connect(served) as c:
        metrics = {r[0] for r in c.execute("select name from {{ semantic_layer.metrics() }}")}
        assert "stp_rate" in metrics
        by_region = dict(
            c.execute("select client__region, stp_rate from metrics group by 1").fetchall()
        )
    with connect(served, "emea") as c:
        emea = c.execute("select client__region, stp_rate from metrics group by 1").fetchall()
    assert [r[0] for r in emea] == ["EMEA"]
    assert float(emea[0][1]) == pytest.approx(float(by_region["EMEA"]))
    assert 0.5 < float(emea[0][1]) <= 1.0
