"""crm.clients: the client book every other table draws from."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from analysis_py.generate.calendar import COUNTRIES, epoch_day
from analysis_py.generate.common import (
    add_load_columns,
    choose,
    dates,
    format_ids,
    table_rng,
)
from analysis_py.generate.labels import (
    IS_TEST_VARIANTS,
    SEGMENT_VARIANTS,
    SEGMENTS,
    TIERS,
    dictionary_take,
    messy_labels,
)

ONBOARD_FROM = epoch_day(dt.date(2010, 1, 1))
ONBOARD_TO = epoch_day(dt.date(2023, 12, 31))
COUNTRY_SHARE = np.array([0.34, 0.28, 0.14, 0.11, 0.13])
_NAME_A = np.array(
    ["Northwind", "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Tyrell",
     "Cyberdyne", "Soylent", "Hooli", "Vandelay", "Wonka", "Oscorp", "Aperture", "Monarch",
     "Pied Piper", "Gringotts", "Sterling", "Blue Harbor", "Red Lantern", "Jade Bridge",
     "Lotus", "Banyan", "Marigold", "Kestrel", "Orion", "Zephyr", "Atlas", "Meridian"]
)  # fmt: skip
_NAME_B = np.array(
    ["Holdings", "Industries", "Trading", "Logistics", "Capital", "Energy", "Foods",
     "Pharma", "Shipping", "Retail", "Systems", "Partners", "Group", "Textiles", "Metals"]
)  # fmt: skip
_NAME_C = {"US": "Inc.", "GB": "plc", "HK": "Ltd", "SG": "Pte. Ltd.", "IN": "Pvt. Ltd."}


@dataclass(frozen=True)
class Clients:
    """Client attributes the other tables need (index = client number − 1)."""

    number: np.ndarray  # 1..n
    country: np.ndarray  # index into COUNTRIES
    weight: np.ndarray  # activity weight (lognormal)
    is_test: np.ndarray  # bool
    n_users: np.ndarray
    user_offset: np.ndarray

    def __len__(self) -> int:
        return len(self.number)

    def pick(self, rng: np.random.Generator, country: np.ndarray | None, n: int) -> np.ndarray:
        """Client indices drawn proportional to weight (within ``country`` per row)."""
        if country is None:
            cdf = np.cumsum(self.weight)
            return np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right").clip(
                0, len(self) - 1
            )
        out = np.empty(n, dtype=np.int64)
        u = rng.random(n)
        for c in range(len(COUNTRIES)):
            m = country == c
            if not m.any():
                continue
            members = np.flatnonzero(self.country == c)
            cdf = np.cumsum(self.weight[members])
            pos = np.searchsorted(cdf, u[m] * cdf[-1], side="right").clip(0, len(members) - 1)
            out[m] = members[pos]
        return out

    def country_weight_share(self) -> np.ndarray:
        w = np.bincount(self.country, weights=self.weight, minlength=len(COUNTRIES))
        return w / w.sum()


def make_clients(seed: int, scale: float) -> tuple[Clients, pa.Table]:
    rng = table_rng(seed, "clients")
    n = max(40, round(2000 * scale))
    number = np.arange(1, n + 1)
    country = choose(rng, COUNTRY_SHARE, n)
    # Every country needs clients, however small the scale.
    country[: len(COUNTRIES)] = np.arange(len(COUNTRIES))
    weight = rng.lognormal(0.0, 0.9, n)
    is_test = rng.random(n) < 0.02
    is_test[:5] = False
    # A few test accounts at any scale, flagged in both spellings.
    is_test[np.linspace(5, n - 1, 3).astype(int)] = True
    n_users = 1 + rng.poisson(3 + 4 * weight / weight.mean())
    user_offset = np.concatenate([[0], np.cumsum(n_users)[:-1]])
    clients = Clients(number, country, weight, is_test, n_users, user_offset)

    segment = choose(rng, [0.3, 0.35, 0.25, 0.1], n)
    tier = choose(rng, [0.1, 0.3, 0.4, 0.2], n)
    onboarded = rng.integers(ONBOARD_FROM, ONBOARD_TO, n)
    names = (
        _NAME_A[rng.integers(0, len(_NAME_A), n)].astype(object)
        + " "
        + _NAME_B[rng.integers(0, len(_NAME_B), n)].astype(object)
        + " "
        + np.array([_NAME_C[COUNTRIES[c]] for c in range(len(COUNTRIES))], dtype=object)[country]
    )
    # Only 450 name combinations exist: past that, suffix the client number.
    names = names + np.where(number > len(_NAME_A) * len(_NAME_B), " " + number.astype(str), "")
    slug = np.char.replace(np.char.lower(names.astype(str)), " ", "")
    slug = np.char.replace(np.char.replace(slug, ".", ""), ",", "")
    email = np.char.add(np.char.add("treasury.ops@", slug), ".example.com")
    email_mask = rng.random(n) < 0.03

    test_vocab = [*IS_TEST_VARIANTS[True], *IS_TEST_VARIANTS[False]]  # Y, true | N, false, null
    test_idx = np.where(is_test, np.cumsum(is_test) % 2, 2 + choose(rng, [0.5, 0.2, 0.3], n))

    def build(idx: np.ndarray, tier_codes: np.ndarray) -> pa.Table:
        return pa.table(
            {
                "client_id": format_ids("CL", number[idx], 6),
                "legal_name": pa.array(names[idx].astype(str)),
                "contact_email": pa.array(email[idx], mask=email_mask[idx]),
                "segment": messy_labels(rng, segment[idx], SEGMENTS, SEGMENT_VARIANTS, 0.7),
                "country": pa.array(np.array(COUNTRIES)[country[idx]]),
                "tier": pa.array(np.array(TIERS)[tier_codes]),
                "onboarded_date": dates(onboarded[idx]),
                "is_test_account": dictionary_take(test_vocab, test_idx[idx]),
            }
        )

    first = add_load_columns(build(number - 1, tier), np.ones(n, dtype=np.int64))
    # ~5% of clients are re-landed later with an updated tier (keep the latest landing).
    re = np.flatnonzero(rng.random(n) < 0.05)
    new_tier = np.clip(tier[re] + rng.choice([-1, 1], len(re)), 0, len(TIERS) - 1)
    later = add_load_columns(build(re, new_tier), rng.integers(2, 25, len(re)))
    return clients, pa.concat_tables([first, later])
