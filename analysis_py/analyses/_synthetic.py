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


def _plant(rng, n_series, start, end, n_anomalies, spike, drop, margin=30):
    """Days, the weekday mask, planted (series, day, kind) cells — on weekdays away from the
    ends, at most one per day and series — and the multiplier matrix they set."""
    days = pd.date_range(start, end, freq="D")
    n = len(days)
    weekday = days.day_of_week < 5
    cells = set()
    while len(cells) < n_anomalies:
        srs, d = int(rng.integers(n_series)), int(rng.integers(margin, n - margin))
        if weekday[d]:
            cells.add((srs, d, "spike" if rng.random() < 0.5 else "drop"))
    cells = sorted(cells)
    mult = np.ones((n_series, n))
    for srs, d, kind in cells:
        mult[srs, d] = spike if kind == "spike" else drop
    return days, weekday, cells, mult


def rate_panel(
    n_series: int = 40, *, start: str = "2024-01-01", end: str = "2025-12-31",
    n_anomalies: int = 30, seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """A failure rate per slice with its denominator: thousands of payments on weekdays, a
    few dozen on weekends and holidays, day-to-day over-dispersion (beta-binomial, ρ = 0.0005);
    planted days multiply the rate by 3 (spike) or 0.25 (drop) on weekdays. Returns (frame
    with value = numerator / denominator, planted cells)."""
    rng = np.random.default_rng(seed)
    days, weekday, cells, mult = _plant(rng, n_series, start, end, n_anomalies, 3.0, 0.25)
    n = len(days)
    frames = []
    rho = 0.0005
    for srs in range(n_series):
        level = rng.uniform(1500, 8000)
        den = rng.poisson(level * np.where(weekday, 1.0, rng.uniform(0.005, 0.03)))
        p = rng.uniform(0.03, 0.1) * (1 + 0.1 * np.sin(np.arange(n) / 58.0)) * mult[srs]
        a, b = p * (1 / rho - 1), (1 - p) * (1 / rho - 1)
        num = rng.binomial(den, rng.beta(a, b))
        with np.errstate(invalid="ignore", divide="ignore"):
            value = np.where(den > 0, num / np.maximum(den, 1), np.nan)
        frames.append(
            pd.DataFrame(
                {
                    "metric": "failure_rate",
                    "slice": f"r{srs:03d}",
                    "date": days,
                    "value": value,
                    "numerator": num.astype(float),
                    "denominator": den.astype(float),
                }
            )
        )
    planted = pd.DataFrame(
        [{"metric": "failure_rate", "slice": f"r{s:03d}", "date": days[d], "kind": k}
         for s, d, k in cells]
    )  # fmt: skip
    return pd.concat(frames, ignore_index=True), planted


def quantile_panel(
    n_series: int = 40, *, start: str = "2024-01-01", end: str = "2025-12-31",
    n_anomalies: int = 30, q: float = 0.95, seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """A p95 latency per slice with the request volume behind it: 500–5,000 requests on
    weekdays, 5–60 on weekends; latencies log-normal (σ = 0.6), the day's p95 drawn exactly
    as the order statistic of its sample (Beta(k, n − k + 1) quantile); planted days scale
    every latency by 1.6 (spike) or 0.6 (drop) on weekdays."""
    from scipy import stats

    rng = np.random.default_rng(seed)
    days, weekday, cells, mult = _plant(rng, n_series, start, end, n_anomalies, 1.6, 0.6)
    n = len(days)
    frames = []
    for srs in range(n_series):
        vol = rng.poisson(
            np.where(weekday, rng.uniform(500, 5000), rng.uniform(5, 60))
        ).astype(float)  # fmt: skip
        k = np.maximum(np.ceil(q * vol), 1)
        u = rng.beta(k, np.maximum(vol - k + 1, 1))
        mu = np.log(rng.uniform(80, 400)) + 0.05 * np.sin(np.arange(n) / 40.0)
        p95 = np.exp(mu + 0.6 * stats.norm.ppf(u)) * mult[srs]
        p95 = np.where(vol > 0, p95, np.nan)
        frames.append(
            pd.DataFrame(
                {
                    "metric": "p95_latency",
                    "slice": f"q{srs:03d}",
                    "date": days,
                    "value": p95,
                    "volume": vol,
                }
            )
        )
    planted = pd.DataFrame(
        [{"metric": "p95_latency", "slice": f"q{s:03d}", "date": days[d], "kind": k}
         for s, d, k in cells]
    )  # fmt: skip
    return pd.concat(frames, ignore_index=True), planted


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
