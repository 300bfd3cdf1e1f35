"""Time to resolution with still-open cases censored: Kaplan–Meier by segment and Cox.

Dropping open cases would bias every average towards fast cases (the slow ones are the ones
still open at the data end). Survival analysis keeps them: an open case contributes "not
resolved after t business hours" and nothing beyond. Kaplan–Meier gives the median time per
segment with its confidence interval; a Cox proportional-hazards model gives the effect of
each factor as a hazard ratio (> 1 = resolved sooner), adjusting for the others.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis_py.analyses._stats import Z95, design_matrix
from analysis_py.analyses.base import AnalysisResults
from analysis_py.errors import InputError

PARAMETERS = {
    "duration": "business_hours_to_resolve_or_data_end",
    "event": "is_resolved",
    "segment": "priority",
    "covariates": {"channel": "portal", "priority": "P3"},
    "controls": ["product"],
    "cox_max_rows": 30000,
    "seed": 0,
    "where": None,
}


class Survival:
    def __init__(
        self,
        data: pd.DataFrame,
        *,
        duration: str,
        event: str,
        segment: str | None = None,
        covariates: dict[str, str | None] | None = None,
        controls: list[str] | None = None,
        cox_max_rows: int = 30000,
        seed: int = 0,
        where: str = "parameters",
    ):
        for col in [
            duration,
            event,
            *([segment] if segment else []),
            *(covariates or {}),
            *(controls or []),
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
        self.cox_max_rows = cox_max_rows
        self.seed = seed
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
        effects = pd.DataFrame()
        cox = None
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
            erows = []
            for col, (factor, level) in labels.items():
                b, se = float(s.loc[col, "coef"]), float(s.loc[col, "se(coef)"])
                erows.append(
                    {
                        "factor": factor,
                        "level": level,
                        "reference_level": refs[factor],
                        "estimate": float(np.exp(b)),
                        "std_error": float(np.exp(b) * se),
                        "ci_low": float(np.exp(b - Z95 * se)),
                        "ci_high": float(np.exp(b + Z95 * se)),
                        "p_value": float(s.loc[col, "p"]),
                        "scale": "hazard_ratio",
                        "method": "Cox proportional hazards (open cases censored)",
                        "outcome": self.duration,
                        "n_obs": len(cd),
                    }
                )
            effects = pd.DataFrame(erows)
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
        if len(effects):
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
        res = AnalysisResults(
            analysis="survival",
            title=f"Time to resolution ({self.duration})",
            finding=finding,
            method=(
                "Kaplan–Meier estimator per segment (open cases right-censored at the data end), "
                "median with its 95% confidence interval; Cox proportional-hazards model on "
                "treatment-coded factors, hazard ratios with 95% CIs"
                + (
                    f" (fitted on a random sample of {self.cox_max_rows:,} cases)"
                    if len(d) > self.cox_max_rows
                    else ""
                )
                + "."
            ),
            assumptions=[
                "Censoring is unrelated to how long a case would take (open cases are open because the data ends).",
                "Cox: each factor multiplies the resolution rate by a constant over time (proportional hazards).",
            ],
            limitations=[
                "Durations are business hours on the client's calendar; elapsed calendar time is longer.",
                "Hazard ratios are not multipliers of time; see the drivers analysis for those.",
            ],
            tables={
                "effects": effects,
                "survival": km,
                "survival_curves": pd.concat(curves, ignore_index=True),
            },
            extra={"cox": cox},
        )
        res.add_measure("median_business_hours", overall["median"], "intrinsic", "business hours")
        res.add_measure("share_open", share_open, "intrinsic", "share")
        if cox is not None:
            res.add_measure("cox_concordance", float(cox.concordance_index_), "intrinsic")
        res.plot_fns["kaplan_meier"] = lambda: _km_plot(res.tables["survival_curves"])
        return res


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
    p = spec.parameters
    where = f"spec '{spec.name}'"
    t = inputs.table(spec.input["mart"], where=f"{where}: input.mart")
    cols = [
        p["duration"],
        p["event"],
        *([p["segment"]] if p["segment"] else []),
        *p["covariates"],
        *p["controls"],
    ]
    inputs.check_columns(t, cols, f"{where}: parameters")
    if p.get("where"):
        t = inputs.filter_sql(t, p["where"], f"{where}: parameters.where")
    df = t.select(*dict.fromkeys(cols)).to_pandas()
    return Survival(
        df,
        duration=p["duration"],
        event=p["event"],
        segment=p["segment"],
        covariates=p["covariates"],
        controls=p["controls"],
        cox_max_rows=p["cox_max_rows"],
        seed=p["seed"],
        where=f"{where}: parameters",
    ).fit()
