"""payments.payment_instructions: STP by rail, API uplift, digital adoption, incidents.

Cells are (rail, UTC day); counts are Poisson, then rows are expanded and attributes drawn
vectorised. STP probability = ``stp.base_rate[rail]`` (+ ``stp.api_uplift`` when the
payment was initiated over the API) − ``incidents.stp_drop`` inside a SEV1/SEV2 window that
names the rail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analysis_py.generate.anomalies import factor_grid
from analysis_py.generate.calendar import (
    COUNTRIES,
    DATA_END_S,
    DATA_START_S,
    DAY,
    calendar,
    weekday_of_epoch_day,
)
from analysis_py.generate.clients import Clients
from analysis_py.generate.common import (
    add_load_columns,
    choose,
    choose_rows,
    dates,
    format_ids,
    load_for_time,
    month_index,
    relanded_load,
    table_rng,
    ts,
    utc_tod_from_local_profile,
)
from analysis_py.generate.fx import FxRates
from analysis_py.generate.incidents import ImpactWindows
from analysis_py.generate.labels import (
    CURRENCIES,
    INITIATION_CHANNELS,
    INITIATION_VARIANTS,
    MINOR_DIGITS,
    RAIL_VARIANTS,
    RAILS,
    dictionary_take,
    messy_labels,
)

#: P(rail | client country); rows follow COUNTRIES, columns RAILS.
RAIL_BY_COUNTRY = np.array(
    [
        # SWIFT ACH  RTP  SEPA CHAPS FEDWIRE
        [0.22, 0.40, 0.16, 0.00, 0.00, 0.22],  # US
        [0.35, 0.00, 0.00, 0.35, 0.30, 0.00],  # GB
        [0.85, 0.00, 0.00, 0.15, 0.00, 0.00],  # HK
        [0.85, 0.00, 0.00, 0.15, 0.00, 0.00],  # SG
        [0.90, 0.00, 0.00, 0.10, 0.00, 0.00],  # IN
    ]
)
HOME_CCY = {"US": "USD", "GB": "GBP", "HK": "HKD", "SG": "SGD", "IN": "INR"}
#: median USD-equivalent amount by rail
MEDIAN_USD = np.array([120_000, 15_000, 2_000, 20_000, 250_000, 500_000], dtype=float)
WEEKEND_FACTOR = np.array([0.05, 0.02, 0.6, 0.03, 0.03, 0.02])
EXCEPTION_CODES = np.array(["AC01", "AM04", "BE01", "RC01", "FF01", "AG01", "MS03", "RR04"])
#: settlement outcome shares: settled, failed, returned
OUTCOME_STP = np.array([0.997, 0.0, 0.003])
OUTCOME_REPAIR = np.array([0.85, 0.12, 0.03])
GPP_SHARE = 0.65
TARGET_PER_SCALE = 2_000_000


@dataclass(frozen=True)
class FailedPayments:
    client: np.ndarray
    rail: np.ndarray
    failed_at: np.ndarray


def _currency_matrix() -> np.ndarray:
    """P(currency | country, rail) as [country, rail, currency]."""
    out = np.zeros((len(COUNTRIES), len(RAILS), len(CURRENCIES)))
    ci = {c: i for i, c in enumerate(CURRENCIES)}
    for k, country in enumerate(COUNTRIES):
        out[k, RAILS.index("ACH"), ci["USD"]] = 1
        out[k, RAILS.index("RTP"), ci["USD"]] = 1
        out[k, RAILS.index("FEDWIRE"), ci["USD"]] = 1
        out[k, RAILS.index("CHAPS"), ci["GBP"]] = 1
        out[k, RAILS.index("SEPA"), ci["EUR"]] = 1
        swift = np.array([0.3, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1])
        swift[ci[HOME_CCY[country]]] += 0.3
        out[k, RAILS.index("SWIFT")] = swift / swift.sum()
    return out


class _Facts:
    """Counters accumulated over the monthly chunks (non-test payments only)."""

    def __init__(self) -> None:
        z = np.zeros
        self.n = 0
        self.n_real = 0
        self.rail_n, self.rail_stp = z(len(RAILS)), z(len(RAILS))
        self.rail_out_n, self.rail_out_stp = z(len(RAILS)), z(len(RAILS))
        self.init_n, self.init_stp = z(len(INITIATION_CHANNELS)), z(len(INITIATION_CHANNELS))
        self.inc_n = self.inc_stp = 0
        self.digital: dict[int, tuple[int, int]] = {}
        self.failed = 0
        self.amount_usd_cents = 0

    def to_dict(self) -> dict:
        def rate(a, b, names):
            return {k: (float(a[i] / b[i]) if b[i] else None) for i, k in enumerate(names)}

        first, last = min(self.digital), max(self.digital)
        return {
            "payments": int(self.n),
            "payments_non_test": int(self.n_real),
            "stp_rate_by_rail": rate(self.rail_stp, self.rail_n, RAILS),
            "stp_rate_by_rail_outside_incidents": rate(self.rail_out_stp, self.rail_out_n, RAILS),
            "stp_rate_by_initiation_channel": rate(self.init_stp, self.init_n, INITIATION_CHANNELS),
            "payments_in_incident_windows": int(self.inc_n),
            "stp_rate_in_incident_windows": float(self.inc_stp / self.inc_n)
            if self.inc_n
            else None,
            "digital_share_first_month": self.digital[first][0] / self.digital[first][1],
            "digital_share_last_month": self.digital[last][0] / self.digital[last][1],
            "failed_payments": int(self.failed),
            "amount_usd_total_non_test": self.amount_usd_cents / 100,
        }


def round_half_away(x: np.ndarray) -> np.ndarray:
    """Round to the nearest integer, ties away from zero, as an int64 array.

    This is C's ``round`` and what DuckDB does when it casts a double to a decimal
    (``cast(x as decimal(18, 2))`` rounds ``x * 100``); ``np.rint`` rounds ties to even.
    The fraction is taken exactly (``x - trunc(x)``), never by adding 0.5 in floating point.

    >>> round_half_away(np.array([0.5, 1.5, 2.5, -0.5, 0.49999999999999994, 100.49999999999999]))
    array([  1,   2,   3,  -1,   0, 100])
    """
    t = np.trunc(x)
    return (t + np.sign(x) * (np.abs(x - t) >= 0.5)).astype(np.int64)


def _expected(effects: dict, scale: float, clients: Clients, cells: list[dict]):
    """Expected count per (rail, UTC day)."""
    day0, day1 = DATA_START_S // DAY, DATA_END_S // DAY
    days = np.arange(day0, day1)
    years = (days - day0) / 365.25
    growth = (1 + effects["case_volume"]["annual_growth"]) ** years
    rail_share = clients.country_weight_share() @ RAIL_BY_COUNTRY
    weekend = weekday_of_epoch_day(days) >= 5
    dayf = np.where(weekend[None, :], WEEKEND_FACTOR[:, None], 1.0)
    shape = rail_share[:, None] * growth[None, :] * dayf
    base = TARGET_PER_SCALE * scale / shape.sum()
    return days, base * shape * factor_grid(cells, "payments", RAILS, days)


def make_payments(
    seed: int,
    scale: float,
    effects: dict,
    clients: Clients,
    windows: ImpactWindows,
    fx: FxRates,
    cells: list[dict],
    sink: Callable[[int, pa.Table], None],
) -> tuple[FailedPayments, dict]:
    """Generate month by month, handing each finished landing to ``sink(load_id, table)``.

    A month's rows land in the next load; ~1% first land as ``pending`` and re-land with
    their final status one or two loads later, so those are buffered until their load.
    """
    rng = table_rng(seed, "payments")
    days, lam = _expected(effects, scale, clients, cells)
    counts = rng.poisson(lam)  # [rail, day]
    months = month_index(days * DAY)
    facts = _Facts()
    failed_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    later: dict[int, list[pa.Table]] = {}
    next_id = 1
    for m in np.unique(months):  # loop over months: memory stays at one month
        sel = months == m
        regular, early, relanded, failed = _month(
            rng, effects, clients, windows, fx, counts[:, sel], days[sel], next_id, facts
        )
        next_id += regular.num_rows + early.num_rows
        failed_parts.append(failed)
        load = int(m) + 1
        for k, t in relanded.items():
            later.setdefault(k, []).append(t)
        sink(load, pa.concat_tables([regular, early, *later.pop(load, [])]))
    for k in sorted(later):
        sink(k, pa.concat_tables(later[k]))
    fc, fr, ft = (np.concatenate(a) for a in zip(*failed_parts, strict=True))
    return FailedPayments(fc, fr, ft), facts.to_dict()


def _month(rng, effects, clients, windows, fx, counts, days, first_id, facts: _Facts):
    cal = calendar()
    rail = np.repeat(np.repeat(np.arange(len(RAILS)), len(days)), counts.reshape(-1))
    day = np.repeat(np.tile(days, len(RAILS)), counts.reshape(-1))
    n = len(rail)

    # Country given rail (Bayes on the rail shares), then the client within the country.
    cshare = clients.country_weight_share()
    p_country_given_rail = (cshare[:, None] * RAIL_BY_COUNTRY).T  # [rail, country]
    country = choose_rows(rng, p_country_given_rail, rail)
    client = clients.pick(rng, country, n)
    created = day * DAY + utc_tod_from_local_profile(rng, cal.offset_s[country])
    order = np.lexsort((client, created))
    rail, day, country, client, created = (
        rail[order], day[order], country[order], client[order], created[order]
    )  # fmt: skip

    # Initiation channel: digital share ramps linearly over the period.
    ds = effects["adoption"]["digital_share"]
    frac = (created - DATA_START_S) / (DATA_END_S - DATA_START_S)
    p_digital = ds["start"] + (ds["end"] - ds["start"]) * frac
    digital = rng.random(n) < p_digital
    init = np.where(
        digital,
        np.where(rng.random(n) < 0.45, 1, 0),  # api : portal
        np.where(rng.random(n) < 0.65, 2, 3),  # file : manual
    )

    # STP.
    base_rate = np.array([effects["stp"]["base_rate"][r] for r in RAILS])
    in_incident = windows.rail_mask(created, rail)
    p_stp = (
        base_rate[rail]
        + effects["stp"]["api_uplift"] * (init == 1)
        - effects["incidents"]["stp_drop"] * in_incident
    )
    stp = rng.random(n) < np.clip(p_stp, 0.0, 1.0)

    outcome = np.where(
        stp, choose(rng, OUTCOME_STP, n), choose(rng, OUTCOME_REPAIR, n)
    )  # 0 settled, 1 failed, 2 returned
    repair = np.where(stp, np.nan, np.round(rng.lognormal(np.log(35), 0.9, n), 1) + 1.0)
    processing = np.where(
        rail == RAILS.index("RTP"), rng.exponential(20, n), rng.lognormal(np.log(1800), 0.8, n)
    )
    settled_at = created + (processing + np.nan_to_num(repair) * 60).astype(np.int64)
    failed_at = created + (np.nan_to_num(repair) * 60 + rng.random(n) * 3600).astype(np.int64)
    pending = (created >= DATA_END_S - 2 * DAY) & (rng.random(n) < 0.5)
    pending |= (outcome == 0) & (settled_at >= DATA_END_S)
    status_code = np.where(pending, 3, outcome)
    settled_null = status_code != 0
    exc_code = np.where(stp, len(EXCEPTION_CODES), rng.integers(0, len(EXCEPTION_CODES), n))

    # Value date: same day for real-time/high-value rails, else the next weekday.
    same_day = np.isin(rail, [RAILS.index(r) for r in ("RTP", "CHAPS", "FEDWIRE")])
    vd = day + np.where(same_day, 0, 1)
    wd = weekday_of_epoch_day(vd)
    vd = vd + np.where(wd == 5, 2, np.where(wd == 6, 1, 0))

    # Currency and amount.
    cmat = _currency_matrix()
    ccy = choose_rows(rng, cmat.reshape(-1, len(CURRENCIES)), country * len(RAILS) + rail)
    usd = rng.lognormal(np.log(MEDIAN_USD[rail]), 1.2)
    major = usd / fx.usd_per_unit(ccy, day)
    digits = np.array([MINOR_DIGITS[c] for c in CURRENCIES])[ccy]
    minor = np.maximum(np.round(major * 10.0**digits), 1)
    major = minor / 10.0**digits
    gpp = rng.random(n) < GPP_SHARE
    amount = np.where(gpp, minor, major)

    legacy_ref = rng.random(n) < 0.3
    pay_num = np.arange(first_id, first_id + n)
    statuses = ["settled", "failed", "returned", "pending"]
    exc_vocab = [*EXCEPTION_CODES.tolist(), None]

    def build(idx: np.ndarray, status_idx: np.ndarray, settled_null: np.ndarray) -> pa.Table:
        num = clients.number[client[idx]]
        ref = pc.if_else(
            pa.array(legacy_ref[idx]),
            pc.cast(pa.array(num), pa.string()),
            format_ids("CL", num, 6),
        )
        return pa.table(
            {
                "payment_id": format_ids("PM", pay_num[idx], 9),
                "client_ref": ref,
                "created_at": ts(created[idx]),
                "value_date": dates(vd[idx]),
                "rail": messy_labels(rng, rail[idx], RAILS, RAIL_VARIANTS, 0.8),
                "currency": dictionary_take(list(CURRENCIES), ccy[idx]),
                "amount": pa.array(amount[idx]),
                "source_feed": dictionary_take(["LEGACY", "GPP"], gpp[idx].astype(np.int64)),
                "initiation_channel": messy_labels(
                    rng, init[idx], INITIATION_CHANNELS, INITIATION_VARIANTS, 0.6
                ),
                "stp_flag": dictionary_take(["N", "Y"], stp[idx].astype(np.int64)),
                "status": dictionary_take(statuses, status_idx),
                "exception_code": dictionary_take(exc_vocab, exc_code[idx]),
                "repair_minutes": pa.array(repair[idx], from_pandas=True),
                "settled_at": ts(settled_at[idx], mask=settled_null),
            }
        )

    idx = np.arange(n)
    load = load_for_time(created)
    # ~1% first land as pending, then re-land with their final status later.
    re = np.flatnonzero((rng.random(n) < 0.01) & ~pending)
    final_load = relanded_load(rng, load[re])
    keep = np.ones(n, dtype=bool)
    keep[re] = False
    regular = add_load_columns(build(idx[keep], status_code[keep], settled_null[keep]), load[keep])
    early = add_load_columns(build(re, np.full(len(re), 3), np.ones(len(re), dtype=bool)), load[re])
    relanded = {}
    final_rows = add_load_columns(build(re, status_code[re], settled_null[re]), final_load)
    for k in np.unique(final_load):
        relanded[int(k)] = final_rows.filter(pa.array(final_load == k))

    failed = (outcome == 1) & ~pending & (failed_at < DATA_END_S)
    real = ~clients.is_test[client]
    out = real & ~in_incident
    facts.n += n
    facts.n_real += int(real.sum())
    facts.rail_n += np.bincount(rail[real], minlength=len(RAILS))
    facts.rail_stp += np.bincount(rail[real & stp], minlength=len(RAILS))
    facts.rail_out_n += np.bincount(rail[out], minlength=len(RAILS))
    facts.rail_out_stp += np.bincount(rail[out & stp], minlength=len(RAILS))
    facts.init_n += np.bincount(init[real], minlength=len(INITIATION_CHANNELS))
    facts.init_stp += np.bincount(init[real & stp], minlength=len(INITIATION_CHANNELS))
    facts.inc_n += int((real & in_incident).sum())
    facts.inc_stp += int((real & in_incident & stp).sum())
    facts.digital[int(month_index(created[:1])[0])] = (int(digital[real].sum()), int(real.sum()))
    # What landed: status 'failed' (``failed`` above also needs the failure before the data
    # end, since only those can open a case).
    facts.failed += int(((status_code == 1) & real).sum())
    # The warehouse's rule (docs/warehouse.md, fct_payments.amount_usd): the landed major
    # amount × the rate of the UTC creation date (``day``: times are wrapped into their UTC
    # day), rounded to cents per payment as decimal(18, 2) does.
    usd = major[real] * fx.usd_per_unit(ccy[real], day[real])
    facts.amount_usd_cents += int(round_half_away(usd * 100.0).sum())
    return regular, early, relanded, (client[failed], rail[failed], failed_at[failed])
