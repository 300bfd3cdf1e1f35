"""The profile's checks on a table with planted problems: duplicate keys, a numeric column
that shifts in the last period, a category that takes over, a column that starts being null
mid-way, nulls among the top values. Each is found and named; the KS statistic is scipy's on
the same rows and the PSI the formula's."""

from __future__ import annotations

import duckdb
import ibis
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis_py.analyses._stats import psi
from analysis_py.analyses.profile import Params, Profile


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    rng = np.random.default_rng(4)
    n = 6000
    day = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 360, n), "D")
    late = day > pd.Timestamp("2025-12-27") - pd.Timedelta(days=90)
    df = pd.DataFrame(
        {
            "id": np.arange(n),
            "day": day.date,
            "amount": rng.normal(100, 10, n) + np.where(late, 15, 0),  # shifts late
            "kind": np.where(late & (rng.uniform(size=n) < 0.6), "new", rng.choice(["a", "b"], n)),
            "stable": rng.choice(["x", "y", "z"], n),
            "note": np.where(day > pd.Timestamp("2025-07-01"), None, "ok"),  # nulls start mid-way
        }
    )
    df["amount_eur"] = df["amount"] * 0.9 + rng.normal(0, 0.5, n)  # the same thing, in EUR
    df["tier"] = np.where(df["stable"] == "x", "gold", rng.choice(["silver", "bronze"], n))
    df.loc[:29, "id"] = df.loc[30:59, "id"].to_numpy()  # 60 rows share 30 keys
    path = tmp_path_factory.mktemp("profile") / "t.duckdb"
    raw = duckdb.connect(str(path))
    raw.register("df", df)
    raw.execute("create table t as select * from df")
    raw.close()
    return ibis.duckdb.connect(str(path), read_only=True).table("t"), df


def test_planted_problems_are_found_and_named(table):
    t, df = table
    params = Params(date_column="day", period_days=90, sample_rows=100_000)
    res = Profile(t, "t", params, key=["id"]).fit()
    m = res.measures_frame().set_index("measure")["value"]
    assert m["duplicate_key_rows"] == 60
    drift = res.tables["drift"].set_index("column")
    assert drift.loc["amount", "verdict"] == "shifted"
    assert drift.loc["kind", "verdict"] == "shifted"
    assert drift.loc["stable", "verdict"] == "stable"
    # the same periods, written out: KS by scipy, PSI by the formula
    d = pd.to_datetime(df["day"])
    last = d.max()
    after = df[d > last - pd.Timedelta(days=90)]
    before = df[(d > last - pd.Timedelta(days=180)) & (d <= last - pd.Timedelta(days=90))]
    ks = stats.ks_2samp(before["amount"], after["amount"])
    assert drift.loc["amount", "ks_statistic"] == pytest.approx(ks.statistic)
    assert drift.loc["kind", "psi"] == pytest.approx(psi(before["kind"], after["kind"]))
    miss = res.tables["missingness"]
    note = miss[miss.column == "note"].set_index("month")["null_share"]
    assert note.iloc[0] == 0 and note.iloc[-1] == 1
    for text in (
        "60 rows share a key (id)",
        "missingness changes over time: note",
        "amount (shifted)",
    ):
        assert text in res.finding, res.finding
    prof = res.tables["profile"].set_index("column")
    assert (
        "null (" in prof.loc["note", "top_values"] and "nan" not in prof.loc["note", "top_values"]
    )
    assert "distributions" in res.plot_fns
    # the ECDF plot marks the KS distance the drift table reports
    import matplotlib

    matplotlib.use("Agg")
    fig = res.plot_fns["ecdf"]()
    titles = {ax.get_title().split(" (")[0]: ax.get_title() for ax in fig.axes}
    assert f"KS D = {drift.loc['amount', 'ks_statistic']:.3f}" in titles["amount"]
    assoc = res.tables["associations"].set_index(["column_a", "column_b"])
    rho = assoc.loc[("amount", "amount_eur")]
    assert rho["measure"] == "spearman" and rho["strong"]
    assert rho["value"] == pytest.approx(stats.spearmanr(df["amount"], df["amount_eur"])[0])
    v = assoc.loc[("stable", "tier")]
    tab = pd.crosstab(df["stable"], df["tier"]).to_numpy()
    chi2 = stats.chi2_contingency(tab, correction=False)[0]
    assert v["value"] == pytest.approx(np.sqrt(chi2 / (tab.sum() * (min(tab.shape) - 1))))
    assert v["strong"]
    assert "strongly associated: amount ~ amount_eur" in res.finding


def test_a_clean_table_has_nothing_to_look_at(table):
    t, _ = table
    clean = t.select("day", "stable")
    res = Profile(clean, "t", Params(date_column="day"), key=[]).fit()
    assert "Nothing stands out" in res.finding
    assert (res.tables["drift"]["verdict"] == "stable").all()
