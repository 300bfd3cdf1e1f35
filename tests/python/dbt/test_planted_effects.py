"""The effects the generator planted are visible, coarsely, in the marts: evidence that
staging and the lifecycle logic preserve the signal the analyses must recover."""

from __future__ import annotations

import pytest

from analysis_py.generate.calendar import COUNTRIES


def test_weekend_volume_ratio_near_weekend_factor(wh, built_warehouse):
    factor = built_warehouse.ground_truth["effects"]["case_volume"]["weekend_factor"]
    per_country = " union all ".join(
        f"""select '{c}' as country, date_day, is_weekend,
                   is_business_day_{c.lower()} as is_business_day
            from main.dim_dates where date_day between '2024-01-01' and '2025-12-31'"""
        for c in COUNTRIES
    )
    # Base demand only: Payments (month-end uplift) and failed-payment cases are left out;
    # days are the client's local calendar days.
    ratio = wh.execute(
        f"""
        with days as ({per_country}),
        cases as (
            select c.country,
                   cast(f.opened_at + to_minutes(c.utc_offset_minutes) as date) as local_day
            from main.fct_cases f join main.dim_clients c using (client_id)
            where f.product != 'Payments' and f.payment_rail is null),
        daily as (
            select d.country, d.date_day, d.is_weekend, d.is_business_day, count(c.local_day) as n
            from days d left join cases c
              on c.country = d.country and c.local_day = d.date_day
            group by all)
        select (sum(n) filter (where is_weekend) / count(*) filter (where is_weekend))
             / (sum(n) filter (where is_business_day) / count(*) filter (where is_business_day))
        from daily
        """
    ).fetchone()[0]
    assert ratio == pytest.approx(factor, abs=0.05)


def test_stp_rate_by_rail_near_base_rate(wh, built_warehouse):
    base = built_warehouse.ground_truth["effects"]["stp"]["base_rate"]
    realised = built_warehouse.ground_truth["facts"]["payments"]["stp_rate_by_rail"]
    got = dict(
        wh.execute(
            "select rail, avg(cast(is_stp as int)) from main.fct_payments group by 1"
        ).fetchall()
    )
    assert got.keys() == base.keys()
    for rail, rate in base.items():
        assert got[rail] == pytest.approx(rate, abs=0.03), rail
        # and exactly what the generator realised for real clients
        assert got[rail] == pytest.approx(realised[rail], abs=1e-9), rail


def test_business_hours_median_ratio_by_channel_near_multiplier(wh, built_warehouse):
    mult = built_warehouse.ground_truth["effects"]["resolution"]["channel_multiplier"]
    medians = dict(
        wh.execute(
            """select channel, median(business_hours_to_resolve) from main.fct_cases
               where business_hours_to_resolve is not null group by 1"""
        ).fetchall()
    )
    for channel, m in mult.items():
        ratio = medians[channel] / medians["portal"]
        assert ratio == pytest.approx(m / mult["portal"], rel=0.12), channel


def test_priority_orders_resolution_time(wh, built_warehouse):
    mult = built_warehouse.ground_truth["effects"]["resolution"]["priority_multiplier"]
    medians = dict(
        wh.execute(
            """select priority, median(business_hours_to_resolve) from main.fct_cases
               where business_hours_to_resolve is not null group by 1"""
        ).fetchall()
    )
    order = sorted(mult, key=mult.get)
    assert sorted(medians, key=medians.get) == order
