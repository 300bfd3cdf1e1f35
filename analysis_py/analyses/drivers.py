"""Driver analysis: what moves an outcome (OLS on its log, level or logit) or a binary one (logit).

The spec chooses how the outcome is read (``transform``). Durations and amounts are
right-skewed and the business thinks in ratios ("chat is 30% faster"), so the default, a
linear model on ``log(hours)``, turns each coefficient into a multiplier, ``exp(β)``; a score
(CSAT) is modelled on its own scale (differences in points), a proportion on the logit
scale (odds ratios). Standard errors are
heteroskedasticity-robust (HC3) and, because one client's cases are not independent,
clustered by client when a cluster column is given; the clustered ones are the primary.

The logit reports odds ratios, AUC and calibration on a later holdout period (a time split:
the model is judged on cases it could not have seen). Whom to flag and what flagging is worth
is the ``predict`` analysis's job (:mod:`analysis_py.analyses.predict`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.stats.multitest import multipletests

from analysis_py.analyses._plots import forest_plot, reliability_plot
from analysis_py.analyses._stats import auc, design_matrix, effect_rows, reliability_table
from analysis_py.analyses.base import AnalysisResults
from analysis_py.errors import InputError

TRANSFORMS = ("log", "identity", "logit")


@dataclass(frozen=True)
class Params:
    """Parameters of a ``drivers`` spec."""

    #: ols (a numeric outcome, transformed) or logit (a boolean outcome)
    model: Literal["ols", "logit"] = "ols"
    outcome: str = "business_hours_to_resolve"
    #: ols only: log (effects are multipliers: durations, amounts), identity (differences:
    #: scores), logit (odds ratios: proportions strictly between 0 and 1)
    transform: Literal["log", "identity", "logit"] = "log"
    #: factor -> reference level (none = the most frequent level)
    factors: dict[str, str | None] = field(
        default_factory=lambda: {"channel": "portal", "priority": "P3"}
    )
    controls: list[str] = field(default_factory=lambda: ["product"])
    numeric: list[str] = field(default_factory=list)
    #: numeric columns entered as log(x): their effect is per e-fold of x
    log_numeric: list[str] = field(default_factory=list)
    #: pairs of factors/controls whose combined effect is estimated, e.g. [[product, channel]]
    interactions: list[list[str]] = field(default_factory=list)
    #: estimate every effect separately before and after this date (YYYY-MM-DD)
    period_split: str | None = None
    cluster: str | None = "client_id"
    date_column: str | None = "opened_date"
    exclude_last_days: int = 30
    holdout_share: float = 0.25
    #: multiple-testing correction across the reported levels (statsmodels multipletests)
    correction: str = "holm"
    where: str | None = None


class Drivers:
    """OLS on log(outcome) or logit on a boolean outcome, treatment-coded factors."""

    def __init__(self, data: pd.DataFrame, params: Params, *, where: str = "parameters"):
        p = params
        if p.model not in ("ols", "logit"):
            raise InputError(f"{where}.model: '{p.model}' must be 'ols' or 'logit'")
        if p.transform not in TRANSFORMS:
            raise InputError(f"{where}.transform: '{p.transform}' must be one of {TRANSFORMS}")
        for col in [
            p.outcome,
            *p.factors,
            *p.controls,
            *p.numeric,
            *([p.cluster] if p.cluster else []),
        ]:
            if col not in data:
                raise InputError(f"{where}: unknown column '{col}'")
            if data[col].isna().all():
                raise InputError(f"{where}: column '{col}' is entirely null")
        for col in p.log_numeric:
            if col not in p.numeric:
                raise InputError(f"{where}.log_numeric: '{col}' is not listed in numeric")
        for pair in p.interactions:
            if len(pair) != 2 or not set(pair) <= {*p.factors, *p.controls}:
                raise InputError(
                    f"{where}.interactions: {pair} must be two of the factors or controls"
                )
        if p.model == "logit" and (p.interactions or p.log_numeric or p.period_split):
            raise InputError(
                f"{where}: interactions, log_numeric and period_split need model: ols "
                "(for a binary outcome use a predict spec, or fit the logit per period with where)"
            )
        if p.period_split and (not p.date_column or p.date_column not in data):
            raise InputError(f"{where}.period_split needs date_column in the data")
        self.data = data
        self.params = p
        self.outcome = p.outcome
        self.factors = dict(p.factors)
        self.controls = list(p.controls)
        self.numeric = list(p.numeric)
        self.cluster = p.cluster
        self.model = p.model
        self.date_column = p.date_column
        self.holdout_share = p.holdout_share
        self.where = where

    # ------------------------------------------------------------------------------------
    def fit(self) -> AnalysisResults:
        return self._fit_ols() if self.model == "ols" else self._fit_logit()

    def _matrix(self, df: pd.DataFrame):
        allf = {**self.factors, **{c: None for c in self.controls}}
        logs = set(self.params.log_numeric)
        df = df.assign(**{c: np.log(df[c].astype(float)) for c in logs})
        X, labels = design_matrix(df, allf, self.numeric)
        refs = dict(X.attrs["references"])
        for c in self.numeric:  # continuous covariates: effect of one more unit (of log x)
            labels[c] = (c, "+1 log unit (×e)" if c in logs else "+1 unit")
            refs[c] = "+0"
        for a, b in self.params.interactions:
            va, vb = df[a].astype("string"), df[b].astype("string")
            for la in sorted(va.dropna().unique()):
                if la == refs[a]:
                    continue
                for lb in sorted(vb.dropna().unique()):
                    if lb == refs[b]:
                        continue
                    col = f"{a}[{la}]:{b}[{lb}]"
                    x = ((va == la) & (vb == lb)).to_numpy(dtype=float)
                    if x.sum() >= 5:
                        X[col] = x
                        labels[col] = (f"{a}×{b}", f"{la}:{lb}")
                        refs[f"{a}×{b}"] = "no interaction"
        return X, labels, refs

    def _fit_ols(self) -> AnalysisResults:
        p = self.params
        df = self.data.dropna(subset=[self.outcome, *self.factors, *self.controls, *self.numeric])
        dropped = 0
        if p.transform == "log":
            keep = df[self.outcome] > 0
            dropped, df = int((~keep).sum()), df[keep]
        elif p.transform == "logit":
            keep = (df[self.outcome] > 0) & (df[self.outcome] < 1)
            dropped, df = int((~keep).sum()), df[keep]
        for c in p.log_numeric:
            keep = df[c] > 0
            dropped, df = dropped + int((~keep).sum()), df[keep]
        if len(df) < 30:
            raise InputError(f"{self.where}.outcome: only {len(df)} usable rows (need ≥ 30)")
        if df[self.outcome].nunique() < 2:
            raise InputError(f"{self.where}.outcome: '{self.outcome}' is constant")
        if p.period_split:
            cut = pd.Timestamp(p.period_split)
            dates = pd.to_datetime(df[self.date_column])
            periods = [
                (f"before {cut:%Y-%m-%d}", df[dates < cut]),
                (f"from {cut:%Y-%m-%d}", df[dates >= cut]),
            ]
        else:
            periods = [(None, df)]
        frames, fits = [], {}
        for label, part in periods:
            if len(part) < 30:
                raise InputError(
                    f"{self.where}.period_split: the period {label} has {len(part)} rows (need ≥ 30)"
                )
            eff, primary, hc3 = self._ols_once(part)
            if label:
                eff["period"] = label
            frames.append(eff)
            fits[label or "all"] = (primary, hc3)
        effects = pd.concat(frames, ignore_index=True)
        effects["p_value_adjusted"] = multipletests(effects["p_value"], method=p.correction)[1]
        primary, hc3 = next(iter(fits.values()))
        scale = {"log": "multiplier", "identity": "difference", "logit": "odds_ratio"}[p.transform]
        lines = [
            _effect_words(r, self.outcome, scale)
            for r in effects.itertuples()
            if r.factor in self.factors or r.factor in self.numeric or "×" in r.factor
        ]
        y_desc = {
            "log": f"log {self.outcome}",
            "identity": self.outcome,
            "logit": f"logit {self.outcome}",
        }[p.transform]
        n_total = int(sum(f[0].nobs for f in fits.values()))
        finding = (
            f"Across {n_total:,} rows, "
            + "; ".join(lines[:8])
            + (". " if lines else "")
            + "; ".join(
                f"the model explains {f[0].rsquared:.0%} of the variation in {y_desc}"
                + (f" ({k})" if k != "all" else "")
                for k, f in fits.items()
            )
            + "."
        )
        n_sig = int((effects["p_value_adjusted"] < 0.05).sum())
        finding += f" {n_sig} of {len(effects)} effects remain significant after {p.correction} correction."
        res = AnalysisResults(
            analysis="drivers",
            title=f"Drivers of {self.outcome}",
            finding=finding,
            method=(
                f"Ordinary least squares of {y_desc} on treatment-coded "
                f"{', '.join(self.factors)} (controls: {', '.join(self.controls) or 'none'}"
                + (f"; numeric: {', '.join(self.numeric)}" if self.numeric else "")
                + (
                    "; interactions: " + ", ".join("×".join(x) for x in p.interactions)
                    if p.interactions
                    else ""
                )
                + "). "
                + {
                    "log": "exp(coefficient) is the multiplicative effect relative to the reference level. ",
                    "identity": "Each coefficient is the difference in the outcome relative to the reference level. ",
                    "logit": "exp(coefficient) is the odds ratio of the proportion relative to the reference level. ",
                }[p.transform]
                + (
                    f"Fitted separately before and from {p.period_split}. "
                    if p.period_split
                    else ""
                )
                + (
                    f"Standard errors clustered by {self.cluster}; HC3 robust errors also reported. "
                    if self.cluster
                    else "HC3 heteroskedasticity-robust standard errors. "
                )
                + f"p-values adjusted across all reported effects ({p.correction})."
            ),
            assumptions=[
                {
                    "log": "Effects are multiplicative (log-linear) and the same across the other factors",
                    "identity": "Effects are additive and the same across the other factors",
                    "logit": "Effects are multiplicative on the odds and the same across the other factors",
                }[p.transform]
                + (" (except the listed interactions)." if p.interactions else "."),
                "Rows of one cluster may be correlated; different clusters are independent.",
                "Factor levels are not chosen because of the outcome (no confounding beyond the controls).",
            ]
            + (
                []
                if p.period_split
                else ["Effects did not change over the period (set period_split to check)."]
            ),
            limitations=[
                f"Rows with a missing outcome or a value the transform cannot take are left out "
                f"({dropped} dropped); still-open cases are left to the survival analysis.",
                "Associations, not causal effects, unless levels are as good as randomly assigned.",
            ],
            tables={"effects": effects},
            extra={"ols": primary, "ols_hc3": hc3, "fits": fits},
        )
        for k, (f, _) in fits.items():
            suffix = "" if k == "all" else f" ({k})"
            res.add_measure("r_squared" + suffix, f.rsquared, "intrinsic")
            res.add_measure("n_obs" + suffix, f.nobs, "intrinsic", "rows")
            res.add_measure("residual_sd" + suffix, float(np.sqrt(f.scale)), "intrinsic", y_desc)
        xlabel = {
            "multiplier": "multiplier (×)",
            "odds_ratio": "odds ratio",
            "difference": f"difference in {self.outcome}",
        }[scale]
        plot_eff = (
            effects
            if "period" not in effects
            else effects.assign(level=effects["level"] + " (" + effects["period"] + ")")
        )
        self._plain(res, effects, scale)
        res.plot_fns["effects"] = lambda: _forest_plot(plot_eff, xlabel, log=scale != "difference")
        return res

    def _plain(self, res: AnalysisResults, effects: pd.DataFrame, scale: str) -> None:
        """The largest effect that survives the correction, in words."""
        sig = effects[(effects["p_value_adjusted"] < 0.05) & effects["factor"].isin(self.factors)]
        if not len(sig):
            res.headline = f"None of {', '.join(self.factors)} clearly moves {self.outcome}."
            res.recommendation = "Nothing to act on from these factors."
            return
        size = (
            np.abs(np.log(sig["estimate"].astype(float)))
            if scale != "difference"
            else sig["estimate"].abs()
        )
        r = sig.loc[size.idxmax()]
        if scale == "difference":
            what = f"{r.estimate:+.2f} {self.outcome}"
        elif scale == "odds_ratio":
            what = f"{r.estimate:.2f}× the odds of {self.outcome}"
        else:
            what = f"{r.estimate:.2f}× the {self.outcome}"
        res.headline = (
            f"The largest clear effect: {r.factor} {r.level} has {what} of {r.reference_level} "
            f"(95% CI {r.ci_low:.2f} to {r.ci_high:.2f}), other factors held equal."
        )
        res.recommendation = (
            f"Look at {r.factor} first ({len(sig)} of {len(effects)} effects are clear after "
            "correction); these are associations: test a change before rolling it out."
        )

    def _ols_once(self, df: pd.DataFrame):
        p = self.params
        raw = df[self.outcome].to_numpy(float)
        y = {"log": np.log, "identity": lambda v: v, "logit": lambda v: np.log(v / (1 - v))}[
            p.transform
        ](raw)
        X, labels, refs = self._matrix(df)
        ols = sm.OLS(y, X)
        hc3 = ols.fit(cov_type="HC3")
        if self.cluster:
            groups = pd.factorize(df[self.cluster])[0]
            primary = ols.fit(cov_type="cluster", cov_kwds={"groups": groups})
            se_desc = f"cluster-robust SE by {self.cluster}"
        else:
            primary = hc3
            se_desc = "HC3 robust SE"
        scale = {"log": "multiplier", "identity": "difference", "logit": "odds_ratio"}[p.transform]
        y_desc = {
            "log": f"log {self.outcome}",
            "identity": self.outcome,
            "logit": f"logit {self.outcome}",
        }[p.transform]
        effects = effect_rows(
            primary.params,
            primary.bse,
            primary.pvalues,
            labels,
            refs,
            scale=scale,
            method=f"OLS on {y_desc}, {se_desc}",
            outcome=self.outcome,
            n_obs=int(primary.nobs),
        )
        expo = scale != "difference"
        effects["std_error_hc3"] = [
            float((np.exp(primary.params[n]) if expo else 1.0) * hc3.bse[n]) for n in labels
        ]
        return effects, primary, hc3

    def _fit_logit(self) -> AnalysisResults:
        df = self.data.dropna(subset=[self.outcome, *self.factors, *self.controls, *self.numeric])
        y_all = df[self.outcome].astype(float).to_numpy()
        if len(np.unique(y_all)) < 2:
            raise InputError(f"{self.where}.outcome: '{self.outcome}' is constant")
        if self.date_column and self.date_column in df:
            df = df.sort_values(self.date_column)
        n_hold = int(len(df) * self.holdout_share)
        train, hold = (
            (df.iloc[: len(df) - n_hold], df.iloc[len(df) - n_hold :]) if n_hold else (df, df)
        )
        X, labels, refs = self._matrix(train)
        y = train[self.outcome].astype(float).to_numpy()
        logit = sm.Logit(y, X)
        if self.cluster:
            groups = pd.factorize(train[self.cluster])[0]
            fit = logit.fit(disp=0, cov_type="cluster", cov_kwds={"groups": groups})
        else:
            fit = logit.fit(disp=0, cov_type="HC0")
        effects = effect_rows(
            fit.params,
            fit.bse,
            fit.pvalues,
            labels,
            refs,
            scale="odds_ratio",
            method="logit" + (f", cluster-robust SE by {self.cluster}" if self.cluster else ""),
            outcome=self.outcome,
            n_obs=int(fit.nobs),
        )
        effects["p_value_adjusted"] = multipletests(
            effects["p_value"], method=self.params.correction
        )[1]
        Xh = _align(hold, self.factors, self.controls, self.numeric, X.columns)
        p = np.asarray(fit.predict(Xh))
        yh = hold[self.outcome].astype(bool).to_numpy()
        a = auc(yh, p)
        brier = float(np.mean((p - yh) ** 2))
        calib = reliability_table(p, yh)
        res = AnalysisResults(
            analysis="drivers",
            title=f"Risk of {self.outcome}",
            finding=(
                f"On {len(hold):,} later cases held out from fitting, the model ranks "
                f"{self.outcome} with AUC {a:.2f} (Brier {brier:.3f}; mean predicted "
                f"{p.mean():.3f} vs observed {yh.mean():.3f}). "
                + "; ".join(_or_lines(effects, self.factors)[:6])
                + ". For whom to flag and what it is worth, use a predict spec."
            ),
            method=(
                f"Logistic regression of {self.outcome} on {', '.join(self.factors)} "
                f"(controls: {', '.join(self.controls) or 'none'}), fitted on the earliest "
                f"{1 - self.holdout_share:.0%} of cases by {self.date_column} and evaluated on the "
                "rest. Odds ratios with cluster-robust SE; AUC by the rank formula; calibration by "
                "deciles of predicted risk."
            ),
            assumptions=[
                "Breach risk is logit-linear in the factors.",
                "The holdout period resembles the period the model will be used in.",
            ],
            limitations=[
                "Only factors known at case opening are used, so the model is a triage aid, not a full explanation.",
                "Odds ratios are associations given the other factors, not causal effects.",
            ],
            tables={"effects": effects, "calibration": calib},
            extra={"logit": fit},
        )
        res.add_measure("auc_holdout", a, "intrinsic")
        res.add_measure("brier_holdout", brier, "intrinsic")
        res.add_measure("mean_predicted_holdout", float(p.mean()), "intrinsic", "probability")
        res.add_measure("observed_rate_holdout", float(yh.mean()), "intrinsic", "probability")
        res.plot_fns["calibration"] = lambda: reliability_plot(
            calib, "predicted probability", "observed rate (holdout)"
        )
        res.plot_fns["effects"] = lambda: _forest_plot(effects, "odds ratio")
        return res


def _align(df, factors, controls, numeric, columns) -> pd.DataFrame:
    cols = {"const": np.ones(len(df))}
    for c in numeric:
        cols[c] = df[c].to_numpy(dtype=float)
    for f in [*factors, *controls]:
        v = df[f].astype("string")
        for name in columns:
            if name.startswith(f + "["):
                lev = name[len(f) + 1 : -1]
                cols[name] = (v == lev).to_numpy(dtype=float)
    return pd.DataFrame(cols, index=df.index)[list(columns)]


def _or_lines(effects: pd.DataFrame, factors) -> list[str]:
    out = []
    for r in effects[effects["factor"].isin(factors)].itertuples():
        out.append(
            f"{r.factor} = {r.level} has {r.estimate:.2f}× the odds of {r.reference_level} "
            f"(95% CI {r.ci_low:.2f}–{r.ci_high:.2f})"
        )
    return out


def _effect_words(r, outcome: str, scale: str) -> str:
    ci = f"95% CI {r.ci_low:.2f}–{r.ci_high:.2f}"
    period = f" [{r.period}]" if isinstance(getattr(r, "period", None), str) else ""
    what = f"{r.factor} = {r.level}" if not r.level.startswith("+") else f"{r.factor} {r.level}"
    if scale == "difference":
        return f"{what}{period}: {outcome} {r.estimate:+.3f} vs {r.reference_level} ({ci})"
    if scale == "odds_ratio":
        return f"{what}{period}: {r.estimate:.2f}× the odds of {outcome} ({ci})"
    if any(k in outcome for k in ("hours", "minutes", "duration", "days", "time")):
        word = "longer" if r.estimate > 1 else "shorter"
        return (
            f"{what}{period} takes {r.estimate:.2f}× as long as {r.reference_level} "
            f"({abs(r.estimate - 1):.0%} {word}; {ci})"
        )
    return f"{what}{period}: {outcome} {r.estimate:.2f}× that of {r.reference_level} ({ci})"


def _forest_plot(effects: pd.DataFrame, xlabel: str, log: bool = True):
    e = effects.reset_index(drop=True)
    labels = [
        f"{f}={lv} vs {r}" for f, lv, r in zip(e.factor, e.level, e.reference_level, strict=True)
    ]
    return forest_plot(e, labels, xlabel + " with 95% CI", log=log)


def run(inputs, spec) -> AnalysisResults:
    """Pull the row-level model matrix from the governed mart (filters in the engine)."""
    p: Params = spec.params()
    where = f"spec '{spec.name}'"
    cols = [p.outcome, *p.factors, *p.controls, *p.numeric]
    if p.cluster:
        cols.append(p.cluster)
    if p.date_column:
        cols.append(p.date_column)
    t = inputs.spec_table(spec, cols, p.where)
    if p.exclude_last_days and p.date_column:
        d = t[p.date_column].cast("date")
        last = t.aggregate(m=d.max()).to_pandas()["m"].iloc[0]
        if pd.notna(last):
            cutoff = pd.Timestamp(last) - pd.Timedelta(days=int(p.exclude_last_days))
            t = t.filter(d <= cutoff.date())
    if p.model == "ols":
        t = t.filter(t[p.outcome].notnull())
    df = t.select(*dict.fromkeys(cols)).to_pandas()
    return Drivers(df, p, where=f"{where}: parameters").fit()
