"""crm.cases, crm.case_events and survey_vendor.csat_responses.

Volume: cells (client country × product × local date) with expected counts from growth,
weekend/holiday factors and the Payments month-end uplift, Poisson draws, then vectorised
expansion. Extra cases come from SEV1/SEV2 incident windows (affected product) and from
failed payments (a Payments case for the same client, ``payment_rail`` set).

Resolution: business hours from ``opened`` to the first ``resolved`` on the client's
calendar are lognormal; the log-median is the sum of log-multipliers for channel,
priority, product and the process change (``resolution.*`` effects).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analysis_py.generate.anomalies import factor_grid
from analysis_py.generate.calendar import (
    CAL_START_DAY,
    COUNTRIES,
    DATA_END_S,
    DATA_START_S,
    DAY,
    REGION,
    calendar,
    epoch_seconds,
    offset_label,
    weekday_of_epoch_day,
)
from analysis_py.generate.clients import Clients
from analysis_py.generate.common import (
    add_load_columns,
    choose,
    format_ids,
    load_for_time,
    relanded_load,
    table_rng,
    ts,
)
from analysis_py.generate.incidents import ImpactWindows
from analysis_py.generate.labels import (
    CHANNEL_VARIANTS,
    CHANNELS,
    EVENT_TYPE_VARIANTS,
    EVENT_TYPES,
    PRIORITIES,
    PRIORITY_VARIANTS,
    PRODUCTS,
    RAILS,
    messy_labels,
)
from analysis_py.generate.payments import FailedPayments

PRODUCT_SHARE = np.array([0.40, 0.15, 0.20, 0.15, 0.10])
CHANNEL_SHARE = np.array([0.15, 0.20, 0.25, 0.40])  # chat, phone, portal, email
PRIORITY_SHARE = np.array([0.05, 0.20, 0.50, 0.25])
#: fixed (not configurable) product effect on resolution time
PRODUCT_MULTIPLIER = np.array([1.0, 1.4, 0.9, 0.8, 0.7])
BASE_MEDIAN_HOURS = 10.0
RESOLUTION_SIGMA = 0.8
CATEGORIES = {
    "Payments": ("Payment failure", "Payment status", "Limits", "Query"),
    "Trade Finance": ("Documents", "Guarantee", "Letter of credit", "Query"),
    "Cash Management": ("Statement", "Liquidity", "Account", "Query"),
    "Digital Channels": ("Access", "Entitlements", "Login", "Query"),
    "FX": ("Rate query", "Settlement", "Limits", "Query"),
}
TARGET_PER_SCALE = 225_000  # base cases; incidents and payment failures add the rest
REOPEN_SHARE = 0.06
PENDING_SHARE = 0.30
CSAT_RESPONSE_SHARE = 0.25
CSAT_INTERCEPT = 3.8
CSAT_NOISE = 0.85
EVENT_ORDER = {e: i for i, e in enumerate(EVENT_TYPES)}


def _month_end_flags(is_business: np.ndarray) -> np.ndarray:
    """True on the last 2 business days of each month, per country [country, cal day]."""
    n_c, n_d = is_business.shape
    days = (np.arange(n_d) + CAL_START_DAY).astype("datetime64[D]")
    month = days.astype("datetime64[M]").astype(np.int64)
    out = np.zeros((n_c, n_d), dtype=bool)
    for c in range(n_c):
        bd = np.flatnonzero(is_business[c])
        m = month[bd]
        # rank from the end within each month: the next 1 or 2 business days change month
        last = np.r_[m[1:] != m[:-1], True]
        second = np.r_[m[2:] != m[1:-1], True, False] & ~last
        out[c, bd[last | second]] = True
    return out


def _expected_cells(effects: dict, clients: Clients, cells: list[dict], scale: float):
    """Expected base case counts [country, product, day] over the period's local dates."""
    cal = calendar()
    cv = effects["case_volume"]
    day0, day1 = DATA_START_S // DAY, DATA_END_S // DAY
    days = np.arange(day0, day1)
    ci = days - CAL_START_DAY
    years = (days - day0) / 365.25
    growth = (1 + cv["annual_growth"]) ** years
    weekend = weekday_of_epoch_day(days) >= 5
    holiday = cal.is_holiday[:, ci] & ~weekend[None, :]
    dayf = np.where(weekend[None, :], cv["weekend_factor"], 1.0)
    dayf = np.where(holiday, cv["holiday_factor"], dayf)  # [country, day]
    month_end = _month_end_flags(cal.is_business.astype(bool))[:, ci]
    uplift = np.ones((len(COUNTRIES), len(PRODUCTS), len(days)))
    uplift[:, PRODUCTS.index("Payments"), :] += cv["month_end_uplift"] * month_end
    shape = (
        clients.country_weight_share()[:, None, None]
        * PRODUCT_SHARE[None, :, None]
        * (growth[None, :] * dayf)[:, None, :]
        * uplift
    )
    base = TARGET_PER_SCALE * scale / shape.sum()
    anomaly = factor_grid(cells, "cases_opened", PRODUCTS, days)
    return days, base * shape * anomaly[None, :, :]


def _minute_profile() -> np.ndarray:
    """Share of a day's cases opened in each local minute: 88% around midday (normal,
    12:30 ± 2:12, within 07:30–18:30), 12% spread over the whole day."""
    m = np.arange(1440) + 0.5
    lo, hi = 7.5 * 60, 18.5 * 60
    dens = np.exp(-0.5 * ((m - 12.5 * 60) / (2.2 * 60)) ** 2) * ((m >= lo) & (m < hi))
    prof = 0.88 * dens / dens.sum() + 0.12 / 1440
    return prof / prof.sum()


PROFILE = _minute_profile()
PROFILE_CDF = np.cumsum(PROFILE)


def _local_tod(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds into the local day drawn from :data:`PROFILE`."""
    minute = np.minimum(np.searchsorted(PROFILE_CDF, rng.random(n) * PROFILE_CDF[-1]), 1439)
    return minute * 60 + rng.integers(0, 60, n)


def _incident_extras(rng, windows: ImpactWindows, lam: np.ndarray, days: np.ndarray, mult):
    """Extra cases in SEV1/SEV2 windows: (mult − 1) × the expected base cases of the
    affected product in that window, from each country's intraday profile."""
    cal = calendar()
    out_c, out_p, out_t = [], [], []
    if mult <= 1.0:
        return out_c, out_p, out_t
    for i in range(len(windows.start)):  # loop over SEV1/SEV2 incidents
        p = PRODUCTS.index(windows.product[i])
        s, e = int(windows.start[i]), int(min(windows.end[i], DATA_END_S))
        if e <= s:
            continue
        for c in range(len(COUNTRIES)):  # and countries
            # UTC minutes of the window, as local minutes and local days of country c
            utc_min = np.arange(s // 60, (e + 59) // 60)
            local_min = utc_min + cal.offset_s[c] // 60
            d = np.clip(local_min // 1440 - days[0], 0, len(days) - 1)
            w = lam[c, p, d] * PROFILE[local_min % 1440]
            k = rng.poisson((mult - 1.0) * w.sum())
            if k == 0:
                continue
            pick = np.searchsorted(np.cumsum(w), rng.random(k) * w.sum())
            t = utc_min[np.minimum(pick, len(w) - 1)] * 60 + rng.integers(0, 60, k)
            t = np.clip(t, s, e - 1)
            out_c.append(np.full(k, c))
            out_p.append(np.full(k, p))
            out_t.append(t)
    return out_c, out_p, out_t


def make_cases(
    seed: int,
    scale: float,
    effects: dict,
    clients: Clients,
    windows: ImpactWindows,
    failed: FailedPayments,
    cells: list[dict],
) -> tuple[dict[str, pa.Table], dict]:
    rng = table_rng(seed, "cases")
    cal = calendar()
    days, lam = _expected_cells(effects, clients, cells, scale)
    n_c, n_p, n_d = lam.shape
    counts = rng.poisson(lam).reshape(-1)
    grid_c = np.repeat(np.arange(n_c), n_p * n_d)
    grid_p = np.tile(np.repeat(np.arange(n_p), n_d), n_c)
    grid_d = np.tile(days, n_c * n_p)
    country = np.repeat(grid_c, counts)
    product = np.repeat(grid_p, counts)
    local_day = np.repeat(grid_d, counts)
    opened = local_day * DAY + _local_tod(rng, len(country)) - cal.offset_s[country]
    client = clients.pick(rng, country, len(country))
    rail = np.full(len(country), -1)
    source = np.zeros(len(country), dtype=np.int8)  # 0 base, 1 incident, 2 payment failure

    # Incident windows: extra cases for the affected product, so that the window's volume
    # is case_volume_multiplier × what it would have been.
    mult = effects["incidents"]["case_volume_multiplier"]
    extra_c, extra_p, extra_t = _incident_extras(rng, windows, lam, days, mult)
    if mult < 1.0:
        # A multiplier below 1 thins the affected product's base cases in the window.
        hit = np.zeros(len(opened), dtype=bool)
        for p_name in sorted(set(windows.product)):
            sel = np.array([w == p_name for w in windows.product])
            hit |= (product == PRODUCTS.index(p_name)) & windows.mask(opened, sel)
        keep = ~hit | (rng.random(len(opened)) < mult)
        country, product, opened, client, rail, source = (
            a[keep] for a in (country, product, opened, client, rail, source)
        )
    if extra_c:
        ec = np.concatenate(extra_c)
        country = np.r_[country, ec]
        product = np.r_[product, np.concatenate(extra_p)]
        opened = np.r_[opened, np.concatenate(extra_t)]
        client = np.r_[client, clients.pick(rng, ec, len(ec))]
        rail = np.r_[rail, np.full(len(ec), -1)]
        source = np.r_[source, np.ones(len(ec), dtype=np.int8)]

    # Failed payments: ~60% lead to a Payments case for the same client, opened within a
    # few business hours (a conversion with constant property `rail`).
    conv = rng.random(len(failed.client)) < 0.6
    fc = failed.client[conv]
    f_country = clients.country[fc]
    delay = rng.lognormal(np.log(3 * 3600), 0.9, len(fc))
    f_opened = cal.add_business_seconds(f_country, failed.failed_at[conv], delay)
    f_opened += rng.integers(0, 600, len(fc))
    keep = f_opened < DATA_END_S
    country = np.r_[country, f_country[keep]]
    product = np.r_[product, np.full(keep.sum(), PRODUCTS.index("Payments"))]
    opened = np.r_[opened, f_opened[keep]]
    client = np.r_[client, fc[keep]]
    rail = np.r_[rail, failed.rail[conv][keep]]
    source = np.r_[source, np.full(keep.sum(), 2, dtype=np.int8)]

    inside = (opened >= DATA_START_S) & (opened < DATA_END_S)
    order = np.lexsort((client, opened))
    order = order[inside[order]]
    country, product, opened, client, rail, source = (
        a[order] for a in (country, product, opened, client, rail, source)
    )
    n = len(opened)
    case_num = np.arange(1, n + 1)

    channel = choose(rng, CHANNEL_SHARE, n)
    priority = choose(rng, PRIORITY_SHARE, n)
    priority[source == 1] = choose(rng, [0.3, 0.5, 0.2, 0.0], int((source == 1).sum()))
    priority[source == 2] = choose(rng, [0.1, 0.5, 0.4, 0.0], int((source == 2).sum()))

    # --- resolution in business hours ------------------------------------------------
    res = effects["resolution"]
    ch_mult = np.array([res["channel_multiplier"][c] for c in CHANNELS])
    pr_mult = np.array([res["priority_multiplier"][p] for p in PRIORITIES])
    pc_eff = res["process_change"]
    pc_start = epoch_seconds(dt.date.fromisoformat(pc_eff["start_date"]))
    after = (product == PRODUCTS.index(pc_eff["product"])) & (opened >= pc_start)
    log_med = (
        np.log(BASE_MEDIAN_HOURS)
        + np.log(ch_mult[channel])
        + np.log(pr_mult[priority])
        + np.log(PRODUCT_MULTIPLIER[product])
        + np.log(pc_eff["multiplier"]) * after
    )
    res_hours = np.exp(log_med + rng.normal(0.0, RESOLUTION_SIGMA, n))
    res_hours = np.maximum(res_hours, 0.05)
    resolved1 = cal.add_business_seconds(country, opened, res_hours * 3600)
    is_open = resolved1 >= DATA_END_S

    fr_bh = np.maximum(res_hours * rng.beta(1.5, 12.0, n), 1 / 60)
    first_resp = cal.add_business_seconds(country, opened, fr_bh * 3600)
    gap = np.maximum(first_resp - opened, 2)
    assigned = opened + np.minimum(rng.exponential(15 * 60, n).astype(np.int64) + 1, gap // 2)
    has_pending = rng.random(n) < PENDING_SHARE
    pend_bh = fr_bh + (res_hours - fr_bh) * rng.uniform(0.2, 0.8, n)
    pending_at = cal.add_business_seconds(country, opened, pend_bh * 3600)
    reopened = (rng.random(n) < REOPEN_SHARE) & ~is_open
    reopen_at = resolved1 + rng.lognormal(np.log(30 * 3600), 0.8, n).astype(np.int64)
    resolved2 = cal.add_business_seconds(
        country, reopen_at, rng.lognormal(np.log(4.0), 0.9, n) * 3600
    )
    final_resolved = np.where(reopened, resolved2, resolved1)
    closed = final_resolved + 3 * DAY + rng.integers(0, 2 * 3600, n)

    # --- events -----------------------------------------------------------------------
    ev_case, ev_type, ev_t, ev_agent = [], [], [], []
    agent = _agents(rng, product, country, n)

    def add(mask: np.ndarray, etype: str, t: np.ndarray, with_agent: bool) -> None:
        m = mask & (t < DATA_END_S)
        ev_case.append(np.flatnonzero(m))
        ev_type.append(np.full(m.sum(), EVENT_ORDER[etype]))
        ev_t.append(t[m])
        ev_agent.append(agent[m] if with_agent else np.full(m.sum(), -1))

    every = np.ones(n, dtype=bool)
    add(every, "opened", opened, False)
    add(every, "assigned", assigned, True)
    add(every, "first_response", first_resp, True)
    add(has_pending, "pending_client", pending_at, False)
    add(every, "resolved", resolved1, True)
    add(reopened, "reopened", reopen_at, False)
    add(reopened, "resolved", resolved2, True)
    add(~is_open, "closed", closed, True)
    e_case = np.concatenate(ev_case)
    e_type = np.concatenate(ev_type)
    e_t = np.concatenate(ev_t)
    e_agent = np.concatenate(ev_agent)
    order = np.lexsort((e_type, e_t, e_case))
    e_case, e_type, e_t, e_agent = e_case[order], e_type[order], e_t[order], e_agent[order]
    n_ev = len(e_case)

    # --- CSAT -------------------------------------------------------------------------
    respond = ~is_open & (rng.random(n) < CSAT_RESPONSE_SHARE)
    responded_at = final_resolved + rng.lognormal(np.log(20 * 3600), 0.9, n).astype(np.int64)
    respond &= responded_at < DATA_END_S
    slope = effects["csat"]["resolution_slope"]
    latent = CSAT_INTERCEPT + slope * np.log(res_hours) + rng.normal(0, CSAT_NOISE, n)
    score = np.clip(np.rint(latent), 1, 5).astype(np.int32)

    tables = {
        "cases": _cases_table(
            rng, case_num, client, clients, country, product, channel, priority, rail, opened
        ),
        "case_events": _events_table(rng, e_case, e_type, e_t, e_agent, case_num),
        "csat_responses": _csat_table(rng, np.flatnonzero(respond), opened, responded_at, score),
    }

    real = ~clients.is_test[client]
    ln = np.log(res_hours)
    facts = {
        "cases": int(n),
        "cases_non_test": int(real.sum()),
        "cases_from_incidents": int((source == 1).sum()),
        "cases_from_failed_payments": int((source == 2).sum()),
        "cases_from_failed_payments_non_test": int(((source == 2) & real).sum()),
        "open_cases_non_test": int((is_open & real).sum()),
        "open_cases": int(is_open.sum()),
        "reopened_cases_non_test": int((reopened & (reopen_at < DATA_END_S) & real).sum()),
        "case_events": int(n_ev),
        "case_events_non_test": int(real[e_case].sum()),
        "median_business_hours_to_first_resolution": float(np.median(res_hours[real])),
        "median_business_hours_to_first_resolution_by_channel": {
            c: float(np.median(res_hours[real & (channel == i)]))
            for i, c in enumerate(CHANNELS)
            if (real & (channel == i)).any()
        },
        "median_business_hours_to_first_resolution_by_priority": {
            p: float(np.median(res_hours[real & (priority == i)]))
            for i, p in enumerate(PRIORITIES)
            if (real & (priority == i)).any()
        },
        "median_business_hours_to_first_response": float(np.median(fr_bh[real])),
        "process_change": _process_change_facts(
            ln[real], product[real], after[real], opened[real], pc_start, pc_eff["product"]
        ),
        "resolution_log_sigma": RESOLUTION_SIGMA,
        "resolution_base_median_hours": BASE_MEDIAN_HOURS,
        "resolution_product_multiplier": dict(
            zip(PRODUCTS, PRODUCT_MULTIPLIER.tolist(), strict=True)
        ),
        "day_type_volume_ratios_base_cases": _day_type_ratios(
            opened[real & (source == 0)],
            country[real & (source == 0)],
            product[real & (source == 0)],
        ),
        "csat_responses": int(respond.sum()),
        "csat_responses_non_test": int((respond & real).sum()),
        "csat_ols_slope_on_log_hours": _ols_slope(ln[respond & real], score[respond & real]),
    }
    return tables, facts


def _day_type_ratios(opened: np.ndarray, country: np.ndarray, product: np.ndarray) -> dict:
    """Realised cases per day on weekends / weekday holidays / Payments month-ends, relative
    to ordinary business days of the same country (by the client's local date)."""
    cal = calendar()
    days = np.arange(DATA_START_S // DAY, DATA_END_S // DAY)
    ci = days - CAL_START_DAY
    weekend = weekday_of_epoch_day(days) >= 5
    month_end = _month_end_flags(cal.is_business.astype(bool))[:, ci]
    idx = cal.local_day_index(country, opened) - (days[0] - CAL_START_DAY)
    ok = (idx >= 0) & (idx < len(days))
    out = {}
    pay = PRODUCTS.index("Payments")
    for name, sel_rows in (("weekend", None), ("holiday", None), ("payments_month_end", pay)):
        num = den = 0.0
        for c in range(len(COUNTRIES)):
            hol = cal.is_holiday[c, ci] & ~weekend
            ordinary = ~weekend & ~hol & ~month_end[c]
            kind = {"weekend": weekend, "holiday": hol, "payments_month_end": month_end[c]}[name]
            rows = ok & (country == c)
            if sel_rows is not None:
                rows &= product == sel_rows
            per_day = np.bincount(idx[rows], minlength=len(days))
            if kind.sum() == 0 or ordinary.sum() == 0:
                continue
            rate = per_day[ordinary].mean()
            num += per_day[kind].sum()
            den += rate * kind.sum()
        out[name] = float(num / den) if den else None
    return out


def _process_change_facts(ln_hours, product, after, opened, start, treated) -> dict:
    """Realised medians before/after the change for the treated product and the others,
    and the difference-in-differences of mean log business hours."""
    t = product == PRODUCTS.index(treated)
    post = opened >= start

    def med(m):
        return float(np.exp(np.median(ln_hours[m]))) if m.any() else None

    def mean(m):
        return float(ln_hours[m].mean()) if m.any() else float("nan")

    did = (mean(t & post) - mean(t & ~post)) - (mean(~t & post) - mean(~t & ~post))
    return {
        "treated_median_before": med(t & ~post),
        "treated_median_after": med(t & post),
        "control_median_before": med(~t & ~post),
        "control_median_after": med(~t & post),
        "did_mean_log_hours": did if np.isfinite(did) else None,
        "treated_cases_after": int((t & post).sum()),
    }


def _ols_slope(x: np.ndarray, y: np.ndarray) -> float | None:
    if len(x) < 3:
        return None
    x = x - x.mean()
    return float((x * (y - y.mean())).sum() / (x * x).sum())


def _agents(rng, product: np.ndarray, country: np.ndarray, n: int) -> np.ndarray:
    """Agent number per case: 12 agents per (product, region) team."""
    region_of = np.array([list(dict.fromkeys(REGION.values())).index(REGION[c]) for c in COUNTRIES])
    team = product * 3 + region_of[country]
    return team * 12 + rng.integers(0, 12, n) + 1


def _client_refs(rng, numbers: np.ndarray, legacy_share: float = 0.3) -> pa.Array:
    """``CL000123`` or, for ~30% of rows, the legacy unpadded ``123``."""
    return pc.if_else(
        pa.array(rng.random(len(numbers)) < legacy_share),
        pc.cast(pa.array(numbers), pa.string()),
        format_ids("CL", numbers, 6),
    )


def _cases_table(rng, case_num, client, clients, country, product, channel, priority, rail,
                 opened) -> pa.Table:  # fmt: skip
    n = len(case_num)
    cal = calendar()
    local = opened + cal.offset_s[country]
    stamp = pc.strftime(pa.array(local).cast(pa.timestamp("s")), format="%Y-%m-%d %H:%M:%S")
    off = pa.array(np.array([offset_label(c) for c in COUNTRIES])[country])
    opened_local = pc.binary_join_element_wise(stamp, off, "")
    cats = np.array([list(CATEGORIES[p]) for p in PRODUCTS], dtype=object)
    cat = cats[product, rng.integers(0, 4, n)]
    cat[rail >= 0] = "Payment failure"
    cat_null = rng.random(n) < 0.015
    regions = np.array([REGION[c] for c in COUNTRIES])
    team = np.array(PRODUCTS, dtype=object)[product] + " Ops " + regions[country].astype(object)
    team_null = rng.random(n) < 0.005
    rails = np.array([*RAILS, None], dtype=object)

    def build(idx: np.ndarray) -> pa.Table:
        return pa.table(
            {
                "case_id": format_ids("CS", case_num[idx], 8),
                "client_ref": _client_refs(rng, clients.number[client[idx]]),
                "product": pa.array(np.array(PRODUCTS)[product[idx]]),
                "channel": messy_labels(rng, channel[idx], CHANNELS, CHANNEL_VARIANTS, 0.4),
                "priority": messy_labels(rng, priority[idx], PRIORITIES, PRIORITY_VARIANTS, 0.4),
                "category": pa.array(cat[idx].tolist(), type=pa.string(), mask=cat_null[idx]),
                "team": pa.array(team[idx].tolist(), type=pa.string(), mask=team_null[idx]),
                "payment_rail": pa.array(rails[rail[idx]].tolist(), type=pa.string()),
                "opened_at_local": opened_local.take(pa.array(idx)),
            }
        )

    idx = np.arange(n)
    load = load_for_time(opened)
    first = add_load_columns(build(idx), load)
    # ~2% re-landed in a later load (same case, labels possibly spelled differently).
    re = np.flatnonzero(rng.random(n) < 0.02)
    later = add_load_columns(build(re), relanded_load(rng, load[re]))
    return pa.concat_tables([first, later])


def _events_table(rng, e_case, e_type, e_t, e_agent, case_num) -> pa.Table:
    n = len(e_case)
    load = load_for_time(e_t)
    # Late arrivals (~3%): a non-final event lands 1–2 loads after the later events.
    late = (rng.random(n) < 0.03) & (e_type != EVENT_ORDER["closed"])
    load[late] = relanded_load(rng, load[late])
    agent = pa.array(e_agent, mask=e_agent < 0)
    agent_ids = pc.if_else(
        pc.is_null(agent),
        pa.scalar(None, pa.string()),
        format_ids("AG", np.maximum(e_agent, 0), 4),
    )

    def build(idx: np.ndarray) -> pa.Table:
        return pa.table(
            {
                "event_id": format_ids("EV", idx + 1, 9),
                "case_id": format_ids("CS", case_num[e_case[idx]], 8),
                "event_type": messy_labels(rng, e_type[idx], EVENT_TYPES, EVENT_TYPE_VARIANTS, 0.7),
                "event_at": ts(e_t[idx]),
                "agent_id": agent_ids.take(pa.array(idx)),
            }
        )

    idx = np.arange(n)
    first = add_load_columns(build(idx), load)
    re = np.flatnonzero(rng.random(n) < 0.01)
    later = add_load_columns(build(re), relanded_load(rng, load[re]))
    return pa.concat_tables([first, later])


def _csat_table(rng, idx, opened, responded_at, score) -> pa.Table:
    n = len(idx)
    year = opened[idx].astype("datetime64[s]").astype("datetime64[Y]").astype(np.int64) + 1970
    num = pc.utf8_lpad(pc.cast(pa.array(idx + 1), pa.string()), width=8, padding="0")
    ref = pc.binary_join_element_wise("SR-", pc.cast(pa.array(year), pa.string()), "-", num, "")
    # The vendor numbers responses in its own order, not ours.
    vendor_num = rng.permutation(n) + 100001
    table = pa.table(
        {
            "response_id": format_ids("VR", vendor_num, 7),
            "vendor_case_ref": ref,
            "score": pa.array(score[idx], type=pa.int32()),
            "responded_at": ts(responded_at[idx]),
        }
    )
    order = np.argsort(responded_at[idx], kind="stable")
    table = table.take(pa.array(order))
    return add_load_columns(table, load_for_time(responded_at[idx][order]))
