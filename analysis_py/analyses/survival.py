"""Time to resolution with still-open cases censored: Kaplan–Meier by segment and Cox.

Dropping open cases would bias every average towards fast cases (the slow ones are the ones
still open at the data end). Survival analysis keeps them: an open case contributes "not
resolved after t business hours" and nothing beyond. Kaplan–Meier gives the median time per
segment with its confidence interval; a Cox proportional-hazards model gives the effect of
each factor as a hazard ratio (> 1 = resolved sooner), adjusting for the others.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis_py.analyses._stats import design_matrix, effect_rows
from analysis_py.analyses.base import AnalysisResults
from analysis_py.errors import InputError


@dataclass(frozen=True)
class Params:
    """Parameters of a ``survival`` spec."""

    duration: str = "business_hours_to_resolve_or_data_end"
    event: str = "is_resolved"
    segment: str | None = "priority"
    covariates: dict[str, str | None] = field(
        default_factory=lambda: {"channel": "portal", "priority": "P3"}
    )
    controls: list[str] = field(default_factory=lambda: ["product"])
    #: per-row target duration (e.g. the SLA); P(resolved within it) is reported per segment
    target_column: str | None = "sla_target_business_hours"
    #: accelerated-failure-time families compared by AIC (lognormal, weibull)
    aft: list[str] = field(default_factory=lambda: ["lognormal", "weibull"])
    #: p-value of the Schoenfeld-residual test below which proportional hazards is rejected
    ph_alpha: float = 0.01
    cox_max_rows: int = 30000
    seed: int = 0
    where: str | None = None


AFT_FAMILIES = ("lognormal", "weibull")


class Survival:
    def __init__(self, data: pd.DataFrame, params: Params, *, where: str = "parameters"):
        p = params
        duration, event, segment = p.duration, p.event, p.segment
        covariates, controls = p.covariates, p.controls
        bad = [a for a in p.aft if a not in AFT_FAMILIES]
        if bad:
            raise InputError(
                f"{where}.aft: unknown family {bad[0]!r} (use {', '.join(AFT_FAMILIES)})"
            )
        for col in [
            duration,
            event,
            *([segment] if segment else []),
            *(covariates or {}),
            *(controls or []),
            *([p.target_column] if p.target_column else []),
        ]:
            if col not in data:
                raise InputError(f"{where}: unknown column '{col}'")
            if data[col].isna().all():
                raise InputError(f"{where}: column '{col}' is entirely null")
        d = data.dropna(subset=[duration, event]).copy()
        d = d[d[duration] >= 0]
        if len(d) < 20:
            raise InputError(f"{where}.duration: only {len(d)} usable rows (need ≥ 20)")
        d[event] = d[event].astype(bool)
        self.data = d
        self.duration = duration
        self.event = event
        self.segment = segment
        self.covariates = dict(covariates or {})
        self.controls = list(controls or [])
        self.params = p
        self.cox_max_rows = p.cox_max_rows
        self.seed = p.seed
        self.where = where

    def fit(self) -> AnalysisResults:
        from lifelines import CoxPHFitter, KaplanMeierFitter
        from lifelines.utils import median_survival_times

        d = self.data
        rows, curves = [], []
        groups = [("all", d)]
        if self.segment:
            groups += [(str(k), g) for k, g in d.groupby(self.segment, sort=True)]
        for name, g in groups:
            kmf = KaplanMeierFitter().fit(g[self.duration], g[self.event], label=name)
            med = float(kmf.median_survival_time_)
            ci = median_survival_times(kmf.confidence_interval_)
            lo, hi = (float(v) for v in np.asarray(ci).ravel()[:2])
            rows.append(
                {
                    "segment": f"{self.segment}={name}" if name != "all" else "all",
                    "n": len(g),
                    "events": int(g[self.event].sum()),
                    "censored": int((~g[self.event]).sum()),
                    "median": med,
                    "median_ci_low": lo,
                    "median_ci_high": hi,
                    "naive_median_resolved_only": float(
                        g.loc[g[self.event], self.duration].median()
                    ),
                }
            )
            sf = kmf.survival_function_.iloc[:, 0]
            grid = np.unique(np.quantile(g[self.duration], np.linspace(0, 0.99, 80)))
            curves.append(
                pd.DataFrame(
                    {
                        "segment": rows[-1]["segment"],
                        "time": grid,
                        "survival": sf.reindex(sf.index.union(grid)).ffill().loc[grid].to_numpy(),
                    }
                )
            )
        km = pd.DataFrame(rows)
        within = self._within_target(groups) if self.params.target_column else pd.DataFrame()
        effects = pd.DataFrame()
        cox = None
        ph = pd.DataFrame()
        aft_rows: list[dict] = []
        aft_fits: dict[str, object] = {}
        factors = {**self.covariates, **{c: None for c in self.controls}}
        if factors:
            cd = d.dropna(subset=list(factors))
            if len(cd) > self.cox_max_rows:
                cd = cd.sample(self.cox_max_rows, random_state=self.seed)
            X, labels = design_matrix(cd, factors)
            refs = X.attrs["references"]
            X = X.drop(columns=["const"])
            X["_T"] = cd[self.duration].to_numpy(float)
            X["_E"] = cd[self.event].to_numpy(bool)
            cox = CoxPHFitter(penalizer=1e-6).fit(X, duration_col="_T", event_col="_E")
            s = cox.summary
            cox_rows = effect_rows(
                s["coef"],
                s["se(coef)"],
                s["p"],
                labels,
                refs,
                scale="hazard_ratio",
                method="Cox proportional hazards (open cases censored)",
                outcome=self.duration,
                n_obs=len(cd),
            )
            ph = self._ph_test(cox, X, labels)
            aft_rows, aft_fits = self._aft(X, labels, refs)
            effects = pd.concat([cox_rows, pd.DataFrame(aft_rows)], ignore_index=True)
        overall = km.iloc[0]
        share_open = overall["censored"] / overall["n"]
        seg_txt = "; ".join(
            f"{r.segment.split('=', 1)[-1]} {r.median:.1f} h (95% CI {r.median_ci_low:.1f}–{r.median_ci_high:.1f})"
            for r in km.iloc[1:].itertuples()
        )
        finding = (
            f"Half of all cases are resolved within {overall['median']:.1f} business hours "
            f"(95% CI {overall['median_ci_low']:.1f}–{overall['median_ci_high']:.1f}), counting the "
            f"{int(overall['censored']):,} still-open cases ({share_open:.1%}) as censored"
            + (f". By {self.segment}: {seg_txt}" if seg_txt else "")
            + "."
        )
        ph_fails = bool(len(ph)) and bool((ph["p_value"] < self.params.ph_alpha).any())
        if aft_rows:
            tr = pd.DataFrame(aft_rows)
            main = tr[tr.factor.isin(self.covariates)]
            finding += (
                f" Accelerated-failure-time model ({tr['method'].iloc[0].split(' AFT')[0]}): "
                + "; ".join(
                    f"{r.factor}={r.level} takes {r.estimate:.2f}× as long as {r.reference_level} "
                    f"(95% CI {r.ci_low:.2f}–{r.ci_high:.2f})"
                    for r in main.itertuples()
                )
                + "."
            )
        elif len(effects):
            main = effects[effects.factor.isin(self.covariates)]
            fast = main.sort_values("estimate", ascending=False).head(2)
            finding += (
                " Cox model: "
                + "; ".join(
                    f"{r.factor}={r.level} resolves at {r.estimate:.2f}× the rate of {r.reference_level}"
                    for r in fast.itertuples()
                )
                + "."
            )
        if len(within):
            seg = within[within.segment != "all"]
            if len(seg):
                finding += (
                    " Resolved within the SLA target: "
                    + "; ".join(
                        f"{r.segment.split('=', 1)[-1]} {r.p_within:.0%} "
                        f"({r.p_within_ci_low:.0%}–{r.p_within_ci_high:.0%})"
                        for r in seg.itertuples()
                    )
                    + "."
                )
        warnings_ = []
        if ph_fails:
            failing = ph.loc[ph["p_value"] < self.params.ph_alpha, "factor"].unique().tolist()
            warnings_.append(
                f"Proportional hazards fails for {', '.join(failing)} (Schoenfeld test p < "
                f"{self.params.ph_alpha:g}): the Cox hazard ratios average effects that change "
                "over time; read the AFT time ratios instead."
            )
        res = AnalysisResults(
            analysis="survival",
            title=f"Time to resolution ({self.duration})",
            finding=finding,
            method=(
                "Kaplan–Meier estimator per segment (open cases right-censored at the data end), "
                "median with its 95% confidence interval; Cox proportional-hazards model on "
                "treatment-coded factors, hazard ratios with 95% CIs, its proportional-hazards "
                "assumption tested on Schoenfeld residuals (rank time transform); "
                "accelerated-failure-time models ("
                + ", ".join(self.params.aft)
                + ") on the same factors, the one with the lowest AIC reported as time ratios; "
                "P(resolved within the target) = 1 − KM survival at the target per segment, "
                "Greenwood interval"
                + (
                    f" (fitted on a random sample of {self.cox_max_rows:,} cases)"
                    if len(d) > self.cox_max_rows
                    else ""
                )
                + "."
            ),
            assumptions=[
                "Censoring is unrelated to how long a case would take (open cases are open because the data ends).",
                "Cox: each factor multiplies the resolution rate by a constant over time (proportional hazards; tested).",
                "AFT: each factor stretches or shrinks time by a constant factor; the error distribution is the chosen family.",
            ],
            limitations=[
                "Durations are business hours on the client's calendar; elapsed calendar time is longer.",
                "Hazard ratios are not multipliers of time; the AFT time ratios are.",
            ],
            tables={
                "effects": effects,
                "survival": km,
                "survival_curves": pd.concat(curves, ignore_index=True),
                **({"ph_test": ph} if len(ph) else {}),
                **({"within_target": within} if len(within) else {}),
            },
            extra={"cox": cox, **{f"aft_{k}": v for k, v in aft_fits.items()}},
            warnings=warnings_,
        )
        if len(ph):
            res.add_measure("ph_test_min_p", float(ph["p_value"].min()), "intrinsic")
        res.add_measure("median_business_hours", overall["median"], "intrinsic", "business hours")
        res.add_measure("share_open", share_open, "intrinsic", "share")
        if cox is not None:
            res.add_measure("cox_concordance", float(cox.concordance_index_), "intrinsic")
        res.headline = (
            f"Half of all cases are resolved within {overall['median']:.0f} business hours, "
            f"counting the {share_open:.0%} still open."
        )
        seg = within[within.segment != "all"] if len(within) else within
        if len(seg):
            low = seg.sort_values("p_within").iloc[0]
            res.recommendation = (
                f"Add capacity where the SLA is missed most: {low.segment.split('=', 1)[-1]} "
                f"cases are resolved within their target {low.p_within:.0%} of the time "
                f"(95% CI {low.p_within_ci_low:.0%}–{low.p_within_ci_high:.0%})."
            )
        else:
            res.recommendation = "Use the medians per segment to set expectations with clients."
        res.plot_fns["kaplan_meier"] = lambda: _km_plot(res.tables["survival_curves"])
        return res

    def _within_target(self, groups) -> pd.DataFrame:
        """P(resolved within the row's target) per segment and target, from Kaplan–Meier."""
        from lifelines import KaplanMeierFitter

        tcol = self.params.target_column
        rows = []
        for name, g in groups:
            for target, gt in g.groupby(tcol, sort=True):
                kmf = KaplanMeierFitter().fit(gt[self.duration], gt[self.event])
                t = float(target)
                surv = float(kmf.survival_function_at_times(t).iloc[0])
                ci = kmf.confidence_interval_
                idx = ci.index[ci.index <= t]
                lo_s, hi_s = (
                    (float(ci.loc[idx[-1]].iloc[0]), float(ci.loc[idx[-1]].iloc[1]))
                    if len(idx)
                    else (1.0, 1.0)
                )
                rows.append(
                    {
                        "segment": f"{self.segment}={name}" if name != "all" else "all",
                        "target": t,
                        "n": len(gt),
                        "p_within": 1 - surv,
                        "p_within_ci_low": 1 - hi_s,
                        "p_within_ci_high": 1 - lo_s,
                    }
                )
        out = pd.DataFrame(rows)
        # 'all' mixes targets: keep it only when there is one target
        if len(out) and self.segment and out[out.segment == "all"]["target"].nunique() > 1:
            out = out[out.segment != "all"]
        return out.reset_index(drop=True)

    def _ph_test(self, cox, X, labels) -> pd.DataFrame:
        from lifelines.statistics import proportional_hazard_test

        with _lifelines_quiet():
            r = proportional_hazard_test(cox, X, time_transform="rank")
        s = r.summary
        rows = []
        for col, (factor, level) in labels.items():
            if col in s.index:
                rows.append(
                    {
                        "factor": factor,
                        "level": level,
                        "statistic": float(s.loc[col, "test_statistic"]),
                        "p_value": float(s.loc[col, "p"]),
                    }
                )
        return pd.DataFrame(rows)

    def _aft(self, X, labels, refs) -> tuple[list[dict], dict]:
        from lifelines import LogNormalAFTFitter, WeibullAFTFitter

        if not self.params.aft:
            return [], {}
        data = X[X["_T"] > 0]
        fits = {}
        for fam in self.params.aft:
            fitter = LogNormalAFTFitter() if fam == "lognormal" else WeibullAFTFitter()
            with _lifelines_quiet():
                fits[fam] = fitter.fit(data, duration_col="_T", event_col="_E")
        best = min(fits, key=lambda k: fits[k].AIC_)
        fit = fits[best]
        s = fit.summary
        coefs = s.xs("mu_" if best == "lognormal" else "lambda_", level=0)
        present = {c: lab for c, lab in labels.items() if c in coefs.index}
        method = (
            f"{best} AFT (open cases censored; AIC "
            + ", ".join(f"{k} {v.AIC_:,.0f}" for k, v in fits.items())
            + ")"
        )
        rows = effect_rows(
            coefs["coef"],
            coefs["se(coef)"],
            coefs["p"],
            present,
            refs,
            scale="time_ratio",
            method=method,
            outcome=self.duration,
            n_obs=len(data),
        ).to_dict("records")
        return rows, fits


@contextlib.contextmanager
def _lifelines_quiet():
    """lifelines warns about step sizes and its own approximations on large, well-posed fits;
    convergence problems still surface as exceptions."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _km_plot(curves: pd.DataFrame):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    for seg, g in curves.groupby("segment", sort=False):
        ax.step(g["time"], g["survival"], where="post", label=seg, lw=1.5 if seg == "all" else 1)
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("business hours since opened")
    ax.set_ylabel("share still open")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def run(inputs, spec) -> AnalysisResults:
    p: Params = spec.params()
    where = f"spec '{spec.name}'"
    cols = [
        p.duration,
        p.event,
        *([p.segment] if p.segment else []),
        *p.covariates,
        *p.controls,
        *([p.target_column] if p.target_column else []),
    ]
    t = inputs.spec_table(spec, cols, p.where)
    df = t.select(*dict.fromkeys(cols)).to_pandas()
    return Survival(df, p, where=f"{where}: parameters").fit()
