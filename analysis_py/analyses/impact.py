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

import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.multitest import multipletests

from analysis_py.analyses._plots import interval_points
from analysis_py.analyses._stats import Z95, design_matrix
from analysis_py.analyses.base import AnalysisResults
from analysis_py.errors import InputError


@dataclass(frozen=True)
class Params:
    """Parameters of an ``impact`` spec."""

    outcome: str = "business_hours_to_resolve"
    treated_column: str = "product"
    treated_value: str = "Payments"
    #: the date the change took effect (YYYY-MM-DD), a business fact the spec states
    change_date: str | None = None
    date_column: str = "opened_date"
    methods: list[str] = field(default_factory=lambda: ["its", "did"])
    controls: list[str] = field(default_factory=lambda: ["channel", "priority"])
    cluster: str | None = "client_id"
    hac_lags: int | None = None
    #: also estimate a change of trend after the date (reported as its own effect)
    slope_change: bool = False
    exclude_last_days: int = 30
    #: search every week for the best-fitting break and warn when it is far from change_date
    break_search: bool = True
    break_tolerance_days: int = 28
    #: event-study leads and lags, in months either side of the change (0 = none)
    event_window_months: int = 6
    #: re-run DiD with each untreated level as a fake treated group
    placebo_groups: bool = True
    where: str | None = None


class Impact:
    def __init__(self, data: pd.DataFrame, params: Params, *, where: str = "parameters"):
        p = params
        outcome, treated_column, date_column = p.outcome, p.treated_column, p.date_column
        change_date, methods = p.change_date, p.methods
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
        d["treated"] = (d[treated_column].astype(str) == str(p.treated_value)).astype(float)
        d["log_y"] = np.log(d[outcome].astype(float))
        if d.loc[d.treated == 1, "post"].nunique() < 2:
            raise InputError(
                f"{where}.change_date: treated group has no data on both sides of {change_date}"
            )
        self.data = d
        self.params = p
        self.outcome = outcome
        self.treated_label = f"{treated_column}={p.treated_value}"
        self.date_column = date_column
        self.methods = list(methods)
        self.controls = list(p.controls)
        self.cluster = p.cluster
        self.hac_lags = p.hac_lags
        self.slope_change = p.slope_change
        self.where = where

    def fit(self) -> AnalysisResults:
        p = self.params
        rows, extra, tables = [], {}, {}
        if "its" in self.methods:
            its_rows, fit, weekly = self._its()
            rows += its_rows
            extra["its"] = fit
            tables["its_series"] = weekly
        refutation = []
        if "did" in self.methods:
            row, fit, placebo = self._did()
            rows.append(row)
            extra["did"] = fit
            extra["did_placebo_p"] = placebo
            refutation.append(
                {
                    "check": "placebo_date",
                    "level": "halfway through the pre-period",
                    "estimate": np.nan,
                    "p_value": placebo,
                }
            )
            if p.placebo_groups:
                refutation += self._placebo_groups()
        effects = pd.DataFrame(rows)
        level_rows = effects[effects["level"].isin(["its", "did"])]
        treated_post = self.data[(self.data.treated == 1) & (self.data.post == 1)]
        observed_hours = float(np.exp(treated_post["log_y"]).sum())
        # hours saved = observed × (1/m − 1); the interval maps the multiplier's interval
        saved = level_rows.assign(
            hours_saved=observed_hours * (1 / level_rows["estimate"] - 1),
            hours_saved_low=observed_hours * (1 / level_rows["ci_high"] - 1),
            hours_saved_high=observed_hours * (1 / level_rows["ci_low"] - 1),
        ).set_index("level")
        primary = "did" if "did" in saved.index else "its"
        hs = saved.loc[primary]
        parts = [
            f"{r.level.upper()}: {r.estimate:.2f}× (95% CI {r.ci_low:.2f}–{r.ci_high:.2f})"
            for r in level_rows.itertuples()
        ]
        finding = (
            f"After {self.change:%Y-%m-%d}, cases with {self.treated_label} take "
            f"{hs['estimate']:.2f}× as long to resolve as before ({primary.upper()}), relative to "
            f"trend/other groups ({'; '.join(parts)}). Over the {len(treated_post):,} treated cases "
            f"since the change that is about {hs['hours_saved']:,.0f} business hours saved "
            f"(95% CI {hs['hours_saved_low']:,.0f} to {hs['hours_saved_high']:,.0f})."
        )
        slope = effects[effects["level"] == "its_slope_change"]
        if len(slope):
            r = slope.iloc[0]
            finding += (
                f" The trend after the change is {r.estimate:.3f}× per week relative to before "
                f"(95% CI {r.ci_low:.3f}–{r.ci_high:.3f})."
            )
        warnings_: list[str] = []
        if p.break_search:
            search, best, plausible = self._break_search()
            tables["break_search"] = search
            extra["best_break"] = best
            far = abs((best - self.change).days) > p.break_tolerance_days
            if far and not plausible:
                warnings_.append(
                    f"The data fit a change on {best:%Y-%m-%d} much better than on the stated "
                    f"{self.change:%Y-%m-%d} (the stated date is outside the 95% set of plausible "
                    "break weeks): check the change date before trusting the estimate."
                )
        if p.event_window_months and "did" in self.methods:
            es, lead_p = self._event_study()
            tables["event_study"] = es
            extra["event_study_leads_p"] = lead_p
            refutation.append(
                {
                    "check": "event_study_leads",
                    "level": f"{p.event_window_months} months before",
                    "estimate": np.nan,
                    "p_value": lead_p,
                }
            )
            if np.isfinite(lead_p) and lead_p < 0.01:
                warnings_.append(
                    f"Event-study leads differ from zero before the change (joint p = {lead_p:.2g}): "
                    "the groups did not move in parallel, or the change started earlier than stated."
                )
        if refutation:
            ref = pd.DataFrame(refutation)
            groups = ref["check"] == "placebo_group"
            ref["p_value_adjusted"] = ref["p_value"]
            if groups.sum() and ref.loc[groups, "p_value"].notna().all():
                ref.loc[groups, "p_value_adjusted"] = multipletests(
                    ref.loc[groups, "p_value"], method="holm"
                )[1]
            tables["refutation"] = ref
            # a placebo effect matters when it is both significant and at least a quarter of
            # the estimated effect (with hundreds of thousands of cases, tiny drifts are significant)
            size = np.abs(np.log(ref["estimate"].astype(float)))
            main = abs(np.log(float(hs["estimate"])))
            bad = ref[groups & (ref["p_value_adjusted"] < 0.05) & (size >= 0.25 * main)]
            if len(bad):
                warnings_.append(
                    "Placebo groups that had no change show an effect too ("
                    + ", ".join(f"{r.level}: {r.estimate:.2f}×" for r in bad.itertuples())
                    + "): something else changed at that date."
                )
        if "did_placebo_p" in extra and np.isfinite(extra["did_placebo_p"]):
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
                f"by {self.cluster or 'nothing'}. Effects are exp(coefficient); business hours "
                "saved = observed treated hours since the change × (1/multiplier − 1), its interval "
                "from the multiplier's."
                + (
                    " Break search: the weekly treated-minus-control (or treated) series is fitted "
                    "with a level shift at every week; weeks whose fit is within the 95% "
                    "likelihood-ratio bound of the best form the plausible set."
                    if p.break_search
                    else ""
                )
                + (
                    f" Event study: treated × month-relative-to-change dummies (±{p.event_window_months}"
                    " months, ends binned, month −1 the reference) in the DiD regression; leads "
                    "tested jointly (Wald)."
                    if p.event_window_months and "did" in self.methods
                    else ""
                )
                + (
                    " Placebo groups: DiD with each untreated level as the treated group (the real "
                    "one left out), Holm-adjusted."
                    if p.placebo_groups and "did" in self.methods
                    else ""
                )
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
            warnings=warnings_,
        )
        for r in effects.itertuples():
            res.add_measure(f"effect_{r.level}", r.estimate, "intrinsic", "×")
        for lvl, r in saved.iterrows():
            note = f"{lvl.upper()}; 95% CI {r.hours_saved_low:,.0f} to {r.hours_saved_high:,.0f}"
            suffix = "" if lvl == primary else f"_{lvl}"
            res.add_measure(
                f"business_hours_saved{suffix}", r.hours_saved, "extrinsic", "business hours", note
            )
            res.add_measure(
                f"business_hours_saved{suffix}_low",
                r.hours_saved_low,
                "extrinsic",
                "business hours",
            )
            res.add_measure(
                f"business_hours_saved{suffix}_high",
                r.hours_saved_high,
                "extrinsic",
                "business hours",
            )
        if "best_break" in extra:
            res.add_measure(
                "best_break_days_from_stated",
                (extra["best_break"] - self.change).days,
                "intrinsic",
                "days",
                f"best-fitting break week starts {extra['best_break']:%Y-%m-%d}",
            )
        m, lo_m, hi_m = float(hs["estimate"]), float(hs["ci_low"]), float(hs["ci_high"])
        if hi_m < 1:
            change = f"{1 - m:.0%} less {self.outcome} than they would have without it"
        elif lo_m > 1:
            change = f"{m - 1:.0%} more {self.outcome} than they would have without it"
        else:
            change = f"no clear change in {self.outcome}"
        res.headline = (
            f"Since {self.change:%d %B %Y}, cases with {self.treated_label} show {change} "
            f"({len(treated_post):,} cases)."
        )
        if hi_m < 1:
            verdict = "Keep the change and consider it for other groups"
        elif lo_m > 1:
            verdict = "Review the change: it made things worse"
        else:
            verdict = "Cannot tell yet whether the change helps; keep measuring"
        res.recommendation = (
            f"{verdict}: about {hs['hours_saved']:,.0f} business hours of resolution time saved "
            f"(95% CI {hs['hours_saved_low']:,.0f} to {hs['hours_saved_high']:,.0f})"
            + (
                ". Read the warnings first: the date or the comparison is in doubt."
                if warnings_
                else "."
            )
        )
        if "its_series" in tables:
            res.plot_fns["its"] = lambda: _its_plot(tables["its_series"], self.change)
        if "event_study" in tables:
            res.plot_fns["event_study"] = lambda: _event_plot(tables["event_study"])
        if "break_search" in tables:
            res.plot_fns["break_search"] = lambda: _break_plot(tables["break_search"], self.change)
        return res

    def _weekly(self, d: pd.DataFrame) -> pd.DataFrame:
        d = d.assign(y_adj=self._adjusted(d))
        week = d[self.date_column].dt.to_period("W").dt.start_time
        w = d.groupby(week).agg(y=("y_adj", "mean"), n=("y_adj", "size"))
        return w[w["n"] >= 3]

    def _break_search(self) -> tuple[pd.DataFrame, pd.Timestamp, bool]:
        """Level shift at every candidate week; returns the table, the best week and whether
        the stated date's week is in the 95% likelihood-ratio set of plausible weeks."""
        d = self.data
        treated = self._weekly(d[d.treated == 1])
        if "did" in self.methods and (d.treated == 0).any():
            control = self._weekly(d[d.treated == 0])
            w = treated.join(control, how="inner", suffixes=("_t", "_c"))
            y = (w["y_t"] - w["y_c"]).to_numpy()
            series = "treated − control"
        else:
            w = treated
            y = w["y"].to_numpy()
            series = "treated"
        weeks = w.index
        n = len(y)
        t = np.arange(n, dtype=float)
        margin = max(4, n // 10)
        rows = []
        for k in range(margin, n - margin):
            post = (t >= k).astype(float)
            X = np.column_stack([np.ones(n), t, post])
            beta, *_ = np.linalg.lstsq(X, y, rcond=None)
            ssr = float(np.sum((y - X @ beta) ** 2))
            rows.append({"week": weeks[k], "ssr": ssr, "estimate": float(np.exp(beta[2]))})
        if not rows:
            raise InputError(f"{self.where}: series too short for a break search ({n} weeks)")
        tbl = pd.DataFrame(rows)
        best = tbl.loc[tbl["ssr"].idxmin()]
        # LR statistic n·log(SSR_k / SSR_min) against χ²(1): the approximate 95% set
        tbl["lr"] = n * np.log(tbl["ssr"] / best["ssr"])
        tbl["plausible"] = tbl["lr"] <= float(stats.chi2.ppf(0.95, 1))
        tbl["series"] = series
        stated_week = self.change.to_period("W").start_time
        near = tbl[(tbl["week"] - stated_week).abs() <= pd.Timedelta(days=7)]
        plausible = bool(near["plausible"].any())
        return tbl, pd.Timestamp(best["week"]), plausible

    def _fe_design(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The DiD regressors shared by the estimate, the event study and the placebo groups:
        month fixed effects, the controls and the treated indicator."""
        X, _ = design_matrix(
            frame.assign(month=frame[self.date_column].dt.strftime("%Y-%m")),
            {"month": None, **{c: None for c in self.controls}},
        )
        X["treated"] = frame["treated"].to_numpy()
        return X

    @functools.cached_property
    def _fe_full(self) -> pd.DataFrame:
        return self._fe_design(self.data)

    def _cov(self, frame: pd.DataFrame) -> dict:
        """Cluster-robust by the cluster column when there is one, else HC1."""
        if self.cluster and self.cluster in frame:
            groups = pd.factorize(frame[self.cluster])[0]
            return {"cov_type": "cluster", "cov_kwds": {"groups": groups}}
        return {"cov_type": "HC1"}

    def _event_study(self) -> tuple[pd.DataFrame, float]:
        d = self.data
        win = self.params.event_window_months
        month = d[self.date_column].dt.to_period("M")
        rel = (month - self.change.to_period("M")).apply(lambda x: x.n).clip(-win, win)
        X = self._fe_full.copy()
        names = []
        for k in range(-win, win + 1):
            if k == -1:
                continue
            name = f"rel[{k}]"
            X[name] = (d["treated"].to_numpy() * (rel == k).to_numpy()).astype(float)
            if X[name].sum() > 0:
                names.append((k, name))
            else:
                X = X.drop(columns=name)
        fit = sm.OLS(d["log_y"].to_numpy(), X).fit(**self._cov(d))
        rows = [
            {
                "relative_month": -1,
                "estimate": 1.0,
                "ci_low": 1.0,
                "ci_high": 1.0,
                "p_value": np.nan,
            }
        ]
        for k, name in names:
            b, se = float(fit.params[name]), float(fit.bse[name])
            rows.append(
                {
                    "relative_month": k,
                    "estimate": float(np.exp(b)),
                    "ci_low": float(np.exp(b - Z95 * se)),
                    "ci_high": float(np.exp(b + Z95 * se)),
                    "p_value": float(fit.pvalues[name]),
                }
            )
        es = pd.DataFrame(rows).sort_values("relative_month").reset_index(drop=True)
        es["binned"] = es["relative_month"].abs() == win
        leads = [name for k, name in names if k < -1]
        lead_p = float("nan")
        if leads:
            R = np.zeros((len(leads), len(fit.params)))
            for i, name in enumerate(leads):
                R[i, list(fit.params.index).index(name)] = 1.0
            lead_p = float(np.asarray(fit.wald_test(R, scalar=True).pvalue))
        return es, lead_p

    def _placebo_groups(self) -> list[dict]:
        d = self.data
        col = self.params.treated_column
        untreated = d[d.treated == 0]
        rows = []
        for level, g in untreated.groupby(untreated[col].astype(str)):
            if len(g) < 200 or g["post"].nunique() < 2 or len(untreated) - len(g) < 200:
                continue
            fake = untreated.assign(treated=(untreated[col].astype(str) == level).astype(float))
            X = self._fe_design(fake)
            X["treated_post"] = (fake["treated"] * fake["post"]).to_numpy()
            fit = sm.OLS(fake["log_y"].to_numpy(), X).fit(**self._cov(fake))
            rows.append(
                {
                    "check": "placebo_group",
                    "level": f"{col}={level}",
                    "estimate": float(np.exp(fit.params["treated_post"])),
                    "p_value": float(fit.pvalues["treated_post"]),
                }
            )
        return rows

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
        rows = [
            self._row(
                "its",
                b,
                se,
                float(fit.pvalues["post"]),
                int(w["n"].sum()),
                f"ITS, WLS weekly, HAC({lags})",
                "before",
            )
        ]
        if self.slope_change:
            row = self._row(
                "its_slope_change",
                float(fit.params["post_trend"]),
                float(fit.bse["post_trend"]),
                float(fit.pvalues["post_trend"]),
                int(w["n"].sum()),
                f"ITS trend change per week, WLS weekly, HAC({lags})",
                "trend before",
            )
            row["scale"] = "multiplier_per_week"
            rows.append(row)
        return rows, fit, w

    def _did(self):
        d = self.data
        X = self._fe_full.copy()
        X["treated_post"] = (d["treated"] * d["post"]).to_numpy()
        y = d["log_y"].to_numpy()
        kw = self._cov(d)
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
    p: Params = spec.params()
    where = f"spec '{spec.name}'"
    cols = [p.outcome, p.treated_column, p.date_column, *p.controls]
    if p.cluster:
        cols.append(p.cluster)
    t = inputs.spec_table(spec, cols, p.where)
    t = t.filter(t[p.outcome].notnull() & (t[p.outcome] > 0))
    if p.exclude_last_days:
        d = t[p.date_column].cast("date")
        last = t.aggregate(m=d.max()).to_pandas()["m"].iloc[0]
        if pd.notna(last):
            cutoff = pd.Timestamp(last) - pd.Timedelta(days=int(p.exclude_last_days))
            t = t.filter(d <= cutoff.date())
    df = t.select(*dict.fromkeys(cols)).to_pandas()
    return Impact(df, p, where=f"{where}: parameters").fit()


def _event_plot(es: pd.DataFrame):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.4))
    interval_points(
        ax, es["relative_month"], es["estimate"], es["ci_low"], es["ci_high"], capsize=3
    )
    ax.axhline(1.0, color="grey", lw=1, ls="--")
    ax.axvline(-0.5, color="#c0504d", lw=1)
    ax.set_xlabel("months relative to the change (ends binned; −1 is the reference)")
    ax.set_ylabel("treated vs control (×)")
    fig.tight_layout()
    return fig


def _break_plot(search: pd.DataFrame, change):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3))
    ax.plot(search["week"], search["lr"], color="#1f4e79")
    ax.axhline(float(stats.chi2.ppf(0.95, 1)), color="grey", ls="--", lw=1, label="95% bound")
    ax.axvline(change, color="#c0504d", lw=1, label="stated change date")
    ax.set_ylabel("fit worse than the best break (LR)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
