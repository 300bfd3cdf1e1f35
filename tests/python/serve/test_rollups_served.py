"""Rollups through the server: a role without row policies gets the marts' answers from a
rollup; a role with row policies, or one that may only see a column the rollup read masked,
is answered from the marts (where its policies and masking apply), never from the rollup."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import duckdb
import psycopg
import pytest

from analysis_py.semantic import SemanticLayer
from analysis_py.semantic import rollups as ru
from analysis_py.semantic.manifest import SavedQuery, load_manifest
from analysis_py.serve.config import load_config
from analysis_py.serve.run import start_in_thread
from analysis_py.serve.scram import make_verifier
from analysis_py.warehouse.manifest import DbtManifest
from tests.python.sql.conftest import (  # noqa: F401  (sl_warehouse: the shared dbt build)
    governed_config,
    private_build,
    publish_private,
    sl_warehouse,
)

REPO = Path(__file__).resolve().parents[3]
ROLLUPS = {
    "by_region": ("metric_time__day", "order__channel", "customer__region"),
    "by_country": ("metric_time__day", "customer__country"),
}
METRICS = ("order_total", "order_count", "completion_rate", "avg_order_amount")


@pytest.fixture(scope="module")
def served(sl_warehouse, tmp_path_factory):  # noqa: F811
    tmp = tmp_path_factory.mktemp("rollups-served")
    wh, db, target = private_build(sl_warehouse, tmp, "r0001")
    manifest = load_manifest(target / "semantic_manifest.json")
    extra = {n: SavedQuery(n, METRICS, g) for n, g in ROLLUPS.items()}
    manifest = dataclasses.replace(manifest, saved_queries={**manifest.saved_queries, **extra})
    relations = DbtManifest.read(target / "manifest.json").relations()
    con = duckdb.connect(str(db))
    con.execute("create schema rollups")
    con.execute("create table rollups._catalog (name varchar, spec varchar)")
    for name in ROLLUPS:
        spec, sql = ru.build_sql(SemanticLayer, manifest, name)
        con.execute(f"create table rollups.{name} as {sql}")
        spec = ru.with_types(con, dataclasses.replace(spec, pii=ru._pii_read(sql, relations)))
        con.execute("insert into rollups._catalog values (?, ?)", [name, spec.to_json()])
    con.close()
    publish_private(wh, "r0001", db, target)
    cfg = governed_config(result_cache_bytes=0)
    running = start_in_thread(cfg, wh)
    running.db = db
    running.manifest = manifest
    yield running
    running.stop()


def _query(served, user: str, sql: str):
    with psycopg.connect(
        f"host=127.0.0.1 port={served.port} dbname=opsmetrics user={user} password=pw "
        "sslmode=disable",
        autocommit=True,
    ) as c:
        cur = c.execute(sql)
        return [d.type_code for d in cur.description], cur.fetchall()


def _compiled(served, user: str, metrics: str, group_by: str) -> str:
    sql = (
        "select * from {{ semantic_layer.query(metrics=" + metrics + ", group_by=" + group_by
        + ", compile=True) }}"
    )  # fmt: skip
    return _query(served, user, sql)[1][0][0]


def test_which_role_may_be_answered_from_which_rollup(served):
    offered = {role: {r.name for r in rs} for role, rs in served.engine.current.rollups.items()}
    assert offered["admin"] == {"by_region", "by_country"}
    assert offered["gb"] == set()  # row policies: a rollup sums every row
    assert offered["nopii"] == {"by_region"}  # by_country read country, masked for it
    spec = next(s for s in served.engine.current.rollup_specs if s.name == "by_country")
    assert ("dim_customers", "country") in spec.pii


REQUESTS = [
    {
        "metrics": ["order_total", "completion_rate"],
        "group_by": ["metric_time__month", "order__channel"],
    },
    {"metrics": ["avg_order_amount", "order_count"], "group_by": ["customer__region"]},
    {
        "metrics": ["order_total"],
        "group_by": ["metric_time__week"],
        "where": ["{{ Dimension('order__channel') }} = 'online'"],
    },
    {"metrics": ["order_count", "order_total"]},
]


def _normal(rows):
    def cell(v):
        if hasattr(v, "isoformat"):
            return str(v)[:10]
        if isinstance(v, int | float) or type(v).__name__ == "Decimal":
            return round(float(v), 6)
        return v

    return sorted((tuple(cell(v) for v in r) for r in rows), key=repr)


@pytest.mark.parametrize(
    "req", REQUESTS, ids=lambda r: "_".join(r["metrics"] + r.get("group_by", []))
)
def test_a_rollups_answer_through_the_server_equals_the_marts(served, req):
    direct = SemanticLayer(
        served.manifest, connection=duckdb.connect(str(served.db), read_only=True)
    )
    marts = direct.compile(**req, use_rollups=False)
    assert direct.compile(**req).answered_from.startswith("rollup")
    jdbc = "select * from {{ semantic_layer.query(metrics=" + repr(req["metrics"])
    jdbc += (
        ", group_by="
        + repr(req.get("group_by", []))
        + ", where="
        + repr(req.get("where", []))
        + ") }}"
    )
    _types, rows = _query(served, "admin", jdbc)
    assert _normal(rows) == _normal(marts.fetchall())
    _types, nopii = _query(served, "nopii", jdbc)  # by_region only: no PII read
    assert _normal(nopii) == _normal(rows)


def test_the_compiled_sql_shows_where_the_answer_comes_from(served):
    admin = _compiled(
        served, "admin", "['order_total']", "['metric_time__month', 'order__channel']"
    )
    gb = _compiled(served, "gb", "['order_total']", "['metric_time__month', 'order__channel']")
    assert "__rollup__by_region" in admin
    assert "__rollup__" not in gb and "fct_orders" in gb
    nopii = _compiled(
        served, "nopii", "['order_total']", "['metric_time__month', 'customer__country']"
    )
    assert "__rollup__" not in nopii


def test_a_restricted_role_gets_its_own_rows_not_the_rollups(served):
    sql = "select customer__country, order_total from metrics group by 1"
    _t, admin = _query(served, "admin", sql)
    _t, gb = _query(served, "gb", sql)
    _t, nopii = _query(served, "nopii", sql)
    totals = dict(admin)
    assert [r[0] for r in gb] == ["****"] and float(gb[0][1]) == pytest.approx(float(totals["GB"]))
    assert {r[0] for r in nopii} == {"****"}
    assert sum(float(v) for _c, v in nopii) == pytest.approx(sum(float(v) for v in totals.values()))
    assert json.dumps(admin, default=str) != json.dumps(nopii, default=str)


def test_rollups_suggest_reads_the_query_log(served, tmp_path):
    import subprocess
    import sys

    log = tmp_path / "queries.jsonl"
    cfg = load_config(
        data={
            "server": {"port": 0, "query_log": str(log), "result_cache_bytes": 0},
            "roles": {"a": {"marts": "*", "metrics": "*", "pii": True}},
            "users": {"a": {"password": make_verifier("pw"), "role": "a"}},
        }
    )
    running = start_in_thread(cfg, served.engine.warehouse_dir)
    try:
        with psycopg.connect(
            f"host=127.0.0.1 port={running.port} dbname=opsmetrics user=a password=pw "
            "sslmode=disable",
            autocommit=True,
        ) as c:
            for _ in range(3):  # a shape no rollup holds, and one by_region holds
                c.execute(
                    "select metric_time__month, order__status, order_total, completion_rate "
                    "from metrics group by 1, 2"
                ).fetchall()
                c.execute(
                    "select metric_time__week, order__channel, order_total from metrics group by 1, 2"
                ).fetchall()
            c.execute("select 1").fetchall()  # not a metric request
    finally:
        running.stop()
    exe = str(Path(sys.executable).with_name("opsmetrics"))
    p = subprocess.run(
        [exe, "rollups", "suggest", "--log", str(log), "--warehouse-dir", str(served.engine.warehouse_dir)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert "6 metric requests read" in p.stdout
    assert "rollup_status: 3 requests" in p.stdout
    assert "metrics: [completion_rate, order_total]" in p.stdout
    assert "- \"Dimension('order__status')\"" in p.stdout and "enabled: true" in p.stdout
    assert "order__channel" not in p.stdout  # answered by the by_region rollup already
    p = subprocess.run(
        [exe, "rollups", "suggest", "--log", str(tmp_path / "none.jsonl"), "--warehouse-dir", str(served.engine.warehouse_dir)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert p.returncode != 0 and "no query log" in p.stderr and "Traceback" not in p.stderr
