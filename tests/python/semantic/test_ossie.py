"""Apache Ossie interchange: the export validates against the spec's JSON schema, and an
export → import → ``dbt parse`` round trip gives the same answers, on the same DuckDB file,
as the original semantic layer for every metric (Ossie's own expressions for the metrics it
can express, the DBT extension for the rest)."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from analysis_py.semantic import SemanticLayer
from analysis_py.semantic.ossie import OssieError, export_document, import_document
from tests.python.semantic.conftest import FIXTURE
from tests.python.sql.conftest import sl_warehouse  # noqa: F401  (the shared dbt build)

REPO = Path(__file__).resolve().parents[3]
SCHEMA = REPO.parent / "shared" / "ossie" / "osi-schema.json"
OPSMETRICS = str(Path(sys.executable).with_name("opsmetrics"))
DBT = str(Path(sys.executable).with_name("dbt"))


@pytest.fixture(scope="module")
def source(sl_project):
    return json.loads(sl_project.manifest.read_text())


def _parse(project: Path, db: Path) -> Path:
    env = {**os.environ, "SL_FIXTURE_DUCKDB": str(db), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    p = subprocess.run(
        [DBT, "parse", "--project-dir", str(project), "--profiles-dir", str(project)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert p.returncode == 0, p.stdout[-3000:]
    return project / "target" / "semantic_manifest.json"


def _imported_project(tmp: Path, sl_project, doc: dict) -> Path:
    """The fixture project with its semantic YAML replaced by the import of ``doc``."""
    project = tmp / "project"
    shutil.copytree(FIXTURE, project, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb*"))
    (project / "models" / "_semantic.yml").write_text(
        yaml.safe_dump(import_document(json.loads(json.dumps(doc))), sort_keys=False)
    )
    return _parse(project, sl_project.db)


def _rows(sl: SemanticLayer, **kw):
    """The answer's rows, or the refusal (a window metric without time is refused alike)."""
    from analysis_py.errors import OpsMetricsError

    try:
        rows = sl.query(**kw).fetchall()
    except OpsMetricsError as exc:
        return ("refused", str(exc))
    out = [tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in rows]
    return sorted(out, key=repr)


def _requests(sl: SemanticLayer, metric: str, with_time: bool = True):
    yield {}
    if with_time:
        yield {"group_by": ["metric_time__month"]}
    dims = [d["name"] for d in sl.dimensions(metrics=[metric]) if d["type"] != "time"]
    for d in dims[:3]:
        yield {"group_by": [d]}


def test_the_export_validates_against_the_ossie_schema(source):
    jsonschema = pytest.importorskip("jsonschema")
    if not SCHEMA.is_file():
        pytest.skip(f"the Ossie schema is not here ({SCHEMA}): ../shared is absent")
    doc = export_document(source, "sl_fixture", "the semantic fixture project")
    jsonschema.validate(doc, json.loads(SCHEMA.read_text()))
    model = doc["semantic_model"][0]
    assert {d["name"] for d in model["datasets"]} == {
        sm["name"] for sm in source["semantic_models"]
    }
    assert {(r["from"], r["to"]) for r in model["relationships"]} >= {("orders", "customers")}


def test_what_ossie_can_express_is_an_expression_and_the_rest_is_carried(source):
    doc = export_document(source, "sl_fixture")
    model = doc["semantic_model"][0]
    core = {m["name"]: m["expression"]["dialects"][0]["expression"] for m in model["metrics"]}
    carried = {
        m["name"] for m in json.loads(model["custom_extensions"][0]["data"])["metricflow_metrics"]
    }
    assert core["order_total"] == "SUM(orders.order_total)"
    assert core["order_customers"] == "COUNT(DISTINCT orders.order_customers)"
    assert core["completion_rate"].startswith("CAST(SUM(")
    assert "PERCENTILE_CONT(0.5) WITHIN GROUP" in core["median_order_amount"]
    kinds = {m["name"]: m["type"] for m in source["metrics"]}
    for name in carried:  # what an aggregate over one dataset cannot say
        assert name not in core
    for name, kind in kinds.items():
        if kind in ("cumulative", "conversion"):
            assert name in carried, name
    assert "emea_order_total" in carried  # its filter joins the regions dataset
    assert "order_total_wow" in carried  # an offset
    assert "p90_order_amount_approx" in carried  # an approximate percentile
    assert set(core) | carried == set(kinds)


def test_round_trip_gives_the_same_answers_for_every_metric(source, sl_project, tmp_path):
    doc = export_document(source, "sl_fixture")
    original = SemanticLayer.from_manifest(sl_project.manifest, str(sl_project.db))
    again = SemanticLayer.from_manifest(
        _imported_project(tmp_path, sl_project, doc), str(sl_project.db)
    )
    assert {m["name"] for m in again.metrics()} >= {m["name"] for m in original.metrics()}
    compared = 0
    for m in original.metrics():
        for req in _requests(original, m["name"]):
            assert _rows(again, metrics=[m["name"]], **req) == _rows(
                original, metrics=[m["name"]], **req
            ), (m["name"], req)
            compared += 1
    assert compared > 150


def test_ossie_alone_gives_the_same_answers_for_the_metrics_it_expresses(
    source, sl_project, tmp_path
):
    """A document from another tool has no DBT extension: its expressions alone must give
    the answers (grouped by the datasets' dimensions; time needs the extension's
    aggregation time dimension)."""
    doc = export_document(source, "sl_fixture")
    bare = copy.deepcopy(doc)

    def strip(obj):
        if isinstance(obj, dict):
            obj.pop("custom_extensions", None)
            for v in obj.values():
                strip(v)
        elif isinstance(obj, list):
            for v in obj:
                strip(v)

    strip(bare)
    core = [m["name"] for m in bare["semantic_model"][0]["metrics"]]
    original = SemanticLayer.from_manifest(sl_project.manifest, str(sl_project.db))
    again = SemanticLayer.from_manifest(
        _imported_project(tmp_path, sl_project, bare), str(sl_project.db)
    )
    assert len(core) >= 20
    for name in core:
        for req in _requests(original, name, with_time=False):
            assert _rows(again, metrics=[name], **req) == _rows(original, metrics=[name], **req), (
                name,
                req,
            )


@pytest.mark.parametrize(
    "doc,message",
    [
        ({"semantic_model": "x"}, "not an Ossie document"),
        ([], "not an Ossie document"),
        (
            {"version": "0.2.0.dev0", "semantic_model": [{"name": "a", "datasets": []}] * 2},
            "holds 2 semantic models",
        ),
    ],
)
def test_documents_that_are_not_ossie_are_refused(doc, message):
    with pytest.raises(OssieError, match=message):
        import_document(doc)


def _doc(metric_sql: str) -> dict:
    def field(n):
        return {"name": n, "expression": {"dialects": [{"dialect": "ANSI_SQL", "expression": n}]}}

    return {
        "version": "0.2.0.dev0",
        "semantic_model": [
            {
                "name": "m",
                "datasets": [
                    {"name": "orders", "source": "main.orders", "primary_key": ["id"],
                     "fields": [field("id"), field("amount"), {**field("at"), "dimension": {"is_time": True}}]},
                    {"name": "customers", "source": "main.customers", "fields": [field("id")]},
                ],
                "metrics": [{"name": "x", "expression": {"dialects": [{"dialect": "ANSI_SQL", "expression": metric_sql}]}}],
            }
        ],
    }  # fmt: skip


@pytest.mark.parametrize(
    "sql,message",
    [
        ("SUM(orders.amount) / COUNT(DISTINCT customers.id)", None),
        ("SUM(orders.amount + customers.id)", "must read fields of one dataset"),
        ("SUM(amount)", "must read fields of one dataset"),
        ("SUM(orders.nope)", "not a field of dataset 'orders'"),
        ("SUM(shipments.amount)", "does not define"),
        ("orders.amount", "has no aggregate"),
        ("SUM(orders.amount", "does not parse"),
    ],
)
def test_metric_expressions_opsmetrics_cannot_import_are_refused_clearly(sql, message):
    if message is None:  # two datasets in one metric: two measures, a derived metric
        out = import_document(_doc(sql))
        x = next(m for m in out["metrics"] if m["name"] == "x")
        assert x["type"] == "ratio"
        return
    with pytest.raises(OssieError, match=message):
        import_document(_doc(sql))


def test_cli_export_and_import(sl_warehouse, tmp_path):  # noqa: F811
    target = next((sl_warehouse / "builds").glob("*.target"))
    out = tmp_path / "doc.json"
    p = subprocess.run(
        [OPSMETRICS, "export", "--format", "ossie", "--manifest", str(target / "semantic_manifest.json"), "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert "metrics as Ossie expressions" in p.stderr
    doc = json.loads(out.read_text())
    assert doc["version"] == "0.2.0.dev0"
    yml = tmp_path / "semantic.yml"
    p = subprocess.run(
        [OPSMETRICS, "import", "--format", "ossie", str(out), "--out", str(yml)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert yaml.safe_load(yml.read_text())["semantic_models"]
    before = yml.read_bytes()
    for args, message in [
        (["import", str(out), "--out", str(yml)], "exists"),
        (["import", str(tmp_path / "missing.yaml")], "cannot read"),
        (["export", "--format", "ossie", "--manifest", str(target / "semantic_manifest.json"),
          "--out", str(tmp_path / "no" / "dir.yaml")], "does not exist"),
    ]:  # fmt: skip
        p = subprocess.run([OPSMETRICS, *args], capture_output=True, text=True, timeout=120)
        assert p.returncode != 0 and message in p.stderr, (args, p.stderr)
        assert "Traceback" not in p.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "semantic_model: [{name: m, datasets: [{name: a, source: s}], metrics: [{name: x, expression: {dialects: [{dialect: ANSI_SQL, expression: 'SUM(b.y)'}]}}]}]"
    )
    p = subprocess.run(
        [OPSMETRICS, "import", str(bad), "--out", str(yml), "--force"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode != 0 and "does not define" in p.stderr and "Traceback" not in p.stderr
    assert yml.read_bytes() == before  # nothing half-written


def test_round_trip_of_this_project_gives_the_same_answers(built_warehouse, tmp_path):
    """This project's own semantic layer (46 metrics over five marts): export, strip the
    semantic YAML from a copy of the project, import, ``dbt parse``, same answers."""
    target = built_warehouse.paths.warehouse_dir / "target"
    source = json.loads((target / "semantic_manifest.json").read_text())
    doc = export_document(source, "opsmetrics")
    project = tmp_path / "project"
    project.mkdir()
    for part in ("dbt_project.yml", "models", "macros", "seeds", "profiles"):
        src = REPO / part
        (shutil.copytree if src.is_dir() else shutil.copy)(src, project / part)
    for f in (project / "models").rglob("*.yml"):
        data = yaml.safe_load(f.read_text()) or {}
        if {"semantic_models", "metrics", "saved_queries"} & set(data):
            for key in ("semantic_models", "metrics", "saved_queries"):
                data.pop(key, None)
            f.write_text(yaml.safe_dump(data, sort_keys=False))
    (project / "models" / "_ossie.yml").write_text(
        yaml.safe_dump(import_document(json.loads(json.dumps(doc))), sort_keys=False)
    )
    env = {**os.environ, "OPSMETRICS_DUCKDB_PATH": str(tmp_path / "unused.duckdb")}
    p = subprocess.run(
        [DBT, "parse", "--project-dir", str(project), "--profiles-dir", str(project / "profiles")],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert p.returncode == 0, p.stdout[-3000:]
    db = str(built_warehouse.duckdb_path)
    original = SemanticLayer.from_manifest(target / "semantic_manifest.json", db)
    again = SemanticLayer.from_manifest(project / "target" / "semantic_manifest.json", db)
    for m in original.metrics():
        for req in _requests(original, m["name"]):
            assert _rows(again, metrics=[m["name"]], **req) == _rows(
                original, metrics=[m["name"]], **req
            ), (m["name"], req)
