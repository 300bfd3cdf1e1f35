"""Both manifest shapes give the same answers: the classic one (measures on semantic models)
and the newer one (simple metrics carry ``metric_aggregation_params``; cumulative and
conversion metrics point at metrics). The newer shape is made twice: by MetricFlow's own
transformation code in the oracle virtualenv (``latest_shape.py``), and by a rewrite here that
needs no MetricFlow."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import pytest

from analysis_py.semantic import SemanticLayer
from analysis_py.semantic.manifest import load_manifest, parse_manifest

from .compare import rows_equal
from .conftest import REQUESTS, ensure_oracle

LATEST_SHAPE = Path(__file__).with_name("latest_shape.py")


def to_newer_shape(data: dict) -> dict:
    """Rewrite a classic manifest the way newer dbt-semantic-interfaces writes it."""
    data = copy.deepcopy(data)
    measures = {}
    for sm in data["semantic_models"]:
        atd = (sm.get("defaults") or {}).get("agg_time_dimension")
        for m in sm.pop("measures", []):
            measures[m["name"]] = (sm["name"], m, m.get("agg_time_dimension") or atd)
        sm["measures"] = []
    plain = {}  # measure -> a simple metric that exposes it unchanged
    for met in data["metrics"]:
        tp = met["type_params"]
        if met["type"] == "simple" and tp.get("measure"):
            mi = tp["measure"]
            if (
                not met.get("filter")
                and not mi.get("filter")
                and not mi.get("fill_nulls_with")
                and not mi.get("join_to_timespine")
            ):
                plain.setdefault(mi["name"], met["name"])
    for met in data["metrics"]:
        tp = met["type_params"]
        if met["type"] == "simple" and tp.get("measure"):
            mi = tp.pop("measure")
            model, m, atd = measures[mi["name"]]
            tp["metric_aggregation_params"] = {
                "semantic_model": model,
                "agg": m["agg"],
                "agg_params": m.get("agg_params"),
                "agg_time_dimension": atd,
                "non_additive_dimension": m.get("non_additive_dimension"),
            }
            tp["expr"] = m.get("expr") or m["name"]
            tp["join_to_timespine"] = mi.get("join_to_timespine", False)
            tp["fill_nulls_with"] = mi.get("fill_nulls_with")
        elif met["type"] == "cumulative":
            mi = tp.pop("measure")
            tp.setdefault("cumulative_type_params", {})["metric"] = {"name": plain[mi["name"]]}
        elif met["type"] == "conversion":
            ctp = tp["conversion_type_params"]
            ctp["base_metric"] = {"name": plain[ctp.pop("base_measure")["name"]]}
            ctp["conversion_metric"] = {"name": plain[ctp.pop("conversion_measure")["name"]]}
        tp.pop("input_measures", None)
    return data


@pytest.fixture(scope="module")
def newer(sl_project):
    data = to_newer_shape(sl_project.manifest_data)
    return SemanticLayer(
        data, connection=SemanticLayer.from_manifest(sl_project.manifest, sl_project.db).connection
    )


def test_newer_shape_has_no_measures(sl_project):
    data = to_newer_shape(sl_project.manifest_data)
    assert all(not sm["measures"] for sm in data["semantic_models"])
    m = parse_manifest(data)
    assert not m.problems
    assert m.metrics["order_total"].type == "simple"


@pytest.mark.parametrize("rid", [r["id"] for r in json.loads(REQUESTS.read_text())])
def test_same_answers_in_both_shapes(rid, sl, newer):
    req = next(r for r in json.loads(REQUESTS.read_text()) if r["id"] == rid)
    req = {k: v for k, v in req.items() if k != "id"}
    a = sl.query(**req)
    b = newer.query(**req)
    assert a.columns == b.columns
    ok, why = rows_equal(a.fetchall(), b.fetchall(), ordered=bool(req.get("order_by")))
    assert ok, why


@pytest.fixture(scope="module")
def metricflow_latest(sl_project, tmp_path_factory):
    """The fixture manifest in the latest spec, as MetricFlow's transformations write it."""
    out = tmp_path_factory.mktemp("latest") / "semantic_manifest.json"
    proc = subprocess.run(
        [str(ensure_oracle()), str(LATEST_SHAPE), str(sl_project.manifest), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    return data, SemanticLayer(
        data, connection=SemanticLayer.from_manifest(sl_project.manifest, sl_project.db).connection
    )


@pytest.mark.oracle
def test_metricflow_latest_shape_has_only_metrics(metricflow_latest):
    data, _layer = metricflow_latest
    assert all(not sm["measures"] for sm in data["semantic_models"])
    simple = [m for m in data["metrics"] if m["type"] == "simple"]
    assert simple and all(m["type_params"]["metric_aggregation_params"] for m in simple)
    assert not parse_manifest(data).problems


@pytest.mark.oracle
@pytest.mark.parametrize("rid", [r["id"] for r in json.loads(REQUESTS.read_text())])
def test_same_answers_on_metricflows_latest_shape(rid, sl, metricflow_latest):
    req = next(r for r in json.loads(REQUESTS.read_text()) if r["id"] == rid)
    req = {k: v for k, v in req.items() if k != "id"}
    a = sl.query(**req)
    b = metricflow_latest[1].query(**req)
    assert a.columns == b.columns
    ok, why = rows_equal(a.fetchall(), b.fetchall(), ordered=bool(req.get("order_by")))
    assert ok, why


def test_manifest_cache_is_keyed_by_hash(sl_project, tmp_path, monkeypatch):
    monkeypatch.setenv("OPSMETRICS_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "m.json"
    path.write_text(sl_project.manifest.read_text())
    first = load_manifest(path)
    assert list((tmp_path / "cache").glob("manifest-*.pickle"))
    again = load_manifest(path)
    assert again.digest == first.digest and set(again.metrics) == set(first.metrics)
    data = json.loads(path.read_text())
    data["metrics"] = [m for m in data["metrics"] if m["name"] != "order_total_wow"]
    path.write_text(json.dumps(data))
    changed = load_manifest(path)
    assert changed.digest != first.digest and "order_total_wow" not in changed.metrics
