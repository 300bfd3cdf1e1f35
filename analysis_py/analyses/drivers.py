"""Driver analysis: what makes cases slow (OLS on log hours) or breach SLA (logit).

Why log hours: resolution times are right-skewed and the business thinks in ratios ("chat
is 30% faster"), so a linear model on ``log(hours)`` turns each coefficient into a
multiplier, ``exp(β)`` — the effects table reports it on that scale. Standard errors are
heteroskedasticity-robust (HC3) and, because one client's cases are not independent,
clustered by client when a cluster column is given; the clustered ones are the primary.

The logit reports odds ratios, AUC and calibration on a later holdout period (a time split:
the model is judged on cases it could not have seen). Whom to flag and what flagging is worth
is the ``predict`` analysis's job (:mod:`analysis_py.analyses.predict`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm

from analysis_py.analyses._stats import auc, design_matrix, effect_rows, reliability_table
from analysis_py.analyses.base import AnalysisResults
from analysis_py.errors import InputError

PARAMETERS = {
    "model": "ols",  # ols | logit
    "outcome": "business_hours_to_resolve",
    "factors": {"channel": "portal", "priority": "P3"},
    "controls": ["product"],
    "numeric": [],
    "cluster": "client_id",
    "date_column": "opened_date",
    "exclude_last_days": 30,
    "holdout_share": 0.25,
    "where": None,
}


class Drivers:
    """OLS on log(outcome) or logit on a boolean outcome, treatment-coded factors."""

    def __init__(
        self,
        data: pd.DataFrame,
        outcome: str,
        factors: dict[str, str | None],
        *,
        model: str = "ols",
        controls: list[str] | None = None,
        numeric: list[str] | None = None,
        cluster: str | None = None,
        date_column: str | None = None,
        holdout_share: float = 0.25,
        where: str = "parameters",
    ):
        if model not in ("ols", "logit"):
            raise InputError(f"{where}.model: '{model}' must be 'ols' or 'logit'")
        for col in [
            outcome,
            *factors,
            *(controls or []),
            *(numeric or []),
            *([cluster] if cluster else []),
        ]:
            if col not in data:
                raise InputError(f"{where}: unknown column '{col}'")
            if data[col].isna().all():
                raise InputError(f"{where}: column '{col}' is entirely null")
        self.data = data
        self.outcome = outcome
        self.factors = dict(factors)
        self.controls = list(controls or [])
        self.numeric = list(numeric or [])
        self.cluster = cluster
        self.model = model
        self.date_column = date_column
        self.holdout_share = holdout_share
        self.where = where

    # ------------------------------------------------------------------------------------
    def fit(self) -> AnalysisResults:
        return self._fit_ols() if self.model == "ols" else self._fit_logit()

    def _matrix(self, df: pd.DataFrame):
        allf = {**self.factors, **{c: None for c in self.controls}}
        X, labels = design_matrix(df, allf, self.numeric)
        refs = dict(X.attrs["references"])
        for c in self.numeric:  # continuous covariates: effect of one more unit
            labels[c] = (c, "+1 unit")
            refs[c] = "+0"
        return X, labels, refs

    def _fit_ols(self) -> AnalysisResults:
        df = self.data.dropna(subset=[self.outcome, *self.factors, *self.controls, *self.numeric])
        n_nonpos = int((df[self.outcome] <= 0).sum())
        df = df[df[self.outcome] > 0]
        if len(df) < 30:
            raise InputError(f"{self.where}.outcome: only {len(df)} usable rows (need ≥ 30)")
        if df[self.outcome].nunique() < 2:
            raise InputError(f"{self.where}.outcome: '{self.outcome}' is constant")
        y = np.log(df[self.outcome].to_numpy(float))
        X, labels, refs = self._matrix(df)
        ols = sm.OLS(y, X)
        hc3 = ols.fit(cov_type="HC3")
        if self.cluster:
            groups = pd.factorize(df[self.cluster])[0]
            primary = ols.fit(cov_type="cluster", cov_kwds={"groups": groups})
            method = f"OLS on log {self.outcome}, cluster-robust SE by {self.cluster}"
        else:
            primary = hc3
            method = f"OLS on log {self.outcome}, HC3 robust SE"
        effects = effect_rows(
            primary.params,
            primary.bse,
            primary.pvalues,
            labels,
            refs,
            scale="multiplier",
            method=method,
            outcome=self.outcome,
            n_obs=int(primary.nobs),
        )
        effects["std_error_hc3"] = [float(np.exp(primary.params[n]) * hc3.bse[n]) for n in labels]
        main = effects[effects["factor"].isin(self.factors)]
        lines = []
        for _, r in main.iterrows():
            pct = (r.estimate - 1) * 100
            word = "longer" if pct > 0 else "shorter"
            lines.append(
                f"{r.factor} = {r.level} takes {r.estimate:.2f}× as long as {r.reference_level} "
                f"({abs(pct):.0f}% {word}; 95% CI {r.ci_low:.2f}–{r.ci_high:.2f})"
            )
        finding = (
            f"Across {int(primary.nobs):,} resolved cases, "
            + "; ".join(lines[:6])
            + (". " if lines else "")
            + f"The model explains {primary.rsquared:.0%} of the variation in log {self.outcome}."
        )
        res = AnalysisResults(
            analysis="drivers",
            title=f"Drivers of {self.outcome}",
            finding=finding,
            method=(
                f"Ordinary least squares of log({self.outcome}) on treatment-coded "
                f"{', '.join(self.factors)} (controls: {', '.join(self.controls) or 'none'}). "
                "exp(coefficient) is the multiplicative effect relative to the reference level. "
                + (
                    f"Standard errors clustered by {self.cluster}; HC3 robust errors also reported."
                    if self.cluster
                    else "HC3 heteroskedasticity-robust standard errors."
                )
            ),
            assumptions=[
                "Effects are multiplicative (log-linear) and the same across the other factors.",
                "Cases of one cluster may be correlated; different clusters are independent.",
                "Factor levels are not chosen because of how long a case will take (no confounding beyond the controls).",
            ],
            limitations=[
                f"Only resolved cases with a positive {self.outcome} are used "
                f"({n_nonpos} non-positive values dropped); still-open cases are left to the survival analysis.",
                "Associations, not causal effects, unless levels are as good as randomly assigned.",
            ],
            tables={"effects": effects},
            extra={"ols": primary, "ols_hc3": hc3},
        )
        res.add_measure("r_squared", primary.rsquared, "intrinsic")
        res.add_measure("n_obs", primary.nobs, "intrinsic", "cases")
        res.add_measure("residual_sd_log", float(np.sqrt(primary.scale)), "intrinsic", "log hours")
        res.plot_fns["effects"] = lambda: _forest_plot(effects, "multiplier (×)")
        return res

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
        res.plot_fns["calibration"] = lambda: _calibration_plot(calib)
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


def _forest_plot(effects: pd.DataFrame, xlabel: str):
    import matplotlib.pyplot as plt

    e = effects.reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(6.5, 0.35 * len(e) + 1.2))
    ypos = np.arange(len(e))[::-1]
    ax.errorbar(
        e["estimate"],
        ypos,
        xerr=[e["estimate"] - e["ci_low"], e["ci_high"] - e["estimate"]],
        fmt="o",
        color="#1f4e79",
        capsize=3,
    )
    ax.axvline(1.0, color="grey", lw=1, ls="--")
    ax.set_xscale("log")  # ratios: 0.5× and 2× equally far from 1
    from matplotlib.ticker import FormatStrFormatter, NullFormatter

    lo, hi = float(e["ci_low"].min()), float(e["ci_high"].max())
    ticks = [
        t for t in (0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 10) if lo * 0.8 <= t <= hi * 1.25
    ]
    ax.set_xticks(ticks or [1])
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks(ypos)
    ax.set_yticklabels(
        [f"{f}={lv} vs {r}" for f, lv, r in zip(e.factor, e.level, e.reference_level, strict=True)]
    )
    ax.set_xlabel(xlabel + " with 95% CI")
    fig.tight_layout()
    return fig


def _calibration_plot(calib: pd.DataFrame):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1)
    ax.errorbar(
        calib["predicted"],
        calib["observed"],
        yerr=[calib["observed"] - calib["ci_low"], calib["ci_high"] - calib["observed"]],
        fmt="o",
        color="#1f4e79",
    )
    ax.set_xlabel("predicted breach probability")
    ax.set_ylabel("observed breach rate")
    hi = float(max(calib["predicted"].max(), calib["observed"].max()) * 1.1)
    ax.set_xlim(0, hi)
    ax.set_ylim(0, hi)
    fig.tight_layout()
    return fig


def run(inputs, spec) -> AnalysisResults:
    """Pull the case-level model matrix from the governed mart (filters in the engine)."""
    p = spec.parameters
    where = f"spec '{spec.name}'"
    t = inputs.table(spec.input["mart"], where=f"{where}: input.mart")
    cols = [p["outcome"], *p["factors"], *p["controls"], *p["numeric"]]
    if p["cluster"]:
        cols.append(p["cluster"])
    if p["date_column"]:
        cols.append(p["date_column"])
    inputs.check_columns(t, cols, f"{where}: parameters")
    if p.get("where"):
        t = inputs.filter_sql(t, p["where"], f"{where}: parameters.where")
    if p["exclude_last_days"] and p["date_column"]:
        d = t[p["date_column"]].cast("date")
        last = t.aggregate(m=d.max()).to_pandas()["m"].iloc[0]
        if pd.notna(last):
            cutoff = pd.Timestamp(last) - pd.Timedelta(days=int(p["exclude_last_days"]))
            t = t.filter(d <= cutoff.date())
    if p["model"] == "ols":
        t = t.filter(t[p["outcome"]].notnull())
    df = t.select(*dict.fromkeys(cols)).to_pandas()
    return Drivers(
        df,
        p["outcome"],
        p["factors"],
        model=p["model"],
        controls=p["controls"],
        numeric=p["numeric"],
        cluster=p["cluster"],
        date_column=p["date_column"],
        holdout_share=p["holdout_share"],
        where=f"{where}: parameters",
    ).fit()
