"""Marts reconcile to the raw landing, computed here with plain DuckDB over the Parquet files
(latest landing per key, test accounts dropped), and exactly to the generator's own facts
(ground_truth.json describes the data it wrote: counts are equal, sums equal to the cent,
rates equal up to float rounding)."""

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


def test_case_events_match_raw(wh, rawdb, built_warehouse):
    expected = scalar(
        rawdb,
        f"""select count(*) from {latest("case_events", "event_id")} e
            join {latest("cases", "case_id")} c using (case_id)
            where canon_ref(c.client_ref) in (select * from real_clients)""",
    )
    assert scalar(wh, "select count(*) from main.fct_case_events") == expected
    assert expected == built_warehouse.ground_truth["facts"]["cases"]["case_events_non_test"]


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
    assert facts["reopened_cases_non_test"] == reopened


def test_payments_count_and_amounts_per_currency(wh, rawdb, built_warehouse):
    expected = {
        r[0]: (r[1], r[2])
        for r in rawdb.execute(
            f"""select upper(trim(currency)), count(*),
                       sum(cast(case when upper(source_feed) = 'GPP'
                                then amount / (case when upper(trim(currency)) = 'JPY' then 1 else 100 end)
                                else amount end as decimal(18, 2)))
                from {latest("payment_instructions", "payment_id")}
                where canon_ref(client_ref) in (select * from real_clients)
                group by 1"""
        ).fetchall()
    }
    got = {
        r[0]: (r[1], r[2])
        for r in wh.execute(
            "select currency, count(*), sum(amount) from main.fct_payments group by 1"
        ).fetchall()
    }
    assert got.keys() == expected.keys()
    for ccy, (n, total) in expected.items():
        assert got[ccy] == (n, total), ccy  # decimals: equal to the cent
    assert (
        sum(n for n, _ in got.values())
        == built_warehouse.ground_truth["facts"]["payments"]["payments_non_test"]
    )


def test_usd_amounts_use_the_last_published_rate(wh, rawdb, built_warehouse):
    # Independent: an ASOF join of each payment's UTC creation date to the published rates,
    # rounded to cents per payment (amount_usd is decimal(18, 2)).
    rawdb.execute(
        f"""create or replace temp table expected_usd as
            select sum(cast(p.major * r.usd_per_unit as decimal(18, 2))) as usd from (
                select upper(trim(currency)) as currency, cast(created_at as date) as d,
                       case when upper(source_feed) = 'GPP'
                            then amount / (case when upper(trim(currency)) = 'JPY' then 1 else 100 end)
                            else amount end as major
                from {latest("payment_instructions", "payment_id")}
                where canon_ref(client_ref) in (select * from real_clients)) p
            asof join raw_fx_rates r on p.currency = r.currency and p.d >= r.rate_date"""
    )
    expected = scalar(rawdb, "select usd from expected_usd")
    got = scalar(wh, "select sum(amount_usd) from main.fct_payments")
    assert got == expected  # decimals: equal to the cent
    # The generator applies the same rule (rate of the UTC creation date, cents per payment).
    truth = built_warehouse.ground_truth["facts"]["payments"]["amount_usd_total_non_test"]
    assert float(got) == truth


def test_platform_requests_and_daily_usage_match_raw(wh, rawdb, built_warehouse):
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
    facts = built_warehouse.ground_truth["facts"]["requests"]
    assert (facts["requests_non_test"], facts["errors_5xx_non_test"]) == tuple(usage)


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
    assert expected_csat == gt["facts"]["cases"]["csat_responses_non_test"]


def test_incident_facts_match_the_generator(wh, built_warehouse):
    facts = built_warehouse.ground_truth["facts"]["incidents"]
    got = wh.execute(
        "select count(*) filter (where is_major), count(*) filter (where is_open) "
        "from main.fct_incidents"
    ).fetchone()
    assert got == (facts["sev1_sev2_windows"], facts["open_incidents"])
    assert facts["sev1_sev2_windows"] >= 2  # the generator plants two at every scale


def test_cases_from_failed_payments_match_the_generator(wh, built_warehouse):
    facts = built_warehouse.ground_truth["facts"]["cases"]
    n = scalar(wh, "select count(*) from main.fct_cases where payment_rail is not null")
    assert n == facts["cases_from_failed_payments_non_test"] > 0


#: Payments created inside a SEV1/SEV2 impact window that names their rail:
#: [started_at, mitigated_at), or to the data end while not mitigated (docs/raw_data.md).
IN_WINDOW = """exists (
    select 1 from main.fct_incidents i
    where i.is_major
      and p.created_at >= i.started_at
      and p.created_at < coalesce(i.mitigated_at, timestamp '2026-01-01 00:00:00')
      and list_contains(string_split(i.affected_rails, ';'), p.rail))"""


def test_payment_rates_and_shares_match_the_generator(wh, built_warehouse):
    """Rates are ratios of the same integer counts on both sides: float rounding only."""
    facts = built_warehouse.ground_truth["facts"]["payments"]

    def same(expected):
        return pytest.approx(expected, rel=1e-12, abs=0)

    def rates(sql: str) -> dict:
        return {k: v for k, v in wh.execute(sql).fetchall()}

    by = "select {k}, avg(cast(is_stp as int)) from main.fct_payments p {where} group by 1"
    assert rates(by.format(k="rail", where="")) == same(facts["stp_rate_by_rail"])
    assert rates(by.format(k="rail", where=f"where not {IN_WINDOW}")) == same(
        facts["stp_rate_by_rail_outside_incidents"]
    )
    assert rates(by.format(k="initiation_channel", where="")) == same(
        facts["stp_rate_by_initiation_channel"]
    )
    n_in, stp_in = wh.execute(
        f"select count(*), avg(cast(is_stp as int)) from main.fct_payments p where {IN_WINDOW}"
    ).fetchone()
    assert n_in == facts["payments_in_incident_windows"]
    assert stp_in == same(facts["stp_rate_in_incident_windows"])
    monthly = wh.execute(
        "select avg(cast(is_digital as int)) from main.fct_payments "
        "group by date_trunc('month', created_date) order by date_trunc('month', created_date)"
    ).fetchall()
    assert monthly[0][0] == same(facts["digital_share_first_month"])
    assert monthly[-1][0] == same(facts["digital_share_last_month"])
    assert (
        scalar(wh, "select count(*) from main.fct_payments where status = 'failed'")
        == facts["failed_payments"]
    )


def test_degraded_requests_match_the_generator(wh, built_warehouse):
    """Requests inside a SEV1/SEV2 window of their surface's platform service
    (docs/raw_data.md: client-portal → portal, mobile-app → mobile, api-gateway → api)."""
    degraded = scalar(
        wh,
        """
        with surfaces(service, surface) as (
            values ('client-portal', 'portal'), ('mobile-app', 'mobile'), ('api-gateway', 'api'))
        select count(*) from main.fct_platform_requests r
        where exists (
            select 1 from main.fct_incidents i join surfaces s using (service)
            where i.is_major and s.surface = r.surface
              and r.requested_at >= i.started_at
              and r.requested_at < coalesce(i.mitigated_at, timestamp '2026-01-01 00:00:00'))
        """,
    )
    assert degraded == built_warehouse.ground_truth["facts"]["requests"]["degraded_non_test"]
