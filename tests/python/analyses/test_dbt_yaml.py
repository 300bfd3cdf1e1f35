"""The checked-in dbt declarations of the analysis layer match the code and the shipped specs."""

from __future__ import annotations

import pytest

from analysis_py.analyses import dbt_yaml
from analysis_py.analyses import spec as spec_mod
from analysis_py.config import REPO_DIR


def test_sources_and_exposures_are_current():
    folder = REPO_DIR / "models" / "analysis"
    assert (folder / "_analysis__sources.yml").read_text() == dbt_yaml.render(
        dbt_yaml.sources_dict()
    )
    specs = spec_mod.load([REPO_DIR / "specs"])
    assert (folder / "_analysis__exposures.yml").read_text() == dbt_yaml.render(
        dbt_yaml.exposures_dict(specs)
    )


def test_every_shipped_spec_has_an_exposure_on_public_marts_or_metrics():
    exps = dbt_yaml.exposures_dict(spec_mod.load([REPO_DIR / "specs"]))["exposures"]
    assert {e["name"] for e in exps} == {s.name for s in spec_mod.load([REPO_DIR / "specs"])}
    for e in exps:
        assert e["depends_on"] and all(
            d.startswith(("ref('fct_", "ref('dim_", "metric('")) for d in e["depends_on"]
        )


def test_metric_definitions_come_from_the_semantic_manifest(built_warehouse):
    """The fallback series definitions are read from the build's semantic manifest, and each
    gives the same daily values as the semantic engine."""
    from analysis_py.analyses.inputs import Inputs, semantic_metric_definitions

    target = built_warehouse.duckdb_path.parent / "target" / "semantic_manifest.json"
    defs = semantic_metric_definitions(target)
    assert defs["cases_opened"].mart == "fct_cases" and defs["cases_opened"].value == "count"
    assert defs["stp_rate"].value == "mean:is_stp" and defs["stp_rate"].mart == "fct_payments"
    assert "product" in defs["cases_opened"].dimensions
    with_engine = Inputs.open(built_warehouse.duckdb_path, REPO_DIR)
    without = Inputs.open(built_warehouse.duckdb_path, REPO_DIR, use_semantic=False)
    try:
        for metric in ("cases_opened", "payments", "stp_rate", "platform_requests"):
            a = with_engine.metric_series(metric, "product" if metric == "cases_opened" else None)
            b = without.metric_series(metric, "product" if metric == "cases_opened" else None)
            a = a.sort_values(["slice", "date"]).reset_index(drop=True)
            b = b.sort_values(["slice", "date"]).reset_index(drop=True)
            assert len(a) == len(b) and (a["date"] == b["date"]).all(), metric
            assert a["value"].to_numpy() == pytest.approx(b["value"].to_numpy(), nan_ok=True)
    finally:
        with_engine.con.disconnect()
        without.con.disconnect()
