"""The bulk methods on synthetic series with known truth (fast; no warehouse needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis_py.analyses._synthetic import f1, series_panel
from analysis_py.analyses.anomalies import Anomalies, trailing_zscore
from analysis_py.analyses.anomalies import Params as AnomalyParams
from analysis_py.analyses.forecast import Forecast, forecast_series
from analysis_py.analyses.forecast import Params as ForecastParams
from analysis_py.errors import InputError


@pytest.fixture(scope="module")
def panel():
    return series_panel(40, n_anomalies=30, seed=4)


def test_anomalies_f1_beats_trailing_zscore(panel):
    data, planted, cal = panel
    res = Anomalies(data, AnomalyParams(n_jobs=1), calendar=cal).fit()
    cells = res.tables["anomalies"]
    ours = f1(cells[cells.kind != "level_shift"], planted)
    rows = []
    for (m, s), g in data.groupby(["metric", "slice"]):
        z = trailing_zscore(g["value"].to_numpy(), window=8, seasonality="day_of_week")
        rows += [(m, s, d) for d in g["date"].to_numpy()[z["flag"]]]
    base = f1(pd.DataFrame(rows, columns=["metric", "slice", "date"]), planted)
    assert ours["f1"] >= 0.85, ours
    assert ours["f1"] > base["f1"] + 0.2, (ours, base)
    flagged = cells[cells.kind != "level_shift"]
    # the expected value of a spike is close to the level without it
    spikes = flagged[flagged.kind == "spike"]
    assert ((spikes["value"] / spikes["expected"].clip(lower=1)).median()) == pytest.approx(
        3.0, rel=0.3
    )


def test_anomalies_find_a_level_shift():
    rng = np.random.default_rng(0)
    days = pd.date_range("2024-01-01", periods=400, freq="D")
    mu = np.where(days < "2024-09-01", 200, 320) * np.where(days.day_of_week >= 5, 0.3, 1.0)
    data = pd.DataFrame({"metric": "m", "slice": "a", "date": days, "value": rng.poisson(mu)})
    cells = Anomalies(data, AnomalyParams(n_jobs=1)).fit().tables["anomalies"]
    shifts = cells[cells.kind == "level_shift"]
    assert len(shifts) >= 1
    assert abs((pd.Timestamp(shifts.iloc[0]["date"]) - pd.Timestamp("2024-09-01")).days) <= 7


def test_forecast_beats_seasonal_naive_on_synthetic():
    data, _, cal = series_panel(6, n_anomalies=0, seed=5)
    res = Forecast(data, ForecastParams(n_jobs=1), calendar=cal).fit()
    bt = res.tables["backtest_scores"]
    chosen, naive = bt[bt.is_chosen], bt[bt.model == "snaive"]
    assert chosen["smape"].mean() < 0.85 * naive["smape"].mean()
    assert chosen["mase"].mean() < naive["mase"].mean()
    assert 0.6 <= chosen["coverage_80"].mean() <= 1.0
    assert 0.8 <= chosen["coverage_95"].mean() <= 1.0


def test_forecast_series_rejects_short_and_constant():
    with pytest.raises(InputError, match="too short: 50 days"):
        forecast_series(np.arange(50.0))
    with pytest.raises(InputError, match="constant"):
        forecast_series(np.full(200, 3.0))
    with pytest.raises(InputError, match="entirely null"):
        forecast_series(np.full(200, np.nan))
