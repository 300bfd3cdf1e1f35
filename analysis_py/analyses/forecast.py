"""Forecasts per metric × slice: model chosen on a backtest, scored on a hold-out, reconciled.

For each series (hour, day, week or month) the candidates are ETS (additive error and season
on log(1+y), with or without a damped trend, chosen by AIC — i.e. multiplicative effects on
the original scale), the Theta method, optionally SARIMAX, and seasonal naive. Each is refitted
at ``origins`` rolling origins that end one horizon before the data does; the lowest mean MASE
chooses the model (the selection backtest). The chosen model and seasonal naive are then
scored once on the last ``horizon`` periods, which the choice never saw (the reported
accuracy), and the chosen model is refitted on all data for the forecast. Scores: MASE with
the stated m, sMAPE (0–200%), the scaled pinball loss over five quantiles, and the coverage of
the 80% and 95% intervals.

The published forecast is the mean (exp(μ + σ²/2) − 1 on log models) so that days and slices
add up; the median is kept. Slices of an additive metric are reconciled to its total
(:mod:`._reconcile`), and with ``staffing`` the forecast becomes an Erlang-C staffing table
(:mod:`._staffing`). Public holidays and month-end business days enter as regressors where they
help (|t| > 3 on the training window). Two years are too short for a yearly season, so calendar
regressors carry that information instead.

statsforecast (the fast AutoETS) pins pandas<3, so this uses statsmodels with few candidate
models, a bounded training window and processes across series.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from analysis_py.analyses._plots import series_grid
from analysis_py.analyses.base import AnalysisResults
from analysis_py.errors import InputError

#: reads metric series (metric × day × slice), not a mart
INPUT = "series"


@dataclass(frozen=True)
class Params:
    """Parameters of a ``forecast`` spec. Lengths are in periods of the input's grain; left
    empty they follow the grain (see :data:`GRAIN_DEFAULTS`)."""

    horizon: int | None = None
    #: rolling origins of the model-selection backtest (a final hold-out window follows)
    origins: int = 3
    #: seasonal period; non-seasonal (1) when the history is shorter than 3 seasons + backtest
    season: int | None = None
    models: list[str] = field(default_factory=lambda: ["ets", "theta", "snaive"])
    #: public holidays and month-end from the governed date dimension as regressors
    regressors: bool = True
    max_train: int | None = None
    #: auto | log | none
    transform: Literal["auto", "log", "none"] = "auto"
    #: score the chosen model once on a last window that played no part in choosing it
    holdout: bool = True
    #: make slice forecasts add up to the total (additive metrics with a total series)
    reconcile: Literal["mint", "ols", "bottom_up", "none"] = "mint"
    #: Erlang-C staffing table from the reconciled forecast (day grain)
    staffing: bool = False
    #: agent touches per case are measured on this events mart (rows with an agent)
    touches_mart: str = "fct_case_events"
    #: agent minutes per touch (the data has touches, not handling times)
    minutes_per_touch: float = 12.0
    #: the arrival timestamp that gives the intraday (hour of day) profile
    arrival_column: str = "opened_at"
    service_level: float = 0.8
    answer_within_minutes: float = 30.0
    #: share of paid time not available for cases (breaks, training, absence)
    shrinkage: float = 0.3
    shift_hours: float = 8.0
    #: which events of the touches mart are agent work (a predicate over its columns)
    touch_where: str = "agent_id is not null"
    start: str | None = None
    end: str | None = None
    n_jobs: int | None = None


#: per grain: (horizon, season, max_train, pandas frequency)
GRAIN_DEFAULTS = {
    "hour": (168, 24, 24 * 7 * 8, "h"),
    "day": (28, 7, 364, "D"),
    "week": (13, 52, 156, "W-MON"),
    "month": (6, 12, 60, "MS"),
}


Z80 = float(stats.norm.ppf(0.9))
Z95 = float(stats.norm.ppf(0.975))
KNOWN_MODELS = ("ets", "theta", "sarimax", "snaive")


# --- candidate models: each returns (mean, sd) on the transformed scale --------------------
def _snaive(x: np.ndarray, h: int, m: int):
    last = x[-m:]
    mean = np.array([last[i % m] for i in range(h)])
    e = x[m:] - x[:-m]
    sd1 = np.std(e, ddof=1) if len(e) > 1 else 0.0
    k = np.arange(h) // m + 1
    return mean, sd1 * np.sqrt(k), "snaive"


def _ets(x: np.ndarray, h: int, m: int, form: str | None = None):
    """ETS with additive error and season, trend none or damped (by AIC unless ``form``,
    chosen at the first backtest origin, is given): see :mod:`._ets` for why it is gridded."""
    from analysis_py.analyses import _ets as ets

    res = ets.fit(x, m, form)
    mean, sd = res.forecast(h)
    name = "ets(A,Ad,A)" if res.form == "AAdA" else "ets(A,N,A)"
    return mean, sd, name


THETA_ALPHAS = np.linspace(0.02, 0.98, 25)


def _theta(x: np.ndarray, h: int, m: int):
    """The Theta method as SES with drift (Hyndman & Billah 2003) on the deseasonalised series.

    Drift b0 is half the OLS slope (θ = 2); α minimises the one-step SSE over a grid
    (statsmodels' ThetaModel does the same with an optimiser and costs ~10× more per fit).
    Variance: σ²(1 + (h−1)α²).
    """
    from scipy.signal import lfilter

    n = len(x)
    seas = _seasonal_index(x, m)
    xd = x - seas
    t = np.arange(n)
    b0 = np.polyfit(t, xd, 1)[0] / 2.0
    best = None
    for a in THETA_ALPHAS:
        level = lfilter([a], [1.0, -(1.0 - a)], xd[1:], zi=[(1.0 - a) * xd[0]])[0]
        err = xd[1:] - np.concatenate([[xd[0]], level[:-1]])
        sse = float(err @ err)
        if best is None or sse < best[0]:
            best = (sse, a, level[-1])
    sse, alpha, last = best
    steps = np.arange(1, h + 1)
    mean = last + b0 * ((steps - 1) + 1 / alpha - (1 - alpha) ** n / alpha)
    phase = (np.arange(n, n + h)) % m
    mean = mean + seas[:m][phase]  # seas[k] for k < m is the index of weekday phase k
    var = (sse / (n - 1)) * (1.0 + alpha**2 * np.arange(h))
    return mean, np.sqrt(var), "theta"


def _seasonal_index(x: np.ndarray, m: int) -> np.ndarray:
    """Classical additive seasonal index (centred moving average detrending)."""
    s = pd.Series(x)
    trend = s.rolling(m, center=True, min_periods=1).mean().to_numpy()
    phase = np.arange(len(x)) % m
    idx = np.array([np.mean((x - trend)[phase == k]) for k in range(m)])
    return (idx - idx.mean())[phase]


def _sarimax(x: np.ndarray, h: int, m: int):
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    res = SARIMAX(x, order=(1, 0, 1), seasonal_order=(0, 1, 1, m), trend="c").fit(disp=False)
    f = res.get_forecast(h)
    return np.asarray(f.predicted_mean), np.sqrt(np.asarray(f.var_pred_mean)), "sarimax"


MODEL_FNS = {"ets": _ets, "theta": _theta, "sarimax": _sarimax, "snaive": _snaive}


# --- scoring ----------------------------------------------------------------------------------
def mase(actual, forecast, train, m: int) -> float:
    """Mean absolute error scaled by the in-sample mean absolute m-seasonal difference."""
    train = np.asarray(train, float)
    scale = np.mean(np.abs(train[m:] - train[:-m]))
    if scale == 0 or not np.isfinite(scale):
        return float("nan")
    return float(np.mean(np.abs(np.asarray(actual) - np.asarray(forecast))) / scale)


def smape(actual, forecast) -> float:
    """Symmetric MAPE in percent (0–200); days where both are 0 count as 0 error."""
    a, f = np.asarray(actual, float), np.asarray(forecast, float)
    den = np.abs(a) + np.abs(f)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den == 0, 0.0, 2 * np.abs(a - f) / den)
    return float(100 * np.mean(r))


# --- calendar effects on volume -----------------------------------------------------------------
def volume_effects(y: np.ndarray, dates: pd.DatetimeIndex, calendar: pd.DataFrame | None, slc: str):
    """Poisson regression of a daily count on weekend, public holidays (weekdays only, one flag
    per country), month-end business days and a log-linear trend, with Newey–West (HAC, 7 lags)
    standard errors so over-dispersion and autocorrelation widen the intervals honestly.

    Returns rows (effect, estimate, ci_low, ci_high, p_value, scale): factors are volume
    multipliers; ``annual_growth`` is exp(β·365.25) − 1. A series sliced by a country value
    (e.g. ``US``) uses only that country's holiday and month-end flags.
    """
    import statsmodels.api as sm

    y = np.asarray(y, float)
    if len(y) < 120 or np.any(y < 0) or np.any(np.abs(y - np.round(y)) > 1e-9) or y.sum() == 0:
        return pd.DataFrame()
    weekend = (dates.day_of_week >= 5).astype(float)
    cols = {"const": np.ones(len(y)), "weekend": weekend}
    if calendar is not None and len(calendar.columns):
        cal = calendar.reindex(dates).fillna(0.0)
        own = [c for c in cal.columns if c.lower().endswith("_" + str(slc).lower())]
        use = own or list(cal.columns)
        for c in use:
            x = cal[c].to_numpy(float)
            if c.startswith("is_holiday_"):
                x = x * (1 - weekend)
            if x.sum() >= 3:
                cols[c] = x
    cols["years"] = ((dates - dates[0]).days / 365.25).to_numpy(float)
    X = pd.DataFrame(cols, index=dates)
    try:
        fit = sm.GLM(y, X, family=sm.families.Poisson()).fit(
            cov_type="HAC", cov_kwds={"maxlags": 7}
        )
    except (ValueError, np.linalg.LinAlgError):
        return pd.DataFrame()
    rows = []
    for name in X.columns[1:]:
        b, se = float(fit.params[name]), float(fit.bse[name])
        lo, hi = b - Z95 * se, b + Z95 * se
        if name == "years":
            row = ("annual_growth", np.expm1(b), np.expm1(lo), np.expm1(hi), "growth per year")
        else:
            label = name.replace("is_holiday_", "holiday_").replace(
                "is_month_end_business_day_", "month_end_"
            )
            row = (label, np.exp(b), np.exp(lo), np.exp(hi), "multiplier")
        rows.append(
            {
                "effect": row[0],
                "estimate": float(row[1]),
                "ci_low": float(row[2]),
                "ci_high": float(row[3]),
                "p_value": float(fit.pvalues[name]),
                "scale": row[4],
            }
        )
    return pd.DataFrame(rows)


# --- one series ---------------------------------------------------------------------------------
def _calendar_effects(x, C, m, names):
    """OLS of x on weekday dummies, trend and calendar flags; keep flags with |t| > 3."""
    n = len(x)
    if C is None or C.shape[1] == 0:
        return np.zeros(0), []
    keep_cols = [i for i in range(C.shape[1]) if C[:, i].std() > 0 and C[:, i].sum() >= 2]
    if not keep_cols:
        return np.zeros(0), []
    t = np.arange(n) / n
    D = np.eye(m)[np.arange(n) % m]
    X = np.column_stack([D, t, t**2, C[:, keep_cols]])
    beta, *_ = np.linalg.lstsq(X, x, rcond=None)
    resid = x - X @ beta
    dof = max(n - X.shape[1], 1)
    s2 = resid @ resid / dof
    try:
        cov = s2 * np.linalg.pinv(X.T @ X)
    except np.linalg.LinAlgError:
        return np.zeros(0), []
    k0 = m + 2
    coefs, used = [], []
    for j, col in enumerate(keep_cols):
        b = beta[k0 + j]
        se = np.sqrt(max(cov[k0 + j, k0 + j], 1e-18))
        if abs(b / se) > 3:
            coefs.append(b)
            used.append(col)
    return np.array(coefs), used


QUANTILES = (0.025, 0.1, 0.5, 0.9, 0.975)


def pinball(actual, lower95, lower80, median, upper80, upper95, scale: float) -> float:
    """Mean pinball (quantile) loss over the 2.5/10/50/90/97.5% quantiles, scaled like MASE
    (the M5 competition's scaled pinball loss): 0 is perfect, it rewards sharp intervals that
    still cover."""
    a = np.asarray(actual, float)
    qs = (lower95, lower80, median, upper80, upper95)
    loss = 0.0
    for tau, q in zip(QUANTILES, qs, strict=True):
        d = a - np.asarray(q, float)
        loss += float(np.mean(np.maximum(tau * d, (tau - 1) * d)))
    if scale == 0 or not np.isfinite(scale):
        return float("nan")
    return loss / len(QUANTILES) / scale


def forecast_series(
    y,
    C=None,
    C_future=None,
    *,
    horizon=28,
    origins=3,
    m=7,
    models=("ets", "theta", "snaive"),
    regressors=True,
    max_train=364,
    transform="auto",
    cal_names=(),
    holdout=True,
    unit="days",
):
    """Select, hold out and forecast one series.

    The model is chosen on ``origins`` rolling origins that end before the last ``horizon``
    periods (the selection backtest); the chosen model and seasonal naive are then scored
    once on that final hold-out window, which played no part in the choice (the reported
    accuracy); finally the chosen model is refitted on everything for the forecast.

    Returns (scores frame, forecast columns, the chosen model's selection-backtest errors on
    the original scale, ordered by origin then step).
    """
    y = np.asarray(y, float)
    n = len(y)
    need = (origins + int(holdout)) * horizon + 3 * m
    if n < need:
        raise InputError(
            f"series too short: {n} {unit}, need ≥ {need} for {origins} origins"
            f"{' + a hold-out' if holdout else ''} × {horizon} {unit}"
        )
    if np.isnan(y).all():
        raise InputError("series is entirely null")
    y = pd.Series(y).interpolate(limit_direction="both").to_numpy()
    if np.ptp(y) == 0:
        raise InputError("series is constant: nothing to forecast beyond its value")
    use_log = transform == "log" or (transform == "auto" and y.min() >= 0 and y.max() > 1)
    fwd = np.log1p if use_log else (lambda v: v)
    inv = np.expm1 if use_log else (lambda v: v)
    x = fwd(y)

    ets_form: list[str | None] = [None]

    def predict(o, h, name, Cfut):
        lo = max(0, o - max_train)
        xt = x[lo:o]
        adj = np.zeros(o - lo)
        fut = np.zeros(h)
        used = []
        if regressors and C is not None and name != "snaive":
            coefs, used = _calendar_effects(xt, C[lo:o], m, cal_names)
            if used:
                adj = C[lo:o][:, used] @ coefs
                fut = Cfut[:, used] @ coefs
        if name == "ets":
            mean, sd, label = _ets(xt - adj, h, m, form=ets_form[0])
            ets_form[0] = "AAdA" if "Ad" in label else "ANA"
        else:
            mean, sd, label = MODEL_FNS[name](xt - adj, h, m)
        mean = mean + fut
        if used:
            label += "+cal"
        return mean, sd, label

    def columns(mu, sd, label):
        """Mean (what totals add up), median (the typical period) and interval bounds on the
        original scale; a log model's mean is exp(μ + σ²/2) − 1."""
        mean = np.expm1(mu + sd**2 / 2) if use_log else mu
        out = {
            "forecast": mean,
            "median": inv(mu),
            "lower_80": inv(mu - Z80 * sd),
            "upper_80": inv(mu + Z80 * sd),
            "lower_95": inv(mu - Z95 * sd),
            "upper_95": inv(mu + Z95 * sd),
        }
        if use_log:
            out = {k: np.maximum(v, 0.0) for k, v in out.items()}
        out["model"] = label
        return out

    def score(o, name, window):
        actual = y[o : o + horizon]
        Cfut = C[o : o + horizon] if C is not None else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mu, sd, label = predict(o, horizon, name, Cfut)
        f = columns(mu, sd, label)
        train = y[:o]
        scale = np.mean(np.abs(train[m:] - train[:-m])) if len(train) > m else float("nan")
        row = {
            "candidate": name,
            "model": label,
            "origin": o,
            "window": window,
            "mase": mase(actual, f["forecast"], train, m),
            "smape": smape(actual, f["forecast"]),
            "pinball": pinball(
                actual,
                f["lower_95"],
                f["lower_80"],
                f["median"],
                f["upper_80"],
                f["upper_95"],
                scale,
            ),
            "coverage_80": float(np.mean((actual >= f["lower_80"]) & (actual <= f["upper_80"]))),
            "coverage_95": float(np.mean((actual >= f["lower_95"]) & (actual <= f["upper_95"]))),
        }
        return row, actual - f["forecast"]

    n_sel = n - horizon if holdout else n
    rows, errors = [], {}
    for k in range(origins, 0, -1):
        for name in models:
            try:
                row, err = score(n_sel - k * horizon, name, "selection")
            except InputError:
                raise
            except Exception:
                continue
            rows.append(row)
            errors.setdefault(name, []).append(err)
    scores = pd.DataFrame(rows)
    if scores.empty:
        raise InputError("no model could be fitted")
    agg = _aggregate_scores(scores)
    complete = agg[agg["n_origins"] == origins]
    chosen = (complete if len(complete) else agg)["mase"].idxmin()
    agg["is_chosen"] = agg.index == chosen
    agg = agg.reset_index()
    if holdout:
        held = []
        for name in dict.fromkeys([chosen, "snaive"]):
            try:
                held.append(score(n_sel, name, "holdout")[0])
            except Exception:
                continue
        if held:
            h = _aggregate_scores(pd.DataFrame(held)).reset_index()
            h["is_chosen"] = h["candidate"] == chosen
            agg = pd.concat([agg, h], ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mu, sd, label = predict(n, horizon, chosen, C_future)
    fc = columns(mu, sd, label)
    return agg, fc, np.concatenate(errors[chosen])


def _aggregate_scores(scores: pd.DataFrame) -> pd.DataFrame:
    return scores.groupby("candidate").agg(
        model=("model", "last"),
        window=("window", "first"),
        mase=("mase", "mean"),
        smape=("smape", "mean"),
        pinball=("pinball", "mean"),
        coverage_80=("coverage_80", "mean"),
        coverage_95=("coverage_95", "mean"),
        n_origins=("origin", "size"),
    )


def _task(args):
    key, y, C, Cf, kw = args
    try:
        return key, forecast_series(y, C, Cf, **kw), None
    except InputError as exc:
        return key, None, exc.message
    except Exception as exc:  # one bad series must not sink the others
        return key, None, f"{type(exc).__name__}: {exc}"


def grain_calendar(calendar: pd.DataFrame, periods: pd.DatetimeIndex, grain: str) -> np.ndarray:
    """Daily calendar flags on the series' periods: the day's flags for an hour, the number
    of flagged days in a week or month."""
    if grain == "day":
        return calendar.reindex(periods).fillna(0).to_numpy(float)
    if grain == "hour":
        return calendar.reindex(periods.normalize()).fillna(0).to_numpy(float)
    days = calendar.index
    start = days - pd.to_timedelta(days.day_of_week, unit="D") if grain == "week" else days
    if grain == "month":
        start = days.to_period("M").start_time
    return calendar.groupby(start).sum().reindex(periods).fillna(0).to_numpy(float)


class Forecast:
    def __init__(
        self,
        data: pd.DataFrame,
        params: Params = Params(),
        *,
        calendar: pd.DataFrame | None = None,
        where: str = "input",
        grain: str = "day",
        workload: dict | None = None,
    ):
        models = list(params.models)
        for mname in models:
            if mname not in KNOWN_MODELS:
                raise InputError(
                    f"{where}.models: unknown model '{mname}' (choose from {', '.join(KNOWN_MODELS)})"
                )
        if "snaive" not in models:
            models = [*models, "snaive"]
        h, m, max_train, self.freq = GRAIN_DEFAULTS[grain]
        self.data = data
        self.params = params
        self.calendar = calendar
        self.grain = grain
        self.unit = {"hour": "hours", "day": "days", "week": "weeks", "month": "months"}[grain]
        self.kw = {
            "horizon": int(params.horizon or h),
            "origins": int(params.origins),
            "m": int(params.season or m),
            "models": tuple(models),
            "regressors": bool(params.regressors),
            "max_train": int(params.max_train or max_train),
            "transform": params.transform,
            "holdout": bool(params.holdout),
            "unit": self.unit,
        }
        self.workload = workload
        self.n_jobs = params.n_jobs
        self.where = where

    def _tasks(self):
        tasks = []
        h = self.kw["horizon"]
        for (metric, slc), g in self.data.groupby(["metric", "slice"], sort=True):
            g = g.sort_values("date")
            dates = pd.DatetimeIndex(g["date"])
            future = pd.date_range(dates[-1], periods=h + 1, freq=self.freq)[1:]
            C = Cf = None
            names = ()
            if self.calendar is not None and self.kw["regressors"]:
                C = grain_calendar(self.calendar, dates, self.grain)
                Cf = grain_calendar(self.calendar, future, self.grain)
                names = tuple(self.calendar.columns)
            kw = dict(self.kw, cal_names=names)
            need = (kw["origins"] + kw["holdout"]) * h + 3 * kw["m"]
            if len(g) < need and self.params.season is None:
                kw["m"] = 1  # too short for this season: non-seasonal models, MASE on lag 1
            tasks.append(((metric, slc, future, kw["m"]), g["value"].to_numpy(float), C, Cf, kw))
        return tasks

    def _volume_effects(self) -> pd.DataFrame:
        if self.grain != "day":
            return pd.DataFrame()
        frames = []
        for (metric, slc), g in self.data.groupby(["metric", "slice"], sort=True):
            g = g.sort_values("date")
            eff = volume_effects(
                g["value"].to_numpy(float), pd.DatetimeIndex(g["date"]), self.calendar, slc
            )
            if len(eff):
                frames.append(eff.assign(metric=metric, slice=slc))
        if not frames:
            return pd.DataFrame()
        out = pd.concat(frames, ignore_index=True)
        return out[
            ["metric", "slice", "effect", "estimate", "ci_low", "ci_high", "p_value", "scale"]
        ]

    def _reconcile(self, forecasts: pd.DataFrame, errors: dict) -> tuple[pd.DataFrame, list[str]]:
        """Reconcile each additive metric's slices to its total (in place on a copy); returns
        the frame and a sentence per metric."""
        from analysis_py.analyses import _reconcile

        method = self.params.reconcile
        notes = []
        if method == "none" or "slicing" not in self.data:
            return forecasts, notes
        out = forecasts.copy()
        shape = self.data.drop_duplicates(["metric", "slice"])
        for metric, g in shape.groupby("metric"):
            if not bool(g["additive"].all()) or not (g["slice"] == "all").any():
                continue
            slicings = [list(s["slice"]) for k, s in g.groupby("slicing") if k]
            if not slicings:
                continue
            names = ["all", *[x for s in slicings for x in s]]
            if any((metric, x) not in errors for x in names):
                notes.append(f"{metric}: not reconciled (a slice could not be forecast)")
                continue
            idx = {x: i for i, x in enumerate(names)}
            fm = out[out.metric == metric].pivot(index="date", columns="slice", values="forecast")
            base = fm[names].to_numpy(float)
            k = min(len(errors[(metric, x)]) for x in names)
            E = np.column_stack([errors[(metric, x)][-k:] for x in names])
            groups = [[idx[x] for x in s] for s in slicings]
            try:
                rec = _reconcile.reconcile(base, groups, method=method, errors=E)
            except ValueError as exc:
                raise InputError(f"{self.where}: parameters.reconcile: {exc}") from None
            shift = pd.DataFrame(rec - base, index=fm.index, columns=pd.Index(names, name="slice"))
            shift = shift.stack().rename("adj").reset_index()
            rows = out.metric == metric
            adj = out.loc[rows, ["date", "slice"]].merge(shift, on=["date", "slice"], how="left")
            adj = adj["adj"].fillna(0.0).to_numpy()
            for col in ("forecast", "median", "lower_80", "upper_80", "lower_95", "upper_95"):
                out.loc[rows, col] = out.loc[rows, col] + adj
            for col in ("median", "lower_80", "lower_95"):
                out.loc[rows, col] = out.loc[rows, col].clip(lower=0.0)
            moved = float(np.abs(rec - base).sum() / max(np.abs(base).sum(), 1e-9))
            notes.append(
                f"{metric}: {method} reconciliation over {len(slicings)} slicing(s) moved the "
                f"forecasts by {moved:.1%} in total; each slicing now sums to the total"
            )
        return out, notes

    def fit(self) -> AnalysisResults:
        tasks = self._tasks()
        if not tasks:
            raise InputError(f"{self.where}: no series to forecast")
        n_jobs = self.n_jobs or (min(os.cpu_count() or 1, 4) if len(tasks) >= 8 else 1)
        if n_jobs > 1:
            with ProcessPoolExecutor(n_jobs) as ex:
                results = list(ex.map(_task, tasks, chunksize=max(1, len(tasks) // (8 * n_jobs))))
        else:
            results = [_task(t) for t in tasks]
        errors = [(k, e) for k, r, e in results if r is None]
        if len(errors) == len(results):
            (metric, slc, _, _), msg = errors[0]
            raise InputError(f"{self.where}: series {metric}/{slc}: {msg}")
        score_frames, fc_frames, residuals = [], [], {}
        for (metric, slc, future, m), r, _ in results:
            if r is None:
                continue
            agg, fc, err = r
            score_frames.append(agg.assign(metric=metric, slice=slc, mase_m=m))
            fc_frames.append(
                pd.DataFrame(
                    {"metric": metric, "slice": slc, "date": future, "period_start": future, **fc}
                )
            )
            residuals[(metric, slc)] = err
        scores = pd.concat(score_frames, ignore_index=True)
        scores["horizon"] = self.kw["horizon"]
        forecasts, rec_notes = self._reconcile(pd.concat(fc_frames, ignore_index=True), residuals)
        backtest = scores[[*_result_columns("backtest_scores"), "candidate"]]
        window = "holdout" if self.kw["holdout"] else "selection"
        rep = backtest[backtest.window == window]
        ch = rep[rep.is_chosen].set_index(["metric", "slice"])
        naive = rep[rep.candidate == "snaive"].set_index(["metric", "slice"])
        smape_ratio = (
            float(ch["smape"].mean() / naive["smape"].mean()) if len(naive) else float("nan")
        )
        mase_chosen = float(ch["mase"].mean())
        mase_naive = float(naive["mase"].mean()) if len(naive) else float("nan")
        sel = backtest[(backtest.window == "selection") & backtest.is_chosen]
        mix = sel["model"].str.replace(r"\+cal$", "", regex=True).value_counts()
        mix_txt = ", ".join(f"{k} for {v}" for k, v in mix.items())
        h, unit = self.kw["horizon"], self.unit
        ms = sorted(set(scores["mase_m"]))
        m_txt = "/".join(map(str, ms))
        scored = (
            f"on a final hold-out of the last {h} {unit}, after choosing each model on "
            f"{self.kw['origins']} earlier backtest origins"
            if self.kw["holdout"]
            else f"over {self.kw['origins']} backtest origins of {h} {unit} (also used to choose)"
        )
        finding = (
            f"Over {len(ch)} series, {scored}, the chosen models have mean MASE "
            f"{mase_chosen:.2f} (m = {m_txt}) against {mase_naive:.2f} for seasonal naive, "
            f"{(1 - smape_ratio):.0%} lower sMAPE and scaled pinball loss "
            f"{ch['pinball'].mean():.2f} (seasonal naive {naive['pinball'].mean():.2f}); "
            f"80%/95% intervals covered {ch['coverage_80'].mean():.0%}/"
            f"{ch['coverage_95'].mean():.0%} of actual {unit}. Chosen: {mix_txt}."
        )
        if rec_notes:
            finding += " " + "; ".join(rec_notes) + "."
        res = AnalysisResults(
            analysis="forecast",
            title=f"Forecasts by {self.grain} with a final hold-out",
            finding=finding,
            method=(
                f"Per series at {self.grain} grain: {', '.join(self.kw['models'])} refitted at "
                f"{self.kw['origins']} origins {h} {unit} apart to choose the model (lowest mean "
                f"MASE), trained on at most {self.kw['max_train']} {unit} of log(1+y); ETS "
                "chooses (A,N,A) or (A,Ad,A) by AIC; holiday and month-end regressors kept where "
                "|t| > 3. "
                + (
                    f"The chosen model and seasonal naive are then scored once on the last {h} "
                    f"{unit}, which the choice never saw, and the chosen model is refitted on all "
                    "data. "
                    if self.kw["holdout"]
                    else ""
                )
                + "The published forecast is the mean (exp(μ + σ²/2) − 1 for log models), so "
                "slices and days add up to totals; the median is kept for the typical period. "
                + (
                    f"Slices are reconciled to the total ({self.params.reconcile}; MinT uses the "
                    "shrinkage covariance of the selection-backtest errors)."
                    if rec_notes
                    else ""
                )
            ),
            assumptions=[
                "The recent seasonal pattern, trend and calendar effects continue over the horizon.",
                "Errors are roughly normal on the log scale (intervals are back-transformed).",
            ],
            limitations=[
                "Two years of history cannot identify a yearly season; only calendar flags carry it.",
                "Reconciliation moves the mean; interval bounds are shifted by the same amount, "
                "not re-derived.",
                f"Series that could not be fitted are skipped ({len(errors)} here).",
            ],
            tables={
                "forecasts": forecasts[_result_columns("forecasts")],
                "backtest_scores": backtest.drop(columns=["candidate"]),
            },
            extra={"errors": errors, "scores": scores},
        )
        vol = self._volume_effects()
        if len(vol):
            res.tables["volume_effects"] = vol
            tot = vol[vol["slice"] == "all"] if (vol["slice"] == "all").any() else vol.iloc[0:0]
            tot = tot.set_index("effect")
            if {"weekend", "annual_growth"} <= set(tot.index):
                w, g = tot.loc["weekend"], tot.loc["annual_growth"]
                res.finding += (
                    f" Volume on a weekend day is {w.estimate:.2f}× a weekday (95% CI "
                    f"{w.ci_low:.2f}–{w.ci_high:.2f}) and grows {g.estimate:+.0%} a year "
                    f"({g.ci_low:+.0%} to {g.ci_high:+.0%}); public-holiday and month-end "
                    "factors per country are in the volume_effects table."
                )
                res.add_measure("weekend_factor", w.estimate, "intrinsic", "×", "total series")
                res.add_measure(
                    "annual_growth", g.estimate, "intrinsic", "per year", "total series"
                )
            res.plot_fns["volume_effects"] = lambda: _volume_plot(vol)
        note = f"{window} window, m = {m_txt}"
        res.add_measure("mase_chosen", mase_chosen, "intrinsic", "", note)
        res.add_measure("mase_seasonal_naive", mase_naive, "intrinsic", "", note)
        res.add_measure("smape_chosen", float(ch["smape"].mean()), "intrinsic", "%", note)
        res.add_measure("smape_seasonal_naive", float(naive["smape"].mean()), "intrinsic", "%")
        res.add_measure("pinball_chosen", float(ch["pinball"].mean()), "intrinsic", "", note)
        res.add_measure("pinball_seasonal_naive", float(naive["pinball"].mean()), "intrinsic", "")
        res.add_measure("coverage_80", float(ch["coverage_80"].mean()), "intrinsic", "share")
        res.add_measure("coverage_95", float(ch["coverage_95"].mean()), "intrinsic", "share")
        if self.workload is not None:
            from analysis_py.analyses._staffing import staffing_table

            table, text = staffing_table(forecasts, self.workload, self.params)
            res.tables["staffing"] = table
            res.finding += " " + text
            if len(table):
                tot = table[table.slice == "all"] if (table.slice == "all").any() else table
                h = self.kw["horizon"]
                res.add_measure(
                    f"workload_hours_next_{h}d", float(tot["workload_hours"].sum()),
                    "extrinsic", "agent-hours", "forecast cases × measured handling minutes",
                )  # fmt: skip
                res.add_measure(
                    "peak_fte", float(tot["fte"].max()), "extrinsic", "FTE",
                    f"busiest forecast day, {self.params.service_level:.0%} within "
                    f"{self.params.answer_within_minutes:g} min",
                )  # fmt: skip
                res.add_measure(
                    "peak_agents", float(tot["peak_agents"].max()), "extrinsic", "agents"
                )
            res.method += " " + self.workload["method"]
            res.limitations.append(self.workload["limitation"])
        self._plain(res, forecasts)
        res.plot_fns["forecast"] = lambda: _plot(self.data, forecasts)
        return res

    def _plain(self, res: AnalysisResults, forecasts: pd.DataFrame) -> None:
        """Headline and recommendation: the total of the first metric over the horizon against
        the same span just before, and the staffing it needs."""
        metric = str(forecasts["metric"].iloc[0])
        fm = forecasts[forecasts.metric == metric]
        tot = fm[fm.slice == "all"] if (fm.slice == "all").any() else fm
        h, unit = self.kw["horizon"], self.unit
        ahead = float(tot["forecast"].sum())
        hist = self.data[(self.data.metric == metric) & self.data.slice.isin(set(tot.slice))]
        past = hist.groupby("date")["value"].sum().sort_index().tail(h)
        additive = bool(hist["additive"].all()) if "additive" in hist else True
        if additive:
            change = ahead / float(past.sum()) - 1 if past.sum() > 0 else float("nan")
            res.headline = f"About {ahead:,.0f} {metric} expected over the next {h} {unit}" + (
                f", {change:+.0%} on the last {h}." if np.isfinite(change) else "."
            )
            res.recommendation = (
                f"Plan for {tot['lower_80'].sum():,.0f} to {tot['upper_80'].sum():,.0f} in total "
                "(80% range)."
            )
        else:
            res.headline = (
                f"{metric} is expected to average {tot['forecast'].mean():.3g} over the next {h} "
                f"{unit} (the last {h}: {past.mean():.3g})."
            )
            res.recommendation = "Use the ranges per period in the forecasts table."
        st = res.tables.get("staffing")
        if st is not None and len(st):
            t = st[st.slice == "all"] if (st.slice == "all").any() else st
            top = t.loc[t["fte"].idxmax()]
            res.recommendation = (
                f"Roster for {t['fte'].median():.0f} FTE on a typical day and "
                f"{top['fte']:.0f} on the busiest ({pd.Timestamp(top['date']):%a %d %b}), "
                f"{self.params.service_level:.0%} answered within "
                f"{self.params.answer_within_minutes:g} minutes; "
                + res.recommendation[0].lower()
                + res.recommendation[1:]
            )


def _plot(data: pd.DataFrame, fc: pd.DataFrame):
    """Every series: history (last stretch) and forecast with its intervals, small multiples."""
    fig, panels = series_grid(
        list(fc[["metric", "slice"]].drop_duplicates().itertuples(index=False))
    )
    for ax, (metric, slc) in panels:
        f = fc[(fc.metric == metric) & (fc.slice == slc)]
        g = data[(data.metric == metric) & (data.slice == slc)].sort_values("date")
        g = g.tail(max(4 * len(f), 30))
        ax.plot(g["date"], g["value"], lw=0.8, color="#444", label="actual")
        ax.fill_between(
            f["date"], f["lower_95"], f["upper_95"], color="#1f4e79", alpha=0.15, label="95%"
        )
        ax.fill_between(
            f["date"], f["lower_80"], f["upper_80"], color="#1f4e79", alpha=0.3, label="80%"
        )
        ax.plot(f["date"], f["forecast"], color="#1f4e79", lw=1.2, label=str(f["model"].iloc[0]))
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6, loc="upper left")
    fig.tight_layout()
    return fig


def run(inputs, spec) -> AnalysisResults:
    p: Params = spec.params()
    where = f"spec '{spec.name}'"
    data = inputs.spec_series(spec)
    calendar = inputs.calendar() if p.regressors else None
    workload = None
    if p.staffing:
        from analysis_py.analyses._staffing import measure_workload

        if spec.grain != "day":
            raise InputError(
                f"{where}: parameters.staffing: staffing tables need a day-grain forecast "
                f"(input.grain is {spec.grain}); the hour-of-day profile comes from the data"
            )
        workload = measure_workload(inputs, spec, p, data)
    return Forecast(
        data, p, calendar=calendar, where=f"{where}: input", grain=spec.grain, workload=workload
    ).fit()


def _volume_plot(vol: pd.DataFrame):
    from analysis_py.analyses._plots import forest_plot

    v = vol[(vol["slice"] == "all") & (vol["scale"] == "multiplier")]
    if v.empty:
        v = vol[vol["scale"] == "multiplier"].drop_duplicates("effect")
    return forest_plot(v, v["effect"], "volume multiplier with 95% CI (total series)")


def _result_columns(table: str) -> list[str]:
    """A result table's columns as written back (:data:`warehouse.results.SCHEMAS`), less
    the run keys the store adds."""
    from analysis_py.warehouse.results import SCHEMAS

    return [c for c in SCHEMAS[table] if c not in ("run_id", "spec_name")]
