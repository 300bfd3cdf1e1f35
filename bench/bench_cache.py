"""A dashboard's tiles through the server: from the marts vs from the result cache.

Twelve tiles, as a BI dashboard sends them (semantic SQL over ``metrics``): metrics of every
type (simple, ratio, derived, cumulative, conversion, percentile) by time and one or two
dimensions, some filtered. The server runs as a separate process on the published warehouse
(``--warehouse``, default ``warehouse``), once with the result cache off (every tile computed
from the marts) and once with it on, where a second refresh of the dashboard finds every
tile in the cache. Reported: median tile latency of each, and their ratio. Target: ≤ 2 ms a
tile from the cache.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import psycopg

from bench._record import record
from bench.bench_serve import Server

ROOT = Path(__file__).resolve().parent.parent
TILES = {
    "cases opened by week": "select metric_time__week, cases_opened from metrics group by 1 order by 1",
    "SLA breach rate by month, product": (
        "select metric_time__month, case__product, sla_breach_rate from metrics "
        "group by 1, 2 order by 1, 2"
    ),
    "STP rate by month, rail": (
        "select metric_time__month, payment__rail, stp_rate from metrics group by 1, 2 order by 1, 2"
    ),
    "payments by week, EMEA": (
        "select metric_time__week, payments from metrics where client__region = 'EMEA' "
        "group by 1 order by 1"
    ),
    "payment value MTD by day (cumulative)": (
        "select metric_time__day, payment_value_usd_mtd from metrics "
        "where metric_time__day >= '2025-10-01' group by 1 order by 1"
    ),
    "cases opened week on week (derived, offset)": (
        "select metric_time__week, cases_opened_wow from metrics group by 1 order by 1"
    ),
    "median hours to resolve by month (percentile)": (
        "select metric_time__month, median_business_hours_to_resolve from metrics group by 1 order by 1"
    ),
    "failed payment to case rate by month (conversion)": (
        "select metric_time__month, failed_payment_to_case_rate from metrics group by 1 order by 1"
    ),
    "error rate by week, surface": (
        "select metric_time__week, platform_request__surface, error_rate from metrics group by 1, 2 order by 1, 2"
    ),
    "CSAT by month, priority": (
        "select metric_time__month, case__priority, csat_average from metrics group by 1, 2 order by 1, 2"
    ),
    "incidents by month, major only": (
        "select metric_time__month, incidents from metrics where incident__is_major group by 1 order by 1"
    ),
    "active clients 30d by month": (
        "select metric_time__month, active_clients_30d from metrics group by 1 order by 1"
    ),
}
ROUNDS = 15


def _tile_times(server: Server) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {t: [] for t in TILES}
    with psycopg.connect(server.dsn, autocommit=True) as c:
        for sql in TILES.values():  # the first refresh: compiles the plans (and fills the cache)
            c.execute(sql).fetchall()
        for _ in range(ROUNDS):
            for name, sql in TILES.items():
                t0 = time.perf_counter()
                c.execute(sql).fetchall()
                times[name].append(time.perf_counter() - t0)
    return times


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--warehouse", type=Path, default=ROOT / "warehouse")
    a = ap.parse_args(argv)
    wh = a.warehouse.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        marts_server = Server(wh, Path(tmp), {"result_cache_bytes": 0})
        try:
            marts = _tile_times(marts_server)
        finally:
            marts_server.stop()
        cache_server = Server(wh, Path(tmp))
        try:
            cached = _tile_times(cache_server)
        finally:
            cache_server.stop()
    med = lambda xs: statistics.median(xs) * 1000  # noqa: E731
    rows = [f"| {t} | {med(marts[t]):.1f} ms | {med(cached[t]):.2f} ms |" for t in TILES]
    all_marts = med([x for v in marts.values() for x in v])
    all_cached = med([x for v in cached.values() for x in v])
    md = (
        "`python -m bench.bench_cache`: a 12-tile dashboard (semantic SQL through psycopg, "
        f"{ROUNDS} refreshes after a first one) against `opsmetrics serve` on the scale-1 "
        "build, with the result cache off (every tile from the marts) and on (every tile "
        "from the cache after the first refresh); the server in its own process.\n\n"
        "| tile | from the marts | from the cache |\n| --- | --- | --- |\n"
        + "\n".join(rows)
        + f"\n| **median tile** | **{all_marts:.1f} ms** | **{all_cached:.2f} ms** |\n\n"
        f"From the cache a tile costs {all_cached:.2f} ms (target ≤ 2 ms), "
        f"{all_marts / all_cached:.0f}× less than from the marts in the same run.\n"
    )
    print(md)
    record("Result cache: a dashboard through the server", md)


if __name__ == "__main__":
    main()
