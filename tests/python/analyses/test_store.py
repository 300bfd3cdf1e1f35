"""Write-back: contract columns, append-only files, nothing partial, views on any connection."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest

from analysis_py.analyses import store
from analysis_py.analyses.inputs import Inputs
from analysis_py.warehouse import results

CONTRACT = {
    "runs": [
        "run_id",
        "spec_name",
        "analysis",
        "status",
        "error",
        "started_at",
        "finished_at",
        "parameters",
        "input_version",
    ],
    "effects": [
        "run_id",
        "spec_name",
        "factor",
        "level",
        "reference_level",
        "estimate",
        "std_error",
        "ci_low",
        "ci_high",
        "p_value",
        "scale",
    ],
    "anomalies": ["run_id", "spec_name", "metric", "slice", "date", "value", "expected", "score"],
    "forecasts": [
        "run_id",
        "spec_name",
        "metric",
        "slice",
        "date",
        "forecast",
        "lower_80",
        "upper_80",
        "lower_95",
        "upper_95",
        "model",
    ],
    "backtest_scores": [
        "run_id",
        "spec_name",
        "metric",
        "slice",
        "model",
        "mase",
        "mase_m",
        "smape",
        "coverage_80",
        "coverage_95",
    ],
}


def _run(run_id="r1", status="success"):
    now = dt.datetime(2025, 1, 1)
    return store.run_row(
        run_id=run_id,
        spec_name="s",
        analysis="drivers",
        status=status,
        started_at=now,
        finished_at=now,
        parameters={"a": 1},
        input_version="b1",
    )


def test_contract_columns_come_first_in_order(tmp_path):
    eff = pd.DataFrame(
        {
            "factor": ["channel"],
            "level": ["chat"],
            "reference_level": ["portal"],
            "estimate": [0.7],
            "extra": [1],
        }
    )
    store.write_run(_run(), {"effects": eff}, tmp_path)
    for name, cols in CONTRACT.items():
        assert list(results.SCHEMAS[name])[: len(cols)] == cols
    got = store.read_table("effects", tmp_path)
    assert list(got.columns)[: len(CONTRACT["effects"])] == CONTRACT["effects"]
    assert got.loc[0, "extra"] == 1 and got.loc[0, "run_id"] == "r1"


def test_failed_run_writes_only_its_runs_row(tmp_path):
    eff = pd.DataFrame({"factor": ["x"]})
    store.write_run(_run("bad", "failed"), {"effects": eff}, tmp_path, artifacts={"p": b"png"})
    assert [p.parent.name for p in (tmp_path / "analysis").rglob("*.parquet")] == ["runs"]
    assert not (tmp_path / "analysis" / "_artifacts").exists()


def test_error_while_writing_leaves_nothing(tmp_path):
    good = pd.DataFrame({"factor": ["x"], "estimate": [1.0]})
    bad = pd.DataFrame({"forecast": ["not a number"]})  # cannot be cast to DOUBLE
    with pytest.raises(ValueError):
        store.write_run(_run("r2"), {"effects": good, "forecasts": bad}, tmp_path)
    assert not any(p.is_file() for p in (tmp_path / "analysis").rglob("*"))


def test_runs_append_and_views_on_in_memory_connection(tmp_path):
    for rid in ("r1", "r2"):
        store.write_run(
            _run(rid), {"effects": pd.DataFrame({"factor": ["f"], "estimate": [1.0]})}, tmp_path
        )
    con = duckdb.connect()
    views = results.register_views(con, tmp_path)
    assert "analysis.effects" in views and "analysis.forecasts" in views
    assert con.sql("select count(*) from analysis.runs").fetchall()[0][0] == 2
    assert con.sql("select count(distinct run_id) from analysis.effects").fetchall()[0][0] == 2
    # an empty table still has its contract columns
    cols = [r[0] for r in con.sql("describe analysis.forecasts").fetchall()]
    assert cols[: len(CONTRACT["forecasts"])] == CONTRACT["forecasts"]


def test_views_on_read_only_warehouse_connection(built_warehouse, tmp_path):
    store.write_run(
        _run(), {"effects": pd.DataFrame({"factor": ["f"], "estimate": [2.0]})}, tmp_path
    )
    con = duckdb.connect(str(built_warehouse.duckdb_path), read_only=True)
    views = results.register_views(con, tmp_path)
    assert "analysis_effects" in views
    assert con.sql("select estimate from analysis_effects").fetchall()[0][0] == 2.0


def test_semantic_layer_and_mart_series_agree(built_warehouse):
    """The two input paths (semantic layer vs the built-in mart definition) give the same series."""
    inp = Inputs.open(built_warehouse.duckdb_path)
    if inp._semantic is None:
        pytest.skip("no semantic manifest in this build")
    for metric, dim in (("cases_opened", "case__product"), ("payments", "payment__rail")):
        a = inp.metric_series(metric, dim)
        b = inp.metric_series(metric, dim.split("__")[1])
        m = a.merge(b, on=["date", "slice"], how="outer")
        assert len(m) == len(a) == len(b)
        assert (m["value_x"] - m["value_y"]).abs().max() == 0
