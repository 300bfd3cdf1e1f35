"""The anomaly monitor on planted data: rates with their denominators, p95 latencies with
the volume behind them, and counts, in the retrospective and the trailing (past-only) mode.

The synthetic panels have busy weekdays and near-empty weekends, the situation where a
volume-blind detector raises its false alarms; the planted days are known.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis_py.analyses._synthetic import f1, quantile_panel, rate_panel, series_panel
from analysis_py.analyses.anomalies import Anomalies, Params, _beta_binomial_z, detect_series


def _flags(data, **kw):
    p = Params(n_jobs=1, calendar=False, incidents_mart=None, **kw)
    cells = Anomalies(data, p).fit().tables["anomalies"]
    return cells[cells.kind != "level_shift"]


MONITOR = {"mode": "trailing", "score_days": 731 - 182}


@pytest.fixture(scope="module")
def rates():
    return rate_panel(30, n_anomalies=30, seed=11)


@pytest.fixture(scope="module")
def p95():
    return quantile_panel(30, n_anomalies=30, seed=12)


def _scored_planted(planted, data, mode_kw):
    """Planted cells on days the mode scores (the trailing monitor needs 182 days first)."""
    if mode_kw.get("mode") != "trailing":
        return planted
    first = data["date"].min() + pd.Timedelta(days=182)
    return planted[pd.to_datetime(planted["date"]) >= first]


@pytest.mark.parametrize("mode_kw", [{}, MONITOR], ids=["retrospective", "trailing"])
@pytest.mark.parametrize("panel", ["rates", "p95"])
def test_rate_and_p95_monitor_recall_and_precision(request, panel, mode_kw):
    data, planted = request.getfixturevalue(panel)
    flagged = _flags(data, **mode_kw)
    score = f1(flagged, _scored_planted(planted, data, mode_kw))
    assert score["precision"] >= 0.9 and score["recall"] >= 0.9, score
    weekend = pd.to_datetime(flagged["date"]).dt.day_of_week >= 5
    assert weekend.sum() == 0, flagged[weekend]  # the planted days are weekdays
    # business size: a rate's excess is counted in units of its numerator
    if panel == "rates":
        row = flagged.iloc[0]
        assert row["excess"] == pytest.approx(
            (row["value"] - row["expected"]) * row["volume"], rel=1e-9
        )


@pytest.mark.parametrize("panel", ["rates", "p95"])
def test_a_volume_blind_detector_raises_weekend_false_alarms(request, panel):
    """The same values without their denominator or volume: what the volume-aware scoring
    is for (the issue's measurement: every non-incident flag on a quiet day)."""
    data, planted = request.getfixturevalue(panel)
    blind = data.drop(columns=[c for c in ("numerator", "denominator", "volume") if c in data])
    flagged = _flags(blind)
    score = f1(flagged, planted)
    weekend = pd.to_datetime(flagged["date"]).dt.day_of_week >= 5
    assert score["precision"] < 0.85 and weekend.sum() >= 5, score


def test_p95_days_below_the_minimum_volume_are_not_scored(p95):
    data, _ = p95
    g = data[data.slice == data.slice.iloc[0]].sort_values("date")
    r = detect_series(g["value"].to_numpy(), volume=g["volume"].to_numpy(), min_volume=30)
    low = g["volume"].to_numpy() < 30
    assert low.any() and not r["scored"][low].any() and (r["score"][low] == 0).all()


def test_counts_in_both_modes():
    data, planted, cal = series_panel(12, n_anomalies=14, seed=21)
    for kw in ({}, MONITOR):
        p = Params(n_jobs=1, incidents_mart=None, **kw)
        cells = Anomalies(data, p, calendar=cal).fit().tables["anomalies"]
        score = f1(cells[cells.kind != "level_shift"], _scored_planted(planted, data, kw))
        assert score["precision"] >= 0.9 and score["recall"] >= 0.9, (kw, score)


def test_trailing_mode_uses_only_the_past():
    """Changing the future cannot change a trailing score; it does change a centred one."""
    data, _ = rate_panel(1, n_anomalies=1, seed=3)
    g = data.sort_values("date")
    num, den = g["numerator"].to_numpy(), g["denominator"].to_numpy()
    n = len(num)
    kw = {"numerator": num, "denominator": den, "mode": "trailing", "score_days": 300}
    a = detect_series(g["value"].to_numpy(), **kw)
    num2 = num.copy()
    num2[n - 100 :] = den[n - 100 :] // 2  # the last 100 days go wild
    b = detect_series(num2 / np.maximum(den, 1), **{**kw, "numerator": num2})
    cut = n - 100
    assert np.array_equal(a["score"][:cut], b["score"][:cut])
    r1 = detect_series(g["value"].to_numpy(), numerator=num, denominator=den)
    r2 = detect_series(num2 / np.maximum(den, 1), numerator=num2, denominator=den)
    assert not np.array_equal(r1["score"][:cut], r2["score"][:cut])


def test_beta_binomial_score_against_scipy():
    from scipy import stats

    k, n, p, rho = np.array([3, 40, 12]), np.array([50, 400, 60]), 0.05, 0.01
    a, b = p * (1 / rho - 1), (1 - p) * (1 / rho - 1)
    d = stats.betabinom(n, a, b)
    mid_lower = d.cdf(k - 1) + 0.5 * d.pmf(k)
    mid_upper = d.sf(k) + 0.5 * d.pmf(k)
    expect = np.where(mid_lower < mid_upper, stats.norm.ppf(mid_lower), -stats.norm.ppf(mid_upper))
    exact = _beta_binomial_z(k, n, np.full(3, p), rho, exact_beyond=0.0)
    assert exact == pytest.approx(expect, rel=1e-9)
    # by default the exact tail is used where a flag is possible (moment |z| ≥ 2.5)
    fast = _beta_binomial_z(k, n, np.full(3, p), rho)
    far = np.abs(fast) >= 2.5
    assert fast[far] == pytest.approx(expect[far], rel=1e-9) and (np.abs(expect[~far]) < 4).all()


def test_flags_carry_incident_and_calendar_context():
    days = pd.date_range("2025-01-01", periods=200, freq="D")
    rng = np.random.default_rng(0)
    y = rng.poisson(np.where(days.day_of_week >= 5, 30, 300)).astype(float)
    y[148] *= 3
    data = pd.DataFrame({"metric": "m", "slice": "a", "date": days, "value": y})
    inc = pd.DataFrame(
        {
            "_start": [days[148] + pd.Timedelta(hours=3)],
            "_end": [days[148] + pd.Timedelta(hours=9)],
            "incident_id": ["INC0001"],
            "severity": ["SEV2"],
        }
    )
    cells = (
        Anomalies(data, Params(n_jobs=1, calendar=False), incidents=inc).fit().tables["anomalies"]
    )
    row = cells[pd.to_datetime(cells["date"]) == days[148]].iloc[0]
    assert row["context"] == "incident INC0001 SEV2"
    assert row["excess"] == pytest.approx(row["value"] - row["expected"])
