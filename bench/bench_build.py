"""Benchmark: `opsmetrics build` (dbt build + docs + atomic publish) at scale 1 and 10.

Generates each scale into a temporary folder (reusing $OPSMETRICS_BENCH_DIR/<scale> if it was
generated before), builds it with the real CLI, and records wall time, the dbt node count, the
warehouse size and the build's peak memory (children's max RSS). Scales can be chosen with
OPSMETRICS_BENCH_SCALES="1,10".
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._record import record

REPO = Path(__file__).resolve().parent.parent
CLI = str(Path(sys.executable).with_name("opsmetrics"))


def _run(args: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([CLI, *args], env=env, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def bench_scale(scale: float, root: Path) -> dict:
    raw, wh = root / f"raw-{scale:g}", root / f"wh-{scale:g}"
    env = {**os.environ, "OPSMETRICS_DATA_DIR": str(raw), "OPSMETRICS_WAREHOUSE_DIR": str(wh)}
    gen_s = None
    if not (raw / "ground_truth.json").exists():
        gen_s = _run(["generate", "--scale", str(scale), "--seed", "42", "--quiet"], env)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    build_s = _run(["build", "--quiet"], env)
    rss = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    db = (wh / "opsmetrics.duckdb").resolve()
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    cases, requests = con.execute(
        "select (select count(*) from fct_cases), (select count(*) from fct_platform_requests)"
    ).fetchall()[0]
    con.close()
    raw_mb = sum(p.stat().st_size for p in raw.rglob("*.parquet")) / 1e6
    return {
        "scale": scale,
        "generate_s": gen_s,
        "build_s": build_s,
        "peak_rss_mb": rss,
        "warehouse_mb": db.stat().st_size / 1e6,
        "raw_mb": raw_mb,
        "cases": cases,
        "requests": requests,
    }


def main() -> None:
    scales = [float(s) for s in os.environ.get("OPSMETRICS_BENCH_SCALES", "1,10").split(",")]
    keep = os.environ.get("OPSMETRICS_BENCH_DIR")
    root = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="opsm-bench-build-"))
    rows = []
    try:
        for s in scales:
            r = bench_scale(s, root)
            print(r, flush=True)
            rows.append(r)
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    lines = [
        "`opsmetrics build` = `dbt build` (all models, data tests and unit tests) + saved-query exports + "
        "`dbt docs generate --static` + atomic publish, into a fresh DuckDB file.",
        "",
        "| scale | cases | platform requests | raw Parquet | generate | build | warehouse file | peak RSS (max child) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        gen = f"{r['generate_s']:.1f} s" if r["generate_s"] is not None else "(reused)"
        lines.append(
            f"| {r['scale']:g} | {r['cases']:,} | {r['requests']:,} | {r['raw_mb']:.0f} MB | {gen} | "
            f"{r['build_s']:.1f} s | {r['warehouse_mb']:.0f} MB | {r['peak_rss_mb']:.0f} MB |"
        )
    record("Warehouse build", "\n".join(lines))


if __name__ == "__main__":
    main()
