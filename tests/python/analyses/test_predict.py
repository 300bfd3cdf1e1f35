"""The ``predict`` analysis: its evaluation helpers against scikit-learn and statsmodels-free
hand computations, its threshold against the analytic optimum on data with known risks, and
the shipped SLA spec's reported value recomputed independently from the saved model and the
warehouse by plain SQL."""

from __future__ import annotations

import dataclasses
import json

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from analysis_py.analyses import predict, runner, store
from analysis_py.analyses import spec as spec_mod
from analysis_py.errors import InputError, SpecError

COSTS = {"cost_per_flag": 50.0, "cost_per_breach": 500.0, "effectiveness": 0.5}


def _scores(n=3000, seed=1, ties=True):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0, 1, n)
    if ties:
        p = np.round(p, 2)
    y = rng.uniform(0, 1, n) < p
    return p, y


def test_net_value_curve_matches_brute_force():
    p, y = _scores()
    curve = predict.net_value_curve(p, y, **COSTS)
    for t in [*np.unique(p)[::7], np.inf]:
        f = p >= t
        tp, fp = int((f & y).sum()), int((f & ~y).sum())
        row = curve[curve.threshold == t].iloc[0]
        assert (row.tp, row.fp, row.flagged) == (tp, fp, tp + fp)
        assert row.net_value == pytest.approx(0.5 * tp * 500 - (tp + fp) * 50)


def test_ranking_metrics_match_scikit_learn():
    for ties in (True, False):
        p, y = _scores(ties=ties)
        assert predict.average_precision(y, p) == pytest.approx(average_precision_score(y, p))
        from analysis_py.analyses._stats import auc

        assert auc(y, p) == pytest.approx(roc_auc_score(y, p))


def test_calibration_line_matches_independent_fits():
    from scipy.optimize import brentq

    rng = np.random.default_rng(3)
    lp_true = rng.normal(-1.5, 1.0, 20000)
    y = rng.uniform(size=lp_true.size) < 1 / (1 + np.exp(-lp_true))
    # too extreme (slope 1/1.5) ...
    p = 1 / (1 + np.exp(-1.5 * lp_true))
    line = predict.calibration_line(p, y)
    lp = np.log(p / (1 - p))
    ref = LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-10)
    ref.fit(lp.reshape(-1, 1), y)
    assert line["slope"] == pytest.approx(ref.coef_[0, 0], rel=1e-4)
    assert line["slope"] == pytest.approx(1 / 1.5, abs=0.05)
    # ... and too high by 0.5 on the log-odds scale: intercept ≈ −0.5, the root of the
    # score equation Σ y − expit(a + logit p) = 0
    p = 1 / (1 + np.exp(-(lp_true + 0.5)))
    line = predict.calibration_line(p, y)
    lp = np.log(p / (1 - p))
    root = brentq(lambda a: float(np.sum(y - 1 / (1 + np.exp(-(a + lp))))), -5, 5, xtol=1e-12)
    assert line["intercept"] == pytest.approx(root, abs=1e-6)
    assert line["intercept"] == pytest.approx(-0.5, abs=3 * line["intercept_se"])
    assert line["slope"] == pytest.approx(1, abs=0.05)


def test_psi_hand_computed():
    e = pd.Series(["a"] * 50 + ["b"] * 50)
    a = pd.Series(["a"] * 80 + ["b"] * 20)
    expected = (0.8 - 0.5) * np.log(0.8 / 0.5) + (0.2 - 0.5) * np.log(0.2 / 0.5)
    assert predict.psi(e, a) == pytest.approx(expected)
    assert predict.psi(e, e) == 0
    x = pd.Series(np.arange(1000.0))
    assert predict.psi(x, x, numeric=True) == pytest.approx(0, abs=1e-12)
    assert predict.psi(x, x + 500, numeric=True) > 1


def _synthetic(n=40000, seed=5):
    """Risks known exactly: logit = −2.2 + priority + channel, stable over 400 days."""
    rng = np.random.default_rng(seed)
    pr = rng.choice(["P1", "P2", "P3"], n, p=[0.2, 0.3, 0.5])
    ch = rng.choice(["chat", "email", "phone"], n)
    lp = -2.2 + pd.Series(pr).map({"P1": 1.6, "P2": 0.7, "P3": 0.0}).to_numpy()
    lp += pd.Series(ch).map({"chat": -0.5, "email": 0.6, "phone": 0.0}).to_numpy()
    risk = 1 / (1 + np.exp(-lp))
    day = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 400, n), "D")
    return pd.DataFrame(
        {
            "case_id": np.arange(n).astype(str),
            "opened_date": day,
            "priority": pr,
            "channel": ch,
            "is_breached": rng.uniform(size=n) < risk,
            "risk": risk,
        }
    )


def _params(**kw):
    return predict.Params(
        outcome="is_breached",
        features=["priority", "channel"],
        baseline_features=["priority"],
        n_bootstrap=50,
        score_where=None,
        **kw,
    )


def test_threshold_is_the_analytic_optimum_on_known_risks():
    df = _synthetic()
    res = predict.Predict(df.drop(columns="risk"), _params(), where="t").fit()
    # flagging a case is worth effectiveness·risk·cost_per_breach − cost_per_flag: positive
    # exactly when risk > 50 / (0.5·500) = 0.2
    art = res.extra["artifact"]
    flagged = art.score(df)["flagged"].to_numpy()
    clear = np.abs(df["risk"] - 0.2) > 0.03
    assert (flagged[clear] == (df["risk"] > 0.2)[clear]).all()
    m = res.measures_frame().set_index("measure")["value"]
    # the reported value is the value of that policy on the test period
    test = df[df.opened_date > df.opened_date.max() - pd.Timedelta(days=90)]
    f = art.score(test)["flagged"].to_numpy()
    yt = test["is_breached"].to_numpy()
    hand = 0.5 * (f & yt).sum() * 500 - f.sum() * 50
    assert m["net_value_test"] == pytest.approx(hand)
    assert m["net_value_test_low"] <= hand <= m["net_value_test_high"]
    # a model on the true features is calibrated: intercept ≈ 0, slope ≈ 1
    assert abs(m["calibration_intercept"]) < 0.15
    assert m["calibration_slope"] == pytest.approx(1, abs=0.2)
    assert not res.warnings
    scores = res.tables["model_scores"]
    chosen = scores[scores.is_chosen & (scores.split == "test")].set_index("metric")["value"]
    p_test = art.score(test)["probability"].to_numpy()
    assert chosen["auc"] == pytest.approx(roc_auc_score(yt, p_test))
    assert chosen["brier"] == pytest.approx(brier_score_loss(yt, p_test))
    base = scores[(scores.model == "baseline") & (scores.split == "test")]
    assert float(base[base.metric == "auc"]["value"].iloc[0]) < chosen["auc"]


def test_capacity_limit_is_respected_and_drift_is_flagged():
    df = _synthetic()
    recent = df[df.opened_date > df.opened_date.max() - pd.Timedelta(days=30)].copy()
    recent["channel"] = "email"  # the latest month is all email: the population moved
    res = predict.Predict(
        df.drop(columns="risk"), _params(capacity_share=0.1), recent_data=recent, where="t"
    ).fit()
    m = res.measures_frame().set_index("measure")["value"]
    assert m["flagged_share_test"] <= 0.1 + 0.01  # ties at the threshold may add a few
    curve = res.tables["net_value"]
    val = curve[curve.split == "validation"]
    assert val["net_value"].max() > val[val.flagged_share <= 0.1]["net_value"].max()
    drift = res.tables["drift"].set_index("feature")
    assert drift.loc["channel", "drifted"] and not drift.loc["priority", "drifted"]
    assert any("Drift: channel" in w for w in res.warnings)
    assert "Warning:" in res.finding


def test_bad_parameters_say_what_is_wrong():
    df = _synthetic(n=2000)
    with pytest.raises(InputError, match="candidates"):
        predict.Predict(df, _params(candidates=["forest"]), where="t")
    with pytest.raises(InputError, match="the test period has"):
        predict.Predict(df, _params(test_days=1), where="t").fit()
    with pytest.raises(InputError, match="lacks the model's feature columns: channel"):
        res = predict.Predict(df.drop(columns="risk"), _params(), where="t").fit()
        res.extra["artifact"].score(df.drop(columns="channel"))
    raw = {"name": "x", "analysis": "predict", "input": {"mart": "fct_cases"}}
    with pytest.raises(SpecError, match=r"parameters.test_days' must be an integer"):
        spec_mod.parse({**raw, "parameters": {"test_days": "90"}}, "t.yml")
    with pytest.raises(SpecError, match="did you mean 'cost_per_flag'"):
        spec_mod.parse({**raw, "parameters": {"cost_per_flags": 1}}, "t.yml")


@pytest.fixture(scope="module")
def sla_run(built_warehouse, tmp_path_factory):
    (spec,) = [s for s in spec_mod.load() if s.name == "sla_breach_risk"]
    spec = dataclasses.replace(spec, parameters={**spec.parameters, "n_bootstrap": 50})
    out = tmp_path_factory.mktemp("predict-out")
    (o,) = runner.run_specs([spec], duckdb_path=built_warehouse.duckdb_path, warehouse_dir=out)
    assert o.status == "success", o.error
    return built_warehouse, out, o


def test_shipped_sla_spec_value_recomputed_from_saved_model(sla_run):
    wh, out, o = sla_run
    art_dir = store.artifacts_dir(o.run_id, out)
    model = predict.load_model(art_dir / "model.pkl")
    card = json.loads((art_dir / "model_card.json").read_text())
    assert card["version"] == model.version
    start, end, n = card["periods"]["test"]
    con = duckdb.connect(str(wh.duckdb_path), read_only=True)
    try:
        test = con.sql(
            f"select * from main.fct_cases where opened_date between '{start}' and '{end}'"
        ).df()
        open_cases = con.execute(
            "select count(*) from main.fct_cases where not is_resolved"
        ).fetchall()[0]
    finally:
        con.close()
    assert len(test) == n
    scored = model.score(test)
    y = test["is_sla_breached"].to_numpy(bool)
    f = scored["flagged"].to_numpy()
    hand = 0.5 * (f & y).sum() * 500 - f.sum() * 50
    m = store.read_table("measures", out).set_index("measure")["value"]
    assert m["net_value_test"] == pytest.approx(hand)
    assert m["auc_test"] == pytest.approx(roc_auc_score(y, scored["probability"]))
    assert m["auc_test"] > m["auc_test_baseline"]
    # the threshold maximises net value on validation, as reported
    nv = store.read_table("net_value", out)
    val = nv[nv.split == "validation"]
    assert val.loc[val["net_value"].idxmax(), "threshold"] == pytest.approx(m["threshold"])
    preds = store.read_table("predictions", out)
    assert len(preds) == open_cases[0]
    assert set(preds["model_version"]) == {model.version}
    assert preds["probability"].between(0, 1).all()
    scores = store.read_table("model_scores", out)
    assert set(scores["model"]) == {"baseline", "logit", "boosting"}
    assert {p.name for p in art_dir.iterdir()} >= {
        "model.pkl",
        "model_card.md",
        "roc_pr.png",
        "net_value.png",
        "calibration.png",
    }
