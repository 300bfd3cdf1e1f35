"""Forecasts per metric × slice with a rolling-origin backtest against seasonal naive.

For each daily series the candidates are ETS (additive error and season on log(1+y), with or
without a damped trend, chosen by AIC — i.e. multiplicative effects on the original scale),
the Theta method, optionally SARIMAX, and the seasonal-naive baseline (m = 7). Each is
refitted at ``origins`` forecast origins spaced one horizon apart at the end of the history
and scored on the following ``horizon`` days:

* MASE with the stated m = 7 (scale: in-sample mean absolute seasonal difference),
* sMAPE (0–200%), and the share of actuals inside the 80% and 95% intervals.

The model with the lowest mean MASE is chosen per series and refitted on all data for the
forecast. Public holidays and month-end business days enter as regressors where they help:
their log-scale effects are estimated on the training window (with weekday and trend terms)
and kept only when clearly non-zero (|t| > 3); the series is adjusted before fitting and the
effects are added back on the forecast days. Two years are too short for a yearly season, so
calendar regressors carry that information instead.

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

from analysis_py.analyses.base import AnalysisResults
from analysis_py.errors import InputError

#: reads metric series (metric × day × slice), not a mart
INPUT = "series"


@dataclass(frozen=True)
class Params:
    """Parameters of a ``forecast`` spec."""

    horizon: int = 28
    #: rolling backtest origins
    origins: int = 3
    season: int = 7
    models: list[str] = field(default_factory=lambda: ["ets", "theta", "snaive"])
    #: public holidays and month-end from the governed date dimension as regressors
    regressors: bool = True
    max_train: int = 364
    #: auto | log | none
    transform: Literal["auto", "log", "none"] = "auto"
    agent_hours_per_case: float | None = 1.5
    start: str | None = None
    end: str | None = None
    n_jobs: int | None = None


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
):
    """Backtest and forecast one series; returns (scores rows, forecast frame columns)."""
    y = np.asarray(y, float)
    n = len(y)
    need = origins * horizon + 3 * m
    if n < need:
        raise InputError(
            f"series too short: {n} days, need ≥ {need} for {origins} origins × {horizon} days"
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

    rows = []
    per_model: dict[str, list[float]] = {}
    for k in range(origins, 0, -1):
        o = n - k * horizon
        actual = y[o : o + horizon]
        Cfut = C[o : o + horizon] if C is not None else None
        for name in models:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    mean, sd, label = predict(o, horizon, name, Cfut)
            except InputError:
                raise
            except Exception:
                continue
            f = inv(mean)
            l80, u80 = inv(mean - Z80 * sd), inv(mean + Z80 * sd)
            l95, u95 = inv(mean - Z95 * sd), inv(mean + Z95 * sd)
            rows.append(
                {
                    "candidate": name,
                    "model": label,
                    "origin": o,
                    "mase": mase(actual, f, y[:o], m),
                    "smape": smape(actual, f),
                    "coverage_80": float(np.mean((actual >= l80) & (actual <= u80))),
                    "coverage_95": float(np.mean((actual >= l95) & (actual <= u95))),
                }
            )
            per_model.setdefault(name, []).append(rows[-1]["mase"])
    scores = pd.DataFrame(rows)
    if scores.empty:
        raise InputError("no model could be fitted")
    agg = scores.groupby("candidate").agg(
        model=("model", "last"),
        mase=("mase", "mean"),
        smape=("smape", "mean"),
        coverage_80=("coverage_80", "mean"),
        coverage_95=("coverage_95", "mean"),
        n_origins=("origin", "size"),
    )
    complete = agg[agg["n_origins"] == origins]
    chosen = (complete if len(complete) else agg)["mase"].idxmin()
    agg["is_chosen"] = agg.index == chosen
    # final forecast from all data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mean, sd, label = predict(n, horizon, chosen, C_future)
    fc = {
        "forecast": inv(mean),
        "lower_80": inv(mean - Z80 * sd),
        "upper_80": inv(mean + Z80 * sd),
        "lower_95": inv(mean - Z95 * sd),
        "upper_95": inv(mean + Z95 * sd),
        "model": label,
    }
    if use_log:
        for key in ("forecast", "lower_80", "upper_80", "lower_95", "upper_95"):
            fc[key] = np.maximum(fc[key], 0.0)
    return agg.reset_index(), fc


def _task(args):
    key, y, C, Cf, kw = args
    try:
        return key, forecast_series(y, C, Cf, **kw), None
    except InputError as exc:
        return key, None, exc.message
    except Exception as exc:  # one bad series must not sink the others
        return key, None, f"{type(exc).__name__}: {exc}"


class Forecast:
    def __init__(
        self,
        data: pd.DataFrame,
        params: Params = Params(),
        *,
        calendar: pd.DataFrame | None = None,
        where: str = "input",
    ):
        models = list(params.models)
        for mname in models:
            if mname not in KNOWN_MODELS:
                raise InputError(
                    f"{where}.models: unknown model '{mname}' (choose from {', '.join(KNOWN_MODELS)})"
                )
        if "snaive" not in models:
            models = [*models, "snaive"]
        self.data = data
        self.params = params
        self.calendar = calendar
        self.kw = {
            "horizon": int(params.horizon),
            "origins": int(params.origins),
            "m": int(params.season),
            "models": tuple(models),
            "regressors": bool(params.regressors),
            "max_train": int(params.max_train),
            "transform": params.transform,
        }
        self.agent_hours = params.agent_hours_per_case
        self.n_jobs = params.n_jobs
        self.where = where

    def _tasks(self):
        tasks = []
        h = self.kw["horizon"]
        for (metric, slc), g in self.data.groupby(["metric", "slice"], sort=True):
            g = g.sort_values("date")
            dates = pd.DatetimeIndex(g["date"])
            future = pd.date_range(dates[-1] + pd.Timedelta(days=1), periods=h, freq="D")
            C = Cf = None
            names = ()
            if self.calendar is not None and self.kw["regressors"]:
                C = self.calendar.reindex(dates).fillna(0).to_numpy(float)
                Cf = self.calendar.reindex(future).fillna(0).to_numpy(float)
                names = tuple(self.calendar.columns)
            kw = dict(self.kw, cal_names=names)
            tasks.append(((metric, slc, future), g["value"].to_numpy(float), C, Cf, kw))
        return tasks

    def _volume_effects(self) -> pd.DataFrame:
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
            (metric, slc, _), msg = errors[0]
            raise InputError(f"{self.where}: series {metric}/{slc}: {msg}")
        score_frames, fc_frames = [], []
        for (metric, slc, future), r, _ in results:
            if r is None:
                continue
            agg, fc = r
            score_frames.append(agg.assign(metric=metric, slice=slc))
            fc_frames.append(pd.DataFrame({"metric": metric, "slice": slc, "date": future, **fc}))
        scores = pd.concat(score_frames, ignore_index=True)
        scores["mase_m"] = self.kw["m"]
        scores["horizon"] = self.kw["horizon"]
        forecasts = pd.concat(fc_frames, ignore_index=True)
        # the backtest_scores table's columns (its schema, less the run keys) and the candidate
        backtest = scores[[*_result_columns("backtest_scores"), "candidate"]]
        chosen = backtest[backtest.is_chosen]
        naive = backtest[backtest.candidate == "snaive"].set_index(["metric", "slice"])
        ch = chosen.set_index(["metric", "slice"])
        smape_ratio = (
            float(ch["smape"].mean() / naive["smape"].mean()) if len(naive) else float("nan")
        )
        mase_chosen = float(ch["mase"].mean())
        mase_naive = float(naive["mase"].mean()) if len(naive) else float("nan")
        mix = chosen["model"].str.replace(r"\+cal$", "", regex=True).value_counts()
        mix_txt = ", ".join(f"{k} for {v}" for k, v in mix.items())
        # the total of a metric is its 'all' series when there is one, else the sum of slices
        # (never both, or every case would be counted twice)
        has_all = forecasts.groupby("metric")["slice"].transform(lambda s: (s == "all").any())
        for_total = forecasts[~has_all | (forecasts["slice"] == "all")]
        total = for_total.groupby("metric")["forecast"].sum()
        h = self.kw["horizon"]
        finding = (
            f"Over {len(chosen)} series and {self.kw['origins']} backtest origins of {h} days, "
            f"the chosen models have mean MASE {mase_chosen:.2f} (m = {self.kw['m']}) against "
            f"{mase_naive:.2f} for seasonal naive, and {(1 - smape_ratio):.0%} lower sMAPE; "
            f"80%/95% intervals covered {ch['coverage_80'].mean():.0%}/{ch['coverage_95'].mean():.0%} "
            f"of actual days. Chosen: {mix_txt}."
        )
        res = AnalysisResults(
            analysis="forecast",
            title="Forecasts with rolling-origin backtest",
            finding=finding,
            method=(
                f"Per series: {', '.join(self.kw['models'])} refitted at {self.kw['origins']} "
                f"origins, {h}-day horizon, trained on at most {self.kw['max_train']} days of "
                "log(1+y); ETS chooses (A,N,A) or (A,Ad,A) by AIC; holiday and month-end regressors "
                "kept where |t| > 3; the model with the lowest mean MASE is refitted on all data."
            ),
            assumptions=[
                "The recent weekly pattern, trend and calendar effects continue over the horizon.",
                "Errors are roughly normal on the log scale (intervals are back-transformed).",
            ],
            limitations=[
                "Two years of history cannot identify a yearly season; only calendar flags carry it.",
                "Intervals of summed forecasts (e.g. agent-hours) assume independent days.",
                f"Series that could not be fitted are skipped ({len(errors)} here).",
            ],
            tables={
                "forecasts": forecasts,
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
        res.add_measure("mase_chosen", mase_chosen, "intrinsic", "", f"m = {self.kw['m']}")
        res.add_measure("mase_seasonal_naive", mase_naive, "intrinsic", "", f"m = {self.kw['m']}")
        res.add_measure("smape_chosen", float(ch["smape"].mean()), "intrinsic", "%")
        res.add_measure("smape_seasonal_naive", float(naive["smape"].mean()), "intrinsic", "%")
        res.add_measure("coverage_80", float(ch["coverage_80"].mean()), "intrinsic", "share")
        res.add_measure("coverage_95", float(ch["coverage_95"].mean()), "intrinsic", "share")
        if self.agent_hours:
            for metric, tot in total.items():
                fm = for_total[for_total.metric == metric]
                sd80 = np.sqrt((((fm["upper_80"] - fm["lower_80"]) / (2 * Z80)) ** 2).sum())
                hours = tot * self.agent_hours
                res.add_measure(
                    f"agent_hours_next_{h}d[{metric}]",
                    hours,
                    "extrinsic",
                    "agent-hours",
                    f"{tot:,.0f} forecast units × {self.agent_hours} h; 80% ±{Z80 * sd80 * self.agent_hours:,.0f} h",
                )
            res.finding += (
                f" Staffing: about {total.sum() * self.agent_hours:,.0f} agent-hours needed over "
                f"the next {h} days at {self.agent_hours} h per case."
            )
        res.plot_fns["forecast"] = lambda: _plot(self.data, forecasts)
        return res


def _plot(data: pd.DataFrame, fc: pd.DataFrame):
    import matplotlib.pyplot as plt

    keys = fc[["metric", "slice"]].drop_duplicates().head(4).itertuples(index=False)
    keys = list(keys)
    fig, axes = plt.subplots(len(keys), 1, figsize=(7.5, 2.1 * len(keys)), squeeze=False)
    for ax, (metric, slc) in zip(axes[:, 0], keys, strict=False):
        g = data[(data.metric == metric) & (data.slice == slc)].sort_values("date").tail(120)
        f = fc[(fc.metric == metric) & (fc.slice == slc)]
        ax.plot(g["date"], g["value"], lw=0.8, color="#444", label="actual")
        ax.fill_between(
            f["date"], f["lower_95"], f["upper_95"], color="#1f4e79", alpha=0.15, label="95%"
        )
        ax.fill_between(
            f["date"], f["lower_80"], f["upper_80"], color="#1f4e79", alpha=0.3, label="80%"
        )
        ax.plot(f["date"], f["forecast"], color="#1f4e79", lw=1.2, label=str(f["model"].iloc[0]))
        ax.set_title(f"{metric} / {slc}", fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def run(inputs, spec) -> AnalysisResults:
    p: Params = spec.params()
    data = inputs.spec_series(spec)
    calendar = inputs.calendar() if p.regressors else None
    return Forecast(data, p, calendar=calendar, where=f"spec '{spec.name}': input").fit()


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
