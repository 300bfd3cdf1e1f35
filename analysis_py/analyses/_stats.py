"""Small statistical helpers shared by the analyses (design matrices, effect rows, AUC).

Each is a pure function on numpy/pandas so it can be checked against a direct computation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

Z95 = float(stats.norm.ppf(0.975))


def design_matrix(
    df: pd.DataFrame, factors: dict[str, str | None], numeric: list[str] | None = None
) -> tuple[pd.DataFrame, dict[str, tuple[str, str]]]:
    """Intercept + treatment-coded dummies (reference level dropped) + numeric columns.

    Returns the matrix and a map column name -> (factor, level) for the dummies. A reference
    of ``None`` uses the most frequent level, which keeps standard errors small.
    """
    cols = {"const": np.ones(len(df))}
    labels: dict[str, tuple[str, str]] = {}
    refs: dict[str, str] = {}
    for factor, ref in factors.items():
        values = df[factor].astype("string")
        levels = values.value_counts().index.tolist()
        ref = levels[0] if ref is None else str(ref)
        refs[factor] = ref
        for lev in sorted(levels):
            if lev == ref:
                continue
            name = f"{factor}[{lev}]"
            cols[name] = (values == lev).to_numpy(dtype=float)
            labels[name] = (factor, lev)
    for col in numeric or []:
        cols[col] = df[col].to_numpy(dtype=float)
    X = pd.DataFrame(cols, index=df.index)
    X.attrs["references"] = refs
    return X, labels


def effect_rows(
    params: pd.Series,
    bse: pd.Series,
    pvalues: pd.Series,
    labels: dict[str, tuple[str, str]],
    references: dict[str, str],
    *,
    scale: str,
    method: str,
    outcome: str,
    n_obs: int,
) -> pd.DataFrame:
    """One effects row per dummy; ``multiplier``/``odds_ratio`` scales exponentiate."""
    rows = []
    expo = scale in ("multiplier", "odds_ratio", "hazard_ratio", "time_ratio")
    for name, (factor, level) in labels.items():
        b, se = float(params[name]), float(bse[name])
        lo, hi = b - Z95 * se, b + Z95 * se
        rows.append(
            {
                "factor": factor,
                "level": level,
                "reference_level": references[factor],
                "estimate": np.exp(b) if expo else b,
                "std_error": np.exp(b) * se if expo else se,  # delta method on the ratio scale
                "ci_low": np.exp(lo) if expo else lo,
                "ci_high": np.exp(hi) if expo else hi,
                "p_value": float(pvalues[name]),
                "scale": scale,
                "method": method,
                "outcome": outcome,
                "n_obs": n_obs,
            }
        )
    return pd.DataFrame(rows)


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve by the rank (Mann–Whitney) formula, ties averaged."""
    y = np.asarray(y, dtype=bool)
    ranks = stats.rankdata(score)
    n1, n0 = y.sum(), (~y).sum()
    if n1 == 0 or n0 == 0:
        return float("nan")
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def wilson_ci(k: np.ndarray, n: np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    z = stats.norm.ppf(1 - alpha / 2)
    k = np.asarray(k, float)
    n = np.asarray(n, float)
    p = k / n
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return centre - half, centre + half


def robust_z(x: np.ndarray) -> np.ndarray:
    """(x − median) / (1.4826·MAD): a z-score that outliers cannot inflate."""
    x = np.asarray(x, float)
    med = np.nanmedian(x)
    mad = 1.4826 * np.nanmedian(np.abs(x - med))
    if not np.isfinite(mad) or mad == 0:
        mad = np.nanstd(x) or 1.0
    return (x - med) / mad


def reliability_table(p: np.ndarray, y: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Mean predicted vs observed rate per decile of predicted risk, with a 95% interval."""
    q = pd.qcut(pd.Series(p), bins, labels=False, duplicates="drop")
    df = pd.DataFrame({"bin": q, "p": p, "y": y.astype(float)})
    out = df.groupby("bin").agg(predicted=("p", "mean"), observed=("y", "mean"), n=("y", "size"))
    se = np.sqrt(out["observed"] * (1 - out["observed"]) / out["n"])
    out["ci_low"] = (out["observed"] - Z95 * se).clip(0, 1)
    out["ci_high"] = (out["observed"] + Z95 * se).clip(0, 1)
    return out.reset_index()


def psi(expected: pd.Series, actual: pd.Series, *, numeric: bool = False, bins: int = 10) -> float:
    """Population-stability index Σ (a − e)·ln(a / e) over levels (or train deciles)."""
    if numeric:
        e = pd.to_numeric(expected, errors="coerce").dropna()
        a = pd.to_numeric(actual, errors="coerce").dropna()
        edges = np.unique(np.quantile(e, np.linspace(0, 1, bins + 1)))
        if len(edges) < 2:
            return 0.0
        edges[0], edges[-1] = -np.inf, np.inf
        ep = np.histogram(e, edges)[0] / max(len(e), 1)
        ap = np.histogram(a, edges)[0] / max(len(a), 1)
    else:
        e = expected.astype("string").fillna("<null>")
        a = actual.astype("string").fillna("<null>")
        levels = sorted(set(e) | set(a))
        ep = e.value_counts(normalize=True).reindex(levels, fill_value=0).to_numpy(float)
        ap = a.value_counts(normalize=True).reindex(levels, fill_value=0).to_numpy(float)
    ep = np.clip(ep, 1e-4, None)
    ap = np.clip(ap, 1e-4, None)
    return float(np.sum((ap - ep) * np.log(ap / ep)))
