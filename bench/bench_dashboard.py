"""A dashboard's tiles through the server: from the marts, from rollups, from the cache.

Twelve tiles, as a BI dashboard sends them (semantic SQL over ``metrics``): metrics of every
type (simple, ratio, derived, cumulative, conversion, percentile) by time and one or two
dimensions, some filtered. The server runs as a separate process on the published warehouse
(``--warehouse``, default ``warehouse``) three times: rollups and cache off (every tile from
the marts), rollups on (tiles a rollup holds come from it; the rest from the marts), and the
cache on as well (a refresh finds every tile in the cache). Reported: median tile latency of
each and the ratios; the targets are ≤ 20 ms a tile from rollups and ≤ 2 ms from the cache.
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
    ap.add_argument("--scale", default="1", help="the build's scale, as the record names it")
    a = ap.parse_args(argv)
    wh = a.warehouse.resolve()
    modes = {
        "marts": {"result_cache_bytes": 0, "rollups": False},
        "rollups": {"result_cache_bytes": 0},
        "cache": {},
    }
    times, sources = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode, settings in modes.items():
            server = Server(wh, Path(tmp), settings)
            try:
                times[mode] = _tile_times(server)
                if mode == "rollups":
                    sources = _sources(server)
            finally:
                server.stop()
    med = lambda xs: statistics.median(xs) * 1000  # noqa: E731
    rows = [
        f"| {t} | {med(times['marts'][t]):.1f} ms | {med(times['rollups'][t]):.1f} ms "
        f"({sources.get(t, '?')}) | {med(times['cache'][t]):.2f} ms |"
        for t in TILES
    ]
    total = {m: med([x for v in times[m].values() for x in v]) for m in modes}
    md = (
        "`python -m bench.bench_dashboard`: a 12-tile dashboard (semantic SQL through psycopg, "
        f"{ROUNDS} refreshes after a first one) against `opsmetrics serve` in its own process "
        f"on the scale-{a.scale} build: rollups and result cache off, rollups on, and the cache on too "
        "(every tile from the cache after the first refresh).\n\n"
        "| tile | marts | rollups (answered from) | cache |\n| --- | --- | --- | --- |\n"
        + "\n".join(rows)
        + f"\n| **median tile** | **{total['marts']:.1f} ms** | **{total['rollups']:.1f} ms** "
        f"| **{total['cache']:.2f} ms** |\n\n"
        f"Rollups: {total['rollups']:.1f} ms a tile (target ≤ 20 ms), "
        f"{total['marts'] / total['rollups']:.1f}× less than the marts; the cache: "
        f"{total['cache']:.2f} ms (target ≤ 2 ms), {total['marts'] / total['cache']:.0f}× less, "
        "in the same run.\n"
    )
    print(md)
    record(f"A dashboard through the server at scale {a.scale}: marts, rollups, cache", md)


def _sources(server: Server) -> dict[str, str]:
    """Where each tile is answered from, as the server's compile says (through --explain's
    reason, read in-process on the same warehouse)."""
    out = {}
    with psycopg.connect(server.dsn, autocommit=True) as c:
        for name, sql in TILES.items():
            plan = c.execute("explain " + sql).fetchall()
            text = " ".join(r[0] for r in plan)
            out[name] = "rollup" if "rollup" in text.lower() else "marts"
    return out


if __name__ == "__main__":
    main()
