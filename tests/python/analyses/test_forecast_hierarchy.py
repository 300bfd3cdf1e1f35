"""Staffing-grade forecasts: reconciliation, Erlang C, grains, filters and non-additive metrics.

The reconciliation and queueing formulas are checked against independent forms (the
summing-matrix form of MinT, Erlang C's closed form); the spec paths run on a real build.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from analysis_py.analyses import _reconcile, _staffing, runner, store
from analysis_py.analyses import spec as spec_mod


def _summing_form(base, S, W):
    """MinT as usually written: S (Sᵀ W⁻¹ S)⁻¹ Sᵀ W⁻¹ ŷ."""
    Wi = np.linalg.inv(W)
    P = np.linalg.solve(S.T @ Wi @ S, S.T @ Wi)
    return base @ (S @ P).T


def test_mint_equals_the_summing_matrix_form():
    rng = np.random.default_rng(3)
    # total, a, b, c (one slicing)
    S = np.array([[1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
    base = rng.normal(50, 5, (6, 4))
    E = rng.normal(0, 1, (40, 4)) * np.array([4.0, 1.0, 2.0, 0.5])
    W = _reconcile.shrink_cov(E) + 1e-9 * np.eye(4)
    got = _reconcile.reconcile(base, [[1, 2, 3]], method="mint", errors=E)
    assert got == pytest.approx(_summing_form(base, S, W), rel=1e-8)
    assert got[:, 0] == pytest.approx(got[:, 1:].sum(axis=1), rel=1e-12)
    ols = _reconcile.reconcile(base, [[1, 2, 3]], method="ols")
    assert ols == pytest.approx(_summing_form(base, S, np.eye(4)), rel=1e-10)


def test_reconciliation_keeps_coherent_forecasts_and_moves_noisy_series_most():
    rng = np.random.default_rng(4)
    parts = rng.uniform(10, 20, (5, 4))  # a1, a2 (slicing A) and b1, b2 (slicing B)
    parts[:, 3] = parts[:, :2].sum(axis=1) - parts[:, 2]
    coherent = np.column_stack([parts[:, :2].sum(axis=1), parts])
    E = rng.normal(0, 1, (60, 5)) * np.array([8.0, 1.0, 1.0, 1.0, 1.0])
    groups = [[1, 2], [3, 4]]
    assert _reconcile.reconcile(coherent, groups, errors=E) == pytest.approx(coherent)
    noisy = coherent.copy()
    noisy[:, 0] += 6.0  # the total disagrees with both slicings
    rec = _reconcile.reconcile(noisy, groups, errors=E)
    for g in groups:
        assert rec[:, 0] == pytest.approx(rec[:, g].sum(axis=1), rel=1e-12)
    moved = np.abs(rec - noisy).mean(axis=0)
    assert moved[0] > 10 * moved[1:].mean()  # the badly forecast total absorbs the gap
    ols = _reconcile.reconcile(noisy, groups, method="ols")
    # equal weights: the gap of 6 splits as −3 on the total and +1.5 on each member
    assert (ols - noisy)[0] == pytest.approx([-3.0, 1.5, 1.5, 1.5, 1.5])
    with pytest.raises(ValueError, match="bottom_up needs exactly one slicing"):
        _reconcile.reconcile(noisy, groups, method="bottom_up")


def _erlang_c_closed(n, a):
    top = a**n / math.factorial(n) * n / (n - a)
    return top / (sum(a**k / math.factorial(k) for k in range(n)) + top)


@pytest.mark.parametrize("load", [0.4, 3.7, 10.0, 24.5])
def test_erlang_c_matches_the_closed_form(load):
    for n in range(math.floor(load) + 1, math.floor(load) + 8):
        assert _staffing.erlang_c(n, load) == pytest.approx(_erlang_c_closed(n, load), rel=1e-10)
    n, sl, occ = _staffing.agents_needed(load * 60 / 6.0, 6.0, 1.0, 0.8)
    assert sl >= 0.8 and occ == pytest.approx(load / n, abs=1e-4)
    closed = 1 - _erlang_c_closed(n - 1, load) * math.exp(-(n - 1 - load) / 6.0)
    assert n - 1 <= load or closed < 0.8  # one agent fewer misses the target


def _run(built_warehouse, tmp_path, body: dict):
    path = tmp_path / f"{body['name']}.yml"
    path.write_text(json.dumps(body))
    (spec,) = spec_mod.load([path])
    out = tmp_path / "out"
    (o,) = runner.run_specs([spec], duckdb_path=built_warehouse.duckdb_path, warehouse_dir=out)
    return o, out


def test_ratio_metric_by_two_dimensions_filtered_at_week_grain(built_warehouse, tmp_path):
    """A rate by product × channel for P1/P2 cases, weekly: runs; slices are combinations;
    periods are Mondays; a rate is not additive, so nothing is reconciled (and it says so)."""
    o, out = _run(
        built_warehouse,
        tmp_path,
        {
            "name": "fcr_weekly",
            "analysis": "forecast",
            "input": {
                "metric": "fcr_rate",
                "slices": [["case__product", "case__channel"]],
                "include_total": True,
                "grain": "week",
                "where": "{{ Dimension('case__priority') }} in ('P1', 'P2')",
            },
            "parameters": {"horizon": 8, "origins": 2, "regressors": False},
        },
    )
    assert o.status == "success", o.error
    fc = store.read_table("forecasts", out)
    assert (pd.to_datetime(fc["date"]).dt.day_of_week == 0).all()
    assert fc.groupby("slice").size().eq(8).all()
    assert any(" / " in s for s in fc["slice"]) and "all" in set(fc["slice"])
    runs = store.read_table("runs", out)
    assert "reconciliation" not in runs.loc[0, "finding"]
    assert "weeks" in runs.loc[0, "finding"]
    # the series the forecast used is the semantic layer's answer for that filter
    con = __import__("duckdb").connect(str(built_warehouse.duckdb_path), read_only=True)
    last_week = con.execute(
        """
        select sum(is_first_contact_resolution::int)::double / sum(is_resolved::int) from fct_cases
        where priority in ('P1', 'P2')
          and date_trunc('week', opened_at) =
              (select max(date_trunc('week', opened_at)) from fct_cases)
        """
    ).fetchone()[0]
    from analysis_py.analyses.inputs import Inputs

    inp = Inputs.open(built_warehouse.duckdb_path)
    s = inp.metric_series(
        "fcr_rate",
        None,
        grain="week",
        filters=["{{ Dimension('case__priority') }} in ('P1', 'P2')"],
    )
    assert s["value"].iloc[-1] == pytest.approx(last_week, rel=1e-9)
    assert (s["numerator"] / s["denominator"]).iloc[-1] == pytest.approx(last_week, rel=1e-9)


def test_bottom_up_reconciliation_and_monthly_grain(built_warehouse, tmp_path):
    o, out = _run(
        built_warehouse,
        tmp_path,
        {
            "name": "monthly_bottom_up",
            "analysis": "forecast",
            "input": {
                "metric": "payments",
                "slices": ["payment__rail"],
                "include_total": True,
                "grain": "month",
            },
            "parameters": {"horizon": 3, "origins": 2, "reconcile": "bottom_up"},
        },
    )
    assert o.status == "success", o.error
    fc = store.read_table("forecasts", out)
    assert (pd.to_datetime(fc["date"]).dt.day == 1).all()
    total = fc[fc.slice == "all"].set_index("date")["forecast"]
    parts = fc[fc.slice != "all"].groupby("date")["forecast"].sum()
    assert total.to_numpy() == pytest.approx(parts.loc[total.index].to_numpy(), rel=1e-12)
    bt = store.read_table("backtest_scores", out)
    assert (bt["mase_m"] == 1).all()  # two years cannot carry a 12-month season here


def test_bad_series_inputs_are_named(built_warehouse, tmp_path):
    o, _ = _run(
        built_warehouse,
        tmp_path,
        {
            "name": "bad_filter",
            "analysis": "forecast",
            "input": {"metric": "fcr_rate", "where": "{{ Dimension('case__priorty') }} = 'P1'"},
        },
    )
    assert o.status == "failed" and "case__priorty" in o.error and "did you mean" in o.error
    with pytest.raises(Exception, match="'fortnight' is not a series grain"):
        path = tmp_path / "g.yml"
        path.write_text(
            json.dumps(
                {
                    "name": "g",
                    "analysis": "forecast",
                    "input": {"metric": "payments", "grain": "fortnight"},
                }
            )
        )
        spec_mod.load([path])


def test_hourly_forecast_of_an_inline_metric(built_warehouse, tmp_path):
    """Intraday: an inline count over a timestamp column at hour grain, the last 60 days;
    24-hour season, a week ahead, hourly periods kept in period_start."""
    o, out = _run(
        built_warehouse,
        tmp_path,
        {
            "name": "hourly_cases",
            "analysis": "forecast",
            "input": {
                "metric": "cases_by_hour",
                "mart": "fct_cases",
                "date": "opened_at",
                "value": "count",
                "grain": "hour",
                "where": "channel <> 'portal'",
            },
            "parameters": {"start": "2025-11-01", "models": ["theta", "snaive"]},
        },
    )
    assert o.status == "success", o.error
    fc = store.read_table("forecasts", out)
    ps = pd.to_datetime(fc["period_start"])
    assert len(fc) == 168 and (ps.diff().dropna() == pd.Timedelta(hours=1)).all()
    bt = store.read_table("backtest_scores", out)
    assert (bt["mase_m"] == 24).all() and (bt["horizon"] == 168).all()


@pytest.mark.parametrize(
    "inp, params, expected",
    [
        (
            {"metric": "cases_opened", "grain": "week"},
            {"staffing": True},
            "parameters.staffing: staffing tables need a day-grain forecast",
        ),
        (
            {
                "metric": "cases_opened",
                "slices": ["case__product", "case__channel"],
                "include_total": True,
            },
            {"reconcile": "bottom_up", "horizon": 14, "origins": 1},
            "parameters.reconcile: bottom_up needs exactly one slicing; use mint or ols",
        ),
    ],
    ids=["staffing_needs_days", "bottom_up_needs_one_slicing"],
)
def test_forecast_option_misuse_fails_clearly_and_writes_nothing(
    built_warehouse, tmp_path, inp, params, expected
):
    o, out = _run(
        built_warehouse,
        tmp_path,
        {"name": "misuse", "analysis": "forecast", "input": inp, "parameters": params},
    )
    assert o.status == "failed" and expected in o.error, o.error
    assert "Traceback" not in o.error
    written = sorted(p.parent.name for p in (out / "analysis").rglob("*.parquet"))
    assert written == ["runs"]
