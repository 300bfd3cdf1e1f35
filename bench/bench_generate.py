"""Benchmark of ``opsmetrics generate`` at scale 1 and 10.

Each run is a separate ``opsmetrics generate`` process in a temporary folder (deleted
afterwards); wall time, CPU time and peak RSS come from ``os.wait4`` on that process.
The peer is DuckDB writing a requests-shaped table with the same number of rows as the
generator writes in total (random values, ZSTD Parquet): a floor for "just write this
many rows", so the ratio shows what the simulation itself costs.

    .venv/bin/python -m bench.bench_generate [--scales 1,10]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._record import record

OPSMETRICS = str(Path(sys.executable).with_name("opsmetrics"))
SEED = 42


def run_generate(scale: float, out: Path) -> dict:
    t0 = time.perf_counter()
    p = subprocess.Popen(
        [OPSMETRICS, "generate", "--scale", str(scale), "--seed", str(SEED), "--out", str(out),
         "--quiet"],
    )  # fmt: skip
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"generate --scale {scale} failed with exit code {p.returncode}")
    truth = json.loads((out / "ground_truth.json").read_text())
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    return {
        "scale": scale,
        "wall_s": wall,
        "cpu_s": ru.ru_utime + ru.ru_stime,
        "peak_rss_mb": ru.ru_maxrss / 1024,
        "rows": {k: v["raw_rows"] for k, v in truth["row_counts"].items()},
        "bytes": size,
    }


def run_duckdb_peer(rows: int, out: Path) -> dict:
    """DuckDB writes ``rows`` random requests-like rows to Parquet (the I/O floor)."""
    code = f"""
import duckdb, time
con = duckdb.connect()
con.execute("set threads = 2")
con.execute("set enable_progress_bar = false")
con.execute('''copy (select 'RQ' || lpad(i::varchar, 11, '0') as request_id,
      timestamp '2024-01-01' + to_microseconds((random() * 6.3e13)::bigint) as requested_at,
      'CL' || lpad((random() * 20000)::int::varchar, 6, '0') as client_ref,
      'U' || lpad((random() * 200000)::int::varchar, 7, '0') as user_id,
      ['portal', 'mobile', 'api'][1 + (random() * 2.99)::int] as surface,
      ['/login', '/payments', '/cases'][1 + (random() * 2.99)::int] as endpoint,
      round(random() * 500, 1) as latency_ms, 200::int as http_status
   from range({rows}) t(i)) to '{out}/peer.parquet' (format parquet, compression zstd)''')
"""
    t0 = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-c", code])
    _, status, ru = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("duckdb peer failed")
    return {
        "wall_s": time.perf_counter() - t0,
        "cpu_s": ru.ru_utime + ru.ru_stime,
        "peak_rss_mb": ru.ru_maxrss / 1024,
    }


def load_average() -> str:
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def main(scales: tuple[float, ...] = (1.0, 10.0)) -> None:
    results = []
    for scale in scales:
        tmp = Path(tempfile.mkdtemp(prefix=f"bench-generate-{scale:g}-"))
        try:
            load_before = load_average()
            r = run_generate(scale, tmp / "raw")
            r["peer"] = run_duckdb_peer(sum(r["rows"].values()), tmp)
            r["load"] = load_before
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        results.append(r)
        print(
            f"scale {scale:g}: {r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} s CPU, "
            f"peak RSS {r['peak_rss_mb']:.0f} MB, {sum(r['rows'].values()):,} rows; "
            f"DuckDB peer {r['peer']['wall_s']:.1f} s wall",
            flush=True,
        )

    tables = list(results[0]["rows"])
    lines = [
        "`opsmetrics generate --scale S --seed 42` (separate process, temp folder). Target:",
        "scale 1 ≤ 30 s, scale 10 ≤ 5 min on 2 cores. Peer: DuckDB writing the same total",
        "number of requests-shaped random rows to ZSTD Parquet (the cost of writing alone).",
        "",
        "| scale | wall s | CPU s | peak RSS MB | rows | on disk MB | DuckDB peer wall s "
        "| generator / peer (CPU) | load avg before (1/5/15 min) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r['scale']:g} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['peak_rss_mb']:.0f} "
            f"| {sum(r['rows'].values()):,} | {r['bytes'] / 1e6:.0f} | {r['peer']['wall_s']:.1f} "
            f"| {r['cpu_s'] / max(r['peer']['cpu_s'], 1e-9):.1f}× | {r['load']} |"
        )
    if len(results) > 1:
        a, b = results[0], results[-1]
        lines += [
            "",
            f"Scaling: scale {b['scale']:g} / scale {a['scale']:g} = "
            f"{b['cpu_s'] / a['cpu_s']:.1f}× CPU time for "
            f"{sum(b['rows'].values()) / sum(a['rows'].values()):.1f}× the rows.",
        ]
    lines += ["", "Rows per table:", "", "| table | " + " | ".join(
        f"scale {r['scale']:g}" for r in results) + " |",
        "| --- | " + " | ".join("---:" for _ in results) + " |"]  # fmt: skip
    for t in tables:
        lines.append(f"| {t} | " + " | ".join(f"{r['rows'][t]:,}" for r in results) + " |")
    lines += [
        "",
        "Wall time on these shared machines depends on the other jobs running (see the load",
        "average column); CPU time is the steadier figure.",
    ]
    path = record("Data generator", "\n".join(lines))
    print(f"recorded in {path}")


if __name__ == "__main__":
    arg = next((a for a in sys.argv[1:] if a.startswith("--scales")), None)
    if arg:
        main(tuple(float(x) for x in arg.split("=", 1)[1].split(",")))
    else:
        main()
