"""Recovery of the planted truth from the data alone, on two warehouses built by the real
generator and dbt: the defaults (seed 7) and ``effects_alt.yml`` (other sizes, a later
process change, more anomalies, seed 11).

The shipped specs run end to end (spec → governed inputs → fit → Parquet write-back) and the
assertions read the written result tables, as a BI tool would. Only the tests read
ground_truth.json; the analyses are given the process-change date as a business fact.
"""

from __future__ import annotations

import dataclasses

import duckdb
import numpy as np
import pandas as pd
import pytest

from analysis_py.analyses import runner, store
from analysis_py.analyses import spec as spec_mod


@pytest.fixture(scope="module")
def results(any_warehouse, tmp_path_factory):
    wh = any_warehouse
    truth = wh.ground_truth
    pc = truth["effects"]["resolution"]["process_change"]
    specs = []
    needed = {
        "resolution_drivers",
        "process_change_impact",
        "resolution_survival",
        "case_volume_forecast",
        "metric_anomalies",
        "csat_drivers",
        "stp_by_initiation_channel",
    }
    for s in spec_mod.load():
        if s.name not in needed:
            continue
        if s.analysis == "impact":
            s = dataclasses.replace(
                s,
                parameters={
                    **s.parameters,
                    "change_date": str(pc["start_date"]),
                    "treated_value": pc["product"],
                },
            )
            # the same spec with a change date typed two and a half months late
            wrong = pd.Timestamp(pc["start_date"]) + pd.Timedelta(days=75)
            specs.append(
                dataclasses.replace(
                    s,
                    name="impact_wrong_date",
                    parameters={**s.parameters, "change_date": f"{wrong:%Y-%m-%d}"},
                )
            )
        specs.append(s)
    out = tmp_path_factory.mktemp("analysis-out")
    outcomes = runner.run_specs(specs, duckdb_path=wh.duckdb_path, warehouse_dir=out, jobs=2)
    failed = [(o.spec_name, o.error) for o in outcomes if o.status != "success"]
    assert not failed, failed
    tables = {
        t: store.read_table(t, out)
        for t in (
            "runs",
            "effects",
            "anomalies",
            "forecasts",
            "backtest_scores",
            "survival",
            "measures",
            "event_study",
            "refutation",
            "break_search",
            "within_target",
            "volume_effects",
            "staffing",
            "proportions",
        )
    }
    return wh, tables


def _effects(tables, spec):
    e = tables["effects"]
    return e[e.spec_name == spec].set_index(["factor", "level"])


def test_drivers_multipliers_inside_95_ci(results):
    wh, tables = results
    truth = wh.ground_truth["effects"]["resolution"]
    eff = _effects(tables, "resolution_drivers")
    checked = 0
    for factor, key, ref in (
        ("channel", "channel_multiplier", "portal"),
        ("priority", "priority_multiplier", "P3"),
    ):
        for level, mult in truth[key].items():
            if level == ref:
                continue
            row = eff.loc[(factor, level)]
            assert row["reference_level"] == ref
            assert row["scale"] == "multiplier"
            assert row["ci_low"] <= mult <= row["ci_high"], (factor, level, mult, row.to_dict())
            checked += 1
    assert checked == 6


def test_csat_slope_on_log_hours_recovered(results):
    """Drivers on CSAT (identity outcome): the slope per e-fold of resolution time is the
    planted latent slope, and equals the generator's own OLS slope on the sample."""
    wh, tables = results
    planted = wh.ground_truth["effects"]["csat"]["resolution_slope"]
    sample = wh.ground_truth["facts"]["cases"]["csat_ols_slope_on_log_hours"]
    eff = _effects(tables, "csat_drivers")
    row = eff.loc[("business_hours_to_resolve", "+1 log unit (×e)")]
    assert row["scale"] == "difference"
    assert row["ci_low"] <= planted <= row["ci_high"], row.to_dict()
    assert abs(row["estimate"] - sample) < 2 * row["std_error"]
    assert (eff["p_value_adjusted"] >= eff["p_value"]).all()
    runs = tables["runs"]
    finding = runs[runs.spec_name == "csat_drivers"]["finding"].iloc[0]
    assert "as long" not in finding and "csat_score" in finding


def test_stp_api_uplift_within_rails(results):
    """Mix-adjusted (Mantel–Haenszel within rail) API vs manual STP difference covers the
    planted uplift; so does every rail's own difference where the rate is not capped at 1."""
    wh, tables = results
    e = wh.ground_truth["effects"]
    uplift = e["stp"]["api_uplift"]
    eff = tables["effects"]
    eff = eff[(eff.spec_name == "stp_by_initiation_channel") & eff.method.str.contains("Mantel")]
    row = eff.set_index("level").loc["api"]
    assert row["ci_low"] <= uplift <= row["ci_high"], row.to_dict()
    runs = tables["runs"]
    assert (
        "Mantel–Haenszel" in runs[runs.spec_name == "stp_by_initiation_channel"]["finding"].iloc[0]
    )


def test_process_change_inside_its_and_did_ci(results):
    wh, tables = results
    mult = wh.ground_truth["effects"]["resolution"]["process_change"]["multiplier"]
    eff = _effects(tables, "process_change_impact")
    for method in ("its", "did"):
        row = eff.loc[("process_change", method)]
        assert row["scale"] == "multiplier"
        assert row["ci_low"] <= mult <= row["ci_high"], (method, mult, row.to_dict())


def _finding(tables, spec):
    runs = tables["runs"]
    return str(runs[runs.spec_name == spec]["finding"].iloc[0])


def test_impact_with_the_right_date_raises_no_warning(results):
    wh, tables = results
    assert "Warning:" not in _finding(tables, "process_change_impact")
    pc = wh.ground_truth["effects"]["resolution"]["process_change"]
    m = tables["measures"]
    best = m[
        (m.spec_name == "process_change_impact") & (m.measure == "best_break_days_from_stated")
    ]
    assert abs(float(best["value"].iloc[0])) <= 7, "break search misses the planted date"
    es = tables["event_study"]
    es = es[es.spec_name == "process_change_impact"].set_index("relative_month")
    mult = pc["multiplier"]
    post = es.loc[es.index >= 0]
    assert ((post.ci_low <= mult) & (mult <= post.ci_high)).mean() >= 0.7
    leads = es.loc[es.index < -1]
    assert ((leads.ci_low <= 1) & (leads.ci_high >= 1)).mean() >= 0.7


def test_a_wrong_change_date_is_flagged(results):
    wh, tables = results
    finding = _finding(tables, "impact_wrong_date")
    assert "check the change date" in finding, finding
    truth = pd.Timestamp(wh.ground_truth["effects"]["resolution"]["process_change"]["start_date"])
    m = tables["measures"]
    m = m[m.spec_name == "impact_wrong_date"].set_index("measure")["value"]
    stated = truth + pd.Timedelta(days=75)
    best = stated + pd.Timedelta(days=float(m["best_break_days_from_stated"]))
    assert abs((best - truth).days) <= 14


def test_hours_saved_interval_recomputed_from_the_mart(results):
    """observed treated hours since the change × (1/multiplier − 1), by plain SQL."""
    import duckdb

    wh, tables = results
    pc = wh.ground_truth["effects"]["resolution"]["process_change"]
    con = duckdb.connect(str(wh.duckdb_path), read_only=True)
    try:
        (hours,) = con.execute(
            """
            select sum(business_hours_to_resolve) from main.fct_cases
            where business_hours_to_resolve > 0 and product = ?
              and opened_date >= ?
              and opened_date <= (
                  select max(opened_date) - interval 30 day from main.fct_cases
                  where business_hours_to_resolve > 0)
            """,
            [pc["product"], str(pc["start_date"])],
        ).fetchall()[0]
    finally:
        con.close()
    eff = _effects(tables, "process_change_impact").loc[("process_change", "did")]
    m = tables["measures"]
    m = m[m.spec_name == "process_change_impact"].set_index("measure")["value"]
    assert m["business_hours_saved"] == pytest.approx(hours * (1 / eff["estimate"] - 1), rel=1e-9)
    assert m["business_hours_saved_low"] == pytest.approx(hours * (1 / eff["ci_high"] - 1))
    assert m["business_hours_saved_high"] == pytest.approx(hours * (1 / eff["ci_low"] - 1))
    true_saved = hours * (1 / pc["multiplier"] - 1)
    assert m["business_hours_saved_low"] <= true_saved <= m["business_hours_saved_high"]


def test_survival_time_ratios_recover_the_planted_multipliers(results):
    """Durations are log-normal, so the AFT time ratio is the planted time multiplier."""
    wh, tables = results
    truth = wh.ground_truth["effects"]["resolution"]
    e = tables["effects"]
    e = e[(e.spec_name == "resolution_survival") & (e.scale == "time_ratio")]
    e = e.set_index(["factor", "level"])
    assert e["method"].str.startswith("lognormal AFT").all()
    checked = 0
    for factor, key in (("channel", "channel_multiplier"), ("priority", "priority_multiplier")):
        ref = e.xs(factor)["reference_level"].iloc[0]
        for level, mult in truth[key].items():
            if level == ref:
                continue
            row = e.loc[(factor, level)]
            ratio = mult / truth[key].get(ref, 1.0)
            assert row["ci_low"] <= ratio <= row["ci_high"], (factor, level, ratio, row.to_dict())
            checked += 1
    assert checked == 6
    runs = tables["runs"]
    finding = runs[runs.spec_name == "resolution_survival"]["finding"].iloc[0]
    assert (
        "Proportional hazards fails" in finding
    )  # true here: time ratios, not hazards, are constant


def test_within_sla_probability_matches_a_hand_kaplan_meier(results):
    """P(resolved within the SLA target) = 1 − S(target), the product-limit estimator written
    out: S(t) = Π over event times t_i ≤ t of (1 − d_i / n_i)."""
    import duckdb

    wh, tables = results
    con = duckdb.connect(str(wh.duckdb_path), read_only=True)
    try:
        cases = con.sql(
            "select priority, sla_target_business_hours as target, is_resolved as event, "
            "business_hours_to_resolve_or_data_end as t from main.fct_cases"
        ).df()
    finally:
        con.close()
    w = tables["within_target"]
    w = w[w.spec_name == "resolution_survival"].set_index("segment")
    assert len(w) == cases["priority"].nunique()
    for priority, g in cases.groupby("priority"):
        target = float(g["target"].iloc[0])
        t, e = g["t"].to_numpy(), g["event"].to_numpy(bool)
        s = 1.0
        for ti in np.unique(t[e & (t <= target)]):
            s *= 1 - ((t == ti) & e).sum() / (t >= ti).sum()
        row = w.loc[f"priority={priority}"]
        assert row["target"] == target
        assert row["p_within"] == pytest.approx(1 - s, abs=1e-9)
        assert row["p_within_ci_low"] <= 1 - s <= row["p_within_ci_high"]


def test_volume_effects_recover_weekend_holiday_and_growth(results):
    """The forecast's count model: weekend factor and annual growth on the total series,
    each country's public-holiday factor on that country's series (holidays are per country;
    on the total they are diluted by the country's share)."""
    wh, tables = results
    planted = wh.ground_truth["effects"]["case_volume"]
    v = tables["volume_effects"]
    v = v[v.spec_name == "case_volume_forecast"].set_index(["slice", "effect"])
    for effect, truth in (
        ("weekend", planted["weekend_factor"]),
        ("annual_growth", planted["annual_growth"]),
    ):
        row = v.loc[("all", effect)]
        # the planted factors apply to base cases; the mart also holds payment-failure cases
        # (6%), whose weekend pattern follows payments, so allow 10% beside the interval
        slack = 0.1 * abs(truth)
        assert row["ci_low"] - slack <= truth <= row["ci_high"] + slack, (
            effect,
            truth,
            row.to_dict(),
        )
    countries = [
        c for c in ("US", "GB", "HK", "SG", "IN") if (c, f"holiday_{c.lower()}") in v.index
    ]
    assert len(countries) == 5
    rows = v.loc[[(c, f"holiday_{c.lower()}") for c in countries]]
    # at scale 0.1 a country has 1-5 cases on a holiday, so single intervals are wide and
    # noisy: pool the five log-factors by inverse variance and check that interval
    logs = np.log(rows["estimate"].to_numpy())
    se = (np.log(rows["ci_high"]) - np.log(rows["ci_low"])).to_numpy() / (2 * 1.959964)
    w = 1 / se**2
    pooled, pooled_se = (w * logs).sum() / w.sum(), 1 / np.sqrt(w.sum())
    target = np.log(planted["holiday_factor"])
    assert abs(pooled - target) <= 1.959964 * pooled_se, (np.exp(pooled), rows)
    factor = planted["holiday_factor"]
    covered = (rows["ci_low"] <= factor) & (rows["ci_high"] >= factor)
    assert covered.sum() >= 3, rows


def test_kaplan_meier_median_close_to_simulated(results):
    wh, tables = results
    sim = wh.ground_truth["facts"]["cases"]["median_business_hours_to_first_resolution"]
    km = tables["survival"]
    overall = km[(km.spec_name == "resolution_survival") & (km.segment == "all")].iloc[0]
    assert overall["censored"] > 0  # open cases are kept, as censored
    assert abs(overall["median"] - sim) / sim < 0.05
    assert overall["median_ci_low"] - 0.25 <= sim <= overall["median_ci_high"] + 0.25


def test_forecast_beats_seasonal_naive_on_case_volume(results):
    """Scored on the final hold-out window, which the model choice never saw."""
    _, tables = results
    bt = tables["backtest_scores"]
    bt = bt[bt.spec_name == "case_volume_forecast"]
    assert set(bt["window"]) == {"selection", "holdout"}
    held = bt[bt.window == "holdout"]
    chosen = held[held.is_chosen].set_index("slice")
    naive = held[held.model == "snaive"].set_index("slice")
    # the hold-out scores the model that the selection backtest chose, for every series
    sel = bt[(bt.window == "selection") & bt.is_chosen].set_index("slice")
    base = lambda m: m.str.replace(r"\+cal$", "", regex=True)  # noqa: E731 (regressors kept or not)
    assert (base(sel.loc[chosen.index, "model"]) == base(chosen["model"])).all()
    assert (bt["mase_m"] == 7).all()
    assert chosen["mase"].mean() < naive["mase"].mean()
    assert chosen["smape"].mean() < naive["smape"].mean()
    assert chosen["pinball"].mean() < naive["pinball"].mean()
    fc = tables["forecasts"]
    fc = fc[fc.spec_name == "case_volume_forecast"]
    assert len(fc) == 28 * len(chosen)
    assert (fc["lower_95"] <= fc["lower_80"]).all() and (fc["lower_80"] <= fc["median"]).all()
    assert (fc["median"] <= fc["upper_80"]).all() and (fc["upper_80"] <= fc["upper_95"]).all()
    # the mean of a log model lies above its median
    assert (fc["forecast"] >= fc["median"] - 1e-9).mean() > 0.95


def test_case_volume_slices_reconcile_and_staff(results):
    """Every slicing sums to the total on every forecast day; the staffing table meets its
    service level with occupancy below 1, and its handling minutes are the touches per case
    measured with hand-written SQL × 12 minutes."""
    wh, tables = results
    fc = tables["forecasts"]
    fc = fc[fc.spec_name == "case_volume_forecast"]
    con = duckdb.connect(str(wh.duckdb_path), read_only=True)
    products = {r[0] for r in con.execute("select distinct product from fct_cases").fetchall()}
    total = fc[fc.slice == "all"].set_index("date")["forecast"]
    for members in (fc[fc.slice.isin(products)], fc[~fc.slice.isin(products | {"all"})]):
        s = members.groupby("date")["forecast"].sum()
        assert np.allclose(s.to_numpy(), total.loc[s.index].to_numpy(), rtol=1e-9, atol=1e-9)
    st = tables["staffing"]
    st = st[st.spec_name == "case_volume_forecast"]
    assert set(st["slice"]) == products | {"all"}
    assert len(st) == 28 * (len(products) + 1)
    assert (st["service_level_at_peak"] >= 0.8).all() and (st["occupancy"] < 1).all()
    assert (st["staffed_hours"] >= st["workload_hours"]).all()
    last = con.execute("select max(opened_date) from fct_cases").fetchone()[0]
    hi = pd.Timestamp(last) - pd.Timedelta(days=30)
    lo = hi - pd.Timedelta(days=180)
    touches = dict(
        con.execute(
            """
            select c.product, count(e.event_id)::double / count(distinct c.case_id)
            from fct_cases c left join fct_case_events e
              on e.case_id = c.case_id and e.agent_id is not null
            where c.opened_date > ? and c.opened_date <= ?
            group by 1
            """,
            [lo.date(), hi.date()],
        ).fetchall()
    )
    got = st[st.slice != "all"].groupby("slice")["handle_minutes"].first()
    for product, minutes in got.items():
        assert minutes == pytest.approx(12 * touches[product], rel=1e-9)


def _baseline(series: pd.Series, date: pd.Timestamp) -> float:
    """Same weekday over the four weeks before and after (the day itself excluded)."""
    days = [date + pd.Timedelta(weeks=k) for k in (-4, -3, -2, -1, 1, 2, 3, 4)]
    return float(np.median(series.reindex(days).dropna()))


def test_anomalies_recall_and_precision(results):
    """Precision over every flagged day; recall over the planted cells whose change stands
    out from count noise (|factor − 1|·μ ≥ 6·√μ against the same weekday's level μ) — a
    ×0.2 drop on a slice with 15 cases a day is not detectable by any method."""
    wh, tables = results
    from analysis_py.analyses.inputs import Inputs

    an = tables["anomalies"]
    an = an[(an.spec_name == "metric_anomalies") & (an.kind != "level_shift")]
    cells = wh.ground_truth["anomalies"]["cells"]
    # the rate and p95 series have no planted cells: their flags are checked below
    an = an[an.metric.isin({c["metric"] for c in cells})]
    flagged = {(r.metric, r.slice, pd.Timestamp(r.date)) for r in an.itertuples()}
    planted = {(c["metric"], c["slice"], pd.Timestamp(c["date"])) for c in cells}
    inp = Inputs.open(wh.duckdb_path)
    detectable = set()
    for c in cells:
        s = inp.metric_series(c["metric"], c["dimension"])
        s = s[s.slice == c["slice"]].set_index("date")["value"]
        mu = _baseline(s, pd.Timestamp(c["date"]))
        if abs(c["factor"] - 1) * mu >= 6 * np.sqrt(mu):
            detectable.add((c["metric"], c["slice"], pd.Timestamp(c["date"])))
    tp = len(flagged & planted)
    precision = tp / len(flagged)
    recall_detectable = len(flagged & detectable) / len(detectable)
    print(
        f"precision {precision:.2f}, recall {tp / len(planted):.2f} of all, {recall_detectable:.2f} of {len(detectable)} detectable"
    )
    assert len(detectable) >= 0.5 * len(planted)
    assert precision >= 0.8
    assert recall_detectable >= 0.8
    # every flagged cell carries its score and expected value
    assert an[["value", "expected", "score"]].notna().all().all()


def test_rate_and_p95_flags_fall_on_incident_days(results, request):
    """The error rate and p95 latency have no planted cells but planted incidents (errors and
    latency rise during them): scored with their denominators and volumes, every flag is on
    a day with an overlapping incident, none on a quiet weekend, and a rate's size is in
    requests."""
    _, tables = results
    an = tables["anomalies"]
    an = an[(an.spec_name == "metric_anomalies") & (an.kind != "level_shift")]
    sub = an[an.metric.isin(["error_rate", "p95_latency_ms"])]
    if "[default]" in request.node.name:  # the default effects plant incidents that show
        assert len(sub) >= 1, sub
    assert sub["context"].str.contains("incident").all(), sub[["metric", "date", "context"]]
    assert set(sub["method"]) <= {"beta_binomial", "volume_weighted_z"}
    rate = sub[sub.metric == "error_rate"]
    assert (rate["excess"] == (rate["value"] - rate["expected"]) * rate["volume"]).all()
    quiet = an[an.metric.isin(["error_rate", "p95_latency_ms", "sla_breach_rate"])]
    weekend = pd.to_datetime(quiet["date"]).dt.day_of_week >= 5
    assert not (weekend & ~quiet["context"].str.contains("incident")).any(), quiet[weekend][
        ["metric", "date", "value", "expected", "score", "volume"]
    ].to_string()


def test_runs_record_versions(results):
    wh, tables = results
    runs = tables["runs"]
    assert set(runs["status"]) == {"success"}
    assert runs["input_version"].nunique() == 1
    import json

    build_id = json.loads((wh.paths.warehouse_dir / "current.json").read_text())["build_id"]
    assert runs["input_version"].iloc[0] == build_id
    assert runs["code_version"].str.startswith("0.").all()
    m = tables["measures"]
    kinds = set(m[m.spec_name == "case_volume_forecast"]["kind"])
    assert kinds == {"intrinsic", "extrinsic"}


def test_headlines_and_recommendations_follow_the_numbers(results):
    """Every run states its finding in one plain sentence and what to do; the words agree with
    the numbers they summarise."""
    _, tables = results
    runs = tables["runs"].set_index("spec_name")
    for name, r in runs.iterrows():
        assert r["headline"] and r["recommendation"], name
        assert "MASE" not in r["headline"] and "χ²" not in r["headline"], name
    m = tables["measures"]

    def measure(spec, name):
        return float(m[(m.spec_name == spec) & (m.measure == name)]["value"].iloc[0])

    # impact: the planted change shortens resolution, its interval excludes no change
    imp = runs.loc["process_change_impact"]
    assert "less" in imp["headline"] and imp["recommendation"].startswith("Keep the change")
    assert (
        f"{measure('process_change_impact', 'business_hours_saved'):,.0f}" in imp["recommendation"]
    )
    # compare: the rail furthest below the best comes first, with the money at stake
    props = tables["proportions"]
    rails = props[props.spec_name == "stp_by_initiation_channel"].sort_values("rate")
    rec = runs.loc["stp_by_initiation_channel", "recommendation"]
    assert rec.startswith(f"Start with {rails.iloc[0]['level']}")
    # the forecast's staffing recommendation quotes the busiest day of its staffing table
    st = tables["staffing"]
    tot = st[(st.spec_name == "case_volume_forecast") & (st.slice == "all")]
    assert (
        f"{tot['fte'].max():.0f} on the busiest"
        in runs.loc["case_volume_forecast", "recommendation"]
    )
