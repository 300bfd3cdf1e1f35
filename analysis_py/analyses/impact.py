"""Impact of a process change: interrupted time series and difference-in-differences.

Two designs because each covers the other's blind spot. ITS uses only the treated group's
own history (a level shift at the change date beyond its trend) and needs no control group,
but would attribute anything else that happened that week to the change; DiD compares the
treated group with untreated ones over the same weeks, which removes shared shocks, but relies
on the groups trending in parallel. Agreement between the two is the evidence.

Both work on log outcome, so the effect is a multiplier (0.85 = 15% faster). ITS errors are
HAC (Newey–West) because weekly means are autocorrelated; DiD errors are clustered by client.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm

from analysis_py.analyses._stats import Z95, design_matrix
from analysis_py.analyses.base import AnalysisResults
from analysis_py.errors import InputError

PARAMETERS = {
    "outcome": "business_hours_to_resolve",
    "treated_column": "product",
    "treated_value": "Payments",
    "change_date": None,
    "date_column": "opened_date",
    "methods": ["its", "did"],
    "controls": ["channel", "priority"],
    "cluster": "client_id",
    "hac_lags": None,
    "slope_change": False,
    "exclude_last_days": 30,
    "where": None,
}


class Impact:
    def __init__(
        self,
        data: pd.DataFrame,
        *,
        outcome: str,
        treated_column: str,
        treated_value: str,
        change_date: str,
        date_column: str,
        methods=("its", "did"),
        controls=(),
        cluster: str | None = None,
        hac_lags: int | None = None,
        slope_change: bool = False,
        where: str = "parameters",
    ):
        if change_date is None:
            raise InputError(f"{where}.change_date: required (YYYY-MM-DD)")
        for m in methods:
            if m not in ("its", "did"):
                raise InputError(f"{where}.methods: unknown method '{m}' (use its, did)")
        d = data.dropna(subset=[outcome, date_column, treated_column])
        d = d[d[outcome] > 0].copy()
        if d.empty:
            raise InputError(f"{where}.outcome: no positive values of '{outcome}'")
        d[date_column] = pd.to_datetime(d[date_column])
        self.change = pd.Timestamp(change_date)
        d["post"] = (d[date_column] >= self.change).astype(float)
        d["treated"] = (d[treated_column].astype(str) == str(treated_value)).astype(float)
        d["log_y"] = np.log(d[outcome].astype(float))
        if d.loc[d.treated == 1, "post"].nunique() < 2:
            raise InputError(
                f"{where}.change_date: treated group has no data on both sides of {change_date}"
            )
        self.data = d
        self.outcome = outcome
        self.treated_label = f"{treated_column}={treated_value}"
        self.date_column = date_column
        self.methods = list(methods)
        self.controls = list(controls)
        self.cluster = cluster
        self.hac_lags = hac_lags
        self.slope_change = slope_change
        self.where = where

    def fit(self) -> AnalysisResults:
        rows, extra, tables = [], {}, {}
        if "its" in self.methods:
            row, fit, weekly = self._its()
            rows.append(row)
            extra["its"] = fit
            tables["its_series"] = weekly
        if "did" in self.methods:
            row, fit, placebo = self._did()
            rows.append(row)
            extra["did"] = fit
            extra["did_placebo_p"] = placebo
        effects = pd.DataFrame(rows)
        treated_post = self.data[(self.data.treated == 1) & (self.data.post == 1)]
        parts = []
        for r in rows:
            parts.append(
                f"{r['level'].upper()}: {r['estimate']:.2f}× (95% CI {r['ci_low']:.2f}–{r['ci_high']:.2f})"
            )
        best = effects["estimate"].mean()
        hours_saved = float((1 - best) / best * np.exp(treated_post["log_y"]).sum())
        finding = (
            f"After {self.change:%Y-%m-%d}, cases with {self.treated_label} take "
            f"{best:.2f}× as long to resolve as before, relative to trend/other groups "
            f"({'; '.join(parts)}). Over the {len(treated_post):,} treated cases since the change "
            f"that is about {hours_saved:,.0f} business hours saved."
        )
        if "did_placebo_p" in extra:
            finding += (
                f" A placebo change halfway through the pre-period gives p = {extra['did_placebo_p']:.2f}"
                + (
                    " (no sign of diverging pre-trends)."
                    if extra["did_placebo_p"] > 0.05
                    else " (pre-trends differ: treat DiD with care)."
                )
            )
        res = AnalysisResults(
            analysis="impact",
            title=f"Impact of the process change on {self.outcome} ({self.treated_label})",
            finding=finding,
            method=(
                "ITS: weekly mean of log outcome for the treated group (adjusted for "
                f"{', '.join(self.controls) or 'nothing'}), regressed on a linear trend and a "
                "post-change level shift"
                + (" and slope change" if self.slope_change else "")
                + ", Newey–West HAC standard errors. DiD: case-level OLS of log outcome on "
                "treated × post with month fixed effects and controls, standard errors clustered "
                f"by {self.cluster or 'nothing'}. Effects are exp(coefficient)."
            ),
            assumptions=[
                "ITS: without the change, the treated group's trend would have continued.",
                "DiD: treated and untreated groups would have moved in parallel.",
                "The change applied from the stated date to all treated cases (no anticipation).",
            ],
            limitations=[
                "Only resolved cases are used; the most recent weeks are excluded to limit censoring bias.",
                "A concurrent change that affects only the treated group cannot be separated from the process change.",
            ],
            tables={"effects": effects, **tables},
            extra=extra,
        )
        for r in rows:
            res.add_measure(f"effect_{r['level']}", r["estimate"], "intrinsic", "×")
        res.add_measure("business_hours_saved", hours_saved, "extrinsic", "business hours")
        if "its_series" in tables:
            res.plot_fns["its"] = lambda: _its_plot(tables["its_series"], self.change)
        return res

    def _adjusted(self, d: pd.DataFrame) -> np.ndarray:
        """Log outcome with the controls' effects removed (keeps the weekly means comparable)."""
        if not self.controls:
            return d["log_y"].to_numpy()
        X, _ = design_matrix(d, {c: None for c in self.controls})
        beta, *_ = np.linalg.lstsq(X.to_numpy(), d["log_y"].to_numpy(), rcond=None)
        return d["log_y"].to_numpy() - X.to_numpy()[:, 1:] @ beta[1:]

    def _its(self):
        d = self.data[self.data.treated == 1].copy()
        d["y_adj"] = self._adjusted(d)
        d["week"] = d[self.date_column].dt.to_period("W").dt.start_time
        w = d.groupby(["week", "post"]).agg(y=("y_adj", "mean"), n=("y_adj", "size")).reset_index()
        w = w[w["n"] >= 3]
        if len(w) < 8:
            raise InputError(f"{self.where}: series too short for ITS ({len(w)} weeks, need ≥ 8)")
        t = (w["week"] - self.change).dt.days.to_numpy() / 7.0
        cols = {"const": np.ones(len(w)), "trend": t, "post": w["post"].to_numpy()}
        if self.slope_change:
            cols["post_trend"] = t * w["post"].to_numpy()
        X = pd.DataFrame(cols)
        lags = self.hac_lags or int(np.floor(4 * (len(w) / 100) ** (2 / 9)))
        fit = sm.WLS(w["y"].to_numpy(), X, weights=w["n"].to_numpy()).fit(
            cov_type="HAC", cov_kwds={"maxlags": max(lags, 1)}
        )
        b, se = float(fit.params["post"]), float(fit.bse["post"])
        w["fitted"] = fit.fittedvalues.to_numpy()
        w["counterfactual"] = (
            X.drop(columns=[c for c in X if c.startswith("post")])
            @ fit.params.drop([c for c in X if c.startswith("post")])
        ).to_numpy()
        return (
            self._row(
                "its",
                b,
                se,
                float(fit.pvalues["post"]),
                int(w["n"].sum()),
                f"ITS, WLS weekly, HAC({lags})",
                "before",
            ),
            fit,
            w,
        )

    def _did(self):
        d = self.data
        X, _ = design_matrix(
            d.assign(month=d[self.date_column].dt.strftime("%Y-%m")),
            {"month": None, **{c: None for c in self.controls}},
        )
        X["treated"] = d["treated"].to_numpy()
        X["treated_post"] = (d["treated"] * d["post"]).to_numpy()
        y = d["log_y"].to_numpy()
        kw = {}
        if self.cluster and self.cluster in d:
            kw = {"cov_type": "cluster", "cov_kwds": {"groups": pd.factorize(d[self.cluster])[0]}}
        else:
            kw = {"cov_type": "HC1"}
        fit = sm.OLS(y, X).fit(**kw)
        b, se = float(fit.params["treated_post"]), float(fit.bse["treated_post"])
        placebo_p = self._placebo(X, y, d, kw)
        return (
            self._row(
                "did",
                b,
                se,
                float(fit.pvalues["treated_post"]),
                int(fit.nobs),
                "DiD, OLS with month FE, "
                + (
                    "cluster SE by " + self.cluster
                    if "groups" in kw.get("cov_kwds", {})
                    else "HC1 SE"
                ),
                "control",
            ),
            fit,
            placebo_p,
        )

    def _placebo(self, X, y, d, kw) -> float:
        pre = (d["post"] == 0).to_numpy()
        if pre.sum() < 50:
            return float("nan")
        dates = d.loc[pre, self.date_column]
        fake = dates.min() + (dates.max() - dates.min()) / 2
        Xp = X.loc[pre].drop(columns=["treated_post"]).copy()
        Xp["treated_post"] = (d.loc[pre, "treated"] * (dates >= fake)).to_numpy()
        Xp = Xp.loc[:, Xp.std() > 0]
        months = [c for c in Xp.columns if c.startswith("month[")]
        if months:  # pre-period only: one month dummy is collinear with the constant
            Xp = Xp.drop(columns=months[0])
        Xp = Xp.assign(const=1.0)
        kwp = dict(kw)
        if "cov_kwds" in kw:
            kwp = {"cov_type": "cluster", "cov_kwds": {"groups": kw["cov_kwds"]["groups"][pre]}}
        try:
            return float(sm.OLS(y[pre], Xp).fit(**kwp).pvalues["treated_post"])
        except Exception:
            return float("nan")

    def _row(self, method, b, se, p, n, desc, ref):
        return {
            "factor": "process_change",
            "level": method,
            "reference_level": ref,
            "estimate": float(np.exp(b)),
            "std_error": float(np.exp(b) * se),
            "ci_low": float(np.exp(b - Z95 * se)),
            "ci_high": float(np.exp(b + Z95 * se)),
            "p_value": p,
            "scale": "multiplier",
            "method": desc,
            "outcome": self.outcome,
            "n_obs": n,
        }


def _its_plot(w: pd.DataFrame, change):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    ax.plot(w["week"], np.exp(w["y"]), ".", color="#888", label="weekly geometric mean (adjusted)")
    ax.plot(w["week"], np.exp(w["fitted"]), color="#1f4e79", label="ITS fit")
    post = w["post"] == 1
    ax.plot(
        w.loc[post, "week"],
        np.exp(w.loc[post, "counterfactual"]),
        color="#c0504d",
        ls="--",
        label="without the change",
    )
    ax.axvline(change, color="grey", lw=1)
    ax.set_ylabel("business hours (geometric mean)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def run(inputs, spec) -> AnalysisResults:
    p = spec.parameters
    where = f"spec '{spec.name}'"
    t = inputs.table(spec.input["mart"], where=f"{where}: input.mart")
    cols = [p["outcome"], p["treated_column"], p["date_column"], *p["controls"]]
    if p["cluster"]:
        cols.append(p["cluster"])
    inputs.check_columns(t, cols, f"{where}: parameters")
    if p.get("where"):
        t = inputs.filter_sql(t, p["where"], f"{where}: parameters.where")
    t = t.filter(t[p["outcome"]].notnull() & (t[p["outcome"]] > 0))
    if p["exclude_last_days"]:
        d = t[p["date_column"]].cast("date")
        last = t.aggregate(m=d.max()).to_pandas()["m"].iloc[0]
        if pd.notna(last):
            cutoff = pd.Timestamp(last) - pd.Timedelta(days=int(p["exclude_last_days"]))
            t = t.filter(d <= cutoff.date())
    df = t.select(*dict.fromkeys(cols)).to_pandas()
    return Impact(
        df,
        outcome=p["outcome"],
        treated_column=p["treated_column"],
        treated_value=p["treated_value"],
        change_date=p["change_date"],
        date_column=p["date_column"],
        methods=p["methods"],
        controls=p["controls"],
        cluster=p["cluster"],
        hac_lags=p["hac_lags"],
        slope_change=p["slope_change"],
        where=f"{where}: parameters",
    ).fit()
