"""Each kind of mess listed in docs/raw_data.md is present in the raw landing."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

SEEDS = Path(__file__).resolve().parents[3] / "seeds"


def one(con, sql):
    return con.execute(sql).fetchall()[0]


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ("clients", "client_id"),
        ("cases", "case_id"),
        ("case_events", "event_id"),
        ("payment_instructions", "payment_id"),
        ("incidents", "incident_id"),
    ],
)
def test_relanded_duplicates_have_a_later_landing(con, table, key):
    n, distinct = one(con, f"select count(*), count(distinct {key}) from {table}")
    assert n > distinct
    # Every duplicate key lands more than once at distinct, increasing landing times.
    bad = one(
        con,
        f"select count(*) from (select {key} from {table} group by {key} "
        f"having count(*) > 1 and count(distinct _loaded_at) < count(*))",
    )[0]
    assert bad == 0


def test_relanded_payments_carry_the_final_status_later(con):
    rows = con.sql(
        """
        select first(status order by _loaded_at), last(status order by _loaded_at)
        from payment_instructions group by payment_id having count(*) > 1
        """
    ).fetchall()
    assert rows
    assert all(first == "pending" for first, _ in rows)
    assert any(last != "pending" for _, last in rows)


@pytest.mark.parametrize(
    ("table", "column", "seed", "canon"),
    [
        ("cases", "channel", "channel_map.csv", {"email", "chat", "phone", "portal"}),
        ("cases", "priority", "priority_map.csv", {"P1", "P2", "P3", "P4"}),
        (
            "payment_instructions",
            "initiation_channel",
            "initiation_channel_map.csv",
            {"portal", "api", "file", "manual"},
        ),
        ("incidents", "severity", "severity_map.csv", {"SEV1", "SEV2", "SEV3", "SEV4"}),
    ],
)
def test_label_variants_all_map_through_seed(con, table, column, seed, canon):
    raw = {r[0] for r in con.sql(f"select distinct {column} from {table}").fetchall()}
    with open(SEEDS / seed) as f:
        mapping = {row["raw_label"]: row[next(k for k in row if k != "raw_label")]
                   for row in csv.DictReader(f)}  # fmt: skip
    assert len(raw) > len(canon) + 2, f"{column}: too few variants {raw}"
    assert any(v != v.strip() for v in raw) or any(v != v.lower() for v in raw)
    assert {mapping[v.strip().lower()] for v in raw} == canon


def test_priority_has_numeric_and_word_forms(con):
    raw = {r[0] for r in con.sql("select distinct priority from cases").fetchall()}
    assert {"P1", "1", "Critical"} <= raw


def test_event_type_and_rail_case_vary(con):
    ev = {r[0] for r in con.sql("select distinct event_type from case_events").fetchall()}
    assert {"resolved", "RESOLVED", "resolved "} <= ev
    assert {e.strip().lower() for e in ev} == {
        "opened", "assigned", "first_response", "pending_client", "reopened", "resolved", "closed"
    }  # fmt: skip
    rails = {r[0] for r in con.sql("select distinct rail from payment_instructions").fetchall()}
    assert {"SWIFT", "swift"} <= rails
    assert {r.upper() for r in rails} == {"SWIFT", "ACH", "RTP", "SEPA", "CHAPS", "FEDWIRE"}


def test_two_client_ref_formats(con):
    for table in ("cases", "payment_instructions"):
        canon, legacy, other = one(
            con,
            f"""select count(*) filter (where regexp_full_match(client_ref, 'CL[0-9]{{6}}')),
                       count(*) filter (where regexp_full_match(client_ref, '[1-9][0-9]*')),
                       count(*) filter (where not regexp_full_match(client_ref, 'CL[0-9]{{6}}')
                                          and not regexp_full_match(client_ref, '[1-9][0-9]*'))
                from {table}""",
        )
        assert canon > 0 and legacy > 0 and other == 0
    assert one(
        con, "select count(*) from requests where not regexp_full_match(client_ref, 'CL[0-9]{6}')"
    ) == (0,)


def test_local_timestamps_with_offsets_match_utc_events(con):
    offsets = {
        r[0] for r in con.sql("select distinct right(opened_at_local, 6) from cases").fetchall()
    }
    assert offsets == {"-05:00", "+00:00", "+08:00", "+05:30"}
    mismatched = one(
        con,
        """
        with c as (select distinct case_id,
                     strptime(opened_at_local, '%Y-%m-%d %H:%M:%S%z') at time zone 'UTC' as u
                   from cases),
             e as (select case_id, min(event_at) as t from case_events
                   where lower(trim(event_type)) = 'opened' group by case_id)
        select count(*) filter (where c.u <> e.t), count(*) from c join e using (case_id)
        """,
    )
    assert mismatched[0] == 0 and mismatched[1] > 1000


def test_late_arriving_events(con):
    late, total = one(
        con,
        """
        with e as (select distinct on (event_id) * from case_events
                   order by event_id, _loaded_at),
        l as (select _load_id, min(_load_id) over (partition by case_id order by event_at, event_id
                  rows between 1 following and unbounded following) as later_min from e)
        select count(*) filter (where _load_id > later_min), count(*) from l
        """,
    )
    assert 0.01 < late / total < 0.06


def test_test_accounts_present_with_activity(con):
    flags = {r[0] for r in con.sql("select distinct is_test_account from clients").fetchall()}
    assert {"Y", "true", "N", "false", None} <= flags
    share, n_cases, n_pay, n_req = one(
        con,
        """
        with t as (select distinct client_id, regexp_extract(client_id, '[1-9][0-9]*') as num
                   from clients where is_test_account in ('Y', 'true'))
        select (select count(*) from t) / (select count(distinct client_id) from clients),
               (select count(*) from cases c join t
                  on c.client_ref in (t.client_id, t.num)),
               (select count(*) from payment_instructions p join t
                  on p.client_ref in (t.client_id, t.num)),
               (select count(*) from requests r join t on r.client_ref = t.client_id)
        """,
    )
    assert 0.005 < share < 0.06
    assert n_cases > 0 and n_pay > 0 and n_req > 0


def test_amounts_in_minor_units_for_gpp(con):
    gpp_frac, legacy_frac, jpy_legacy_frac = one(
        con,
        """
        select avg((amount <> round(amount))::int) filter (where source_feed = 'GPP'),
               avg((amount <> round(amount))::int) filter (where source_feed = 'LEGACY'
                                                          and currency <> 'JPY'),
               avg((amount <> round(amount))::int) filter (where source_feed = 'LEGACY'
                                                          and currency = 'JPY')
        from payment_instructions
        """,
    )
    assert gpp_frac == 0  # integral minor units
    assert legacy_frac > 0.9  # decimal major units
    assert jpy_legacy_frac == 0  # JPY has no minor unit
    # The same rail in minor units is ~100× larger than in major units (non-JPY).
    ratio = one(
        con,
        """
        select median(amount) filter (where source_feed = 'GPP')
             / median(amount) filter (where source_feed = 'LEGACY')
        from payment_instructions where rail ilike 'ach'
        """,
    )[0]
    assert 50 < ratio < 200


def test_fx_rates_skip_weekends_only(con):
    weekend, missing = one(
        con,
        """
        with d as (select unnest(generate_series(date '2024-01-01', date '2025-12-31',
                                                  interval 1 day))::date as d)
        select (select count(*) from fx_rates where isodow(rate_date) >= 6),
               (select count(*) from d cross join (select distinct currency from fx_rates) c
                where isodow(d) < 6 and not exists (
                    select 1 from fx_rates f where f.rate_date = d and f.currency = c.currency))
        """,
    )
    assert weekend == 0 and missing == 0
    assert one(con, "select min(usd_per_unit), max(usd_per_unit) from fx_rates "
                    "where currency = 'USD'") == (1.0, 1.0)  # fmt: skip


def test_null_fields(con):
    assert one(con, "select count(*) filter (where category is null) from cases")[0] > 0
    assert one(con, "select count(*) filter (where contact_email is null) from clients")[0] > 0
    assert one(
        con,
        "select count(*) filter (where agent_id is not null) from case_events "
        "where lower(trim(event_type)) in ('opened', 'pending_client', 'reopened')",
    ) == (0,)
    assert (
        one(
            con,
            "select count(*) filter (where user_id is null and surface = 'api'), "
            "count(*) filter (where user_id is null and surface <> 'api') from requests",
        )[0]
        > 0
    )
    stp_nulls = one(
        con,
        "select count(*) filter (where exception_code is not null or repair_minutes is not null)"
        " from payment_instructions where stp_flag = 'Y'",
    )
    assert stp_nulls == (0,)
    assert one(con, "select count(*) filter (where root_cause is null) from incidents")[0] > 0
