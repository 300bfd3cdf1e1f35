"""Each kind of mess the generator lands (docs/raw_data.md) is present in raw and gone after
staging: duplicates, label variants, legacy client refs, local times with offsets, test
accounts, minor units, severity spellings."""

from __future__ import annotations

import re

import pytest

from .conftest import scalar

CANONICAL = {
    # (raw table, raw column, mart, mart column, canonical values)
    "channel": ("cases", "channel", "fct_cases", "channel", {"email", "chat", "phone", "portal"}),
    "priority": ("cases", "priority", "fct_cases", "priority", {"P1", "P2", "P3", "P4"}),
    "segment": (
        "clients",
        "segment",
        "dim_clients",
        "segment",
        {"Large Corporate", "Mid Corporate", "Financial Institution", "Public Sector"},
    ),
    "rail": (
        "payment_instructions",
        "rail",
        "fct_payments",
        "rail",
        {"SWIFT", "ACH", "RTP", "SEPA", "CHAPS", "FEDWIRE"},
    ),
    "initiation_channel": (
        "payment_instructions",
        "initiation_channel",
        "fct_payments",
        "initiation_channel",
        {"portal", "api", "file", "manual"},
    ),
    "severity": (
        "incidents",
        "severity",
        "fct_incidents",
        "severity",
        {"SEV1", "SEV2", "SEV3", "SEV4"},
    ),
    "event_type": (
        "case_events",
        "event_type",
        "fct_case_events",
        "event_type",
        {
            "opened",
            "assigned",
            "first_response",
            "pending_client",
            "reopened",
            "resolved",
            "closed",
        },
    ),
}


@pytest.mark.parametrize("label", sorted(CANONICAL))
def test_label_variants_are_canonicalised(label, wh, rawdb):
    raw_table, raw_col, mart, col, canon = CANONICAL[label]
    raw_values = {
        r[0] for r in rawdb.execute(f"select distinct {raw_col} from raw_{raw_table}").fetchall()
    }
    assert raw_values - canon, (
        f"raw {raw_table}.{raw_col} is already clean: the test proves nothing"
    )
    mart_values = {r[0] for r in wh.execute(f"select distinct {col} from main.{mart}").fetchall()}
    assert mart_values == canon


@pytest.mark.parametrize(
    ("raw_table", "key", "mart"),
    [
        ("cases", "case_id", "fct_cases"),
        ("case_events", "event_id", "fct_case_events"),
        ("payment_instructions", "payment_id", "fct_payments"),
        ("incidents", "incident_id", "fct_incidents"),
        ("clients", "client_id", "dim_clients"),
    ],
)
def test_relanded_duplicates_collapse_to_one_row(raw_table, key, mart, wh, rawdb):
    dupes = scalar(rawdb, f"select count(*) - count(distinct {key}) from raw_{raw_table}")
    assert dupes > 0, f"raw {raw_table} has no re-landed rows"
    assert scalar(wh, f"select count(*) - count(distinct {key}) from main.{mart}") == 0


def test_relanded_payments_keep_the_latest_status(wh, rawdb):
    latest = dict(
        rawdb.execute(
            """
            select payment_id, lower(trim(status)) from (
                select *, row_number() over (partition by payment_id
                                             order by _loaded_at desc, _load_id desc) rn
                from raw_payment_instructions
                where payment_id in (select payment_id from raw_payment_instructions
                                     group by 1 having count(*) > 1))
            where rn = 1
            """
        ).fetchall()
    )
    assert latest
    mart = dict(
        wh.execute(
            f"select payment_id, status from main.fct_payments where payment_id in "
            f"({','.join(repr(p) for p in latest)})"
        ).fetchall()
    )
    assert {p: s for p, s in latest.items() if p in mart} == mart
    assert any(s != "pending" for s in mart.values()), "re-landings should carry final statuses"


@pytest.mark.parametrize(
    ("raw_table", "mart"),
    [
        ("cases", "fct_cases"),
        ("payment_instructions", "fct_payments"),
        ("requests", "fct_platform_requests"),
    ],
)
def test_client_refs_are_canonical(raw_table, mart, wh, rawdb):
    legacy = scalar(rawdb, f"select count(*) from raw_{raw_table} where client_ref not like 'CL%'")
    if raw_table != "requests":
        assert legacy > 0, "no legacy client references in raw"
    refs = [r[0] for r in wh.execute(f"select distinct client_id from main.{mart}").fetchall()]
    assert refs and all(re.fullmatch(r"CL\d{6}", r) for r in refs)


def test_local_opening_times_become_utc(wh, rawdb, built_warehouse):
    # Independent parse: DuckDB's own timestamptz reader (ICU) on the raw strings.
    expected = dict(
        rawdb.execute(
            """
            select case_id, cast(timezone('UTC', cast(opened_at_local as timestamptz)) as timestamp)
            from (select *, row_number() over (partition by case_id
                                               order by _loaded_at desc, _load_id desc) rn
                  from raw_cases) where rn = 1
            """
        ).fetchall()
    )
    offsets = {
        r[0][-6:]
        for r in rawdb.execute("select distinct opened_at_local from raw_cases").fetchall()
    }
    assert {"+08:00", "+05:30", "-05:00"} <= offsets
    got = dict(wh.execute("select case_id, opened_at from main.fct_cases").fetchall())
    assert got
    wrong = [c for c, t in got.items() if expected[c] != t]
    assert wrong == []


@pytest.mark.parametrize(
    "mart",
    ["fct_cases", "fct_case_events", "fct_csat_responses", "fct_payments", "fct_platform_requests"],
)
def test_test_accounts_are_excluded(mart, wh, rawdb, built_warehouse):
    test_clients = [
        r[0]
        for r in rawdb.execute(
            "select distinct client_id from raw_clients where client_id not in (select * from real_clients)"
        ).fetchall()
    ]
    assert test_clients, "the generator planted no test accounts"
    ids = ",".join(repr(c) for c in test_clients)
    assert scalar(wh, f"select count(*) from main.{mart} where client_id in ({ids})") == 0
    assert scalar(wh, f"select count(*) from main.dim_clients where client_id in ({ids})") == 0


def test_gpp_minor_units_become_major_units(wh, rawdb):
    # A GPP JPY amount is already major (0 digits); a GPP USD amount is 100x its major value.
    sample = rawdb.execute(
        """
        select payment_id, currency, amount from (
            select *, row_number() over (partition by payment_id
                                         order by _loaded_at desc, _load_id desc) rn
            from raw_payment_instructions where upper(source_feed) = 'GPP') where rn = 1
        order by payment_id limit 500
        """
    ).fetchall()
    got = dict(
        wh.execute(
            f"select payment_id, cast(amount as double) from main.fct_payments where payment_id in "
            f"({','.join(repr(p) for p, _, _ in sample)})"
        ).fetchall()
    )
    checked = 0
    for pid, ccy, minor in sample:
        if pid in got:
            digits = 0 if ccy.strip().upper() == "JPY" else 2
            assert got[pid] == pytest.approx(minor / 10**digits, abs=0.005)
            checked += 1
    assert checked > 100


def test_late_arriving_events_are_flagged(wh, rawdb):
    expected = scalar(
        rawdb,
        """
        with e as (
            select * from (select *, row_number() over (partition by event_id
                                                        order by _loaded_at desc, _load_id desc) rn
                           from raw_case_events) where rn = 1),
        late as (
            select a.event_id from e a join e b
              on a.case_id = b.case_id and b.event_at > a.event_at and b._loaded_at < a._loaded_at
            group by a.event_id)
        select count(*) from late
        where event_id in (select event_id from e join raw_cases c using (case_id)
                           where canon_ref(c.client_ref) in (select * from real_clients))
        """,
    )
    assert expected > 0
    assert (
        scalar(wh, "select count(*) from main.fct_case_events where is_late_arriving") == expected
    )


def test_stp_payments_carry_no_repair(wh):
    assert (
        scalar(
            wh,
            "select count(*) from main.fct_payments where is_stp and (repair_minutes is not null or exception_code is not null)",
        )
        == 0
    )
    assert (
        scalar(wh, "select count(*) from main.fct_payments where not is_stp and repair_minutes > 0")
        > 0
    )
