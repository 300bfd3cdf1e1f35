"""Analyses on a dbt project that is not opsmetrics': `foreign_project/` (a small shop with
orders and customers, no contracts, no access settings, no semantic layer).

The project is copied as it is, its seed data written, and built by the real dbt. Then
`opsmetrics analyze --project-dir` runs profile, forecast, anomalies, drivers and predict
specs on it — the warehouse found through the project's own profile, governed inputs named by
the project's `opsmetrics_governed_inputs` var — and the answers are checked against the
effects planted in the seed data.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis_py.analyses import store
from tests.python.conftest import run_cli

HERE = Path(__file__).resolve().parent
DBT = str(Path(sys.executable).parent / "dbt")
CHANNEL_MULT = {"web": 1.0, "app": 0.7, "phone": 1.5}
REGION_MULT = {"EU": 1.0, "US": 1.3, "APAC": 0.8}


def _seed_data(folder: Path) -> None:
    """Two years of orders: weekly pattern, delivery time log-normal with channel and region
    multipliers, the last week's orders not delivered yet."""
    rng = np.random.default_rng(3)
    customers = pd.DataFrame(
        {
            "customer_id": np.arange(1, 301),
            "region": rng.choice(list(REGION_MULT), 300, p=[0.5, 0.3, 0.2]),
            "segment": rng.choice(["retail", "business"], 300),
        }
    )
    days = pd.date_range("2024-01-01", "2025-12-31", freq="D")
    per_day = rng.poisson(np.where(days.day_of_week >= 5, 6, 18))
    day = np.repeat(days.to_numpy(), per_day)
    n = len(day)
    cust = rng.integers(1, 301, n)
    channel = rng.choice(list(CHANNEL_MULT), n, p=[0.5, 0.3, 0.2])
    region = customers.set_index("customer_id").loc[cust, "region"].to_numpy()
    mult = (
        pd.Series(channel).map(CHANNEL_MULT).to_numpy()
        * pd.Series(region).map(REGION_MULT).to_numpy()
    )
    hours = np.exp(np.log(30) + rng.normal(0, 0.6, n)) * mult
    ordered = pd.to_datetime(day) + pd.to_timedelta(rng.integers(8 * 3600, 20 * 3600, n), "s")
    open_ = ordered > pd.Timestamp("2025-12-24")
    orders = pd.DataFrame(
        {
            "order_id": np.arange(1, n + 1),
            "customer_id": cust,
            "channel": np.char.upper(channel.astype(str)),  # the staging model lower-cases it
            "ordered_at": ordered.strftime("%Y-%m-%d %H:%M:%S"),
            "amount": np.round(rng.gamma(2.0, 50.0, n), 2),
            "delivery_hours": np.where(open_, np.nan, np.round(hours, 3)),
        }
    )
    folder.mkdir(parents=True, exist_ok=True)
    customers.to_csv(folder / "raw_customers.csv", index=False)
    orders.to_csv(folder / "raw_orders.csv", index=False)


SPECS = {
    "shop_customers": """
        analysis: profile
        input: {mart: dim_customers}
    """,
    "shop_order_forecast": """
        analysis: forecast
        input:
          metric: orders
          mart: fct_orders
          date: order_date
          value: count
          slices: [region]
          include_total: true
        parameters: {horizon: 14}
    """,
    "shop_order_anomalies": """
        analysis: anomalies
        input: {metric: orders, mart: fct_orders, date: order_date, value: count}
    """,
    "shop_delivery_drivers": """
        analysis: drivers
        input: {mart: fct_orders}
        parameters:
          outcome: delivery_hours
          factors: {channel: web, region: EU}
          controls: []
          cluster: customer_id
          date_column: order_date
          exclude_last_days: 0
    """,
    "shop_late_risk": """
        analysis: predict
        input: {mart: fct_orders}
        parameters:
          outcome: is_late
          features: [channel, region, segment]
          baseline_features: [channel]
          date_column: order_date
          id_column: order_id
          exclude_last_days: 7
          validation_days: 60
          test_days: 60
          n_bootstrap: 50
          score_where: delivery_hours is null
    """,
}


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    root = tmp_path_factory.mktemp("shop")
    proj = root / "shop"
    shutil.copytree(HERE / "foreign_project", proj)
    _seed_data(proj / "seeds")
    env = {**os.environ, "SHOP_DUCKDB": str(root / "shop.duckdb")}
    for key in ("OPSMETRICS_PROJECT_DIR", "OPSMETRICS_WAREHOUSE_DIR", "OPSMETRICS_DATA_DIR"):
        env.pop(key, None)
    build = subprocess.run(
        [DBT, "build", "--project-dir", str(proj), "--profiles-dir", str(proj)],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stdout[-3000:]
    specs = root / "specs"
    specs.mkdir()
    for name, body in SPECS.items():
        (specs / f"{name}.yml").write_text(
            f"name: {name}\nowner: shop-analytics\n" + textwrap.dedent(body)
        )
    return root, proj, env


def test_every_analysis_runs_on_the_foreign_project(shop):
    root, proj, env = shop
    # no --database: the warehouse is the file the project's own profile writes
    p = run_cli("analyze", "-q", "--project-dir", str(proj), str(root / "specs"), env=env)
    assert "shop_late_risk" in p.stdout
    out = root  # results go beside the project's warehouse
    runs = store.read_table("runs", out).set_index("spec_name")
    assert set(runs.index) == set(SPECS)
    assert (runs["status"] == "success").all(), runs["error"].dropna().to_dict()
    marts = runs.loc["shop_order_forecast", "inputs"]
    assert "fct_orders" in marts

    eff = store.read_table("effects", out)
    drv = eff[eff.spec_name == "shop_delivery_drivers"].set_index(["factor", "level"])
    for (factor, level), truth in {
        ("channel", "app"): 0.7,
        ("channel", "phone"): 1.5,
        ("region", "US"): 1.3,
        ("region", "APAC"): 0.8,
    }.items():
        row = drv.loc[(factor, level)]
        assert row["ci_low"] <= truth <= row["ci_high"], (factor, level, row.to_dict())

    fc = store.read_table("forecasts", out)
    fc = fc[fc.spec_name == "shop_order_forecast"]
    assert set(fc["slice"]) == {"all", "EU", "US", "APAC"} and len(fc) == 4 * 14
    prof = store.read_table("profile", out)
    assert set(prof[prof.spec_name == "shop_customers"]["column"]) == {
        "customer_id",
        "region",
        "segment",
    }
    preds = store.read_table("predictions", out)
    preds = preds[preds.spec_name == "shop_late_risk"]
    assert len(preds) > 0 and preds["probability"].between(0, 1).all()
    scores = store.read_table("model_scores", out)
    test_auc = scores[
        (scores.spec_name == "shop_late_risk") & (scores.split == "test") & (scores.metric == "auc")
    ].set_index("model")["value"]
    assert test_auc.max() > 0.7  # lateness is driven by channel and region, which it sees


def test_a_model_the_project_does_not_list_is_refused(shop):
    root, proj, env = shop
    spec = root / "bad.yml"
    spec.write_text("name: bad\nanalysis: profile\ninput: {mart: stg_orders}\n")
    p = run_cli(
        "analyze",
        "-q",
        "--no-write",
        "--project-dir",
        str(proj),
        "--database",
        str(root / "shop.duckdb"),
        str(spec),
        env=env,
        check=False,
    )
    assert p.returncode == 1
    said = " ".join((p.stdout + p.stderr).split())  # the terminal wraps long lines
    assert "model 'stg_orders' is not a governed input" in said
    assert "opsmetrics_governed_inputs (fct_orders, tag:certified) does not list it" in said
    assert "Traceback" not in said


def test_a_missing_database_is_a_clear_error(shop):
    root, proj, env = shop
    p = run_cli(
        "analyze",
        "--project-dir",
        str(proj),
        "--database",
        str(root / "nope.duckdb"),
        env=env,
        check=False,
    )
    assert p.returncode != 0
    assert "--database" in p.stderr and "no such DuckDB file" in p.stderr
    assert "Traceback" not in p.stderr
