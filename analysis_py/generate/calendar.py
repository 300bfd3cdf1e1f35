"""Business calendars: countries, fixed UTC offsets, public holidays, business hours.

The generator and the dbt project must agree on what a business hour is (docs/raw_data.md,
"Business calendar"), so the definition lives here once and the seeds
``public_holidays.csv`` / ``country_calendars.csv`` are written from it
(``scripts/make_holiday_seed.py``). Time is handled as int64 seconds since the Unix epoch
(UTC); every function is vectorised over numpy arrays.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

COUNTRIES: tuple[str, ...] = ("US", "GB", "HK", "SG", "IN")
REGION = {"US": "AMER", "GB": "EMEA", "HK": "APAC", "SG": "APAC", "IN": "APAC"}
#: Fixed standard offsets (no daylight saving: a documented simplification).
UTC_OFFSET_MINUTES = {"US": -300, "GB": 0, "HK": 480, "SG": 480, "IN": 330}
#: ``holidays`` keyword arguments per country (England's bank holidays for GB).
HOLIDAY_KWARGS: dict[str, dict] = {"GB": {"subdiv": "ENG"}}
BUSINESS_DAY_START_HOUR = 9
BUSINESS_DAY_END_HOUR = 17
BUSINESS_SECONDS_PER_DAY = (BUSINESS_DAY_END_HOUR - BUSINESS_DAY_START_HOUR) * 3600

CALENDAR_YEARS = range(2023, 2027)
#: Calendar arrays cover these local dates (inclusive start, exclusive end).
CAL_START = dt.date(2023, 1, 1)
CAL_END = dt.date(2027, 1, 1)

#: The simulated period: opened/created timestamps fall in [DATA_START, DATA_END).
DATA_START = dt.date(2024, 1, 1)
DATA_END = dt.date(2026, 1, 1)

DAY = 86400
EPOCH = dt.date(1970, 1, 1)


def epoch_day(d: dt.date) -> int:
    """Days since 1970-01-01."""
    return (d - EPOCH).days


def epoch_seconds(d: dt.date) -> int:
    return epoch_day(d) * DAY


DATA_START_S = epoch_seconds(DATA_START)
DATA_END_S = epoch_seconds(DATA_END)
CAL_START_DAY = epoch_day(CAL_START)
N_CAL_DAYS = (CAL_END - CAL_START).days


def public_holidays() -> list[tuple[str, dt.date, str]]:
    """(country, date, name) for every public holiday 2023–2026, sorted; same-day
    holidays are joined into one name (the ``holidays`` package does that already)."""
    import holidays

    rows = []
    for c in COUNTRIES:
        h = holidays.country_holidays(c, years=CALENDAR_YEARS, **HOLIDAY_KWARGS.get(c, {}))
        for d, name in h.items():
            rows.append((c, d, name))
    rows.sort(key=lambda r: (r[0], r[1]))
    return rows


@dataclass(frozen=True)
class Calendar:
    """Per-country local-date arrays over [CAL_START, CAL_END).

    ``is_business[c, i]``: local date ``CAL_START + i`` is a business day in country ``c``.
    ``cum_before[c, i]``: business seconds in all local dates before ``i``.
    ``offset_s[c]``: UTC offset in seconds.
    """

    is_business: np.ndarray
    is_holiday: np.ndarray
    cum_before: np.ndarray
    offset_s: np.ndarray

    # -- local dates -------------------------------------------------------------------
    def local_day_index(self, country: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Index into the calendar arrays of the local date of UTC time ``t``."""
        return (t + self.offset_s[country]) // DAY - CAL_START_DAY

    # -- business hours ----------------------------------------------------------------
    def bh(self, country: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Cumulative business seconds before UTC time ``t`` on ``country``'s calendar."""
        local = t + self.offset_s[country]
        idx = local // DAY - CAL_START_DAY
        tod = local % DAY
        within = np.clip(tod - BUSINESS_DAY_START_HOUR * 3600, 0, BUSINESS_SECONDS_PER_DAY)
        return self.cum_before[country, idx] + self.is_business[country, idx] * within

    def add_business_seconds(
        self, country: np.ndarray, t: np.ndarray, seconds: np.ndarray
    ) -> np.ndarray:
        """The earliest UTC time ``u`` with ``bh(u) = bh(t) + seconds`` (seconds ≥ 0)."""
        target = self.bh(country, t) + np.maximum(np.rint(seconds).astype(np.int64), 0)
        cum_end = self.cum_before + self.is_business * BUSINESS_SECONDS_PER_DAY
        out = np.empty_like(target)
        for c in np.unique(country):
            m = country == c
            idx = np.searchsorted(cum_end[c], target[m], side="left")
            idx = np.minimum(idx, N_CAL_DAYS - 1)
            within = target[m] - self.cum_before[c, idx]
            local = (idx + CAL_START_DAY) * DAY + BUSINESS_DAY_START_HOUR * 3600 + within
            out[m] = local - self.offset_s[c]
        # Zero business time from outside business hours: stay where we are.
        return np.maximum(out, t)


#: The checked-in seed dbt reads; when present the generator uses exactly the same dates.
HOLIDAY_SEED = Path(__file__).resolve().parents[2] / "seeds" / "public_holidays.csv"


def holiday_dates() -> list[tuple[str, dt.date]]:
    """(country, date) of every public holiday: from the checked-in seed when it exists
    (so the generator and dbt agree even if the ``holidays`` package changes), else from
    the package."""
    if HOLIDAY_SEED.is_file():
        with open(HOLIDAY_SEED, newline="") as f:
            return [(r["country"], dt.date.fromisoformat(r["holiday_date"]))
                    for r in csv.DictReader(f)]  # fmt: skip
    return [(c, d) for c, d, _ in public_holidays()]


@cache
def calendar() -> Calendar:
    n_c = len(COUNTRIES)
    days = np.arange(N_CAL_DAYS) + CAL_START_DAY
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    is_hol = np.zeros((n_c, N_CAL_DAYS), dtype=bool)
    for c, d in holiday_dates():
        i = epoch_day(d) - CAL_START_DAY
        if 0 <= i < N_CAL_DAYS:
            is_hol[COUNTRIES.index(c), i] = True
    is_bus = (weekday < 5)[None, :] & ~is_hol
    per_day = is_bus.astype(np.int64) * BUSINESS_SECONDS_PER_DAY
    cum_before = np.concatenate(
        [np.zeros((n_c, 1), dtype=np.int64), np.cumsum(per_day, axis=1)[:, :-1]], axis=1
    )
    offset = np.array([UTC_OFFSET_MINUTES[c] * 60 for c in COUNTRIES], dtype=np.int64)
    return Calendar(
        is_business=is_bus.astype(np.int64),
        is_holiday=is_hol,
        cum_before=cum_before,
        offset_s=offset,
    )


def weekday_of_epoch_day(days: np.ndarray) -> np.ndarray:
    """0 = Monday … 6 = Sunday."""
    return (np.asarray(days) + 3) % 7


def offset_label(country: str) -> str:
    """``+08:00`` style label of a country's fixed offset."""
    m = UTC_OFFSET_MINUTES[country]
    sign = "+" if m >= 0 else "-"
    m = abs(m)
    return f"{sign}{m // 60:02d}:{m % 60:02d}"
