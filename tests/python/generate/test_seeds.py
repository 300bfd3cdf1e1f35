"""Seeds cover every label the generator emits, and agree with the generator's calendar."""

from __future__ import annotations

import csv
import datetime as dt
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analysis_py.generate import calendar as cal
from analysis_py.generate import labels

ROOT = Path(__file__).resolve().parents[3]


def read(name: str) -> list[dict]:
    with open(ROOT / "seeds" / name, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("seed", sorted(labels.SEED_MAPS))
def test_map_seed_covers_every_variant(seed):
    column, variants = labels.SEED_MAPS[seed]
    rows = read(seed)
    mapping = {r["raw_label"]: r[column] for r in rows}
    assert len(mapping) == len(rows), "duplicate raw_label"
    assert all(k == k.strip().lower() for k in mapping)
    for canon, spellings in variants.items():
        for s in spellings:
            assert mapping.get(s.strip().lower()) == canon, f"{seed}: {s!r}"


def test_seeds_are_up_to_date():
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_holiday_seed.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr


def test_holiday_seed_contents():
    rows = read("public_holidays.csv")
    assert {r["country"] for r in rows} == set(cal.COUNTRIES)
    years = {r["holiday_date"][:4] for r in rows}
    assert years == {"2023", "2024", "2025", "2026"}
    us = {r["holiday_date"]: r["holiday_name"] for r in rows if r["country"] == "US"}
    assert us["2024-07-04"] == "Independence Day"
    gb = {r["holiday_date"] for r in rows if r["country"] == "GB"}
    assert "2024-08-26" in gb  # England's summer bank holiday
    assert {r["currency"]: int(r["minor_digits"]) for r in read("currencies.csv")} == (
        labels.MINOR_DIGITS
    )
    cc = {r["country"]: r for r in read("country_calendars.csv")}
    assert cc["IN"]["utc_offset_minutes"] == "330" and cc["US"]["region"] == "AMER"


def _utc(s: str) -> int:
    return int(dt.datetime.fromisoformat(s).timestamp())


def test_business_hours_definition():
    c = cal.calendar()
    us, hk = cal.COUNTRIES.index("US"), cal.COUNTRIES.index("HK")
    # Wed 2024-07-03 16:00 New York (21:00 UTC) -> Fri 2024-07-05 10:00 New York:
    # 1h on the 3rd, nothing on the 4th (Independence Day), 1h on the 5th.
    a, b = _utc("2024-07-03T16:00:00-05:00"), _utc("2024-07-05T10:00:00-05:00")
    diff = c.bh(np.array([us]), np.array([b])) - c.bh(np.array([us]), np.array([a]))
    assert diff[0] == 2 * 3600
    # Over a weekend in Hong Kong: Fri 16:30 -> Mon 09:30 local = 1h.
    a, b = _utc("2024-03-08T16:30:00+08:00"), _utc("2024-03-11T09:30:00+08:00")
    diff = c.bh(np.array([hk]), np.array([b])) - c.bh(np.array([hk]), np.array([a]))
    assert diff[0] == 3600
    # Out of hours counts nothing; adding business time lands inside business hours.
    t = np.array([_utc("2024-03-09T12:00:00+08:00")])  # Saturday
    end = c.add_business_seconds(np.array([hk]), t, np.array([2 * 3600]))
    assert end[0] == _utc("2024-03-11T11:00:00+08:00")


def test_add_business_seconds_inverts_bh():
    c = cal.calendar()
    rng = np.random.default_rng(0)
    n = 20_000
    country = rng.integers(0, len(cal.COUNTRIES), n)
    t = rng.integers(cal.DATA_START_S, cal.DATA_END_S, n)
    dur = rng.integers(0, 400 * 3600, n)
    end = c.add_business_seconds(country, t, dur)
    assert np.array_equal(c.bh(country, end) - c.bh(country, t), dur)
    assert (end >= t).all()
