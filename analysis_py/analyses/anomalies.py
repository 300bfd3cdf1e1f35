"""Anomalies in metric × slice daily series, by volume: counts, rates and percentiles; a monitor.

A day is anomalous when it departs from what the series' own trend, weekly pattern and the
known calendar (public holidays, month-end) predict by more than its noise allows — and its
noise depends on what it rests on:

* **counts** (log(y + c)): a robust first guess (median of the same weekday over the
  surrounding 9 weeks) replaces calendar days and gross outliers, STL (period 7, stable
  weekly pattern) gives the baseline, calendar effects are estimated on calendar days against
  it (ratio scale, robust refit), STL is refitted, and the score is the normal score of the
  mid-p tail probability under a negative binomial around the expected value (over-dispersion
  estimated per series) — honest for slices with 2 cases a day and with 2,000;
* **rates** with their numerator and denominator: the numerator's beta-binomial tail around
  the same weekday's pooled rate over the reference weeks, so a weekend with 40 payments cannot
  raise an alarm that 4,000 would;
* **percentiles and averages** with the rows behind them: log value against the same
  weekday's median, residuals weighted by √(volume / typical volume); days below a minimum
  volume are not scored;
* **level shifts**: difference of medians of the 14 days after vs before each day on the
  de-seasonalised series, in units of its noise (retrospective mode).

``mode='trailing'`` scores the latest days against baselines fitted on earlier days only (the
daily monitor); ``retrospective`` uses context on both sides. :func:`trailing_zscore` is the
method dbt anomaly packages use (mean and standard deviation of a trailing window, optionally
of the same weekday) — kept as the comparison baseline.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from statsmodels.tsa.seasonal import STL

from analysis_py.analyses._plots import series_grid
from analysis_py.analyses._stats import robust_z
from analysis_py.analyses.base import AnalysisResults
from analysis_py.errors import InputError

SEASONAL = 31
#: pseudo-trials at the overall rate added to a rate's reference (see ``_rate_scores``)
PRIOR_TRIALS = 30.0


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
    #: retrospective (every day, centred context) | trailing (latest days, past data only)
    mode: Literal["retrospective", "trailing"] = "retrospective"
    #: trailing: days scored against one baseline (Elementary's detection period)
    detection_days: int = 7
    #: trailing: how many latest days to score (default: one detection period)
    score_days: int | None = None
    #: trailing: training days before each detection period (at most / at least)
    max_train: int = 364
    min_train: int = 182
    #: percentiles and averages: days with fewer rows behind them are not scored
    min_volume: float = 30.0
    #: … nor days below this share of the series' median volume
    min_volume_share: float = 0.2
    #: a governed mart of incidents; those overlapping a flagged day become its context
    incidents_mart: str | None = None
    incident_start: str = "started_at"
    incident_end: str = "resolved_at"
    incident_columns: list[str] = field(
        default_factory=lambda: ["incident_id", "severity", "service", "affected_product"]
    )
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
    numerator: np.ndarray | None = None,
    denominator: np.ndarray | None = None,
    volume: np.ndarray | None = None,
    min_volume: float = 30.0,
    min_volume_share: float = 0.2,
    mode: str = "retrospective",
    detection_days: int = 7,
    score_days: int | None = None,
    max_train: int = 364,
    min_train: int = 182,
) -> dict[str, np.ndarray]:
    """Score one daily series; returns arrays ``expected``, ``score``, ``flag``, ``shift`` and
    ``scored`` (the days that were scored), and the series ``kind``.

    Three kinds: a **rate** with its numerator and denominator (beta-binomial tail score, so
    a weekend with 40 payments cannot raise an alarm that 4,000 would); a value with a
    **volume** behind it (a percentile or average: volume-weighted robust z, days below the
    minimum volume not scored); otherwise a **count** or plain value (STL + calendar, negative
    binomial tail for counts). ``mode='trailing'`` scores the last ``score_days`` days (default
    ``detection_days``) in blocks of ``detection_days``, each against a baseline fitted on
    the days before the block only — what a daily monitor can know; ``retrospective`` scores
    every day with context on both sides (centred windows).
    """
    y = np.asarray(values, float)
    n = len(y)
    if np.isnan(y).all():
        raise InputError("series is entirely null")
    if mode not in ("retrospective", "trailing"):
        raise InputError(f"mode '{mode}' must be retrospective or trailing")
    trailing = mode == "trailing"
    todo = min(n, score_days or detection_days) if trailing else n
    scored = np.zeros(n, bool)
    scored[n - todo :] = True
    blocks = (
        [(s0, min(n, s0 + detection_days)) for s0 in range(n - todo, n, detection_days)]
        if trailing
        else None
    )
    if numerator is not None and denominator is not None:
        out = _rate_scores(
            np.asarray(numerator, float),
            np.asarray(denominator, float),
            period,
            trailing,
            blocks=blocks,
        )
        kind = "rate"
    elif volume is not None:
        out = _weighted_scores(
            y,
            np.asarray(volume, float),
            period,
            trailing,
            min_volume,
            min_volume_share,
            blocks=blocks,
        )
        kind = "volume_weighted"
    else:
        y = pd.Series(y).interpolate(limit_direction="both").to_numpy()
        if not trailing:
            out = _count_fit(y, calendar, period, threshold, transform, shift_window)
        else:
            mask = np.ones(n, bool)
            out = {
                "expected": np.full(n, np.nan),
                "score": np.zeros(n),
                "shift": np.zeros(n),
                "mask": mask,
            }
            for s0, s1 in blocks:
                lo = max(0, s0 - max_train)
                if s0 - lo < max(min_train, 4 * period):
                    mask[s0:s1] = False  # too little history for a baseline: not scored
                    continue
                cal_tr = None if calendar is None else calendar[lo:s1]
                fit = _count_fit(
                    y[lo:s0],
                    None if cal_tr is None else cal_tr[: s0 - lo],
                    period,
                    threshold,
                    transform,
                    shift_window,
                    future=cal_tr,
                    horizon=s1 - s0,
                    actual=y[s0:s1],
                )
                out["expected"][s0:s1] = fit["future_expected"]
                out["score"][s0:s1] = fit["future_score"]
                if cal_tr is not None:
                    # a calendar effect seen fewer than 3 times in training cannot be expected:
                    # such days are not scored (rather than flagged for being a holiday)
                    seen = (cal_tr[: s0 - lo] > 0).sum(axis=0)
                    unseen = ((cal_tr[s0 - lo :] > 0) & (seen < 3)).any(axis=1)
                    mask[s0:s1] &= ~unseen
        kind = "count" if out.get("counts", True) else "value"
    if trailing:  # a baseline needs min_train days of history before its block
        for s0, s1 in blocks:
            if s0 < max(min_train, 4 * period):
                scored[s0:s1] = False
    score = np.where(scored & out.get("mask", np.ones(n, bool)), out["score"], 0.0)
    shift = out["shift"] if not trailing else np.zeros(n)
    return {
        "expected": out["expected"],
        "score": score,
        "flag": np.abs(score) >= threshold,
        "shift": shift,
        "scored": scored & out.get("mask", np.ones(n, bool)),
        "kind": kind,
    }


def _count_fit(
    y, calendar, period, threshold, transform, shift_window, *, future=None, horizon=0, actual=None
):
    """The retrospective core for counts and plain values; with ``future`` calendar rows and
    ``actual`` values, also the expected values and scores of the ``horizon`` days after."""
    n = len(y)
    use_log = transform == "log" or (transform == "auto" and y.min() >= 0 and y.max() > 1)
    # log(y + c) with c = 5% of the typical level: quiet days with a handful of counts (a
    # weekend with 0–5 payments next to weekdays with 300) would otherwise carry log-scale
    # noise that leaks into the trend and biases weekday expectations; c ≪ y on normal days.
    c = max(1.0, 0.05 * float(np.median(y[y > 0]))) if use_log and (y > 0).any() else 1.0
    x = np.log(y + c) if use_log else y.copy()
    if np.ptp(x) == 0:
        zeros = np.zeros(n)
        out = {"expected": y, "score": zeros, "shift": zeros, "counts": use_log}
        if horizon:
            out["future_expected"] = np.full(horizon, y[-1])
            out["future_score"] = np.zeros(horizon)
        return out
    C_all = _calendar_design(
        None
        if calendar is None
        else (calendar if future is None else np.vstack([calendar, future[n:]]))
    )
    C = None if C_all is None else C_all[:n]
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
    coef = None
    if C is not None and is_cal.any():
        target = (y + c) / np.exp(base) - 1.0 if use_log else x - base
        coef = _robust_lstsq(C[is_cal], target[is_cal])
        cal = np.log(np.clip(1.0 + C @ coef, 0.05, None)) if use_log else C @ coef
    x_adj = x - cal
    # final pass with the outliers found against the STL baseline
    f2 = _stl(np.where(out | is_cal, base, x_adj), period).fit()
    base2 = f2.trend + f2.seasonal
    resid = x_adj - base2
    expected_x = base2 + cal
    phi = 0.0
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
    res = {
        "expected": expected,
        "score": score,
        "shift": _level_shift_scores(x_adj - f2.seasonal, resid, shift_window),
        "counts": use_log,
    }
    if horizon:
        # the baseline carried forward: last trend level, last cycle's weekday pattern, and
        # the calendar effects estimated on the training days
        steps = np.arange(n, n + horizon)
        seas = np.asarray(f2.seasonal)[n - period + (steps - n) % period]
        # level: median of the last two cycles' de-seasonalised values (not the loess trend's
        # last point, which is unstable at the end), calendar days and outliers left out
        tail = slice(n - 2 * period, n)
        level_x = (x_adj - np.asarray(f2.seasonal))[tail][~(out | is_cal)[tail]]
        level = float(np.median(level_x)) if len(level_x) else float(np.asarray(f2.trend)[-1])
        fx = level + seas
        if coef is not None and C_all is not None:
            Cf = C_all[n : n + horizon]
            fx = fx + (np.log(np.clip(1.0 + Cf @ coef, 0.05, None)) if use_log else Cf @ coef)
        if use_log:
            mu_f = np.maximum(np.exp(fx) - c, 0.5)
            res["future_expected"] = np.maximum(np.exp(fx) - c, 0.0)
            res["future_score"] = _count_z(actual, mu_f, phi)
        else:
            res["future_expected"] = fx
            scale = 1.4826 * np.median(np.abs(resid - np.median(resid))) or np.std(resid) or 1.0
            res["future_score"] = (actual - fx) / scale
    return res


def _phase_stack(x: np.ndarray, period: int, lags) -> np.ndarray:
    """Rows: ``x`` shifted by each lag in cycles (positive = earlier days), NaN where out of
    range — the same weekday in other weeks, aligned with each day."""
    n = len(x)
    out = np.full((len(lags), n), np.nan)
    for row, j in enumerate(lags):
        lag = j * period
        if 0 < lag < n:
            out[row, lag:] = x[:-lag]
        elif -n < lag < 0:
            out[row, :lag] = x[-lag:]
    return out


def _beta_binomial_z(k, n, p, rho, exact_beyond: float = 2.5):
    """Normal score of the mid-p tail probability of ``k`` successes in ``n`` trials under a
    beta-binomial with mean ``p`` and intra-class correlation ``rho`` (binomial at 0).

    The exact tail (scipy) is computed where it matters — days whose moment z is beyond
    ``exact_beyond`` or with few trials; elsewhere the moment z is the score (it is far from
    any threshold there, and the exact CDF costs O(n) per day)."""
    from scipy import stats

    p = np.clip(np.broadcast_to(p, np.shape(k)).astype(float), 1e-6, 1 - 1e-6)
    n = np.maximum(np.round(n), 0).astype(int)
    k = np.clip(np.round(k), 0, n)
    var = n * p * (1 - p) * (1 + np.maximum(n - 1, 0) * rho)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(var > 0, (k - n * p) / np.sqrt(var), 0.0)
    idx = np.flatnonzero((n > 0) & ((np.abs(z) >= exact_beyond) | (n <= 50)))
    if len(idx):
        ki, ni, pi = k[idx], n[idx], p[idx]
        if rho > 1e-9:
            dist = stats.betabinom(ni, pi * (1 / rho - 1), (1 - pi) * (1 / rho - 1))
        else:
            dist = stats.binom(ni, pi)
        pmf = dist.pmf(ki)
        lower = dist.cdf(ki - 1) + 0.5 * pmf
        upper = dist.sf(ki) + 0.5 * pmf
        with np.errstate(divide="ignore", invalid="ignore"):
            z[idx] = np.where(
                lower < upper,
                stats.norm.ppf(np.maximum(lower, 1e-300)),
                -stats.norm.ppf(np.maximum(upper, 1e-300)),
            )
    z = np.where(n > 0, z, 0.0)
    return np.clip(np.nan_to_num(z, nan=0.0, posinf=40.0, neginf=-40.0), -40.0, 40.0)


def _overdispersion(num, den, p) -> float:
    """Intra-class correlation ρ between days, by moments: E[(k − np)² / np(1 − p)] =
    1 + (n − 1)ρ; the top 2% of days are left out so anomalies cannot set it."""
    var = den * p * (1 - p)
    ok = (den > 1) & (var > 0) & np.isfinite(p)
    if ok.sum() < 10:
        return 0.0
    r = (num[ok] - den[ok] * p[ok]) ** 2 / var[ok]
    keep = r <= np.quantile(r, 0.98)
    return float(np.clip(np.sum(r[keep] - 1) / max(np.sum(den[ok][keep] - 1), 1.0), 0.0, 0.5))


def _rate_scores(num, den, period, trailing, k=4, blocks=None):
    """A rate scored with its denominator: the expected rate is the same weekday's pooled
    numerator / denominator over the reference weeks (the ``k`` before and after, or the
    ``2k`` before when trailing), with reference days that are themselves outliers left out
    (so one anomaly cannot shift the next weeks' expectation); over-dispersion between days is
    estimated from the series."""
    n = len(num)
    num, den = np.nan_to_num(num), np.nan_to_num(den)
    lags = range(1, 2 * k + 1) if trailing else [*range(1, k + 1), *range(-k, 0)]
    N = np.nan_to_num(_phase_stack(num, period, lags))
    D = np.nan_to_num(_phase_stack(den, period, lags))
    # what the reference may use: all days (retrospective) or those before the first block
    seen = n if blocks is None else blocks[0][0]
    overall = num[:seen].sum() / max(den[:seen].sum(), 1e-12)
    keep = np.ones_like(D, bool)
    for _ in range(3):
        # 30 pseudo-trials at the series' overall rate: a reference of a few quiet days (a
        # series' first weekends) cannot claim a rate of exactly 0; thousands of trials
        # are not moved by it
        sd = (D * keep).sum(axis=0) + PRIOR_TRIALS
        p = ((N * keep).sum(axis=0) + PRIOR_TRIALS * overall) / sd
        rho = _overdispersion(num[:seen], den[:seen], p[:seen])
        var = D * p * (1 - p) * (1 + np.maximum(D - 1, 0) * rho)
        with np.errstate(invalid="ignore", divide="ignore"):
            zref = np.where(var > 0, (N - D * p) / np.sqrt(var), 0.0)
        new = np.abs(zref) <= 4.0
        if (new == keep).all():
            break
        keep = new
    if blocks is None:
        score = _beta_binomial_z(num, den, p, rho)
    else:  # trailing: over-dispersion from the days before each block only
        score = np.zeros(n)
        for s0, s1 in blocks:
            rho_b = _overdispersion(num[:s0], den[:s0], p[:s0])
            score[s0:s1] = _beta_binomial_z(num[s0:s1], den[s0:s1], p[s0:s1], rho_b)
    return {"expected": p, "score": score, "shift": np.zeros(n), "mask": den > 0}


def _weighted_scores(y, vol, period, trailing, min_volume, min_share, k=4, blocks=None):
    """A percentile or average with the volume behind each day: its log against the same
    weekday's median over the reference weeks (the ``k`` before and after, or the ``2k``
    before when trailing); residuals weighted by √(volume / typical volume), since the sampling
    error of a quantile or a mean shrinks as 1/√n; days below the minimum volume (absolute, or
    a share of the series' median volume) are not scored."""
    n = len(y)
    log = bool(np.nanmin(y) > 0)
    x = np.log(np.where(y > 0, y, np.nan)) if log else y.astype(float)
    v = np.nan_to_num(vol)
    # trailing: typical volume and noise scale from the days before each block only
    past = [slice(0, n)] if blocks is None else [slice(0, s0) for s0, _ in blocks]
    first = v[: (n if blocks is None else blocks[0][0])]
    typical = np.full(n, float(np.median(first[first > 0])) if (first > 0).any() else 1.0)
    for (s0, s1), pst in zip(blocks or [(0, n)], past, strict=True):
        vp = v[pst]
        typical[s0:s1] = float(np.median(vp[vp > 0])) if (vp > 0).any() else 1.0
    mask = (v >= min_volume) & (v >= min_share * typical) & np.isfinite(x)
    xm = np.where(mask, x, np.nan)
    lags = range(1, 2 * k + 1) if trailing else [*range(1, k + 1), *range(-k, 0)]
    stack = _phase_stack(xm, period, lags)
    enough = np.sum(np.isfinite(stack), axis=0) >= 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: no reference
        ref = np.where(enough, np.nanmedian(stack, axis=0), np.nan)
    r = (x - ref) * np.sqrt(np.clip(v / typical, 0.0, None))
    ok = mask & np.isfinite(r)
    expected = np.exp(ref) if log else ref
    score = np.zeros(n)
    for (s0, s1), pst in zip(blocks or [(0, n)], past, strict=True):
        rp = r[pst][ok[pst]]
        if len(rp) < 10:
            ok[s0:s1] = False
            continue
        med_r = float(np.median(rp))
        scale = 1.4826 * float(np.median(np.abs(rp - med_r))) or float(np.std(rp)) or 1.0
        score[s0:s1] = np.where(ok[s0:s1], (r[s0:s1] - med_r) / scale, 0.0)
    return {"expected": expected, "score": score, "shift": np.zeros(n), "mask": ok}


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
    key, vals, cal, kw, extra = args
    return key, detect_series(vals, cal, **kw, **extra)


class Anomalies:
    """Anomaly detection over a long frame ``metric, slice, date, value`` (with
    ``numerator``/``denominator`` for rates and ``volume`` for percentiles and averages)."""

    def __init__(
        self,
        data: pd.DataFrame,
        params: Params = Params(),
        *,
        calendar: pd.DataFrame | None = None,
        incidents: pd.DataFrame | None = None,
        where: str = "input",
    ):
        self.data = data
        self.params = params
        self.raw_calendar = calendar
        self.calendar = _with_interactions(calendar) if calendar is not None else None
        self.incidents = incidents
        self.kw = {
            "period": params.period,
            "threshold": params.threshold,
            "transform": params.transform,
            "shift_window": params.level_shift_window,
            "shift_threshold": params.level_shift_threshold,
            "min_volume": params.min_volume,
            "min_volume_share": params.min_volume_share,
            "mode": params.mode,
            "detection_days": params.detection_days,
            "score_days": params.score_days,
            "max_train": params.max_train,
            "min_train": params.min_train,
        }
        self.min_length = params.min_length
        self.n_jobs = params.n_jobs
        self.where = where

    def _tasks(self):
        tasks = []
        need = max(self.min_length, 2 * self.kw["period"] + 1)
        for (metric, slc), g in self.data.groupby(["metric", "slice"], sort=True):
            g = g.sort_values("date")
            v = g["value"].to_numpy(float)
            if len(g) < need:
                raise InputError(
                    f"{self.where}: series {metric}/{slc} too short ({len(g)} days, need ≥ {need})"
                )
            if np.isnan(v).all():
                raise InputError(f"{self.where}: series {metric}/{slc} is entirely null")
            cal = None
            if self.calendar is not None:
                cal = self.calendar.reindex(pd.DatetimeIndex(g["date"])).fillna(0).to_numpy(float)
            extra = {}
            if {"numerator", "denominator"} <= set(g) and g["denominator"].notna().any():
                extra = {
                    "numerator": g["numerator"].to_numpy(float),
                    "denominator": g["denominator"].to_numpy(float),
                }
            elif "volume" in g and g["volume"].notna().any():
                extra = {"volume": g["volume"].to_numpy(float)}
            size = extra.get("denominator", extra.get("volume", v))
            tasks.append(((metric, slc, g["date"].to_numpy(), v, size), v, cal, self.kw, extra))
        return tasks

    def _context(self, day: pd.Timestamp) -> str:
        """Calendar and incidents of a day, in words."""
        parts = []
        if day.day_of_week >= 5:
            parts.append("weekend")
        if self.raw_calendar is not None and day in self.raw_calendar.index:
            row = self.raw_calendar.loc[day]
            on = [c for c in row.index if row[c] > 0]
            for prefix, words in (("is_holiday", "public holiday"), ("is_month_end", "month-end")):
                hit = [c for c in on if c.startswith(prefix)]
                codes = [c.rsplit("_", 1)[-1].upper() for c in hit if c.rsplit("_", 1)[-1] != "day"]
                if hit:
                    parts.append(f"{words} ({', '.join(codes)})" if codes else words)
        inc = self.incidents
        if inc is not None and len(inc):
            lo, hi = day, day + pd.Timedelta(days=1)
            hit = inc[(inc["_start"] < hi) & (inc["_end"].fillna(hi) >= lo)]
            for r in hit.head(3).itertuples(index=False):
                parts.append("incident " + " ".join(str(x) for x in r[2:] if pd.notna(x)))
            if len(hit) > 3:
                parts.append(f"+{len(hit) - 3} more incidents")
        return "; ".join(parts)

    def fit(self) -> AnalysisResults:
        from scipy import stats

        tasks = self._tasks()
        if not tasks:
            raise InputError(f"{self.where}: no series to analyse")
        n_jobs = self.n_jobs or (min(2, os.cpu_count() or 1) if len(tasks) >= 200 else 1)
        if n_jobs > 1:
            with ProcessPoolExecutor(n_jobs) as ex:
                results = list(ex.map(_one, tasks, chunksize=max(1, len(tasks) // (4 * n_jobs))))
        else:
            results = [_one(t) for t in tasks]
        mode = self.kw["mode"]
        rows, shifts = [], []
        kinds: dict[str, int] = {}
        n_scored = 0
        for (metric, slc, dates, vals, size), r in results:
            kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
            n_scored += int(r["scored"].sum())
            rate = r["kind"] == "rate"
            for i in np.flatnonzero(r["flag"]):
                value = vals[i]
                exp_ = r["expected"][i]
                excess = (value - exp_) * size[i] if rate else value - exp_
                rows.append(
                    {
                        "metric": metric,
                        "slice": slc,
                        "date": dates[i],
                        "value": value,
                        "expected": exp_,
                        "score": r["score"][i],
                        "kind": "spike" if r["score"][i] > 0 else "drop",
                        "method": {
                            "rate": "beta_binomial",
                            "volume_weighted": "volume_weighted_z",
                            "count": "stl_negative_binomial",
                        }.get(r["kind"], "stl_robust_z"),
                        "excess": float(excess),
                        "volume": float(size[i]),
                        "context": self._context(pd.Timestamp(dates[i])),
                        "mode": mode,
                    }
                )
            for i in _pick_shifts(r["shift"], self.kw["shift_threshold"], self.kw["shift_window"]):
                w = self.kw["shift_window"]
                after, before = (
                    float(np.median(vals[i : i + w])),
                    float(np.median(vals[max(0, i - w) : i])),
                )
                shifts.append(
                    {
                        "metric": metric,
                        "slice": slc,
                        "date": dates[i],
                        "value": after,
                        "expected": before,
                        "score": float(r["shift"][i]),
                        "kind": "level_shift",
                        "method": "median_shift",
                        "excess": (after - before) * (size[i] if rate else 1.0),
                        "volume": float(np.median(size[i : i + w])),
                        "context": self._context(pd.Timestamp(dates[i])),
                        "mode": mode,
                    }
                )
        cols = ["metric", "slice", "date", "value", "expected", "score", "kind", "method",
                "excess", "volume", "context", "mode"]  # fmt: skip
        cells = pd.DataFrame(rows + shifts, columns=cols)
        cells = cells.sort_values(["metric", "slice", "date"]).reset_index(drop=True)
        n_series = len(results)
        spikes = cells[cells.kind != "level_shift"]
        threshold = self.kw["threshold"]
        false_alarms = n_scored * 2 * float(stats.norm.sf(threshold))
        top = spikes.reindex(spikes["excess"].abs().sort_values(ascending=False).index).head(3)
        tops = "; ".join(
            f"{r.metric}/{r.slice} on {pd.Timestamp(r.date):%Y-%m-%d}: {_num(r.value)} vs "
            f"{_num(r.expected)} expected ({r.excess:+,.0f}"
            f"{' affected' if r.method == 'beta_binomial' else ''})"
            + (f" — {r.context}" if r.context else "")
            for r in top.itertuples()
        )
        span = (
            f"the latest {min(self.kw['score_days'] or self.kw['detection_days'], len(tasks[0][1]))} "
            "days of each series against baselines from earlier days only"
            if mode == "trailing"
            else "every day of each series"
        )
        finding = (
            f"{len(spikes)} unusual days in {n_series} series ({n_scored:,} series-days scored: "
            f"{span}); about {false_alarms:.2g} would be flagged by chance at |score| ≥ "
            f"{threshold:g}"
            + (f". Largest by size: {tops}" if tops else "")
            + (
                f". {int((cells.kind == 'level_shift').sum())} lasting level shifts."
                if mode == "retrospective"
                else "."
            )
        )
        kind_txt = ", ".join(f"{v} {k.replace('_', '-')}" for k, v in sorted(kinds.items()))
        res = AnalysisResults(
            analysis="anomalies",
            title=f"Anomalies in daily metric series ({mode})",
            finding=finding,
            method=(
                f"Series: {kind_txt}. Counts: STL (weekly period) on log(y + c) with public-holiday "
                "and month-end effects regressed out, anomalous days replaced and STL refitted, "
                "then the mid-p tail of a negative binomial around the expected value. Rates: the "
                "numerator's tail under a beta-binomial with the day's denominator, around the "
                "same weekday's pooled rate of the reference weeks (over-dispersion from the "
                "series), so low-volume days are judged by their volume. Percentiles and "
                "averages: log value against the same weekday's median, weighted by "
                f"√(volume / typical volume); days below {self.kw['min_volume']:g} rows or "
                f"{self.kw['min_volume_share']:.0%} of the typical volume are not scored. "
                + (
                    f"Trailing mode: each block of {self.kw['detection_days']} days is scored "
                    f"against a baseline fitted on the {self.kw['max_train']} days before it "
                    "(weekday references from the previous weeks only), as a daily monitor would. "
                    if mode == "trailing"
                    else "Retrospective mode: reference weeks on both sides of each day (centred "
                    "windows use later days too), and level shifts by "
                    f"{self.kw['shift_window']}-day medians before/after, ≥ "
                    f"{self.kw['shift_threshold']} noise units. "
                )
                + f"|score| ≥ {threshold:g} is flagged (a normal-scale score: "
                f"{2 * stats.norm.sf(threshold):.1e} per scored day by chance)."
            ),
            assumptions=[
                "Normal behaviour is trend × weekly pattern × known calendar effects.",
                "Anomalies are rare (the medians and pooled rates are not moved by them).",
            ],
            limitations=[
                "Effects of events not in the calendar (e.g. incidents) are reported as anomalies, "
                "which they are operationally; overlapping incidents are named in the context.",
                "The first and last days of a series have less context; shifts within a window "
                "of the ends are not scored.",
            ],
            tables={"anomalies": cells},
            extra={"series": results},
        )
        res.add_measure("series", n_series, "intrinsic")
        res.add_measure("flagged_cells", len(spikes), "intrinsic")
        res.add_measure("scored_days", n_scored, "intrinsic")
        res.add_measure("flag_rate", len(spikes) / max(n_scored, 1), "intrinsic", "share of days")
        res.add_measure(
            "expected_false_alarms", false_alarms, "intrinsic", "days", f"|score| ≥ {threshold:g}"
        )
        if len(spikes):
            r = top.iloc[0]
            res.headline = (
                f"{len(spikes)} unusual days; the largest: {r.metric} for {r.slice} on "
                f"{pd.Timestamp(r.date):%d %b %Y} ({_num(r.value)} against {_num(r.expected)} "
                "expected)."
            )
            unexplained = spikes[~spikes["context"].str.contains("incident", na=False)]
            res.recommendation = (
                f"Review the {len(unexplained)} flagged days with no incident on record first; "
                f"{len(spikes) - len(unexplained)} coincide with incidents."
                if len(unexplained)
                else "Every flagged day coincides with an incident: check they are in the incident reviews."
            )
        else:
            res.headline = f"No unusual days in {n_series} series."
            res.recommendation = "Nothing to investigate."
        res.plot_fns["top_anomalies"] = lambda: _plot_top(self.data, cells)
        return res


def _num(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def _plot_top(data: pd.DataFrame, cells: pd.DataFrame):
    spikes = cells[cells.kind != "level_shift"]
    keys = (
        spikes.assign(a=spikes["score"].abs())
        .sort_values("a", ascending=False)[["metric", "slice"]]
        .drop_duplicates()
        .head(4)
        .itertuples(index=False)
    )
    fig, panels = series_grid(list(keys))
    for ax, (metric, slc) in panels:
        g = data[(data.metric == metric) & (data.slice == slc)].sort_values("date")
        ax.plot(g["date"], g["value"], lw=0.7, color="#1f4e79")
        c = spikes[(spikes.metric == metric) & (spikes.slice == slc)]
        ax.plot(c["date"], c["value"], "o", color="#c0504d", ms=5)
    fig.tight_layout()
    return fig


def run(inputs, spec) -> AnalysisResults:
    p: Params = spec.params()
    where = f"spec '{spec.name}'"
    data = inputs.spec_series(spec)
    calendar = inputs.calendar() if p.calendar else None
    incidents = None
    if p.incidents_mart:
        t = inputs.table(p.incidents_mart, where=f"{where}: parameters.incidents_mart")
        cols = [p.incident_start, p.incident_end, *p.incident_columns]
        inputs.check_columns(t, cols, f"{where}: parameters")
        incidents = t.select(*cols).to_pandas()
        incidents.insert(0, "_end", pd.to_datetime(incidents.pop(p.incident_end)))
        incidents.insert(0, "_start", pd.to_datetime(incidents.pop(p.incident_start)))
        for c in ("_start", "_end"):
            if getattr(incidents[c].dt, "tz", None) is not None:
                incidents[c] = incidents[c].dt.tz_localize(None)
    return Anomalies(data, p, calendar=calendar, incidents=incidents, where=f"{where}: input").fit()
