"""Business hours in fct_cases agree with the generator's own calendar arithmetic
(analysis_py.generate.calendar: numpy over the holidays package), case by case."""

from __future__ import annotations

import numpy as np

from analysis_py.generate import calendar as cal_mod


def _bh_seconds(cal, country_idx: np.ndarray, epoch_s: np.ndarray) -> np.ndarray:
    return cal.bh(country_idx, epoch_s.astype(np.int64))


def test_business_hours_match_generator_calendar(wh):
    df = wh.execute(
        """select c.country, epoch(f.opened_at)::bigint as opened,
                  epoch(f.first_response_at)::bigint as responded,
                  epoch(f.first_resolved_at)::bigint as resolved,
                  f.business_hours_to_first_response as bh_response,
                  f.business_hours_to_resolve as bh_resolve
           from main.fct_cases f join main.dim_clients c using (client_id)
           where f.first_resolved_at is not null and f.first_response_at is not null"""
    ).df()
    assert len(df) > 1000
    cal = cal_mod.calendar()
    country = np.array([cal_mod.COUNTRIES.index(c) for c in df["country"]])
    opened = _bh_seconds(cal, country, df["opened"].to_numpy())
    resolve = (_bh_seconds(cal, country, df["resolved"].to_numpy()) - opened) / 3600
    respond = (_bh_seconds(cal, country, df["responded"].to_numpy()) - opened) / 3600
    np.testing.assert_allclose(df["bh_resolve"].to_numpy(), resolve, atol=1e-6)
    np.testing.assert_allclose(df["bh_response"].to_numpy(), respond, atol=1e-6)


def test_open_cases_are_measured_to_the_end_of_data(wh):
    rows = wh.execute(
        """select count(*), min(business_hours_to_resolve_or_data_end)
           from main.fct_cases where first_resolved_at is null"""
    ).fetchone()
    assert rows[0] > 0 and rows[1] >= 0
    assert (
        wh.execute(
            """select count(*) from main.fct_cases
           where first_resolved_at is not null
             and business_hours_to_resolve_or_data_end != business_hours_to_resolve"""
        ).fetchone()[0]
        == 0
    )


def test_dim_dates_flags_follow_the_holiday_calendar(wh):
    cal = cal_mod.calendar()
    df = wh.execute(
        "select date_day, "
        + ", ".join(f"is_business_day_{c.lower()}" for c in cal_mod.COUNTRIES)
        + " from main.dim_dates order by date_day"
    ).df()
    assert len(df) == cal_mod.N_CAL_DAYS
    for i, c in enumerate(cal_mod.COUNTRIES):
        np.testing.assert_array_equal(
            df[f"is_business_day_{c.lower()}"].to_numpy(), cal.is_business[i].astype(bool)
        )
