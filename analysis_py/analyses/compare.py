"""Compare proportions across slices (e.g. STP rate by rail or period) with honest uncertainty.

Counts are aggregated in the engine (one row per group), so this scales to any table size.
Each level is compared with a reference by a two-proportion z-test with a Newcombe (Wilson
hybrid) confidence interval for the difference; with many slices the p-values are adjusted
(Holm by default) so "significant" keeps its meaning. Power says whether a non-significant
difference is evidence of no difference or merely too little data: the power to detect the
observed difference and the minimum detectable difference at 80% power are reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    proportion_effectsize,
    proportions_chisquare,
    proportions_ztest,
)

from analysis_py.analyses._stats import wilson_ci
from analysis_py.analyses.base import AnalysisResults
from analysis_py.errors import InputError


@dataclass(frozen=True)
class Params:
    """Parameters of a ``compare`` spec."""

    success: str = "is_stp"
    group: str = "rail"
    reference: str | None = None
    #: compare before/after change_date on this date column instead of across group levels
    period_column: str | None = None
    change_date: str | None = None
    #: adjust for mix: compare within each combination of these columns (Mantel–Haenszel)
    strata: list[str] = field(default_factory=list)
    alpha: float = 0.05
    correction: str = "holm"
    power: float = 0.8
    cost_column: str | None = "repair_minutes"
    #: what one ``cost_unit`` costs, in ``currency``
    cost_per_unit: float = 1.0
    cost_unit: str = "repair minute"
    currency: str = "USD"
    where: str | None = None


class Compare:
    def __init__(
        self,
        counts: pd.DataFrame,
        params: Params,
        *,
        group: str | None = None,
        strata_counts: pd.DataFrame | None = None,
        where: str = "parameters",
    ):
        """``counts``: one row per level with columns ``level``, ``n``, ``successes`` and,
        optionally, ``cost_total`` (e.g. repair minutes summed over failures);
        ``strata_counts``: the same per ``level`` × ``stratum`` for a mix-adjusted comparison."""
        group = group or params.group
        reference = params.reference
        success = params.success
        counts = counts[counts["n"] > 0].copy()
        counts["level"] = counts["level"].astype(str)
        if len(counts) < 2:
            raise InputError(f"{where}.group: '{group}' has fewer than two levels with data")
        if counts["successes"].isna().all():
            raise InputError(f"{where}.success: '{success}' is entirely null")
        self.counts = counts.sort_values("n", ascending=False).reset_index(drop=True)
        if reference is None:
            reference = self.counts["level"].iloc[0]
        if str(reference) not in set(self.counts["level"]):
            raise InputError(f"{where}.reference: '{reference}' is not a level of '{group}'")
        self.reference = str(reference)
        self.group = group
        self.alpha = params.alpha
        self.correction = params.correction
        self.power = params.power
        self.cost_per_unit = params.cost_per_unit if "cost_total" in counts else None
        self.cost_unit = params.cost_unit
        self.currency = params.currency
        self.success = success
        self.strata = list(params.strata)
        self.strata_counts = strata_counts

    def fit(self) -> AnalysisResults:
        c = self.counts
        c["rate"] = c["successes"] / c["n"]
        c["ci_low"], c["ci_high"] = wilson_ci(c["successes"], c["n"], self.alpha)
        ref = c[c.level == self.reference].iloc[0]
        _chi2, p_all, _ = proportions_chisquare(c["successes"].to_numpy(), c["n"].to_numpy())
        pw = NormalIndPower()
        rows = []
        for r in c[c.level != self.reference].itertuples():
            k = np.array([r.successes, ref.successes])
            n = np.array([r.n, ref.n])
            _, p = proportions_ztest(k, n)
            diff = r.rate - ref.rate
            lo, hi = _newcombe(r.successes, r.n, ref.successes, ref.n, self.alpha)
            es = (
                proportion_effectsize(r.rate, ref.rate)
                if 0 < r.rate < 1 or 0 < ref.rate < 1
                else 0.0
            )
            achieved = (
                float(pw.power(abs(es), nobs1=r.n, ratio=ref.n / r.n, alpha=self.alpha))
                if es
                else float("nan")
            )
            mde_h = float(
                pw.solve_power(nobs1=r.n, ratio=ref.n / r.n, alpha=self.alpha, power=self.power)
            )
            # convert Cohen's h back to a difference in proportions around the reference rate
            p0 = float(np.clip(ref.rate, 1e-6, 1 - 1e-6))
            mde = float(np.sin(np.arcsin(np.sqrt(p0)) + mde_h / 2) ** 2 - p0)
            rows.append(
                {
                    "factor": self.group,
                    "level": r.level,
                    "reference_level": self.reference,
                    "estimate": diff,
                    "std_error": float(
                        np.sqrt(r.rate * (1 - r.rate) / r.n + ref.rate * (1 - ref.rate) / ref.n)
                    ),
                    "ci_low": lo,
                    "ci_high": hi,
                    "p_value": float(p),
                    "scale": "difference",
                    "method": "two-proportion z-test, Newcombe CI",
                    "outcome": self.success,
                    "n_obs": int(r.n + ref.n),
                    "power_observed": achieved,
                    "min_detectable_difference": abs(mde),
                }
            )
        eff = pd.DataFrame(rows)
        if len(eff):
            eff["p_value_adjusted"] = multipletests(
                eff["p_value"], alpha=self.alpha, method=self.correction
            )[1]
        sig = eff[eff["p_value_adjusted"] < self.alpha] if len(eff) else eff
        best = c.sort_values("rate", ascending=False).iloc[0]
        worst = c.sort_values("rate").iloc[0]
        verdict = (
            f"differs across {self.group} (χ² p {_p(p_all)})"
            if p_all < self.alpha
            else f"does not differ detectably across {self.group} (χ² p {_p(p_all)})"
        )
        finding = (
            f"{self.success} {verdict}: from "
            f"{worst.rate:.1%} for {worst.level} (95% CI {worst.ci_low:.1%}–{worst.ci_high:.1%}) to "
            f"{best.rate:.1%} for {best.level}. Against {self.reference} ({ref.rate:.1%}), "
            f"{len(sig)} of {len(eff)} levels differ after {self.correction} correction."
        )
        mh = pd.DataFrame()
        per_stratum = pd.DataFrame()
        if self.strata_counts is not None and len(self.strata_counts):
            mh, per_stratum = self._mantel_haenszel()
            eff = pd.concat([eff, mh], ignore_index=True)
            lines = [
                f"{r.level}: {r.estimate:+.2%} (95% CI {r.ci_low:+.2%} to {r.ci_high:+.2%})"
                for r in mh.itertuples()
            ]
            finding += (
                f" Within {' × '.join(self.strata)} (Mantel–Haenszel, mix-adjusted) vs "
                f"{self.reference}: " + "; ".join(lines) + "."
            )
        res = AnalysisResults(
            analysis="compare",
            title=f"{self.success} by {self.group}",
            finding=finding,
            method=(
                "Counts per level computed in the warehouse; Wilson 95% CIs per level; each level "
                f"vs {self.reference} by a two-proportion z-test with a Newcombe CI for the "
                f"difference; {self.correction} adjustment across levels; power from Cohen's h."
            ),
            assumptions=[
                "Observations are independent within and across levels.",
                (
                    f"The mix-adjusted rows compare levels within {', '.join(self.strata)}; the "
                    "others compare levels as observed."
                    if self.strata
                    else "Levels are compared as observed, without adjusting for their mix of other factors (set strata to adjust)."
                ),
            ],
            limitations=[
                "Correlated observations (e.g. one client's payments) make the CIs too narrow.",
                "Differences are associations; see drivers/impact for adjusted or causal designs.",
            ],
            tables={
                "effects": eff,
                "proportions": c,
                **({"strata": per_stratum} if len(per_stratum) else {}),
            },
        )
        res.add_measure("chi2_p_value", p_all, "intrinsic")
        res.add_measure("levels_differing", len(sig), "intrinsic")
        if self.cost_per_unit and "cost_total" in c:
            total = float(c["cost_total"].sum() * self.cost_per_unit)
            res.add_measure(
                "cost_total",
                total,
                "extrinsic",
                self.currency,
                f"{self.cost_unit}s × {self.cost_per_unit:g} {self.currency}",
            )
            failures = (c["n"] - c["successes"]).clip(lower=1)
            unit_cost = c["cost_total"] / failures
            gap = (
                ((best.rate - c["rate"]) * c["n"] * unit_cost * self.cost_per_unit)
                .clip(lower=0)
                .sum()
            )
            res.add_measure(
                "cost_avoidable_at_best_rate",
                float(gap),
                "extrinsic",
                self.currency,
                f"if every {self.group} reached {best.level}'s rate",
            )
            res.finding += (
                f" Repairs cost {total:,.0f} {self.currency} ({self.cost_unit}s at "
                f"{self.cost_per_unit:g} {self.currency} each); reaching the best level's rate "
                f"everywhere would avoid about {gap:,.0f} {self.currency}."
            )
        differs = p_all < self.alpha
        res.headline = (
            f"{self.success} ranges from {worst.rate:.1%} ({worst.level}) to {best.rate:.1%} "
            f"({best.level}) across {self.group}"
            + ("." if differs else ", within what chance allows.")
        )
        if differs and self.cost_per_unit and "cost_total" in c:
            res.recommendation = (
                f"Start with {worst.level}: bringing every {self.group} to {best.level}'s rate "
                f"would avoid about {gap:,.0f} {self.currency} of the {total:,.0f} "
                f"{self.currency} spent on {self.cost_unit}s."
            )
        elif differs:
            res.recommendation = (
                f"Look at {worst.level} first: it is furthest below {best.level} "
                f"({(best.rate - worst.rate):.1%} points)."
            )
        else:
            res.recommendation = (
                f"No {self.group} stands out; nothing to act on from this comparison."
            )
        res.plot_fns["proportions"] = lambda: _plot(c, self.success)
        return res

    def _mantel_haenszel(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Risk difference vs the reference pooled over strata with Mantel–Haenszel weights
        w = n₁n₀/(n₁+n₀) and the large-strata variance Σw²·v / (Σw)²; CMH test of no
        association from statsmodels' StratifiedTable."""
        from statsmodels.stats.contingency_tables import StratifiedTable

        sc = self.strata_counts.copy()
        sc["level"] = sc["level"].astype(str)
        ref = sc[sc.level == self.reference].set_index("stratum")
        rows, strata_rows = [], []
        for level, g in sc[sc.level != self.reference].groupby("level", sort=True):
            g = g.set_index("stratum").join(ref, how="inner", suffixes=("", "_ref"))
            g = g[(g["n"] > 0) & (g["n_ref"] > 0)]
            if g.empty:
                continue
            p1, p0 = g["successes"] / g["n"], g["successes_ref"] / g["n_ref"]
            w = g["n"] * g["n_ref"] / (g["n"] + g["n_ref"])
            v = p1 * (1 - p1) / g["n"] + p0 * (1 - p0) / g["n_ref"]
            rd = float((w * (p1 - p0)).sum() / w.sum())
            se = float(np.sqrt((w**2 * v).sum()) / w.sum())
            tables = [
                np.array(
                    [
                        [r.successes, r.n - r.successes],
                        [r.successes_ref, r.n_ref - r.successes_ref],
                    ],
                    dtype=float,
                )
                for r in g.itertuples()
            ]
            try:
                p = float(StratifiedTable(tables).test_null_odds(correction=False).pvalue)
            except (ValueError, ZeroDivisionError, np.linalg.LinAlgError):
                p = float("nan")
            z = float(stats.norm.ppf(1 - self.alpha / 2))
            rows.append(
                {
                    "factor": self.group,
                    "level": level,
                    "reference_level": self.reference,
                    "estimate": rd,
                    "std_error": se,
                    "ci_low": rd - z * se,
                    "ci_high": rd + z * se,
                    "p_value": p,
                    "scale": "difference",
                    "method": f"Mantel–Haenszel risk difference within {' × '.join(self.strata)}, CMH test",
                    "outcome": self.success,
                    "n_obs": int(g["n"].sum() + g["n_ref"].sum()),
                }
            )
            for stratum, r in g.iterrows():
                d = r.successes / r.n - r.successes_ref / r.n_ref
                lo, hi = _newcombe(r.successes, r.n, r.successes_ref, r.n_ref, self.alpha)
                strata_rows.append(
                    {
                        "level": level,
                        "reference_level": self.reference,
                        "stratum": stratum,
                        "n": int(r.n),
                        "n_reference": int(r.n_ref),
                        "difference": d,
                        "ci_low": lo,
                        "ci_high": hi,
                        "weight": float(w[stratum] / w.sum()),
                    }
                )
        mh = pd.DataFrame(rows)
        if len(mh):
            mh["p_value_adjusted"] = multipletests(
                mh["p_value"].fillna(1.0), alpha=self.alpha, method=self.correction
            )[1]
        return mh, pd.DataFrame(strata_rows)


def _p(p: float) -> str:
    """A p-value in words a reader can use: never "p = 0"."""
    if not np.isfinite(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"= {p:.3f}" if p < 0.1 else f"= {p:.2f}"


def _newcombe(k1, n1, k2, n2, alpha):
    l1, u1 = wilson_ci(k1, n1, alpha)
    l2, u2 = wilson_ci(k2, n2, alpha)
    p1, p2 = k1 / n1, k2 / n2
    d = p1 - p2
    lo = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    hi = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return float(lo), float(hi)


def _plot(c: pd.DataFrame, label: str):
    import matplotlib.pyplot as plt

    c = c.sort_values("rate")
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(c) + 1.2))
    y = np.arange(len(c))
    ax.errorbar(
        c["rate"],
        y,
        xerr=[c["rate"] - c["ci_low"], c["ci_high"] - c["rate"]],
        fmt="o",
        color="#1f4e79",
        capsize=3,
    )
    ax.set_yticks(y)
    ax.set_yticklabels(c["level"])
    ax.set_xlabel(f"{label} rate with 95% CI")
    fig.tight_layout()
    return fig


def run(inputs, spec) -> AnalysisResults:
    p: Params = spec.params()
    where = f"spec '{spec.name}'"
    cols = [p.success, p.period_column or p.group, *p.strata]
    t = inputs.spec_table(spec, cols, p.where)
    if p.period_column:
        if not p.change_date:
            raise InputError(f"{where}: parameters.change_date is required with period_column")
        level = (t[p.period_column] >= p.change_date).ifelse("after", "before")
        group = "period"
    else:
        level = t[p.group].cast("string")
        group = p.group
    s = t[p.success]
    aggs = {"n": s.count(), "successes": s.cast("int64").sum()}
    counts_aggs = dict(aggs)
    if p.cost_column and p.cost_column in t.columns:
        counts_aggs["cost_total"] = t[p.cost_column].cast("float64").sum()
    counts = t.group_by(level.name("level")).aggregate(**counts_aggs).to_pandas()
    if counts["n"].sum() == 0:
        raise InputError(f"{where}: parameters.success: '{p.success}' is entirely null")
    if "cost_total" in counts:
        counts["cost_total"] = counts["cost_total"].fillna(0.0)
    strata = None
    if p.strata:
        parts = [t[c].cast("string").fill_null("<null>") for c in p.strata]
        stratum = parts[0]
        for part in parts[1:]:
            stratum = stratum.concat(" | ", part)
        strata = (
            t.group_by([level.name("level"), stratum.name("stratum")]).aggregate(**aggs).to_pandas()
        )
    return Compare(counts, p, group=group, strata_counts=strata, where=f"{where}: parameters").fit()
