"""Spec forms beyond the shipped ones: an inline metric from any public mart, a before/after
comparison, a filtered profile, SARIMAX as a candidate — each runs and writes its results."""

from __future__ import annotations

import textwrap

import pytest

from analysis_py.analyses import runner, store
from analysis_py.analyses import spec as spec_mod

SPECS = {
    # a metric the semantic layer does not define, declared from a mart: works on any project
    "incidents_forecast": """
        analysis: forecast
        input: {metric: incidents_started, mart: fct_incidents, date: started_date, value: count}
        parameters: {horizon: 14, origins: 2, models: [theta, snaive], regressors: false}
    """,
    "stp_before_after": """
        analysis: compare
        input: {mart: fct_payments}
        parameters: {success: is_stp, period_column: created_date, change_date: "2025-01-01", reference: before}
    """,
    "payments_profile": """
        analysis: profile
        input: {mart: fct_payments}
        parameters: {columns: [rail, amount_usd, is_stp, created_at], where: "rail = 'SWIFT'"}
    """,
    "volume_sarimax": """
        analysis: forecast
        input: {metric: cases_opened}
        parameters: {horizon: 14, origins: 1, models: [sarimax], regressors: false, start: "2025-01-01"}
    """,
}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_spec_variant_runs(built_warehouse, tmp_path, name):
    path = tmp_path / f"{name}.yml"
    path.write_text(f"name: {name}\nowner: tests\n" + textwrap.dedent(SPECS[name]))
    (spec,) = spec_mod.load([path])
    (o,) = runner.run_specs([spec], duckdb_path=built_warehouse.duckdb_path, warehouse_dir=tmp_path)
    assert o.status == "success", o.error
    if name == "incidents_forecast":
        fc = store.read_table("forecasts", tmp_path)
        assert len(fc) == 14 and set(fc["metric"]) == {"incidents_started"}
        assert spec.marts() == ["fct_incidents"]
    elif name == "stp_before_after":
        eff = store.read_table("effects", tmp_path)
        row = eff.iloc[0]
        assert (row["factor"], row["level"], row["reference_level"], row["scale"]) == (
            "period",
            "after",
            "before",
            "difference",
        )
        assert row["ci_low"] <= row["estimate"] <= row["ci_high"]
    elif name == "payments_profile":
        prof = store.read_table("profile", tmp_path).set_index("column")
        assert list(prof.index) == ["rail", "amount_usd", "is_stp", "created_at"]
        assert prof.loc["rail", "distinct"] == 1 and prof.loc["rail", "top_values"].startswith(
            "SWIFT"
        )
    elif name == "volume_sarimax":
        bt = store.read_table("backtest_scores", tmp_path)
        assert set(bt["model"]) == {"sarimax", "snaive"}
