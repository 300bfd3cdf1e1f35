"""Synthetic daily metric series with known anomalies, for benchmarks and unit tests.

Shaped like the warehouse's metric × slice series (two years, weekday pattern with quiet
weekends, growth, public holidays, month-end uplift, Poisson counts), so the benchmark
measures the methods on the problem they are built for while the planted cells are known.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def calendar(start: str = "2024-01-01", end: str = "2025-12-31") -> pd.DataFrame:
    """Holiday flags for the five client countries and a month-end flag (last 2 weekdays)."""
    import holidays

    days = pd.date_range(start, end, freq="D")
    out = pd.DataFrame(index=days)
    for cc in ("US", "GB", "HK", "SG", "IN"):
        hol = holidays.country_holidays(cc, years=sorted({d.year for d in days}))
        out[f"is_holiday_{cc.lower()}"] = np.array([d in hol for d in days.date], dtype=float)
    wk = days.day_of_week < 5
    ym = days.to_period("M")
    me = np.zeros(len(days))
    frame = pd.DataFrame({"wk": wk, "ym": ym})
    for _, g in frame[frame.wk].groupby("ym"):
        me[g.index[-2:]] = 1.0
    out["is_month_end_business_day"] = me
    out.index.name = "date"
    return out


def series_panel(
    n_series: int = 500,
    *,
    start: str = "2024-01-01",
    end: str = "2025-12-31",
    n_anomalies: int = 240,
    seed: int = 0,
    calendar_effects: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(long frame metric/slice/date/value, planted cells, calendar).

    ``calendar_effects=False`` leaves out holidays and month-end (weekly pattern only)."""
    rng = np.random.default_rng(seed)
    cal = calendar(start, end)
    days = cal.index
    n = len(days)
    t = np.arange(n) / 365.0
    weekend = days.day_of_week >= 5
    frames = []
    # country mix per series: share of volume from each country's clients
    shares = rng.dirichlet(np.ones(5), size=n_series)
    hol = cal[[c for c in cal if c.startswith("is_holiday_")]].to_numpy()
    if not calendar_effects:
        hol = np.zeros_like(hol)
    level = np.exp(rng.uniform(np.log(20), np.log(2000), n_series))
    growth = rng.uniform(-0.1, 0.4, n_series)
    wk_factor = rng.uniform(0.1, 0.5, n_series)
    me_uplift = rng.choice([0.0, 0.25], n_series) * (1.0 if calendar_effects else 0.0)
    mult = np.ones((n_series, n))
    cells = []
    picks = rng.choice(n_series * (n - 60), n_anomalies, replace=False)
    for p in picks:
        s, d = divmod(int(p), n - 60)
        d += 30
        kind = "spike" if rng.random() < 0.5 else "drop"
        mult[s, d] = 3.0 if kind == "spike" else 0.2
        cells.append({"metric": "m", "slice": f"s{s:04d}", "date": days[d], "kind": kind})
    for s in range(n_series):
        mu = level[s] * (1 + growth[s] * t)
        mu = mu * np.where(weekend, wk_factor[s], 1.0)
        mu = mu * (1 - 0.7 * (hol @ shares[s]))
        mu = mu * (1 + me_uplift[s] * cal["is_month_end_business_day"].to_numpy())
        y = rng.poisson(mu * mult[s]).astype(float)
        frames.append(pd.DataFrame({"metric": "m", "slice": f"s{s:04d}", "date": days, "value": y}))
    return pd.concat(frames, ignore_index=True), pd.DataFrame(cells), cal


def f1(flagged: pd.DataFrame, planted: pd.DataFrame) -> dict[str, float]:
    """Precision, recall and F1 of flagged (metric, slice, date) cells against planted ones."""
    key = ["metric", "slice", "date"]
    f = set(
        map(
            tuple, flagged[key].assign(date=pd.to_datetime(flagged["date"])).itertuples(index=False)
        )
    )
    p = set(
        map(
            tuple, planted[key].assign(date=pd.to_datetime(planted["date"])).itertuples(index=False)
        )
    )
    tp = len(f & p)
    prec = tp / len(f) if f else 0.0
    rec = tp / len(p) if p else 0.0
    return {
        "precision": prec,
        "recall": rec,
        "f1": 2 * prec * rec / (prec + rec) if tp else 0.0,
        "tp": tp,
        "flagged": len(f),
        "planted": len(p),
    }
