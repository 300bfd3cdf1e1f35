"""Benchmark: business hours between two timestamps, the dbt project's cumulative-index method
against the usual peer, expanding each case into one row per local calendar day.

Both run in DuckDB over the same warehouse (fct_cases, dim_clients and the index table
intermediate.int_business_days_indexed), and must agree to 1e-6 hours. The warehouse is
$OPSMETRICS_BENCH_WAREHOUSE if set (built at scale $OPSMETRICS_BENCH_BH_SCALE, default 1), else that
scale is generated and built into a temporary folder with the real CLI.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from bench._record import record

REPO = Path(__file__).resolve().parent.parent
CLI = str(Path(sys.executable).with_name("opsmetrics"))

CASES = """
    select f.case_id, c.country,
           f.opened_at + to_minutes(c.utc_offset_minutes) as opened_local,
           f.first_resolved_at + to_minutes(c.utc_offset_minutes) as resolved_local
    from main.fct_cases f join main.dim_clients c using (client_id)
    where f.first_resolved_at is not null
"""

# The project's method: two equi-joins to the per-country day index (macro business_hours_at).
INDEX = f"""
    with cases as ({CASES}),
    idx as (select * from intermediate.int_business_days_indexed)
    select cases.case_id,
        (r.cum_business_hours_before + case when r.is_business_day then
            least(greatest(epoch(cases.resolved_local - cast(cases.resolved_local as date)) / 3600
                           - r.business_day_start_hour, 0), r.business_hours_per_day) else 0 end)
      - (o.cum_business_hours_before + case when o.is_business_day then
            least(greatest(epoch(cases.opened_local - cast(cases.opened_local as date)) / 3600
                           - o.business_day_start_hour, 0), o.business_hours_per_day) else 0 end)
        as business_hours
    from cases
    join idx o on o.country = cases.country and o.date_day = cast(cases.opened_local as date)
    join idx r on r.country = cases.country and r.date_day = cast(cases.resolved_local as date)
"""

# The peer: one row per case and local day, overlap of [opened, resolved) with that day's
# opening hours on business days, summed.
EXPANSION = f"""
    with cases as ({CASES}),
    days as (
        select case_id, country, opened_local, resolved_local,
               unnest(generate_series(cast(opened_local as date), cast(resolved_local as date),
                                      interval 1 day)) as day
        from cases),
    overlap as (
        select days.case_id,
               greatest(epoch(least(days.resolved_local, days.day + interval 17 hour)
                              - greatest(days.opened_local, days.day + interval 9 hour)), 0) / 3600
                   as hours
        from days join intermediate.int_business_days_indexed i
          on i.country = days.country and i.date_day = cast(days.day as date)
        where i.is_business_day)
    select cases.case_id, coalesce(sum(overlap.hours), 0) as business_hours
    from cases left join overlap using (case_id)
    group by cases.case_id
"""


def _warehouse() -> tuple[Path, float]:
    scale = float(os.environ.get("OPSMETRICS_BENCH_BH_SCALE", "1"))
    given = os.environ.get("OPSMETRICS_BENCH_WAREHOUSE")
    if given:  # a warehouse already built at that scale
        return Path(given), scale
    root = Path(tempfile.mkdtemp(prefix="bench-bh-"))
    env = {
        **os.environ,
        "OPSMETRICS_DATA_DIR": str(root / "raw"),
        "OPSMETRICS_WAREHOUSE_DIR": str(root / "wh"),
    }
    for args in (
        ["generate", "--scale", str(scale), "--seed", "42", "--quiet"],
        ["build", "--quiet"],
    ):
        subprocess.run([CLI, *args], env=env, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    return root / "wh" / "opsmetrics.duckdb", scale


def _time(con: duckdb.DuckDBPyConnection, sql: str, repeats: int = 3) -> tuple[float, dict]:
    best, rows = float("inf"), {}
    for _ in range(repeats):
        t0 = time.perf_counter()
        rows = dict(con.execute(sql).fetchall())
        best = min(best, time.perf_counter() - t0)
    return best, rows


def main() -> None:
    path, scale = _warehouse()
    con = duckdb.connect(str(path), read_only=True)
    con.execute("set threads = 2")
    n_cases = con.execute(f"select count(*) from ({CASES})").fetchone()[0]
    day_rows = con.execute(
        f"select sum(date_diff('day', cast(opened_local as date), cast(resolved_local as date)) + 1) from ({CASES})"
    ).fetchone()[0]
    index_s, index_rows = _time(con, INDEX)
    expand_s, expand_rows = _time(con, EXPANSION)
    con.close()
    worst = max(abs(index_rows[k] - expand_rows[k]) for k in index_rows)
    assert worst < 1e-6, f"methods disagree by {worst} hours"
    body = f"""
Business hours from opening to first resolution for every resolved case (`{path.name}`,
scale {scale:g}: {n_cases:,} cases, {day_rows:,} case-days), DuckDB, 2 threads, best of 3.
Both methods agree to {worst:.1e} hours.

| method | seconds | relative |
| --- | ---: | ---: |
| cumulative index, 2 equi-joins per case (the project's `business_hours_at`) | {index_s:.3f} | 1.0× |
| day expansion, one row per case and day (peer) | {expand_s:.3f} | {expand_s / index_s:.1f}× |
"""
    print(body)
    record("Business hours: cumulative index vs day expansion", body)


if __name__ == "__main__":
    main()
