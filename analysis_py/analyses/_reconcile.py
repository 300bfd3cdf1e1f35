"""Forecast reconciliation: make slice forecasts add up to the total.

Base forecasts of a total and of its slices (one or more slicings, each a partition of the
total) are rarely coherent. Reconciliation projects them onto the coherent set, where every
slicing sums to the total:

* ``bottom_up`` — the total is the sum of the slices (one slicing only);
* ``ols`` — the orthogonal projection (every series weighted equally);
* ``mint`` — MinT (Wickramasuriya, Athanasopoulos & Hyndman 2019) with the shrinkage
  covariance of the base forecasts' backtest errors (Schäfer & Strimmer's λ, as in the
  ``hts``/``fable`` implementations): series that forecast badly move more.

The projection is written with constraints, ỹ = ŷ − W Cᵀ (C W Cᵀ)⁻¹ C ŷ, where each row of C
says "total − Σ members of one slicing = 0"; it equals the usual S(SᵀW⁻¹S)⁻¹SᵀW⁻¹ŷ form and
needs no bottom level, so several overlapping slicings (product; country) reconcile at once.

>>> import numpy as np
>>> y = np.array([[10.0, 4.0, 5.0]])          # total, a, b: 4 + 5 ≠ 10
>>> reconcile(y, [[1, 2]], method="ols").round(3)
array([[9.667, 4.333, 5.333]])
>>> reconcile(y, [[1, 2]], method="bottom_up")
array([[9., 4., 5.]])
"""

from __future__ import annotations

import numpy as np

METHODS = ("mint", "ols", "bottom_up", "none")


def shrink_cov(errors: np.ndarray) -> np.ndarray:
    """Shrinkage estimate of the error covariance towards its diagonal (Schäfer–Strimmer λ on
    the uncentred errors, as in ``hts::MinT``)."""
    e = np.asarray(errors, float)
    n = e.shape[0]
    cov = e.T @ e / n
    sd = np.sqrt(np.clip(np.diag(cov), 1e-12, None))
    corr = cov / np.outer(sd, sd)
    xs = e / sd
    v = (1 / (n * (n - 1))) * ((xs**2).T @ (xs**2) - (xs.T @ xs) ** 2 / n)
    np.fill_diagonal(v, 0.0)
    d = corr**2
    np.fill_diagonal(d, 0.0)
    lam = float(np.clip(v.sum() / d.sum(), 0.0, 1.0)) if d.sum() > 0 else 1.0
    return lam * np.diag(np.diag(cov)) + (1 - lam) * cov


def reconcile(
    base: np.ndarray,
    slicings: list[list[int]],
    *,
    total: int = 0,
    method: str = "mint",
    errors: np.ndarray | None = None,
) -> np.ndarray:
    """Reconciled forecasts, shape (periods, series) like ``base``; ``slicings`` lists the
    column indices of each slicing's members, ``total`` the total's column."""
    base = np.asarray(base, float)
    k = base.shape[1]
    if method == "none" or not slicings:
        return base.copy()
    if method == "bottom_up":
        if len(slicings) != 1:
            raise ValueError("bottom_up needs exactly one slicing; use mint or ols")
        out = base.copy()
        out[:, total] = base[:, slicings[0]].sum(axis=1)
        return out
    C = np.zeros((len(slicings), k))
    for r, members in enumerate(slicings):
        C[r, total] = 1.0
        C[r, members] = -1.0
    if method == "ols":
        W = np.eye(k)
    elif method == "mint":
        if errors is None or len(errors) < 3:
            raise ValueError("mint needs backtest errors of every series")
        W = shrink_cov(errors) + 1e-9 * np.eye(k)
    else:
        raise ValueError(f"unknown reconciliation '{method}' (one of {', '.join(METHODS)})")
    G = W @ C.T @ np.linalg.solve(C @ W @ C.T, C)
    return base - base @ G.T
