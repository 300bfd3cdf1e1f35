"""ground_truth.json facts describe the data as written (scale 0.05), checked from the raw
files alone with DuckDB, no dbt: the same rules the warehouse documents (docs/warehouse.md),
so tests/python/dbt/test_marts_reconcile_to_raw.py can demand exact equality."""

from __future__ import annotations

import duckdb
import numpy as np

from analysis_py.generate.payments import round_half_away

from .test_planted import _prepare


def test_round_half_away_is_duckdbs_double_to_decimal_cast():
    rng = np.random.default_rng(0)
    x = np.r_[
        rng.lognormal(8, 3, 5000) * rng.choice([-1, 1], 5000),
        [0.125, 0.375, -0.125, 1.005, 2.675, 0.004999999999999999, 0.005, 1e9 + 0.005],
        np.arange(-300, 300) / 200,  # exact binary ties (k/8) among them
    ]
    con = duckdb.connect()
    got = np.array(
        [
            int(r[0] * 100)
            for r in con.execute(
                "select cast(x as decimal(18, 2)) from unnest(?) as t(x)", [x.tolist()]
            ).fetchall()
        ]
    )
    np.testing.assert_array_equal(round_half_away(x * 100.0), got)


def test_amount_usd_total_is_the_warehouse_rule_on_raw(con, truth):
    """Σ round(major × rate of the UTC creation date, forward-filled, 2) over real clients."""
    _prepare(con)
    got = con.execute(
        """
        with p as (
            select upper(trim(currency)) as ccy, cast(created_at as date) as d,
                   cast(case when upper(source_feed) = 'GPP'
                             then amount / (case when upper(trim(currency)) = 'JPY'
                                                 then 1 else 100 end)
                             else amount end as decimal(18, 2)) as major
            from clean_payments)
        select sum(cast(cast(p.major as double) * r.usd_per_unit as decimal(18, 2)))
        from p asof join fx_rates r on p.ccy = r.currency and p.d >= r.rate_date
        """
    ).fetchall()[0][0]
    assert float(got) == truth["facts"]["payments"]["amount_usd_total_non_test"]


def test_count_facts_match_raw(con, truth):
    _prepare(con)
    facts = truth["facts"]
    got = con.execute(
        """
        select
          (select count(*) from clean_payments where lower(trim(status)) = 'failed'),
          (select count(*) from clean_cases where payment_rail is not null),
          (select count(distinct event_id) from case_events
            where case_id in (select case_id from clean_cases)),
          (select count(distinct response_id) from csat_responses
            where 'CS' || right(vendor_case_ref, 8) in (select case_id from clean_cases))
        """
    ).fetchall()[0]
    assert got == (
        facts["payments"]["failed_payments"],
        facts["cases"]["cases_from_failed_payments_non_test"],
        facts["cases"]["case_events_non_test"],
        facts["cases"]["csat_responses_non_test"],
    )
    assert min(got) > 0


def test_row_counts_distinct_keys_and_totals_match_raw(raw_dir, con, truth):
    """``row_counts`` (distinct keys, files) and the all-client totals among the facts."""
    keys = {
        "clients": "client_id",
        "cases": "case_id",
        "case_events": "event_id",
        "csat_responses": "response_id",
        "payment_instructions": "payment_id",
        "fx_rates": "rate_date || currency",
        "requests": "request_id",
        "incidents": "incident_id",
    }
    for table, key in keys.items():
        counts = truth["row_counts"][table]
        n_keys = con.execute(f"select count(distinct {key}) from {table}").fetchall()[0][0]
        assert counts["distinct_keys"] == n_keys, table
        assert counts["files"] == len(list(raw_dir.glob(f"*/{table}/*.parquet"))), table
    facts, rows = truth["facts"], truth["row_counts"]
    assert facts["payments"]["payments"] == rows["payment_instructions"]["distinct_keys"]
    assert facts["cases"]["cases"] == rows["cases"]["distinct_keys"]
    assert facts["cases"]["case_events"] == rows["case_events"]["distinct_keys"]
    assert facts["cases"]["csat_responses"] == rows["csat_responses"]["distinct_keys"]
    assert facts["incidents"]["incidents"] == rows["incidents"]["distinct_keys"]
    assert truth["clients"]["clients"] == rows["clients"]["distinct_keys"]
