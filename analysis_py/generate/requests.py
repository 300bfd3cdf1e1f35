"""platform.requests: the largest table, generated and written one month at a time.

Cells are (surface, UTC day). SEV1/SEV2 incidents on a platform service (client-portal,
mobile-app, api-gateway) raise the 5xx rate and latency on that surface in their window.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analysis_py.generate.anomalies import factor_grid
from analysis_py.generate.calendar import DATA_END_S, DATA_START_S, DAY, weekday_of_epoch_day
from analysis_py.generate.clients import Clients
from analysis_py.generate.common import (
    add_load_columns,
    choose_rows,
    format_ids,
    month_index,
    table_rng,
    ts,
    utc_tod_from_local_profile,
)
from analysis_py.generate.incidents import ImpactWindows
from analysis_py.generate.labels import SURFACES, dictionary_take

SURFACE_SHARE = np.array([0.5, 0.2, 0.3])
WEEKEND_FACTOR = np.array([0.15, 0.45, 0.25])
ENDPOINTS = ["/login", "/payments", "/statements", "/cases", "/fx/quotes", "/accounts/balances"]
#: P(endpoint | surface)
ENDPOINT_BY_SURFACE = np.array(
    [
        [0.20, 0.25, 0.20, 0.10, 0.10, 0.15],
        [0.30, 0.15, 0.10, 0.05, 0.05, 0.35],
        [0.02, 0.40, 0.15, 0.03, 0.20, 0.20],
    ]
)
MEDIAN_LATENCY_MS = np.array([250.0, 180.0, 420.0, 150.0, 60.0, 90.0])
SURFACE_LATENCY = np.array([1.0, 1.3, 0.8])
STATUS_4XX = np.array([400, 401, 403, 404, 429], dtype=np.int32)
STATUS_5XX = np.array([500, 502, 503, 504], dtype=np.int32)
TARGET_PER_SCALE = 5_000_000


def _expected(effects: dict, scale: float, cells: list[dict]):
    days = np.arange(DATA_START_S // DAY, DATA_END_S // DAY)
    years = (days - days[0]) / 365.25
    # Digital usage grows with adoption: a little faster than case volume.
    growth = (1 + effects["case_volume"]["annual_growth"] + 0.1) ** years
    weekend = weekday_of_epoch_day(days) >= 5
    dayf = np.where(weekend[None, :], WEEKEND_FACTOR[:, None], 1.0)
    shape = SURFACE_SHARE[:, None] * growth[None, :] * dayf
    lam = TARGET_PER_SCALE * scale / shape.sum() * shape
    return days, lam * factor_grid(cells, "platform_requests", SURFACES, days)


def iter_request_months(
    seed: int,
    scale: float,
    effects: dict,
    clients: Clients,
    windows: ImpactWindows,
    cells: list[dict],
    offset_s: np.ndarray,
) -> Iterator[tuple[int, pa.Table, dict]]:
    """Yield (load id, table, counters) for each month; memory stays at one month."""
    rng = table_rng(seed, "requests")
    days, lam = _expected(effects, scale, cells)
    months = month_index(days * DAY)
    share = clients.weight / clients.weight.sum()
    n_cl = len(clients)
    client_ids = format_ids("CL", clients.number, 6)
    user_vocab = None
    next_id = 1
    surface_windows = [
        np.array([s == surf for s in windows.surface], dtype=bool) for surf in SURFACES
    ]
    for m in np.unique(months):  # loop over months
        sel = months == m
        d = days[sel]
        # Poisson per (surface, day, client) cell: splitting a Poisson count by client
        # weight is the same distribution as drawing clients, and cheaper than a search.
        c = rng.poisson(lam[:, sel][:, :, None] * share[None, None, :]).reshape(-1)
        cells = np.flatnonzero(c)
        reps = c[cells]
        surface = np.repeat(cells // (len(d) * n_cl), reps)
        day = d[np.repeat((cells // n_cl) % len(d), reps)]
        client = np.repeat(cells % n_cl, reps)
        n = len(day)
        t = day * DAY + utc_tod_from_local_profile(rng, offset_s[clients.country[client]], 0.8)
        order = np.argsort(t, kind="stable")
        surface, t, client = surface[order], t[order], client[order]
        endpoint = choose_rows(rng, ENDPOINT_BY_SURFACE, surface)
        degraded = np.zeros(n, dtype=bool)
        for s in range(len(SURFACES)):
            if surface_windows[s].any():
                degraded |= (surface == s) & windows.mask(t, surface_windows[s])
        latency = rng.lognormal(
            np.log(MEDIAN_LATENCY_MS[endpoint] * SURFACE_LATENCY[surface]), 0.55
        ) * np.where(degraded, 3.0, 1.0)
        u = rng.random(n)
        p5 = np.where(degraded, 0.15, 0.004)
        status = np.where(
            u < p5,
            STATUS_5XX[rng.integers(0, len(STATUS_5XX), n)],
            np.where(
                u < p5 + 0.025,
                STATUS_4XX[rng.integers(0, len(STATUS_4XX), n)],
                np.int32(200),
            ),
        ).astype(np.int32)
        user = clients.user_offset[client] + np.floor(
            rng.random(n) * clients.n_users[client]
        ).astype(np.int64)
        # API traffic from service accounts carries no user (~5%).
        no_user = (surface == 2) & (rng.random(n) < 0.05)
        if user_vocab is None:
            total_users = int(clients.user_offset[-1] + clients.n_users[-1])
            user_vocab = format_ids("U", np.arange(1, total_users + 1), 7)
        table = pa.table(
            {
                "request_id": format_ids("RQ", np.arange(next_id, next_id + n), 11),
                "requested_at": ts(t),
                "client_ref": client_ids.take(client),
                "user_id": pc.if_else(
                    pa.array(no_user), pa.scalar(None, pa.string()), user_vocab.take(user)
                ),
                "surface": dictionary_take(list(SURFACES), surface),
                "endpoint": dictionary_take(ENDPOINTS, endpoint),
                "latency_ms": pa.array(np.round(latency, 1)),
                "http_status": pa.array(status, type=pa.int32()),
            }
        )
        next_id += n
        real = ~clients.is_test[client]
        counters = {
            "rows": n,
            "requests_non_test": int(real.sum()),
            "errors_5xx_non_test": int((real & (status >= 500)).sum()),
            "degraded_non_test": int((real & degraded).sum()),
        }
        yield int(m) + 1, add_load_columns(table, np.full(n, int(m) + 1)), counters
