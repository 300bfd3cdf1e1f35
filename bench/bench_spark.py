"""DuckDB vs local Spark: the same dbt build and the same metric queries, side by side.

1. ``dbt build`` of the whole project (models, seeds, data and unit tests) on each target, from
   the same raw Parquet; per-node times from dbt's run_results show where the time goes.
2. A set of metric requests (every metric type) compiled for each dialect and run on each
   engine's published build, warm (the Spark session already started), median of 3.

A local Spark on two shared cores is expected to be slower: the point is that the same project
runs, and which fixed costs dominate at this size.

    .venv/bin/python -m bench.bench_spark [--scale 1] [--seed 42]
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._record import record

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from analysis_py.config import resolve_paths  # noqa: E402

REQUESTS = [
    {"metrics": ["cases_opened"], "group_by": ["metric_time__day", "case__product"]},
    {"metrics": ["payments"], "group_by": ["metric_time__month", "payment__rail"]},
    {"metrics": ["platform_requests"], "group_by": ["metric_time__week"]},
]


def requests_by_type(manifest: Path) -> list[dict]:
    """Three fixed requests plus the first metric of each type, by month."""
    from analysis_py.semantic.layer import SemanticLayer

    sl = SemanticLayer(manifest, dialect="duckdb")
    seen: dict[str, str] = {}
    for m in sorted(sl.metrics(), key=lambda m: m["name"]):
        seen.setdefault(m["type"], m["name"])
    names = {m["name"] for m in sl.metrics()}
    out = [r for r in REQUESTS if set(r["metrics"]) <= names]
    out += [
        {"metrics": [n], "group_by": ["metric_time__month"], "type": t}
        for t, n in sorted(seen.items())
    ]
    return out


def node_breakdown(result) -> dict[str, tuple[int, float]]:
    """(count, seconds) per kind of node: seeds, views, tables, data tests, unit tests."""
    rr = json.loads((Path(result) / "run_results.json").read_text())
    out: dict[str, list] = collections.defaultdict(lambda: [0, 0.0])
    for r in rr["results"]:
        uid = r["unique_id"]
        kind = uid.split(".", 1)[0]
        if kind == "model":
            mart = any(p in uid for p in (".fct_", ".dim_", ".metricflow_"))
            kind = "mart model" if mart else "staging/intermediate model"
        elif kind == "operation":
            kind = "on-run-start hook"
        out[kind][0] += 1
        out[kind][1] += float(r.get("execution_time") or 0.0)
    return {k: (v[0], v[1]) for k, v in sorted(out.items())}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--keep", help="work folder to use and keep (default: a temporary one)")
    ap.add_argument(
        "--reuse", action="store_true", help="with --keep: reuse its builds, time queries only"
    )
    args = ap.parse_args(argv)
    from analysis_py.warehouse import build as duck_build
    from analysis_py.warehouse import spark_target as spark_wh

    root = Path(args.keep or tempfile.mkdtemp(prefix="bench-spark-"))
    raw = root / "raw"
    if not (raw / "ground_truth.json").exists():
        t = time.perf_counter()
        subprocess.run(
            [str(Path(sys.executable).with_name("opsmetrics")), "generate", "--scale", str(args.scale),
             "--seed", str(args.seed), "--out", str(raw), "--quiet"],
            check=True,
        )  # fmt: skip
        print(f"generate: {time.perf_counter() - t:.1f}s")
    duck_paths = resolve_paths(project_dir=REPO, data_dir=raw, warehouse_dir=root / "duckdb")
    spark_paths = resolve_paths(project_dir=REPO, data_dir=raw, warehouse_dir=root / "spark")

    timings = root / "build_timings.json"
    if args.reuse and timings.is_file():
        # Re-measure the queries on the builds of an earlier run (same --keep folder).
        from analysis_py.warehouse import publish

        saved = json.loads(timings.read_text())
        duck_s, spark_s = saved["duckdb"], saved["spark"]
        dpub, spub = publish.current(duck_paths), spark_wh.current(spark_paths)
    else:
        t = time.perf_counter()
        dpub = duck_build.build(duck_paths, docs=False).published
        duck_s = time.perf_counter() - t
        print(f"duckdb build: {duck_s:.1f}s")
        t = time.perf_counter()
        spub = spark_wh.build(spark_paths, target="spark").published
        spark_s = time.perf_counter() - t
        print(f"spark build: {spark_s:.1f}s")
        timings.write_text(json.dumps({"duckdb": duck_s, "spark": spark_s}))
    dnodes = node_breakdown(dpub.target_path)
    snodes = node_breakdown(spub.target_path)

    # -- metric queries ----------------------------------------------------------------------
    import duckdb

    from analysis_py.semantic.layer import SemanticLayer
    from analysis_py.semantic.spark_query import compile_request, execute

    marts = [loc for name, loc in spub.tables.items() if name.startswith("main.")]
    jvm_opts = spark_wh.java_opts(spark_wh.parquet_bytes(*marts))
    t = time.perf_counter()
    session = spark_wh.session("bench-spark", data_bytes=spark_wh.parquet_bytes(*marts))
    registered = spark_wh.register(session, spub)
    startup = time.perf_counter() - t
    con = duckdb.connect(str(dpub.duckdb_path), read_only=True)
    dlayer = SemanticLayer(dpub.semantic_manifest_path, dialect="duckdb")
    qrows = []
    for r in requests_by_type(dpub.semantic_manifest_path):
        req = {"metrics": r["metrics"], "group_by": r["group_by"]}
        dsql = dlayer.compile(**req).sql
        ssql, _ = compile_request(spub.semantic_manifest_path, req)
        dt_, st_ = [], []
        for _ in range(3):
            t = time.perf_counter()
            n_d = len(con.sql(dsql).fetchall())
            dt_.append(time.perf_counter() - t)
            t = time.perf_counter()
            n_s = len(execute(session, ssql))
            st_.append(time.perf_counter() - t)
        label = f"{r['metrics'][0]} by {', '.join(r['group_by'])}"
        if "type" in r:
            label += f" ({r['type']})"
        qrows.append((label, n_d, n_s, statistics.median(dt_), statistics.median(st_)))
        print(
            f"{label}: duckdb {statistics.median(dt_) * 1000:.0f} ms, spark {statistics.median(st_) * 1000:.0f} ms"
        )
    con.close()

    # -- report ------------------------------------------------------------------------------
    lines = [
        f"Scale {args.scale:g} (seed {args.seed}), the whole project (`dbt build`: seeds, models, "
        "data and unit tests) from the same raw Parquet; Spark is `local[2]`, in-memory catalog, "
        f"Parquet tables, JVM options `{spark_wh.java_opts(spark_wh.parquet_bytes(raw)) or '(JVM defaults)'}` "
        f"for the build and `{jvm_opts or '(JVM defaults)'}` for the queries "
        "(docs/spark.md). The machine is shared, so read the ratios."
        + (
            " Build times are from the run that made these builds (same `--keep` folder); "
            "queries re-timed now (`--reuse`)."
            if args.reuse
            else " One run."
        ),
        "",
        "| step | DuckDB | local Spark | Spark / DuckDB |",
        "|---|---:|---:|---:|",
        f"| dbt build (wall, incl. process start) | {duck_s:.1f} s | {spark_s:.1f} s | {spark_s / duck_s:.1f}× |",
    ]
    for kind in sorted(set(dnodes) | set(snodes)):
        dn, ds = dnodes.get(kind, (0, 0.0))
        sn, ss = snodes.get(kind, (0, 0.0))
        ratio = f"{ss / ds:.1f}×" if ds > 0 else "–"
        lines.append(
            f"| {kind} nodes ({dn} / {sn}), summed node time | {ds:.1f} s | {ss:.1f} s | {ratio} |"
        )
    lines += [
        "",
        f"Spark session start + registering the {len(registered)} marts (once per reader "
        f"process): {startup:.1f} s.",
        "",
        "| metric request (warm, median of 3) | rows | DuckDB | local Spark | Spark / DuckDB |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, n_d, n_s, d, s in qrows:
        rows = f"{n_d}" if n_d == n_s else f"{n_d} / {n_s} (differ!)"
        lines.append(f"| {label} | {rows} | {d * 1000:.0f} ms | {s * 1000:.0f} ms | {s / d:.0f}× |")
    total_d = sum(q[3] for q in qrows)
    total_s = sum(q[4] for q in qrows)
    slowest = max(snodes.items(), key=lambda kv: kv[1][1])[0] if snodes else "?"
    lines += [
        "",
        "dbt runs 2 threads on both targets (the profile's), so summed node time can exceed "
        "wall time. "
        "The on-run-start hook on Spark registers the raw landing as external tables (schema "
        "discovery over every landed file); DuckDB reads the globs lazily.",
        "",
        "Where the time goes: on Spark every dbt node pays a fixed planning and job-scheduling "
        f"cost (≈{snodes.get('test', (1, 0))[1] / max(snodes.get('test', (1, 0))[0], 1):.2f} s per data "
        f"test even on tiny results, vs ≈{dnodes.get('test', (1, 0))[1] / max(dnodes.get('test', (1, 0))[0], 1):.2f} s "
        f"on DuckDB), so the {snodes.get('test', (0, 0))[0]} tests dominate; the largest share here is "
        f"{slowest} nodes. Metric queries: {total_s:.1f} s on Spark vs {total_d:.2f} s on DuckDB in "
        "total — each Spark query is several jobs (shuffle stages for joins and aggregates) with a "
        "floor of a few hundred ms, where DuckDB answers from one process in milliseconds. Spark "
        "pays off only when the data no longer fits one machine.",
    ]
    body = "\n".join(lines)
    print(body)
    record("DuckDB vs local Spark", body)
    session.stop()


if __name__ == "__main__":
    main()
