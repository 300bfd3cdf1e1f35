"""Anomalies in metric × slice daily series: STL + calendar + robust z, and level shifts.

A day is anomalous when it departs from what the series' own trend, weekly pattern and the
known calendar (public holidays, month-end) predict by more than noise allows. Per series,
on log(1+value) for counts so a ×3 spike and a ×0.2 drop are symmetric:

1. a robust first guess (median of the same weekday over the surrounding 9 weeks) replaces
   calendar days and gross outliers, then STL (period 7, stable weekly pattern) gives the
   baseline; outliers are re-identified against it;
2. calendar effects are estimated on calendar days against that baseline (ratio scale, with
   a robust refit so an anomaly on a holiday cannot set the holiday effect), and STL is
   refitted with calendar days and outliers replaced — a quiet holiday is *expected*;
3. score: for counts, the normal score of the mid-p tail probability under a negative
   binomial around the expected value (overdispersion estimated per series) — honest for
   slices with 2 cases a day and with 2,000; otherwise a robust z (median/MAD per weekday).
   |score| ≥ threshold is flagged, with the expected value on the original scale;
4. level shifts: difference of medians of the 14 days after vs before each day on the
   de-seasonalised series, in units of its noise; local maxima above the threshold.

:func:`trailing_zscore` is the method dbt anomaly packages use (mean and standard deviation
of a trailing window, optionally of the same weekday) — kept as the comparison baseline.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from statsmodels.tsa.seasonal import STL

from analysis_py.analyses._stats import robust_z
from analysis_py.analyses.base import AnalysisResults
from analysis_py.errors import InputError

SEASONAL = 31


#: reads metric series (metric × day × slice), not a mart
INPUT = "series"


@dataclass(frozen=True)
class Params:
    """Parameters of an ``anomalies`` spec."""

    #: robust z-score beyond which a day is flagged
    threshold: float = 5.0
    period: int = 7
    #: auto | log | none
    transform: Literal["auto", "log", "none"] = "auto"
    #: public holidays and month-end from the governed date dimension as known effects
    calendar: bool = True
    level_shift_window: int = 14
    level_shift_threshold: float = 6.0
    min_length: int = 28
    start: str | None = None
    end: str | None = None
    n_jobs: int | None = None


def detect_series(
    values: np.ndarray,
    calendar: np.ndarray | None = None,
    *,
    period: int = 7,
    threshold: float = 5.0,
    transform: str = "auto",
    shift_window: int = 14,
    shift_threshold: float = 6.0,
) -> dict[str, np.ndarray]:
    """Score one daily series; returns arrays ``expected``, ``score``, ``flag`` and ``shift``."""
    y = np.asarray(values, float)
    n = len(y)
    if np.isnan(y).all():
        raise InputError("series is entirely null")
    y = pd.Series(y).interpolate(limit_direction="both").to_numpy()
    use_log = transform == "log" or (transform == "auto" and y.min() >= 0 and y.max() > 1)
    # log(y + c) with c = 5% of the typical level: quiet days with a handful of counts (a
    # weekend with 0–5 payments next to weekdays with 300) would otherwise carry log-scale
    # noise that leaks into the trend and biases weekday expectations; c ≪ y on normal days.
    c = max(1.0, 0.05 * float(np.median(y[y > 0]))) if use_log and (y > 0).any() else 1.0
    x = np.log(y + c) if use_log else y.copy()
    if np.ptp(x) == 0:
        zeros = np.zeros(n)
        return {"expected": y, "score": zeros, "flag": zeros.astype(bool), "shift": zeros}
    C = _calendar_design(calendar)
    phase = np.arange(n) % period
    is_cal = C.any(axis=1) if C is not None else np.zeros(n, bool)
    # Calendar days (holidays, month-end) and outliers are kept out of the decomposition —
    # replaced first by the median of the same weekday over the surrounding 9 weeks, then by
    # the fitted baseline — so neither a holiday dip nor a planted drop can pull down its
    # weekday's seasonal component or the local trend. Calendar effects are estimated
    # separately against that baseline; on counts they act on the ratio scale (a holiday
    # removes a share of the volume: y = base·(1 + Cγ)), which is how a mix of clients from
    # several countries adds up.
    x_med = _phase_median(np.where(is_cal, np.nan, x), period)
    out = (np.abs(_phase_z(x - x_med, phase)) >= threshold) & ~is_cal
    fit = _stl(np.where(out | is_cal, x_med, x), period).fit()
    base = fit.trend + fit.seasonal
    out = (np.abs(_phase_z(x - base, phase)) >= threshold) & ~is_cal
    cal = np.zeros(n)
    if C is not None:
        target = (y + c) / np.exp(base) - 1.0 if use_log else x - base
        coef = _robust_lstsq(C[is_cal], target[is_cal])
        cal = np.log(np.clip(1.0 + C @ coef, 0.05, None)) if use_log else C @ coef
    x_adj = x - cal
    # final pass with the outliers found against the STL baseline
    f2 = _stl(np.where(out | is_cal, base, x_adj), period).fit()
    base2 = f2.trend + f2.seasonal
    resid = x_adj - base2
    expected_x = base2 + cal
    if use_log:
        # Counts: score the tail probability under a negative binomial around the expected
        # value (overdispersion estimated from the series), so quiet days are not over-flagged.
        mu = np.maximum(np.exp(expected_x) - c, 0.5)
        phi = np.median(((y - mu) ** 2 - mu) / mu**2) / 0.455
        phi = max(float(phi), 0.0)
        score = _count_z(y, mu, phi)
        expected = np.maximum(np.exp(expected_x) - c, 0.0)
    else:
        score = _phase_z(resid, phase)
        expected = expected_x
    shift = _level_shift_scores(x_adj - f2.seasonal, resid, shift_window)
    return {
        "expected": expected,
        "score": score,
        "flag": np.abs(score) >= threshold,
        "shift": shift,
    }


def _stl(x: np.ndarray, period: int):
    """STL with a stable weekly pattern (seasonal window 31) and loess jumps for speed."""
    return STL(x, period=period, seasonal=SEASONAL, seasonal_jump=3, trend_jump=3, low_pass_jump=3)


def _calendar_design(calendar: np.ndarray | None) -> np.ndarray | None:
    """Calendar flags that vary, plus holiday × month-end interactions (they multiply)."""
    if calendar is None or not calendar.shape[1]:
        return None
    C = np.asarray(calendar, float)
    C = C[:, C.std(axis=0) > 0]
    if not C.shape[1]:
        return None
    return C


def _with_interactions(calendar: pd.DataFrame) -> pd.DataFrame:
    """Add holiday × month-end columns: the two effects multiply, they do not add."""
    hol = [c for c in calendar if "holiday" in c]
    me = [c for c in calendar if "month_end" in c]
    if not hol or not me:
        return calendar
    any_me = calendar[me].max(axis=1)
    extra = {f"{h}__x_month_end": calendar[h] * any_me for h in hol}
    return pd.concat([calendar, pd.DataFrame(extra, index=calendar.index)], axis=1)


def _robust_lstsq(A: np.ndarray, b: np.ndarray, k: float = 3.5) -> np.ndarray:
    """Least squares that drops gross outliers (an anomaly on a holiday must not set the
    holiday effect) and refits, twice."""
    keep = np.ones(len(b), bool)
    coef = np.zeros(A.shape[1])
    for _ in range(3):
        if keep.sum() < 1:
            break
        coef, *_ = np.linalg.lstsq(A[keep], b[keep], rcond=None)
        res = b - A @ coef
        scale = 1.4826 * np.median(np.abs(res[keep] - np.median(res[keep])))
        if not np.isfinite(scale) or scale == 0:
            break
        new = np.abs(res) <= k * scale
        if (new == keep).all():
            break
        keep = new
    return coef


def _count_z(y: np.ndarray, mu: np.ndarray, phi: float) -> np.ndarray:
    """Normal score of a count's mid-p tail probability under a negative binomial with mean
    ``mu`` and variance ``mu(1 + phi·mu)`` (Poisson when phi = 0).

    A Pearson residual overstates how surprising 7 cases are when 1 was expected; the tail
    probability does not, so small slices are neither over- nor under-flagged.
    """
    from scipy import stats

    yi = np.round(np.maximum(y, 0))
    if phi > 1e-9:
        n = 1.0 / phi
        p = n / (n + mu)
        dist = stats.nbinom(n, p)
    else:
        dist = stats.poisson(mu)
    pmf = dist.pmf(yi)
    lower = dist.cdf(yi - 1) + 0.5 * pmf  # P(Y < y) + ½P(Y = y)
    upper = dist.sf(yi) + 0.5 * pmf  # P(Y > y) + ½P(Y = y), exact far in the upper tail
    with np.errstate(divide="ignore"):
        z = np.where(
            lower < upper,
            stats.norm.ppf(np.maximum(lower, 1e-300)),
            -stats.norm.ppf(np.maximum(upper, 1e-300)),
        )
    return np.clip(np.nan_to_num(z, nan=0.0, posinf=40.0, neginf=-40.0), -40.0, 40.0)


def _phase_median(x: np.ndarray, period: int, weeks: int = 9) -> np.ndarray:
    """Centred rolling median of the same phase (weekday) over ``weeks`` cycles; NaNs are
    skipped and filled from the nearest value."""
    n = len(x)
    rows = -(-n // period)
    grid = np.full(rows * period, np.nan)
    grid[:n] = x
    frame = pd.DataFrame(grid.reshape(rows, period))
    med = frame.rolling(weeks, center=True, min_periods=2).median()
    med = med.ffill().bfill().to_numpy().ravel()[:n]
    if np.isnan(med).any():
        med = pd.Series(med).interpolate(limit_direction="both").fillna(np.nanmedian(x)).to_numpy()
    return med


def _phase_z(r: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Robust z within each weekday: weekend noise differs from weekday noise."""
    out = np.empty_like(r)
    for k in np.unique(phase):
        m = phase == k
        out[m] = robust_z(r[m])
    return out


def _level_shift_scores(deseason: np.ndarray, resid: np.ndarray, w: int) -> np.ndarray:
    """(median of next w days − median of previous w days) / (noise / sqrt(w))."""
    n = len(deseason)
    s = pd.Series(deseason)
    before = s.rolling(w, min_periods=w).median().shift(1).to_numpy()
    after = s[::-1].rolling(w, min_periods=w).median()[::-1].to_numpy()
    noise = 1.4826 * np.nanmedian(np.abs(resid - np.nanmedian(resid))) or np.nanstd(resid) or 1.0
    out = (after - before) / (noise * np.sqrt(np.pi / 2) * np.sqrt(2.0 / w))
    out[:w] = 0
    out[n - w + 1 :] = 0
    return np.nan_to_num(out)


def _pick_shifts(shift: np.ndarray, threshold: float, w: int) -> list[int]:
    idx = []
    a = np.abs(shift)
    order = np.argsort(-a)
    taken = np.zeros(len(a), bool)
    for i in order:
        if a[i] < threshold:
            break
        if taken[max(0, i - w) : i + w + 1].any():
            continue
        taken[i] = True
        idx.append(int(i))
    return sorted(idx)


def trailing_zscore(
    values: np.ndarray, *, window: int = 28, threshold: float = 3.0, seasonality: str | None = None
) -> dict[str, np.ndarray]:
    """The dbt-anomaly-package method: z of each day against a trailing window's mean/sd.

    ``seasonality='day_of_week'`` compares a day with the same weekday over the trailing
    ``window`` weeks (as Elementary does); otherwise with the previous ``window`` days.
    """
    y = pd.Series(np.asarray(values, float))
    if seasonality == "day_of_week":
        n = len(y)
        rows = -(-n // 7)
        grid = np.full(rows * 7, np.nan)
        grid[:n] = y.to_numpy()
        weeks = pd.DataFrame(grid.reshape(rows, 7)).shift(1)  # previous weeks, same weekday
        mean = pd.Series(weeks.rolling(window, min_periods=3).mean().to_numpy().ravel()[:n])
        sd = pd.Series(weeks.rolling(window, min_periods=3).std().to_numpy().ravel()[:n])
    else:
        mean = y.shift(1).rolling(window, min_periods=7).mean()
        sd = y.shift(1).rolling(window, min_periods=7).std()
    z = ((y - mean) / sd.replace(0, np.nan)).to_numpy()
    z = np.nan_to_num(z)
    return {"expected": mean.to_numpy(), "score": z, "flag": np.abs(z) >= threshold}


def _one(args):
    key, vals, cal, kw = args
    return key, detect_series(vals, cal, **kw)


class Anomalies:
    """Anomaly detection over a long frame ``metric, slice, date, value``."""

    def __init__(
        self,
        data: pd.DataFrame,
        params: Params = Params(),
        *,
        calendar: pd.DataFrame | None = None,
        where: str = "input",
    ):
        self.data = data
        self.params = params
        self.calendar = _with_interactions(calendar) if calendar is not None else None
        self.kw = {
            "period": params.period,
            "threshold": params.threshold,
            "transform": params.transform,
            "shift_window": params.level_shift_window,
            "shift_threshold": params.level_shift_threshold,
        }
        self.min_length = params.min_length
        self.n_jobs = params.n_jobs
        self.where = where

    def _tasks(self):
        tasks, skipped = [], []
        for (metric, slc), g in self.data.groupby(["metric", "slice"], sort=True):
            g = g.sort_values("date")
            v = g["value"].to_numpy(float)
            if len(g) < max(self.min_length, 2 * self.kw["period"] + 1):
                raise InputError(
                    f"{self.where}: series {metric}/{slc} too short ({len(g)} days, need "
                    f"≥ {max(self.min_length, 2 * self.kw['period'] + 1)})"
                )
            if np.isnan(v).all():
                raise InputError(f"{self.where}: series {metric}/{slc} is entirely null")
            cal = None
            if self.calendar is not None:
                cal = self.calendar.reindex(pd.DatetimeIndex(g["date"])).fillna(0).to_numpy(float)
            tasks.append(((metric, slc, g["date"].to_numpy(), v), v, cal, self.kw))
        return tasks, skipped

    def fit(self) -> AnalysisResults:
        tasks, _ = self._tasks()
        if not tasks:
            raise InputError(f"{self.where}: no series to analyse")
        n_jobs = self.n_jobs or (min(2, os.cpu_count() or 1) if len(tasks) >= 200 else 1)
        if n_jobs > 1:
            with ProcessPoolExecutor(n_jobs) as ex:
                results = list(ex.map(_one, tasks, chunksize=max(1, len(tasks) // (4 * n_jobs))))
        else:
            results = [_one(t) for t in tasks]
        rows, shifts = [], []
        for (metric, slc, dates, vals), r in results:
            idx = np.flatnonzero(r["flag"])
            for i in idx:
                rows.append(
                    {
                        "metric": metric,
                        "slice": slc,
                        "date": dates[i],
                        "value": vals[i],
                        "expected": r["expected"][i],
                        "score": r["score"][i],
                        "kind": "spike" if r["score"][i] > 0 else "drop",
                        "method": "stl_robust_z",
                    }
                )
            for i in _pick_shifts(r["shift"], self.kw["shift_threshold"], self.kw["shift_window"]):
                w = self.kw["shift_window"]
                shifts.append(
                    {
                        "metric": metric,
                        "slice": slc,
                        "date": dates[i],
                        "value": float(np.median(vals[i : i + w])),
                        "expected": float(np.median(vals[max(0, i - w) : i])),
                        "score": float(r["shift"][i]),
                        "kind": "level_shift",
                        "method": "median_shift",
                    }
                )
        cols = ["metric", "slice", "date", "value", "expected", "score", "kind", "method"]
        cells = pd.DataFrame(rows + shifts, columns=cols)
        cells = cells.sort_values(["metric", "slice", "date"]).reset_index(drop=True)
        n_series = len(results)
        n_days = int(sum(len(t[1]) for t in tasks))
        spikes = cells[cells.kind != "level_shift"]
        top = spikes.reindex(spikes["score"].abs().sort_values(ascending=False).index).head(3)
        tops = "; ".join(
            f"{r.metric}/{r.slice} on {pd.Timestamp(r.date):%Y-%m-%d}: {r.value:,.0f} vs {r.expected:,.0f} expected"
            for r in top.itertuples()
        )
        finding = (
            f"{len(spikes)} unusual days in {n_series} series ({n_days:,} series-days checked)"
            + (f"; the largest: {tops}" if tops else "")
            + f". {int((cells.kind == 'level_shift').sum())} lasting level shifts."
        )
        res = AnalysisResults(
            analysis="anomalies",
            title="Anomalies in daily metric series",
            finding=finding,
            method=(
                "Per series: log(1+value); STL decomposition (weekly period) with public-holiday "
                "and month-end effects regressed out; anomalous cells replaced and STL refitted; "
                f"robust z = residual / (1.4826·MAD); |z| ≥ {self.kw['threshold']} flagged. Level "
                f"shifts: {self.kw['shift_window']}-day median before/after, ≥ "
                f"{self.kw['shift_threshold']} noise units."
            ),
            assumptions=[
                "Normal behaviour is trend × weekly pattern × known calendar effects.",
                "Anomalies are rare (the median and MAD are not moved by them).",
            ],
            limitations=[
                "Effects of events not in the calendar (e.g. incidents) are reported as anomalies, which they are operationally.",
                "The first and last days of a series have less context; shifts within a window of the ends are not scored.",
            ],
            tables={"anomalies": cells},
            extra={"series": results},
        )
        res.add_measure("series", n_series, "intrinsic")
        res.add_measure("flagged_cells", len(spikes), "intrinsic")
        res.add_measure("flag_rate", len(spikes) / max(n_days, 1), "intrinsic", "share of days")
        res.plot_fns["top_anomalies"] = lambda: _plot_top(self.data, cells)
        return res


def _plot_top(data: pd.DataFrame, cells: pd.DataFrame):
    import matplotlib.pyplot as plt

    spikes = cells[cells.kind != "level_shift"]
    keys = (
        spikes.assign(a=spikes["score"].abs())
        .sort_values("a", ascending=False)[["metric", "slice"]]
        .drop_duplicates()
        .head(4)
        .itertuples(index=False)
    )
    keys = list(keys)
    fig, axes = plt.subplots(
        max(len(keys), 1), 1, figsize=(7.5, 2.0 * max(len(keys), 1)), squeeze=False
    )
    for ax, (metric, slc) in zip(axes[:, 0], keys, strict=False):
        g = data[(data.metric == metric) & (data.slice == slc)].sort_values("date")
        ax.plot(g["date"], g["value"], lw=0.7, color="#1f4e79")
        c = spikes[(spikes.metric == metric) & (spikes.slice == slc)]
        ax.plot(c["date"], c["value"], "o", color="#c0504d", ms=5)
        ax.set_title(f"{metric} / {slc}", fontsize=9)
    fig.tight_layout()
    return fig


def run(inputs, spec) -> AnalysisResults:
    p: Params = spec.params()
    data = inputs.spec_series(spec)
    calendar = inputs.calendar() if p.calendar else None
    return Anomalies(data, p, calendar=calendar, where=f"spec '{spec.name}': input").fit()
