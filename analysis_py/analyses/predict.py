"""Predict a binary outcome (e.g. SLA breach), choose whom to flag, and judge it out of time.

The data are split **out of time** into train, validation and test periods (the last
``test_days`` are the test period, the ``validation_days`` before them validation, the rest
train). Candidate models are fitted on train only:

* ``baseline`` — a logistic regression on a few obvious features (priority), the rule of
  thumb any new model has to beat;
* ``logit`` — an L2-regularised logistic regression on every declared feature;
* ``boosting`` — scikit-learn's ``HistGradientBoostingClassifier`` (native categorical
  splits, interactions for free).

The model is chosen on validation (lowest log loss, a proper scoring rule, so a well-ranked
but badly calibrated model does not win) and so is the flagging threshold: the one that
maximises the **same** expected net value that is reported,

    net value = effectiveness · TP · cost_per_breach − (TP + FP) · cost_per_flag,

optionally with at most ``capacity_share`` of cases flagged. Everything that is reported —
AUC and PR-AUC with bootstrap intervals, Brier, calibration intercept and slope, gains, the
net value with its interval — is computed on the test period, which neither the fit nor any
choice has seen. The chosen model is saved (``model.pkl`` with a model card) and scores the
cases that have no outcome yet into ``analysis.predictions``; a population-stability index
per feature says whether the latest period still looks like the training data.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis_py.analyses._plots import reliability_plot
from analysis_py.analyses._stats import Z95, auc, psi, reliability_table
from analysis_py.analyses.base import AnalysisResults
from analysis_py.errors import InputError

CANDIDATES = ("baseline", "logit", "boosting")
MODEL_NAMES = {
    "baseline": "baseline logit",
    "logit": "regularised logit",
    "boosting": "gradient boosting",
}


@dataclass(frozen=True)
class Params:
    """Parameters of a ``predict`` spec (every field can be set under ``parameters:``)."""

    #: boolean column to predict
    outcome: str = "is_sla_breached"
    #: categorical columns known when the prediction is made
    features: list[str] = field(default_factory=lambda: ["channel", "priority", "product"])
    #: numeric columns known when the prediction is made
    numeric: list[str] = field(default_factory=list)
    #: the baseline model's features (the rule of thumb to beat)
    baseline_features: list[str] = field(default_factory=lambda: ["priority"])
    #: models to compare, chosen among on validation
    candidates: list[str] = field(default_factory=lambda: list(CANDIDATES))
    #: date that orders the rows in time (the split is by it)
    date_column: str = "opened_date"
    #: row identifier written to the predictions table
    id_column: str | None = "case_id"
    #: the most recent days whose outcome may not be known yet are not used to fit or judge
    exclude_last_days: int = 30
    validation_days: int = 90
    test_days: int = 90
    #: inverse L2 strength of the regularised logit (scikit-learn's ``C``)
    regularisation: float = 1.0
    cost_per_flag: float = 50.0
    cost_per_breach: float = 500.0
    #: share of flagged true breaches that the intervention prevents
    intervention_effectiveness: float = 0.5
    #: at most this share of cases may be flagged (team capacity); none = no limit
    capacity_share: float | None = None
    value_unit: str = "USD"
    n_bootstrap: int = 200
    #: rows to score with the chosen model (SQL predicate); none = no predictions table
    score_where: str | None = "not is_resolved"
    #: the latest period compared with train for drift
    drift_days: int = 30
    #: population-stability index above which a feature is said to have drifted
    psi_warn: float = 0.2
    random_state: int = 0
    #: SQL predicate restricting the rows used (e.g. one product)
    where: str | None = None


# --------------------------------------------------------------------------------------
# evaluation helpers (pure numpy; each is checked against scikit-learn in the tests)


def net_value_curve(
    p: np.ndarray,
    y: np.ndarray,
    *,
    cost_per_flag: float,
    cost_per_breach: float,
    effectiveness: float,
) -> pd.DataFrame:
    """Net value of flagging every row with score ≥ t, for every distinct score t.

    One row per distinct threshold (descending), with ``flagged``, ``tp``, ``fp`` and
    ``net_value = effectiveness·tp·cost_per_breach − flagged·cost_per_flag``; a first row
    with threshold +inf stands for flagging nothing.
    """
    p = np.asarray(p, float)
    y = np.asarray(y, bool)
    order = np.argsort(-p, kind="mergesort")
    ps, ys = p[order], y[order]
    tp = np.cumsum(ys)
    flagged = np.arange(1, len(ps) + 1)
    last = np.r_[ps[1:] != ps[:-1], True]  # the last row of each tie group
    thr = np.r_[np.inf, ps[last]]
    tp = np.r_[0, tp[last]]
    flagged = np.r_[0, flagged[last]]
    fp = flagged - tp
    net = effectiveness * tp * cost_per_breach - flagged * cost_per_flag
    return pd.DataFrame(
        {
            "threshold": thr,
            "flagged": flagged,
            "flagged_share": flagged / max(len(p), 1),
            "tp": tp,
            "fp": fp,
            "net_value": net,
        }
    )


def best_threshold(curve: pd.DataFrame, capacity_share: float | None = None) -> float:
    """The threshold of highest net value (flagging nothing is allowed), within capacity."""
    ok = curve if capacity_share is None else curve[curve["flagged_share"] <= capacity_share]
    return float(ok.loc[ok["net_value"].idxmax(), "threshold"])


def value_at(p, y, threshold: float, *, cost_per_flag, cost_per_breach, effectiveness) -> dict:
    f = np.asarray(p, float) >= threshold
    y = np.asarray(y, bool)
    tp = int((f & y).sum())
    fp = int((f & ~y).sum())
    return {
        "flagged": int(f.sum()),
        "tp": tp,
        "fp": fp,
        "breaches": int(y.sum()),
        "avoided": effectiveness * tp,
        "net_value": effectiveness * tp * cost_per_breach - (tp + fp) * cost_per_flag,
    }


def average_precision(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the precision–recall curve as the step-wise average precision (ties grouped)."""
    y = np.asarray(y, bool)
    if y.sum() == 0:
        return float("nan")
    curve = net_value_curve(score, y, cost_per_flag=0, cost_per_breach=0, effectiveness=0).iloc[1:]
    tp = curve["tp"].to_numpy(float)
    precision = tp / curve["flagged"].to_numpy(float)
    recall = tp / y.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def calibration_line(p: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Calibration intercept (in the large, slope fixed at 1) and slope of logit(p), with SEs.

    A perfectly calibrated model has intercept 0 and slope 1; intercept < 0 means risk is
    over-predicted, slope < 1 that predictions are too extreme (over-fitting).
    """
    import statsmodels.api as sm

    p = np.clip(np.asarray(p, float), 1e-9, 1 - 1e-9)
    y = np.asarray(y, float)
    lp = np.log(p / (1 - p))
    slope_fit = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial()).fit()
    large = sm.GLM(y, np.ones((len(y), 1)), family=sm.families.Binomial(), offset=lp).fit()
    return {
        "intercept": float(large.params[0]),
        "intercept_se": float(large.bse[0]),
        "slope": float(slope_fit.params[1]),
        "slope_se": float(slope_fit.bse[1]),
    }


# --------------------------------------------------------------------------------------
# models


def _make_model(kind: str, cats: list[str], nums: list[str], params: Params):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    if kind == "boosting":
        enc = ColumnTransformer(
            [
                (
                    "cat",
                    OrdinalEncoder(
                        handle_unknown="use_encoded_value",
                        unknown_value=np.nan,
                        encoded_missing_value=np.nan,
                    ),
                    cats,
                ),
                ("num", "passthrough", nums),
            ],
            verbose_feature_names_out=False,
        )
        clf = HistGradientBoostingClassifier(
            max_iter=200,
            learning_rate=0.1,
            max_leaf_nodes=31,
            min_samples_leaf=50,
            l2_regularization=1.0,
            categorical_features=list(range(len(cats))),
            early_stopping=False,
            random_state=params.random_state,
        )
        return Pipeline([("encode", enc), ("model", clf)])
    enc = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore", drop=None), cats),
            ("num", StandardScaler(), nums),
        ]
    )
    c = 1e6 if kind == "baseline" else params.regularisation
    clf = LogisticRegression(C=c, max_iter=2000)
    return Pipeline([("encode", enc), ("model", clf)])


def _frame(df: pd.DataFrame, cats: list[str], nums: list[str]) -> pd.DataFrame:
    out = pd.DataFrame(index=df.index)
    for c in cats:
        out[c] = df[c].astype("string").fillna("<null>").astype(object)
    for c in nums:
        out[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    return out


@dataclass
class ModelArtifact:
    """What is saved: the fitted pipeline and everything needed to use it correctly."""

    model: Any
    kind: str
    features: list[str]
    numeric: list[str]
    threshold: float
    version: str
    card: dict[str, Any]

    def score(self, data: pd.DataFrame) -> pd.DataFrame:
        """Probability and flag for each row of ``data`` (which needs the model's features)."""
        missing = [c for c in (*self.features, *self.numeric) if c not in data]
        if missing:
            raise InputError(
                f"data to score lacks the model's feature columns: {', '.join(missing)}"
            )
        prob = self.model.predict_proba(_frame(data, self.features, self.numeric))[:, 1]
        return pd.DataFrame(
            {"probability": prob, "flagged": prob >= self.threshold}, index=data.index
        )

    def dumps(self) -> bytes:
        return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)


def load_model(path) -> ModelArtifact:
    """Load a saved ``model.pkl`` (only from a warehouse you trust: pickle runs code)."""
    with open(path, "rb") as fh:
        obj = pickle.load(fh)  # our own artefact, written by the runner
    if not isinstance(obj, ModelArtifact):
        raise InputError(f"{path} is not an opsmetrics model artefact")
    return obj


# --------------------------------------------------------------------------------------


class Predict:
    """Fit, choose and evaluate a risk model on an out-of-time split; see the module doc."""

    def __init__(
        self,
        data: pd.DataFrame,
        params: Params,
        *,
        score_data: pd.DataFrame | None = None,
        recent_data: pd.DataFrame | None = None,
        input_version: str = "unknown",
        where: str = "parameters",
    ):
        p = params
        bad = [c for c in p.candidates if c not in CANDIDATES]
        if bad or not p.candidates:
            raise InputError(
                f"{where}.candidates: {bad or '[]'} — choose among {', '.join(CANDIDATES)}"
            )
        for col in [p.outcome, p.date_column, *p.features, *p.numeric, *p.baseline_features]:
            if col not in data:
                raise InputError(f"{where}: unknown column '{col}'")
        if not set(p.baseline_features) <= set(p.features) | set(p.numeric):
            raise InputError(f"{where}.baseline_features must be among features or numeric")
        for name in ("cost_per_flag", "cost_per_breach"):
            if getattr(p, name) < 0:
                raise InputError(f"{where}.{name} must be ≥ 0")
        if not 0 <= p.intervention_effectiveness <= 1:
            raise InputError(f"{where}.intervention_effectiveness must be between 0 and 1")
        if p.capacity_share is not None and not 0 < p.capacity_share <= 1:
            raise InputError(f"{where}.capacity_share must be in (0, 1]")
        data = data.dropna(subset=[p.outcome, p.date_column]).copy()
        data[p.date_column] = pd.to_datetime(data[p.date_column])
        self.data = data.sort_values(p.date_column, kind="mergesort")
        self.params = p
        self.score_data = score_data
        self.recent_data = recent_data
        self.input_version = input_version
        self.where = where

    # ----------------------------------------------------------------------------------
    def split(self) -> dict[str, pd.DataFrame]:
        p = self.params
        d = self.data[p.date_column]
        last = d.max()
        test_start = last - pd.Timedelta(days=p.test_days - 1)
        val_start = test_start - pd.Timedelta(days=p.validation_days)
        parts = {
            "train": self.data[d < val_start],
            "validation": self.data[(d >= val_start) & (d < test_start)],
            "test": self.data[d >= test_start],
        }
        for name, part in parts.items():
            y = part[p.outcome].astype(bool)
            if len(part) < 50 or y.nunique() < 2:
                raise InputError(
                    f"{self.where}: the {name} period has {len(part)} rows and "
                    f"{int(y.sum())} positives — too few to fit or judge a model",
                    hint="shorten validation_days/test_days or widen the data (where, exclude_last_days)",
                )
        return parts

    def fit(self) -> AnalysisResults:
        p = self.params
        parts = self.split()
        cats, nums = list(p.features), list(p.numeric)
        X = {k: _frame(v, cats, nums) for k, v in parts.items()}
        y = {k: v[p.outcome].astype(bool).to_numpy() for k, v in parts.items()}
        rng = np.random.default_rng(p.random_state)

        fitted, probs = {}, {}
        for kind in p.candidates:
            c = [f for f in p.baseline_features if f in cats] if kind == "baseline" else cats
            n = [f for f in p.baseline_features if f in nums] if kind == "baseline" else nums
            model = _make_model(kind, c, n, p)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", category=UserWarning)
                model.fit(X["train"][c + n], y["train"])
            fitted[kind] = (model, c, n)
            probs[kind] = {
                split: model.predict_proba(X[split][c + n])[:, 1]
                for split in ("validation", "test")
            }

        scores = []
        for kind in p.candidates:
            for split in ("validation", "test"):
                scores += self._score_rows(kind, split, probs[kind][split], y[split], rng)
        scores_df = pd.DataFrame(scores)
        val_loss = scores_df[(scores_df.split == "validation") & (scores_df.metric == "log_loss")]
        chosen = str(val_loss.loc[val_loss["value"].idxmin(), "model"])
        scores_df["is_chosen"] = scores_df["model"] == chosen

        cost = {
            "cost_per_flag": p.cost_per_flag,
            "cost_per_breach": p.cost_per_breach,
            "effectiveness": p.intervention_effectiveness,
        }
        val_curve = net_value_curve(probs[chosen]["validation"], y["validation"], **cost)
        thr = best_threshold(val_curve, p.capacity_share)
        pt, yt = probs[chosen]["test"], y["test"]
        at_test = value_at(pt, yt, thr, **cost)
        test_curve = net_value_curve(pt, yt, **cost)
        hindsight = float(test_curve["net_value"].max())
        boot = self._bootstrap_value(pt, yt, thr, cost, rng)
        value_lo, value_hi = np.quantile(boot, [0.025, 0.975]) if len(boot) else (np.nan, np.nan)
        calib = reliability_table(pt, yt)
        line = calibration_line(pt, yt)
        gains = _gains(pt, yt)
        model, c, n = fitted[chosen]
        importance = self._importance(model, X["test"][c + n], yt, rng)
        drift = self._drift(parts["train"])
        curves = pd.concat(
            [
                _thin(val_curve).assign(split="validation"),
                _thin(test_curve).assign(split="test"),
            ],
            ignore_index=True,
        )
        roc_pr = pd.concat(
            [_roc_points(probs[k]["test"], yt).assign(model=k) for k in p.candidates],
            ignore_index=True,
        )

        artifact_bytes, artifact = self._artifact(model, chosen, c, n, thr, scores_df, parts, drift)
        predictions = self._predictions(artifact)

        res = self._results(
            chosen=chosen,
            parts=parts,
            scores=scores_df,
            thr=thr,
            at_test=at_test,
            value_ci=(float(value_lo), float(value_hi)),
            hindsight=hindsight,
            line=line,
            drift=drift,
            n_scored=0 if predictions is None else len(predictions),
            mean_pred=float(pt.mean()),
            observed=float(yt.mean()),
        )
        res.tables = {
            "model_scores": scores_df,
            "calibration": calib,
            "gains": gains,
            "net_value": curves,
            "roc_pr": roc_pr,
            "importance": importance,
            "drift": drift,
        }
        if predictions is not None and len(predictions):
            res.tables["predictions"] = predictions
        res.files = {
            "model.pkl": artifact_bytes,
            "model_card.json": json.dumps(artifact.card, indent=2, default=str).encode(),
            "model_card.md": _card_markdown(artifact.card).encode(),
        }
        res.extra = {"artifact": artifact, "probabilities": probs, "y": y, "fitted": fitted}
        res.plot_fns = {
            "roc_pr": lambda: _roc_pr_plot(roc_pr, scores_df),
            "calibration": lambda: reliability_plot(
                calib, "predicted probability", "observed rate (test period)"
            ),
            "net_value": lambda: _net_value_plot(curves, thr, p.value_unit),
            "gains": lambda: _gains_plot(gains),
            "importance": lambda: _importance_plot(importance),
        }
        return res

    # ----------------------------------------------------------------------------------
    def _score_rows(self, kind, split, prob, y, rng) -> list[dict]:
        from sklearn.metrics import brier_score_loss, log_loss

        n = len(y)
        idx = [rng.integers(0, n, n) for _ in range(self.params.n_bootstrap)]
        rows = []
        for metric, fn in (("auc", auc), ("pr_auc", average_precision)):
            value = fn(y, prob)
            lo = hi = np.nan
            if split == "test" and idx:
                boot = np.array([fn(y[i], prob[i]) for i in idx])
                boot = boot[np.isfinite(boot)]
                if len(boot):
                    lo, hi = np.quantile(boot, [0.025, 0.975])
            rows.append(_score(kind, split, metric, value, lo, hi, n))
        rows.append(_score(kind, split, "brier", brier_score_loss(y, prob), np.nan, np.nan, n))
        rows.append(
            _score(kind, split, "log_loss", log_loss(y, prob, labels=[0, 1]), np.nan, np.nan, n)
        )
        rows.append(_score(kind, split, "mean_predicted", prob.mean(), np.nan, np.nan, n))
        rows.append(_score(kind, split, "observed_rate", y.mean(), np.nan, np.nan, n))
        return rows

    def _bootstrap_value(self, p, y, thr, cost, rng) -> np.ndarray:
        f = p >= thr
        tp = (f & y).astype(float)
        flag = f.astype(float)
        n = len(y)
        out = np.empty(self.params.n_bootstrap)
        for b in range(self.params.n_bootstrap):
            i = rng.integers(0, n, n)
            out[b] = (
                cost["effectiveness"] * tp[i].sum() * cost["cost_per_breach"]
                - flag[i].sum() * cost["cost_per_flag"]
            )
        return out

    def _importance(self, model, X, y, rng) -> pd.DataFrame:
        from sklearn.inspection import permutation_importance

        if len(X) > 20000:
            keep = rng.choice(len(X), 20000, replace=False)
            X, y = X.iloc[keep], y[keep]
        r = permutation_importance(
            model,
            X,
            y,
            scoring="roc_auc",
            n_repeats=5,
            random_state=self.params.random_state,
            n_jobs=1,
        )
        out = pd.DataFrame(
            {
                "feature": list(X.columns),
                "auc_drop": r.importances_mean,
                "auc_drop_sd": r.importances_std,
            }
        )
        return out.sort_values("auc_drop", ascending=False).reset_index(drop=True)

    def _drift(self, train: pd.DataFrame) -> pd.DataFrame:
        p = self.params
        # every row of the latest period, outcome known or not (defaults to the labelled rows)
        source = self.recent_data if self.recent_data is not None else self.data
        d = pd.to_datetime(source[p.date_column])
        latest = source[d > d.max() - pd.Timedelta(days=p.drift_days)]
        rows = []
        for col in [*p.features, *p.numeric]:
            value = psi(train[col], latest[col], numeric=col in p.numeric)
            rows.append(
                {
                    "feature": col,
                    "psi": value,
                    "drifted": value > p.psi_warn,
                    "train_rows": len(train),
                    "latest_rows": len(latest),
                }
            )
        return pd.DataFrame(rows)

    def _artifact(self, model, chosen, cats, nums, thr, scores, parts, drift):
        p = self.params
        test = scores[(scores.model == chosen) & (scores.split == "test")]
        metrics = {r.metric: round(float(r.value), 6) for r in test.itertuples()}
        d = p.date_column
        card = {
            "model": MODEL_NAMES[chosen],
            "kind": chosen,
            "outcome": p.outcome,
            "features": cats,
            "numeric": nums,
            "threshold": thr,
            "data_version": self.input_version,
            "periods": {
                k: [str(v[d].min().date()), str(v[d].max().date()), len(v)]
                for k, v in parts.items()
            },
            "test_metrics": metrics,
            "costs": {
                "cost_per_flag": p.cost_per_flag,
                "cost_per_breach": p.cost_per_breach,
                "intervention_effectiveness": p.intervention_effectiveness,
                "capacity_share": p.capacity_share,
                "unit": p.value_unit,
            },
            "drifted_features": drift.loc[drift["drifted"], "feature"].tolist(),
            "intended_use": (
                f"Rank new rows by risk of {p.outcome} at {d} and flag those at or above the "
                "threshold for early intervention."
            ),
            "limits": [
                "Uses only the listed features; it is a triage aid, not an explanation of causes.",
                "Valid while the population resembles the training period (see drift).",
                "The net value assumes the stated intervention effectiveness and costs.",
            ],
        }
        body = pickle.dumps((MODEL_NAMES[chosen], cats, nums, thr, model))
        version = hashlib.sha256(body).hexdigest()[:12]
        card["version"] = version
        art = ModelArtifact(model, chosen, cats, nums, thr, version, card)
        return art.dumps(), art

    def _predictions(self, artifact: ModelArtifact) -> pd.DataFrame | None:
        p = self.params
        if self.score_data is None:
            return None
        s = self.score_data
        scored = artifact.score(s)
        ident = (
            s[p.id_column].astype("string")
            if p.id_column and p.id_column in s
            else pd.Series(s.index.astype(str), index=s.index, dtype="string")
        )
        return pd.DataFrame(
            {
                "entity_id": ident.to_numpy(),
                "as_of_date": pd.to_datetime(s[p.date_column]).to_numpy(),
                "probability": scored["probability"].to_numpy(),
                "flagged": scored["flagged"].to_numpy(),
                "threshold": artifact.threshold,
                "model": MODEL_NAMES[artifact.kind],
                "model_version": artifact.version,
            }
        )

    def _results(self, **r) -> AnalysisResults:
        p = self.params
        s = r["scores"]
        chosen = r["chosen"]
        a = r["at_test"]
        parts = r["parts"]
        d = p.date_column

        def val(model, metric, split="test", col="value"):
            row = s[(s.model == model) & (s.split == split) & (s.metric == metric)]
            return float(row[col].iloc[0]) if len(row) else float("nan")

        test = parts["test"]
        period = f"{test[d].min():%d %b %Y}–{test[d].max():%d %b %Y}"
        comp = [f"{MODEL_NAMES[k]} {val(k, 'auc'):.2f}" for k in p.candidates if k != chosen]
        u = p.value_unit
        flagged_share = a["flagged"] / max(len(test), 1)
        lo, hi = r["value_ci"]
        finding = (
            f"On the test period {period} ({len(test):,} cases that neither fitting nor any choice "
            f"saw), the {MODEL_NAMES[chosen]} ranks {p.outcome} with AUC {val(chosen, 'auc'):.2f} "
            f"(95% CI {val(chosen, 'auc', col='ci_low'):.2f}–{val(chosen, 'auc', col='ci_high'):.2f})"
            + (f" against {', '.join(comp)}" if comp else "")
            + f". Flagging cases with risk ≥ {r['thr']:.3f} (chosen on validation to maximise net "
            f"value) flags {a['flagged']:,} ({flagged_share:.0%}) and catches {a['tp']:,} of "
            f"{a['breaches']:,}; at {p.cost_per_flag:,.0f} {u} per flag, {p.cost_per_breach:,.0f} "
            f"{u} per breach and {p.intervention_effectiveness:.0%} of flagged breaches prevented, "
            f"that is worth {a['net_value']:,.0f} {u} net over the test period (95% CI "
            f"{lo:,.0f} to {hi:,.0f})."
        )
        if r["n_scored"]:
            finding += f" {r['n_scored']:,} rows without an outcome were scored."
        warnings_: list[str] = []
        ci = r["line"]
        if abs(ci["intercept"]) > Z95 * ci["intercept_se"] and abs(ci["intercept"]) > 0.05:
            word = "over" if ci["intercept"] < 0 else "under"
            warnings_.append(
                f"The model {word}-predicts risk on the test period (mean predicted "
                f"{r['mean_pred']:.3f} vs observed {r['observed']:.3f}; calibration intercept "
                f"{ci['intercept']:.2f} ± {Z95 * ci['intercept_se']:.2f}): recalibrate before "
                "using probabilities as rates."
            )
        drifted = r["drift"].loc[r["drift"]["drifted"], "feature"].tolist()
        if drifted:
            warnings_.append(
                f"Drift: {', '.join(drifted)} in the last {p.drift_days} days differs from "
                f"training (PSI > {p.psi_warn:g}); check the model before relying on its flags."
            )
        if r["hindsight"] > 0 and a["net_value"] < 0.8 * r["hindsight"]:
            warnings_.append(
                f"The validation threshold captures {a['net_value'] / r['hindsight']:.0%} of the "
                f"best net value achievable on the test period in hindsight "
                f"({r['hindsight']:,.0f} {u}): the best threshold has shifted."
            )
        res = AnalysisResults(
            analysis="predict",
            warnings=warnings_,
            title=f"Predicting {p.outcome}",
            finding=finding,
            method=(
                f"Out-of-time split by {d}: train {_span(parts['train'], d)}, validation "
                f"{_span(parts['validation'], d)}, test {_span(parts['test'], d)}. Candidates "
                f"({', '.join(MODEL_NAMES[k] for k in p.candidates)}) fitted on train; the model "
                "with the lowest validation log loss is chosen, and the threshold that maximises "
                "validation net value = effectiveness·TP·cost_per_breach − flagged·cost_per_flag"
                + (f" with at most {p.capacity_share:.0%} flagged" if p.capacity_share else "")
                + ". Test metrics with percentile-bootstrap 95% intervals over cases "
                f"({p.n_bootstrap} resamples); calibration by logistic recalibration; permutation "
                "importance (drop in test AUC); population-stability index per feature."
            ),
            assumptions=[
                "The test period resembles the period the model will be used in.",
                f"Features ({', '.join([*p.features, *p.numeric])}) are known at {d}.",
                "Intervening on a flagged case prevents the stated share of its breaches, "
                "and each flag costs the stated amount.",
            ],
            limitations=[
                "Costs and effectiveness are parameters of the spec, not estimated from data.",
                f"Cases from the last {p.exclude_last_days} days are left out: their outcome may "
                "not be known yet.",
                "Predictions rank risk; they do not say why a case breaches (see the drivers analysis).",
            ],
        )
        days = (test[d].max() - test[d].min()).days + 1
        caught = a["tp"] / max(a["breaches"], 1)
        res.headline = (
            f"Flagging the riskiest {flagged_share:.0%} of cases would have caught {caught:.0%} of "
            f"those that ended {p.outcome} in the latest {days} days."
        )
        sure = "very likely worth it" if lo > 0 else "not clearly worth it"
        res.recommendation = (
            f"Flag new cases with a risk of {r['thr']:.2f} or more (about {flagged_share:.0%} of "
            f"cases): {sure}, about {a['net_value']:,.0f} {u} net per {days} days (95% CI "
            f"{lo:,.0f} to {hi:,.0f})" + (". Read the warnings first." if warnings_ else ".")
        )
        res.add_measure("auc_test", val(chosen, "auc"), "intrinsic", "", MODEL_NAMES[chosen])
        res.add_measure("pr_auc_test", val(chosen, "pr_auc"), "intrinsic")
        res.add_measure("brier_test", val(chosen, "brier"), "intrinsic")
        if "baseline" in p.candidates:
            res.add_measure("auc_test_baseline", val("baseline", "auc"), "intrinsic")
        res.add_measure("calibration_intercept", ci["intercept"], "intrinsic", "log-odds")
        res.add_measure("calibration_slope", ci["slope"], "intrinsic")
        res.add_measure("threshold", r["thr"], "intrinsic", "probability", "chosen on validation")
        res.add_measure("flagged_share_test", flagged_share, "extrinsic", "share of cases")
        res.add_measure("breaches_caught_test", a["tp"], "extrinsic", "cases")
        res.add_measure("breaches_avoided_test", a["avoided"], "extrinsic", "cases")
        res.add_measure(
            "net_value_test", a["net_value"], "extrinsic", u, f"95% CI {lo:,.0f} to {hi:,.0f}"
        )
        res.add_measure("net_value_test_low", lo, "extrinsic", u, "bootstrap 2.5%")
        res.add_measure("net_value_test_high", hi, "extrinsic", u, "bootstrap 97.5%")
        res.add_measure("net_value_test_hindsight", r["hindsight"], "extrinsic", u)
        res.add_measure("rows_scored", r["n_scored"], "extrinsic", "rows")
        return res


def _score(model, split, metric, value, lo, hi, n) -> dict:
    return {
        "model": model,
        "split": split,
        "metric": metric,
        "value": float(value),
        "ci_low": float(lo),
        "ci_high": float(hi),
        "n_obs": int(n),
    }


def _span(df: pd.DataFrame, col: str) -> str:
    return f"{df[col].min():%Y-%m-%d}–{df[col].max():%Y-%m-%d} ({len(df):,})"


def _gains(p: np.ndarray, y: np.ndarray, bins: int = 10) -> pd.DataFrame:
    order = np.argsort(-p, kind="mergesort")
    ys = y[order].astype(float)
    n = len(ys)
    edges = np.linspace(0, n, bins + 1).round().astype(int)
    rows, base = [], ys.mean() if n else np.nan
    for i in range(bins):
        part = ys[edges[i] : edges[i + 1]]
        upto = ys[: edges[i + 1]]
        rows.append(
            {
                "decile": i + 1,
                "cases": len(part),
                "positives": int(part.sum()),
                "rate": float(part.mean()) if len(part) else np.nan,
                "cumulative_share_of_cases": edges[i + 1] / n,
                "cumulative_share_of_positives": float(upto.sum() / max(ys.sum(), 1)),
                "lift": float(part.mean() / base) if len(part) and base else np.nan,
            }
        )
    return pd.DataFrame(rows)


def _thin(curve: pd.DataFrame, n: int = 400) -> pd.DataFrame:
    """At most ``n`` points of a curve, always keeping its best point."""
    c = curve.replace([np.inf], np.nan)
    if len(c) <= n:
        return c
    keep = set(np.linspace(0, len(c) - 1, n).round().astype(int)) | {int(c["net_value"].idxmax())}
    return c.iloc[sorted(keep)].reset_index(drop=True)


def _roc_points(p: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    c = net_value_curve(p, y, cost_per_flag=0, cost_per_breach=0, effectiveness=0)
    pos, neg = max(int(y.sum()), 1), max(int((~y).sum()), 1)
    tpr = c["tp"] / pos
    fpr = c["fp"] / neg
    precision = (c["tp"] / c["flagged"].where(c["flagged"] > 0)).fillna(1.0)
    out = pd.DataFrame({"fpr": fpr, "tpr": tpr, "recall": tpr, "precision": precision})
    if len(out) > 300:
        out = out.iloc[np.unique(np.linspace(0, len(out) - 1, 300).round().astype(int))]
    return out.reset_index(drop=True)


def _card_markdown(card: dict[str, Any]) -> str:
    lines = [f"# Model card: {card['model']} for {card['outcome']}", ""]
    lines.append(f"- version: `{card['version']}`; data version: `{card['data_version']}`")
    lines.append(f"- features: {', '.join(card['features'] + card['numeric'])}")
    lines.append(f"- threshold: {card['threshold']:.4f}")
    for k, (a, b, n) in card["periods"].items():
        lines.append(f"- {k}: {a} to {b} ({n:,} rows)")
    lines += ["", "## Test metrics", ""]
    lines += [f"- {k}: {v:.4f}" for k, v in card["test_metrics"].items()]
    lines += ["", "## Intended use", "", card["intended_use"], "", "## Limits", ""]
    lines += [f"- {x}" for x in card["limits"]]
    if card["drifted_features"]:
        lines += ["", f"Drifted features: {', '.join(card['drifted_features'])}"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------
# plots


def _roc_pr_plot(roc_pr: pd.DataFrame, scores: pd.DataFrame):
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 4))
    for model, g in roc_pr.groupby("model", sort=False):
        row = scores[(scores.model == model) & (scores.split == "test")]
        auc_v = float(row[row.metric == "auc"]["value"].iloc[0])
        ap_v = float(row[row.metric == "pr_auc"]["value"].iloc[0])
        a1.plot(g["fpr"], g["tpr"], label=f"{MODEL_NAMES[model]} (AUC {auc_v:.2f})")
        a2.plot(g["recall"], g["precision"], label=f"{MODEL_NAMES[model]} (AP {ap_v:.2f})")
    a1.plot([0, 1], [0, 1], color="grey", ls="--", lw=1)
    a1.set_xlabel("false-positive rate")
    a1.set_ylabel("true-positive rate")
    a1.set_title("ROC, test period")
    a2.set_xlabel("recall")
    a2.set_ylabel("precision")
    a2.set_title("Precision–recall, test period")
    a1.legend(fontsize=8)
    a2.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _net_value_plot(curves: pd.DataFrame, thr: float, unit: str):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for split, g in curves.groupby("split", sort=False):
        ax.plot(g["flagged_share"], g["net_value"], label=split)
    val = curves[curves.split == "validation"]
    at = val[val["threshold"] >= thr]
    if len(at):
        row = at.iloc[-1]
        ax.axvline(row["flagged_share"], color="grey", ls="--", lw=1)
        ax.annotate(f"threshold {thr:.3f}", (row["flagged_share"], row["net_value"]), fontsize=8)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xlabel("share of cases flagged")
    ax.set_ylabel(f"net value ({unit})")
    ax.legend()
    fig.tight_layout()
    return fig


def _gains_plot(gains: pd.DataFrame):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.plot(
        np.r_[0, gains["cumulative_share_of_cases"]],
        np.r_[0, gains["cumulative_share_of_positives"]],
        marker="o",
        color="#1f4e79",
    )
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1)
    ax.set_xlabel("share of cases flagged (highest risk first)")
    ax.set_ylabel("share of positives caught")
    fig.tight_layout()
    return fig


def _importance_plot(imp: pd.DataFrame):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 0.4 * len(imp) + 1.2))
    ypos = np.arange(len(imp))[::-1]
    ax.barh(ypos, imp["auc_drop"], xerr=imp["auc_drop_sd"], color="#1f4e79")
    ax.set_yticks(ypos)
    ax.set_yticklabels(imp["feature"])
    ax.set_xlabel("drop in test AUC when the feature is shuffled")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------


def run(inputs, spec) -> AnalysisResults:
    """Pull the labelled rows and the rows to score from the governed mart (filters in the engine)."""
    p: Params = spec.params()
    where = f"spec '{spec.name}'"
    cols = [p.outcome, p.date_column, *p.features, *p.numeric]
    if p.id_column:
        cols.append(p.id_column)
    cols = list(dict.fromkeys(cols))
    t = inputs.spec_table(spec, cols, p.where)
    d = t[p.date_column].cast("date")
    last = t.aggregate(m=d.max()).to_pandas()["m"].iloc[0]
    if pd.isna(last):
        raise InputError(f"{where}: input.mart has no rows with a {p.date_column}")
    last = pd.Timestamp(last)
    labelled = t.filter(d <= (last - pd.Timedelta(days=int(p.exclude_last_days))).date())
    data = labelled.filter(labelled[p.outcome].notnull()).select(*cols).to_pandas()
    # every row of the latest period, outcome known or not, for the drift check
    feats = list(dict.fromkeys([p.date_column, *p.features, *p.numeric]))
    since = (last - pd.Timedelta(days=int(p.drift_days))).date()
    recent = t.filter(d > since).select(*feats).to_pandas()
    score = None
    if p.score_where:
        st = inputs.filter_sql(t, p.score_where, f"{where}: parameters.score_where")
        score = st.select(*cols).to_pandas()
    return Predict(
        data,
        p,
        score_data=score,
        recent_data=recent,
        input_version=getattr(inputs, "version", "unknown"),
        where=f"{where}: parameters",
    ).fit()
