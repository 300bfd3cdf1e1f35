"""Planted effects are visible, coarsely, in the raw data alone (scale 0.05).

These recompute the effect from the landed files (de-duplicated, test accounts excluded)
with their own SQL, independently of the generator's internals; the business-hours
calendar is the shared definition in ``analysis_py.generate.calendar``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis_py.generate import calendar as cal
from analysis_py.generate import generate

CLEAN = """
create or replace temp view real_clients as
  select client_id, cast(regexp_extract(client_id, '[0-9]+') as int) as num, country
  from (select distinct on (client_id) * from clients order by client_id, _loaded_at desc)
  where coalesce(is_test_account, 'N') not in ('Y', 'true');
create or replace temp view clean_cases as
  select c.*, r.country,
         strptime(c.opened_at_local, '%Y-%m-%d %H:%M:%S%z') at time zone 'UTC' as opened_at,
         cast(left(c.opened_at_local, 10) as date) as local_date
  from (select distinct on (case_id) * from cases order by case_id, _loaded_at desc) c
  join real_clients r on cast(regexp_extract(c.client_ref, '[0-9]+') as int) = r.num;
create or replace temp view clean_payments as
  select p.*, upper(trim(p.rail)) as rail_c, r.country
  from (select distinct on (payment_id) * from payment_instructions
        order by payment_id, _loaded_at desc) p
  join real_clients r on cast(regexp_extract(p.client_ref, '[0-9]+') as int) = r.num;
"""


def _prepare(con) -> None:
    for stmt in CLEAN.split(";"):
        if stmt.strip():
            con.execute(stmt)


@pytest.fixture(scope="module")
def clean(con):
    _prepare(con)
    return con


def weekend_ratio(con) -> float:
    """Cases per weekend day / per non-holiday weekday, by the client's local date
    (base cases only: failed-payment cases are opened in business hours)."""
    holidays = {(c, d.isoformat()) for c, d in cal.holiday_dates()}
    rows = con.execute(
        "select country, local_date, count(*) from clean_cases "
        "where payment_rail is null group by all"
    ).fetchall()
    days = np.arange(cal.DATA_START_S // 86400, cal.DATA_END_S // 86400)
    n_we = int((cal.weekday_of_epoch_day(days) >= 5).sum())
    we = wk = 0
    wk_days = 0
    for c in cal.COUNTRIES:
        hol = {d for (cc, d) in holidays if cc == c}
        n_hol_wk = sum(
            1
            for d in days
            if cal.weekday_of_epoch_day(d) < 5 and (np.datetime64(int(d), "D").astype(str) in hol)
        )
        wk_days += len(days) - n_we - n_hol_wk
    for c, d, n in rows:
        if d.weekday() >= 5:
            we += n
        elif (c, d.isoformat()) not in holidays:
            wk += n
    return (we / (n_we * len(cal.COUNTRIES))) / (wk / wk_days)


def test_weekend_ratio_near_weekend_factor(clean, truth):
    r = weekend_ratio(clean)
    assert abs(r - truth["effects"]["case_volume"]["weekend_factor"]) < 0.04, r


def test_stp_rate_by_rail_near_base(clean, truth):
    base = truth["effects"]["stp"]["base_rate"]
    rows = clean.execute(
        "select rail_c, avg((stp_flag = 'Y')::int), count(*) from clean_payments group by 1"
    ).fetchall()
    assert {r for r, _, _ in rows} == set(base)
    for rail, rate, n in rows:
        # base + api share × uplift − incident drop; all small next to the tolerance
        assert abs(rate - base[rail]) < 0.02 + 3 * math.sqrt(0.25 / n), (rail, rate)


def test_api_uplift_over_manual(clean, truth):
    api, manual = clean.execute(
        """
        select avg((stp_flag = 'Y')::int) filter (where lower(trim(initiation_channel))
                                                   in ('api', 'h2h api')),
               avg((stp_flag = 'Y')::int) filter (where lower(trim(initiation_channel))
                                                   = 'manual')
        from clean_payments
        """
    ).fetchall()[0]
    assert abs((api - manual) - truth["effects"]["stp"]["api_uplift"]) < 0.015


def _first_resolution_hours(con):
    rows = con.execute(
        """
        with ev as (select distinct on (event_id) * from case_events
                    order by event_id, _loaded_at desc),
        res as (select case_id, min(event_at) as resolved_at from ev
                where lower(trim(event_type)) = 'resolved' group by 1)
        select c.country, epoch(c.opened_at)::bigint, epoch(r.resolved_at)::bigint,
               lower(trim(c.channel)), lower(trim(c.priority))
        from clean_cases c join res r using (case_id)
        """
    ).fetchall()
    country = np.array([cal.COUNTRIES.index(r[0]) for r in rows])
    opened = np.array([r[1] for r in rows])
    resolved = np.array([r[2] for r in rows])
    c = cal.calendar()
    hours = (c.bh(country, resolved) - c.bh(country, opened)) / 3600
    return hours, np.array([r[3] for r in rows]), np.array([r[4] for r in rows])


CHANNEL = {"email": "email", "e-mail": "email", "chat": "chat", "live chat": "chat",
           "phone": "phone", "telephone": "phone", "portal": "portal", "web portal": "portal",
           "client portal": "portal"}  # fmt: skip
PRIORITY = {"p1": "P1", "1": "P1", "critical": "P1", "p2": "P2", "2": "P2", "high": "P2",
            "p3": "P3", "3": "P3", "medium": "P3", "p4": "P4", "4": "P4", "low": "P4"}  # fmt: skip


def test_resolution_multipliers_in_log_hours(clean, truth):
    hours, channel, priority = _first_resolution_hours(clean)
    assert len(hours) > 5000 and (hours > 0).all()
    ch = np.array([CHANNEL[c] for c in channel])
    pr = np.array([PRIORITY[p] for p in priority])
    # Medians within a priority stratum remove the priority mix; compare in log space.
    eff = truth["effects"]["resolution"]
    for name, mult in eff["channel_multiplier"].items():
        m = (pr == "P3") & (ch == name)
        ref = (pr == "P3") & (ch == "portal")
        got = np.log(np.median(hours[m]) / np.median(hours[ref]))
        assert abs(got - math.log(mult)) < 0.15, (name, got)
    for name, mult in eff["priority_multiplier"].items():
        m = (ch == "email") & (pr == name)
        ref = (ch == "email") & (pr == "P3")
        got = np.log(np.median(hours[m]) / np.median(hours[ref]))
        assert abs(got - math.log(mult)) < 0.2, (name, got)


def test_ground_truth_median_close_to_resolved_median(clean, truth):
    hours, _, _ = _first_resolution_hours(clean)
    # Censored cases are few, so the median over resolved ones is close to the truth.
    t = truth["facts"]["cases"]["median_business_hours_to_first_resolution"]
    assert abs(math.log(np.median(hours)) - math.log(t)) < 0.08


def test_failed_payments_lead_to_cases_with_rail(clean):
    share, max_days = clean.execute(
        """
        with f as (select * from clean_payments where status = 'failed'),
        m as (select f.payment_id, min(c.opened_at - f.created_at) as lag
              from f join clean_cases c
                on cast(regexp_extract(c.client_ref, '[0-9]+') as int)
                   = cast(regexp_extract(f.client_ref, '[0-9]+') as int)
               and upper(c.payment_rail) = f.rail_c
               and c.opened_at between f.created_at and f.created_at + interval 7 days
              group by 1)
        select (select count(*) from m) / (select count(*) from f),
               (select max(epoch(lag)) / 86400 from m)
        """
    ).fetchall()[0]
    assert 0.5 < share < 0.8
    assert max_days <= 7


def test_anomaly_cells_visible(clean, truth):
    cells = truth["anomalies"]["cells"]
    assert len(cells) == 12
    assert {c["metric"] for c in cells} == {"cases_opened", "payments", "platform_requests"}
    for c in cells:
        assert np.datetime64(c["date"]).astype("datetime64[D]").astype(int) % 7 not in (2, 3)
        if c["metric"] == "payments":
            sql = ("select created_at::date d, count(*) from clean_payments "
                   f"where rail_c = '{c['slice']}' group by 1")  # fmt: skip
        elif c["metric"] == "platform_requests":
            sql = ("select requested_at::date d, count(*) from requests "
                   f"where surface = '{c['slice']}' group by 1")  # fmt: skip
        else:
            continue  # a few cases a day at this scale: too noisy to assert per cell
        counts = dict(clean.execute(sql).fetchall())
        d = np.datetime64(c["date"])
        same_weekday = [counts.get((d + k).astype(object), 0) for k in (-21, -14, -7, 7, 14, 21)]
        ratio = counts.get(d.astype(object), 0) / np.median(same_weekday)
        if c["kind"] == "spike":
            assert ratio > 2.0, (c, ratio)
        else:
            assert ratio < 0.45, (c, ratio)


def test_second_effects_file_changes_the_data(tmp_path):
    f = tmp_path / "effects.yml"
    f.write_text(
        "case_volume:\n  weekend_factor: 0.6\n"
        "stp:\n  base_rate:\n    SWIFT: 0.5\n"
        "resolution:\n  channel_multiplier:\n    chat: 2.0\n"
    )
    import duckdb

    out = tmp_path / "raw"
    truth = generate(out, scale=0.05, seed=7, effects=f, progress=False)
    con = duckdb.connect()
    for t in ("clients", "cases", "case_events", "payment_instructions"):
        src = next(out.glob(f"*/{t}"))
        con.execute(f"create view {t} as select * from read_parquet('{src}/*.parquet')")
    _prepare(con)
    assert abs(weekend_ratio(con) - 0.6) < 0.08
    swift = con.execute(
        "select avg((stp_flag = 'Y')::int) from clean_payments where rail_c = 'SWIFT'"
    ).fetchall()[0][0]
    assert abs(swift - 0.5) < 0.04
    hours, channel, _ = _first_resolution_hours(con)
    ch = np.array([CHANNEL[c] for c in channel])
    got = np.log(np.median(hours[ch == "chat"]) / np.median(hours[ch == "portal"]))
    assert abs(got - math.log(2.0)) < 0.15
    assert truth["effects"]["resolution"]["channel_multiplier"]["chat"] == 2.0


def test_lifecycle_facts_match_raw_events(clean, truth):
    facts = truth["facts"]["cases"]
    n_cases, n_open, n_reopened = clean.execute(
        """
        with ev as (select case_id, lower(trim(event_type)) as t from case_events)
        select count(*),
               count(*) filter (where case_id not in (select case_id from ev
                                                      where t = 'resolved')),
               count(*) filter (where case_id in (select case_id from ev where t = 'reopened'))
        from clean_cases
        """
    ).fetchall()[0]
    assert n_cases == facts["cases_non_test"]
    assert n_open == facts["open_cases_non_test"] > 0
    assert n_reopened == facts["reopened_cases_non_test"] > 0
