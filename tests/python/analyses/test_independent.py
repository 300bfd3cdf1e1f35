"""The analyses' numbers against independent computations and published answers.

Each test recomputes a quantity directly (numpy/pandas formulas written out here) or takes a
published value, and compares at a stated precision.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.stats.proportion import proportion_confint
from statsmodels.tsa.exponential_smoothing.ets import ETSModel

from analysis_py.analyses import _ets
from analysis_py.analyses._stats import auc, design_matrix, robust_z, wilson_ci
from analysis_py.analyses.compare import Compare, _newcombe
from analysis_py.analyses.compare import Params as CompareParams
from analysis_py.analyses.drivers import Drivers
from analysis_py.analyses.drivers import Params as DriversParams
from analysis_py.analyses.forecast import mase, smape
from analysis_py.analyses.impact import Impact
from analysis_py.analyses.impact import Params as ImpactParams


@pytest.fixture(scope="module")
def cases() -> pd.DataFrame:
    """Simulated cases with known multiplicative effects and client clusters."""
    rng = np.random.default_rng(3)
    n = 4000
    df = pd.DataFrame(
        {
            "channel": rng.choice(["portal", "chat", "email"], n, p=[0.4, 0.3, 0.3]),
            "priority": rng.choice(["P2", "P3"], n),
            "client_id": rng.integers(0, 80, n).astype(str),
        }
    )
    mult = df["channel"].map({"portal": 1.0, "chat": 0.7, "email": 1.2}) * df["priority"].map(
        {"P2": 0.6, "P3": 1.0}
    )
    client = pd.Series(rng.normal(0, 0.2, 80)).iloc[df["client_id"].astype(int)].to_numpy()
    df["hours"] = 10 * mult * np.exp(rng.normal(0, 0.8, n) + client)
    return df


def test_ets_recursion_matches_statsmodels_smooth():
    rng = np.random.default_rng(1)
    n, m = 150, 7
    t = np.arange(n)
    x = 5 + 0.01 * t + np.array([0.3, 0.2, 0.1, 0, 0, -0.3, -0.3])[t % m] + rng.normal(0, 0.1, n)
    l0, b0, s0 = _ets.initial_states(x, m)
    a, b, g, phi = 0.3, 0.05, 0.1, 0.9
    for damped in (False, True):
        mod = ETSModel(
            x,
            error="add",
            trend="add" if damped else None,
            damped_trend=damped,
            seasonal="add",
            seasonal_periods=m,
            initialization_method="known",
            initial_level=l0,
            initial_trend=b0 if damped else None,
            initial_seasonal=s0,
        )
        ref = mod.smooth(np.array([a, b, g, phi] if damped else [a, g]))
        one = (np.array([a]), np.array([b]), np.array([g]), np.array([phi]))
        sse, fitted, lev, tr, seas = _ets.smooth(x, m, *one, l0, b0, s0, damped)
        np.testing.assert_allclose(fitted[0], np.asarray(ref.fittedvalues), rtol=0, atol=1e-8)
        np.testing.assert_allclose(sse[0], np.sum(np.asarray(ref.resid) ** 2), rtol=1e-10)
        # the h-step forecast from the final states equals statsmodels' forecast
        res = _ets.ETSFit(
            form="AAdA" if damped else "ANA",
            alpha=a,
            beta=b if damped else 0.0,
            gamma=g,
            phi=phi if damped else 1.0,
            level=lev[0],
            trend=tr[0],
            season=seas[0],
            sigma2=1.0,
            aic=0.0,
            fitted=fitted[0],
            m=m,
        )
        np.testing.assert_allclose(res.forecast(10)[0], np.asarray(ref.forecast(10)), atol=1e-8)


def test_ols_multiplier_equals_ratio_of_geometric_means(cases):
    """Saturated one-factor model: exp(β) is the ratio of geometric means, to 1e-8."""
    res = Drivers(
        cases,
        DriversParams(outcome="hours", factors={"channel": "portal"}, controls=[], cluster=None),
    ).fit()
    eff = res.tables["effects"].set_index("level")
    gm = np.exp(np.log(cases["hours"]).groupby(cases["channel"]).mean())
    for level in ("chat", "email"):
        assert eff.loc[level, "estimate"] == pytest.approx(gm[level] / gm["portal"], abs=1e-8)


def test_ols_hc3_and_cluster_se_match_direct_sandwich(cases):
    res = Drivers(
        cases,
        DriversParams(
            outcome="hours",
            factors={"channel": "portal", "priority": "P3"},
            controls=[],
            cluster="client_id",
        ),
    ).fit()
    X, _ = design_matrix(cases, {"channel": "portal", "priority": "P3"})
    Xn = X.to_numpy()
    y = np.log(cases["hours"].to_numpy())
    n, k = Xn.shape
    XtXi = np.linalg.inv(Xn.T @ Xn)
    beta = XtXi @ Xn.T @ y
    e = y - Xn @ beta
    h = np.einsum("ij,jk,ik->i", Xn, XtXi, Xn)
    hc3 = XtXi @ (Xn.T * (e**2 / (1 - h) ** 2)) @ Xn @ XtXi
    g = pd.factorize(cases["client_id"])[0]
    G = g.max() + 1
    scores = np.zeros((G, k))
    np.add.at(scores, g, Xn * e[:, None])
    cl = XtXi @ (scores.T @ scores) @ XtXi * (G / (G - 1)) * ((n - 1) / (n - k))
    cols = list(X.columns)
    ols = res.extra["ols"]
    np.testing.assert_allclose(ols.params.to_numpy(), beta, atol=1e-8)
    np.testing.assert_allclose(ols.bse.to_numpy(), np.sqrt(np.diag(cl)), rtol=1e-8)
    np.testing.assert_allclose(
        res.extra["ols_hc3"].bse.to_numpy(), np.sqrt(np.diag(hc3)), rtol=1e-8
    )
    eff = res.tables["effects"].set_index("level")
    j = cols.index("channel[chat]")
    assert eff.loc["chat", "ci_low"] == pytest.approx(
        np.exp(beta[j] - 1.959963984540054 * np.sqrt(cl[j, j])), rel=1e-8
    )


def test_logit_matches_published_spector_mazzeo():
    """Greene, Econometric Analysis, Table 21.1 (Spector & Mazzeo 1980 data shipped with
    statsmodels): const −13.0213, GPA 2.82611, TUCE 0.095158, PSI 2.37869."""
    data = sm.datasets.spector.load_pandas().data
    data["PSI"] = data["PSI"].astype(int).astype(str)
    res = Drivers(
        data,
        DriversParams(
            model="logit",
            outcome="GRADE",
            factors={"PSI": "0"},
            controls=[],
            numeric=["GPA", "TUCE"],
            holdout_share=0.0,
            cluster=None,
            date_column=None,
        ),
    ).fit()
    p = res.extra["logit"].params
    assert p["const"] == pytest.approx(-13.0213, abs=1e-3)
    assert p["GPA"] == pytest.approx(2.82611, abs=1e-4)
    assert p["TUCE"] == pytest.approx(0.095158, abs=1e-5)
    assert p["PSI[1]"] == pytest.approx(2.37869, abs=1e-4)
    eff = res.tables["effects"].set_index("factor")
    assert eff.loc["PSI", "estimate"] == pytest.approx(np.exp(2.37869), rel=1e-4)


def test_auc_equals_pairwise_count():
    rng = np.random.default_rng(0)
    y = rng.random(300) < 0.3
    s = rng.normal(size=300) + y
    s[:20] = np.round(s[:20])  # some ties
    pos, neg = s[y], s[~y]
    direct = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (
        len(pos) * len(neg)
    )
    assert auc(y, s) == pytest.approx(direct, abs=1e-12)


def test_wilson_and_newcombe():
    lo, hi = wilson_ci(np.array([81]), np.array([263]))
    ref = proportion_confint(81, 263, method="wilson")
    assert (lo[0], hi[0]) == pytest.approx(ref, abs=1e-12)
    # Newcombe (1998), Statistics in Medicine 17:873, Table II example (56/70 vs 48/80), method 10
    lo, hi = _newcombe(56, 70, 48, 80, 0.05)
    assert (round(lo, 4), round(hi, 4)) == (0.0524, 0.3339)


def test_compare_adjusted_p_values_are_holm():
    counts = pd.DataFrame(
        {
            "level": list("abcd"),
            "n": [5000, 4000, 3000, 2000],
            "successes": [4500, 3560, 2730, 1760],
        }
    )
    res = Compare(counts, CompareParams(group="g", reference="a", cost_column=None)).fit()
    eff = res.tables["effects"].sort_values("p_value")
    m = len(eff)
    holm = np.maximum.accumulate([min(1, (m - i) * p) for i, p in enumerate(eff["p_value"])])
    np.testing.assert_allclose(eff["p_value_adjusted"], holm, rtol=1e-12)


def test_mase_and_smape_direct():
    rng = np.random.default_rng(2)
    train = rng.poisson(50, 100).astype(float)
    actual = rng.poisson(50, 14).astype(float)
    fc = actual + rng.normal(0, 5, 14)
    scale = np.mean(np.abs(train[7:] - train[:-7]))
    assert mase(actual, fc, train, 7) == pytest.approx(
        np.mean(np.abs(actual - fc)) / scale, abs=1e-12
    )
    assert smape(actual, fc) == pytest.approx(
        100 * np.mean(2 * np.abs(actual - fc) / (np.abs(actual) + np.abs(fc))), abs=1e-12
    )
    assert smape([0, 0], [0, 0]) == 0.0


def test_its_hac_matches_direct_newey_west():
    """ITS standard error equals a Newey–West sandwich written out in numpy (Bartlett weights)."""
    rng = np.random.default_rng(5)
    days = pd.date_range("2024-01-01", "2025-06-30", freq="D")
    rows = []
    for d in days:
        k = 3
        post = d >= pd.Timestamp("2025-01-01")
        y = np.exp(2 + rng.normal(0, 0.5, k) + (np.log(0.8) if post else 0))
        rows += [{"d": d, "g": "T", "y": v, "c": "x"} for v in y]
    df = pd.DataFrame(rows)
    params = ImpactParams(
        outcome="y",
        treated_column="g",
        treated_value="T",
        change_date="2025-01-01",
        date_column="d",
        methods=["its"],
        controls=[],
        cluster=None,
        hac_lags=3,
    )
    res = Impact(df, params).fit()
    fit = res.extra["its"]
    X = fit.model.exog
    w = fit.model.weights
    Xw = X * np.sqrt(w)[:, None]
    e = np.asarray(fit.resid) * np.sqrt(w)
    XtXi = np.linalg.inv(Xw.T @ Xw)
    u = Xw * e[:, None]
    S = u.T @ u
    for lag in range(1, 4):
        wl = 1 - lag / 4
        G = u[lag:].T @ u[:-lag]
        S += wl * (G + G.T)
    cov = XtXi @ S @ XtXi
    np.testing.assert_allclose(fit.bse.to_numpy(), np.sqrt(np.diag(cov)), rtol=1e-8)
    row = res.tables["effects"].iloc[0]
    assert row["ci_low"] < 0.8 < row["ci_high"]


def test_robust_z_ignores_outliers():
    x = np.r_[np.random.default_rng(0).normal(0, 1, 1000), 50.0]
    z = robust_z(x)
    assert abs(z[-1]) > 40
    assert np.median(np.abs(z[:-1])) == pytest.approx(0.674, abs=0.08)


def test_mantel_haenszel_difference_and_cmh_by_hand():
    """Two strata with opposite mix: the pooled difference is confounded, the MH one is not."""
    from scipy import stats as st

    from analysis_py.analyses.compare import Compare
    from analysis_py.analyses.compare import Params as CompareParams

    # stratum A: rates 0.90 vs 0.85; stratum B: 0.60 vs 0.55 — a +0.05 difference in both,
    # but level x is mostly in B and the reference mostly in A
    sc = pd.DataFrame(
        {
            "level": ["x", "ref", "x", "ref"],
            "stratum": ["A", "A", "B", "B"],
            "n": [200, 2000, 2000, 200],
            "successes": [180, 1700, 1200, 110],
        }
    )
    counts = sc.groupby("level", as_index=False)[["n", "successes"]].sum()
    res = Compare(
        counts,
        CompareParams(group="g", reference="ref", strata=["s"], cost_column=None),
        strata_counts=sc,
    ).fit()
    eff = res.tables["effects"]
    raw = eff[~eff.method.str.contains("Mantel")].iloc[0]
    mh = eff[eff.method.str.contains("Mantel")].iloc[0]
    assert raw["estimate"] < -0.1  # confounded by the mix
    w = np.array([200 * 2000 / 2200, 2000 * 200 / 2200])
    d = np.array([0.90 - 0.85, 0.60 - 0.55])
    v = np.array([0.9 * 0.1 / 200 + 0.85 * 0.15 / 2000, 0.6 * 0.4 / 2000 + 0.55 * 0.45 / 200])
    assert mh["estimate"] == pytest.approx((w * d).sum() / w.sum())
    assert mh["std_error"] == pytest.approx(np.sqrt((w**2 * v).sum()) / w.sum())
    # Cochran–Mantel–Haenszel: Σ(a − E a)² / Σ Var(a), hypergeometric moments per stratum
    num, var = 0.0, 0.0
    for a, n1, c, n0 in ((180, 200, 1700, 2000), (1200, 2000, 110, 200)):
        n, m1 = n1 + n0, a + c
        num += a - n1 * m1 / n
        var += n1 * n0 * m1 * (n - m1) / (n**2 * (n - 1))
    assert mh["p_value"] == pytest.approx(st.chi2.sf(num**2 / var, 1), rel=1e-6)
    assert "differs" in res.finding or "does not differ" in res.finding


def test_compare_says_no_difference_without_evidence():
    from analysis_py.analyses.compare import Compare
    from analysis_py.analyses.compare import Params as CompareParams

    counts = pd.DataFrame({"level": ["a", "b"], "n": [1000, 1000], "successes": [500, 500]})
    res = Compare(counts, CompareParams(group="g", reference="a", cost_column=None)).fit()
    assert "does not differ detectably" in res.finding
    assert "p = 0" not in res.finding


def test_drivers_period_split_and_identity_outcome_match_group_means():
    """One factor, no controls: each period's effect is the ratio of geometric means (log)
    or the difference of means (identity), and p-values are Holm-adjusted across rows."""
    from statsmodels.stats.multitest import multipletests

    from analysis_py.analyses.drivers import Drivers
    from analysis_py.analyses.drivers import Params as DriversParams

    rng = np.random.default_rng(9)
    n = 4000
    df = pd.DataFrame(
        {
            "d": pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 200, n), "D"),
            "g": rng.choice(["a", "b"], n),
        }
    )
    late = df["d"] >= "2025-04-01"
    mult = np.where(df["g"] == "b", np.where(late, 0.6, 0.9), 1.0)
    df["y"] = np.exp(rng.normal(1, 0.3, n)) * mult
    params = DriversParams(
        outcome="y",
        factors={"g": "a"},
        controls=[],
        cluster=None,
        date_column="d",
        period_split="2025-04-01",
    )
    eff = Drivers(df, params).fit().tables["effects"].set_index("period")
    for label, part in (("before 2025-04-01", df[~late]), ("from 2025-04-01", df[late])):
        gm = np.exp(np.log(part["y"]).groupby(part["g"]).mean())
        assert eff.loc[label, "estimate"] == pytest.approx(gm["b"] / gm["a"], rel=1e-9)
    assert eff["p_value_adjusted"].tolist() == pytest.approx(
        multipletests(eff["p_value"], method="holm")[1].tolist()
    )
    ident = DriversParams(
        outcome="y", transform="identity", factors={"g": "a"}, controls=[], cluster=None
    )
    row = Drivers(df, ident).fit().tables["effects"].iloc[0]
    means = df.groupby("g")["y"].mean()
    assert row["scale"] == "difference"
    assert row["estimate"] == pytest.approx(means["b"] - means["a"], rel=1e-9)
