"""Marts reconcile to the raw landing, computed here with plain DuckDB over the Parquet files
(latest landing per key, test accounts dropped) and to the generator's own counts."""

from __future__ import annotations

import pytest

from .conftest import scalar

LATEST = """(select * from (select *, row_number() over (partition by {key}
             order by _loaded_at desc, _load_id desc) as rn from raw_{table}) where rn = 1)"""


def latest(table: str, key: str) -> str:
    return LATEST.format(table=table, key=key)


def test_cases_match_distinct_real_raw_cases(wh, rawdb, built_warehouse):
    expected = scalar(
        rawdb,
        f"select count(*) from {latest('cases', 'case_id')} "
        "where canon_ref(client_ref) in (select * from real_clients)",
    )
    assert scalar(wh, "select count(*) from main.fct_cases") == expected
    assert expected == built_warehouse.ground_truth["facts"]["cases"]["cases_non_test"]


def test_case_events_match_raw(wh, rawdb):
    expected = scalar(
        rawdb,
        f"""select count(*) from {latest("case_events", "event_id")} e
            join {latest("cases", "case_id")} c using (case_id)
            where canon_ref(c.client_ref) in (select * from real_clients)""",
    )
    assert scalar(wh, "select count(*) from main.fct_case_events") == expected


def test_unresolved_and_reopened_cases_match_raw_and_generator(wh, rawdb, built_warehouse):
    facts = built_warehouse.ground_truth["facts"]["cases"]
    assert (
        scalar(wh, "select count(*) from main.fct_cases where first_resolved_at is null")
        == facts["open_cases_non_test"]
    )
    reopened = scalar(
        rawdb,
        f"""select count(distinct e.case_id) from raw_case_events e
            join {latest("cases", "case_id")} c using (case_id)
            where lower(trim(e.event_type)) = 'reopened'
              and canon_ref(c.client_ref) in (select * from real_clients)""",
    )
    assert reopened > 0
    assert scalar(wh, "select count(*) from main.fct_cases where is_reopened") == reopened
    # The generator's fact also counts reopenings planned after the end of the data (never
    # landed as events), so it can only be a little higher.
    assert 0 <= facts["reopened_cases_non_test"] - reopened <= 0.01 * reopened


def test_payments_count_and_amounts_per_currency(wh, rawdb, built_warehouse):
    expected = {
        r[0]: (r[1], r[2])
        for r in rawdb.execute(
            f"""select upper(trim(currency)), count(*),
                       sum(case when upper(source_feed) = 'GPP'
                                then amount / (case when upper(trim(currency)) = 'JPY' then 1 else 100 end)
                                else amount end)
                from {latest("payment_instructions", "payment_id")}
                where canon_ref(client_ref) in (select * from real_clients)
                group by 1"""
        ).fetchall()
    }
    got = {
        r[0]: (r[1], r[2])
        for r in wh.execute(
            "select currency, count(*), sum(cast(amount as double)) from main.fct_payments group by 1"
        ).fetchall()
    }
    assert got.keys() == expected.keys()
    for ccy, (n, total) in expected.items():
        assert got[ccy][0] == n, ccy
        assert got[ccy][1] == pytest.approx(total, abs=0.01 * n), ccy
    assert (
        sum(n for n, _ in got.values())
        == built_warehouse.ground_truth["facts"]["payments"]["payments_non_test"]
    )


def test_usd_amounts_use_the_last_published_rate(wh, rawdb, built_warehouse):
    # Independent: an ASOF join of each payment's UTC creation date to the published rates.
    rawdb.execute(
        f"""create or replace temp table expected_usd as
            select sum(p.major * r.usd_per_unit) as usd from (
                select upper(trim(currency)) as currency, cast(created_at as date) as d,
                       case when upper(source_feed) = 'GPP'
                            then amount / (case when upper(trim(currency)) = 'JPY' then 1 else 100 end)
                            else amount end as major
                from {latest("payment_instructions", "payment_id")}
                where canon_ref(client_ref) in (select * from real_clients)) p
            asof join raw_fx_rates r on p.currency = r.currency and p.d >= r.rate_date"""
    )
    expected = scalar(rawdb, "select usd from expected_usd")
    got = float(scalar(wh, "select sum(amount_usd) from main.fct_payments"))
    n = scalar(wh, "select count(*) from main.fct_payments")
    assert got == pytest.approx(expected, abs=0.01 * n)
    # The generator prices each payment at its scheduling day's rate, which can differ from
    # the UTC creation date by a day: agreement within half a percent.
    truth = built_warehouse.ground_truth["facts"]["payments"]["amount_usd_total_non_test"]
    assert got == pytest.approx(truth, rel=0.005)


def test_platform_requests_and_daily_usage_match_raw(wh, rawdb):
    expected_requests, expected_errors = rawdb.execute(
        """select count(*), count(*) filter (where http_status >= 500)
           from (select distinct request_id, client_ref, http_status from raw_requests)
           where canon_ref(client_ref) in (select * from real_clients)"""
    ).fetchone()
    assert scalar(wh, "select count(*) from main.fct_platform_requests") == expected_requests
    usage = wh.execute(
        "select sum(request_count), sum(error_count) from main.fct_platform_usage_daily"
    ).fetchone()
    assert tuple(usage) == (expected_requests, expected_errors)


def test_incidents_csat_and_clients_match_raw(wh, rawdb, built_warehouse):
    gt = built_warehouse.ground_truth
    assert scalar(wh, "select count(*) from main.fct_incidents") == scalar(
        rawdb, "select count(distinct incident_id) from raw_incidents"
    )
    assert (
        scalar(wh, "select count(*) from main.fct_incidents")
        == gt["facts"]["incidents"]["incidents"]
    )
    assert scalar(wh, "select count(*) from main.dim_clients") == scalar(
        rawdb, "select count(*) from real_clients"
    )
    assert (
        scalar(wh, "select count(*) from main.dim_clients")
        == gt["clients"]["clients"] - gt["clients"]["test_accounts"]
    )
    expected_csat = scalar(
        rawdb,
        f"""select count(*) from {latest("csat_responses", "response_id")} r
            join {latest("cases", "case_id")} c on c.case_id = 'CS' || right(r.vendor_case_ref, 8)
            where canon_ref(c.client_ref) in (select * from real_clients)""",
    )
    assert expected_csat > 0
    assert scalar(wh, "select count(*) from main.fct_csat_responses") == expected_csat
