"""payments.payment_instructions: STP by rail, API uplift, digital adoption, incidents.

Cells are (rail, UTC day); counts are Poisson, then rows are expanded and attributes drawn
vectorised. STP probability = ``stp.base_rate[rail]`` (+ ``stp.api_uplift`` when the
payment was initiated over the API) − ``incidents.stp_drop`` inside a SEV1/SEV2 window that
names the rail.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

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


def make_payments(
    seed: int,
    scale: float,
    effects: dict,
    clients: Clients,
    windows: ImpactWindows,
    fx: FxRates,
    cells: list[dict],
) -> tuple[pa.Table, FailedPayments, dict]:
    rng = table_rng(seed, "payments")
    cal = calendar()
    day0, day1 = DATA_START_S // DAY, DATA_END_S // DAY
    days = np.arange(day0, day1)
    n_days = len(days)
    years = (days - day0) / 365.25
    growth = (1 + effects["case_volume"]["annual_growth"]) ** years

    # Expected count per (rail, day).
    cshare = clients.country_weight_share()
    rail_share = cshare @ RAIL_BY_COUNTRY  # [rail]
    weekend = weekday_of_epoch_day(days) >= 5
    dayf = np.where(weekend[None, :], WEEKEND_FACTOR[:, None], 1.0)
    shape = rail_share[:, None] * growth[None, :] * dayf
    base = TARGET_PER_SCALE * scale / shape.sum()
    lam = base * shape * factor_grid(cells, "payments", RAILS, days)
    counts = rng.poisson(lam)
    rail = np.repeat(np.repeat(np.arange(len(RAILS)), n_days), counts.reshape(-1))
    day = np.repeat(np.tile(days, len(RAILS)), counts.reshape(-1))
    n = len(rail)

    # Country given rail (Bayes on the rail shares), then the client within the country.
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
    status = np.array(["settled", "failed", "returned", "pending"], dtype=object)[outcome]
    pending = (created >= DATA_END_S - 2 * DAY) & (rng.random(n) < 0.5)
    pending |= (outcome == 0) & (settled_at >= DATA_END_S)
    status[pending] = "pending"
    settled_mask = (outcome != 0) | pending
    exc = EXCEPTION_CODES[rng.integers(0, len(EXCEPTION_CODES), n)].astype(object)
    exc[stp] = None

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
    pay_num = np.arange(1, n + 1)

    def build(idx: np.ndarray, status_col, settled_null) -> pa.Table:
        num = clients.number[client[idx]]
        canon = format_ids("CL", num, 6)
        ref = pa.array(
            np.where(legacy_ref[idx], num.astype(str).astype(object),
                     np.asarray(canon.to_numpy(zero_copy_only=False), dtype=object)),
            type=pa.string(),
        )  # fmt: skip
        return pa.table(
            {
                "payment_id": format_ids("PM", pay_num[idx], 9),
                "client_ref": ref,
                "created_at": ts(created[idx]),
                "value_date": dates(vd[idx]),
                "rail": messy_labels(rng, rail[idx], RAILS, RAIL_VARIANTS, 0.8),
                "currency": pa.array(np.array(CURRENCIES)[ccy[idx]]),
                "amount": pa.array(amount[idx]),
                "source_feed": pa.array(np.where(gpp[idx], "GPP", "LEGACY")),
                "initiation_channel": messy_labels(
                    rng, init[idx], INITIATION_CHANNELS, INITIATION_VARIANTS, 0.6
                ),
                "stp_flag": pa.array(np.where(stp[idx], "Y", "N")),
                "status": pa.array(status_col, type=pa.string()),
                "exception_code": pa.array(exc[idx].tolist(), type=pa.string()),
                "repair_minutes": pa.array(repair[idx], from_pandas=True),
                "settled_at": ts(settled_at[idx], mask=settled_null),
            }
        )

    idx = np.arange(n)
    load = load_for_time(created)
    # ~1% first land as pending, then re-land with their final status later.
    re = np.flatnonzero((rng.random(n) < 0.01) & ~pending)
    final_load = load.copy()
    final_load[re] = relanded_load(rng, load[re])
    final = add_load_columns(build(idx, status, settled_mask), final_load)
    early = add_load_columns(
        build(re, np.full(len(re), "pending", dtype=object), np.ones(len(re), dtype=bool)),
        load[re],
    )
    table = pa.concat_tables([final, early])

    failed = outcome == 1
    failed &= ~pending & (failed_at < DATA_END_S)
    real = ~clients.is_test[client]
    stp_by_rail = {
        r: float(stp[real & (rail == i)].mean()) if (real & (rail == i)).any() else None
        for i, r in enumerate(RAILS)
    }
    out_incident = real & ~in_incident
    facts = {
        "payments": int(n),
        "payments_non_test": int(real.sum()),
        "stp_rate_by_rail": stp_by_rail,
        "stp_rate_by_rail_outside_incidents": {
            r: float(stp[out_incident & (rail == i)].mean())
            if (out_incident & (rail == i)).any()
            else None
            for i, r in enumerate(RAILS)
        },
        "stp_rate_by_initiation_channel": {
            c: float(stp[real & (init == i)].mean()) if (real & (init == i)).any() else None
            for i, c in enumerate(INITIATION_CHANNELS)
        },
        "payments_in_incident_windows": int((real & in_incident).sum()),
        "stp_rate_in_incident_windows": float(stp[real & in_incident].mean())
        if (real & in_incident).any()
        else None,
        "digital_share_first_month": float(
            digital[real & (created < DATA_START_S + 31 * DAY)].mean()
        ),
        "digital_share_last_month": float(
            digital[real & (created >= DATA_END_S - 31 * DAY)].mean()
        ),
        "failed_payments": int((failed & real).sum()),
        "amount_usd_total_non_test": float(
            (major * fx.usd_per_unit(ccy, day))[real & ~pending].sum()
        ),
    }
    return table, FailedPayments(client[failed], rail[failed], failed_at[failed]), facts
