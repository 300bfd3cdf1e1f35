"""A Spark cluster vs local Spark vs DuckDB: the same build, the same metric queries.

1. ``dbt build`` of the whole project from the same raw Parquet on DuckDB, on a local Spark
   session (``--target spark``, ``local[2]`` inside dbt's process) and on a local standalone
   cluster (``opsmetrics spark up``: master, two workers, Thrift; ``--target spark_cluster``).
2. A metric query as a user runs it, whole process: ``opsmetrics query`` on DuckDB, on local
   Spark (the process starts its own JVM) and on the cluster (Spark Connect: no JVM in the
   reader), median of 3.
3. Metric requests of every type, warm: DuckDB and a local session in this process, the
   cluster through Spark Connect in a process of its own; median of 3 each.

    .venv/bin/python -m bench.bench_spark_cluster [--scale 1] [--seed 42] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._record import record
from bench.bench_spark import node_breakdown, requests_by_type

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from analysis_py.config import resolve_paths  # noqa: E402

OPSMETRICS = str(Path(sys.executable).with_name("opsmetrics"))
QUERY = ["query", "--metrics", "cases_opened", "--group-by", "metric_time__month,case__product"]

# run in a process of its own: a Spark Connect session puts its process in Connect mode
CONNECT_TIMER = """
import json, statistics, sys, time
from pyspark.sql import SparkSession
url, sqls = sys.argv[1], json.loads(sys.stdin.read())
t = time.perf_counter()
s = SparkSession.builder.remote(url).getOrCreate()
s.sql("select 1").collect()
out = {"connect": time.perf_counter() - t, "queries": []}
for sql in sqls:
    times, n = [], 0
    for _ in range(3):
        t = time.perf_counter()
        n = len(s.sql(sql).collect())
        times.append(time.perf_counter() - t)
    out["queries"].append([n, statistics.median(times)])
print(json.dumps(out))
"""


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def _cli_median(args: list[str], env: dict, n: int = 3) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run([OPSMETRICS, *args], env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}×" if b > 0 else "–"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--keep", help="work folder to use and keep (default: a temporary one)")
    args = ap.parse_args(argv)
    from analysis_py.warehouse import build as duck_build
    from analysis_py.warehouse import spark_cluster, spark_cluster_build
    from analysis_py.warehouse import spark_target as spark_wh

    root = Path(args.keep or tempfile.mkdtemp(prefix="bench-spark-cluster-"))
    raw = root / "raw"
    if not (raw / "ground_truth.json").exists():
        subprocess.run(
            [OPSMETRICS, "generate", "--scale", str(args.scale), "--seed", str(args.seed),
             "--out", str(raw), "--quiet"],
            check=True,
        )  # fmt: skip
    duck_paths = resolve_paths(project_dir=REPO, data_dir=raw, warehouse_dir=root / "duckdb")
    local_paths = resolve_paths(project_dir=REPO, data_dir=raw, warehouse_dir=root / "spark")
    cl_paths = resolve_paths(project_dir=REPO, data_dir=raw, warehouse_dir=root / "cluster")

    dpub, duck_s = _timed(lambda: duck_build.build(duck_paths, docs=False).published)
    print(f"duckdb build: {duck_s:.1f}s", flush=True)
    lpub, local_s = _timed(lambda: spark_wh.build(local_paths, target="spark").published)
    print(f"local spark build: {local_s:.1f}s", flush=True)
    master, ui, thrift, connect = spark_cluster.free_ports(4)
    ports = {"master": master, "master_ui": ui, "thrift": thrift, "connect": connect}
    cluster, up_s = _timed(lambda: spark_cluster.up(cl_paths.warehouse_dir, ports=ports))
    print(f"cluster up: {up_s:.1f}s", flush=True)
    try:
        cres, cluster_s = _timed(lambda: spark_cluster_build.build(cl_paths))
        cpub = cres.published
        print(f"cluster build: {cluster_s:.1f}s", flush=True)

        # -- a query as a user runs it: one whole process each ------------------------------
        env = dict(os.environ)
        cli = {
            "DuckDB": _cli_median(QUERY, {**env, **duck_paths.env()}),
            "local Spark": _cli_median([*QUERY, "--target", "spark"], {**env, **local_paths.env()}),
            "cluster (Spark Connect)": _cli_median(
                [*QUERY, "--target", "spark_cluster"], {**env, **cl_paths.env()}
            ),
        }
        print(cli, flush=True)

        # -- warm requests ------------------------------------------------------------------
        import duckdb

        from analysis_py.semantic.layer import SemanticLayer
        from analysis_py.semantic.spark_query import compile_request, execute

        requests = requests_by_type(dpub.semantic_manifest_path)
        csqls = [
            compile_request(
                cpub.semantic_manifest_path, {k: r[k] for k in ("metrics", "group_by")}
            )[0]
            for r in requests
        ]
        p = subprocess.run(
            [sys.executable, "-c", CONNECT_TIMER, cluster.connect_url],
            input=json.dumps(csqls), capture_output=True, text=True, check=True,
        )  # fmt: skip
        remote = json.loads(p.stdout)
        marts = [loc for name, loc in lpub.tables.items() if name.startswith("main.")]

        def local_session():
            s = spark_wh.session("bench", data_bytes=spark_wh.parquet_bytes(*marts))
            spark_wh.register(s, lpub)
            return s

        session, start_s = _timed(local_session)
        con = duckdb.connect(str(dpub.duckdb_path), read_only=True)
        dlayer = SemanticLayer(dpub.semantic_manifest_path, dialect="duckdb")
        rows = []
        for r, (n_c, c_s) in zip(requests, remote["queries"], strict=True):
            req = {"metrics": r["metrics"], "group_by": r["group_by"]}
            dsql = dlayer.compile(**req).sql
            lsql, _ = compile_request(lpub.semantic_manifest_path, req)
            d_t, l_t = [], []
            for _ in range(3):
                t = time.perf_counter()
                n_d = len(con.execute(dsql).fetchall())
                d_t.append(time.perf_counter() - t)
                t = time.perf_counter()
                n_l = len(execute(session, lsql))
                l_t.append(time.perf_counter() - t)
            label = f"{r['metrics'][0]} by {', '.join(r['group_by'])}"
            if "type" in r:
                label += f" ({r['type']})"
            same = n_d == n_l == n_c
            rows.append((label, n_d if same else f"{n_d}/{n_l}/{n_c} (differ!)",
                         statistics.median(d_t), statistics.median(l_t), c_s))  # fmt: skip
        con.close()
        session.stop()
        dn, ln, cn = (node_breakdown(p.target_path) for p in (dpub, lpub, cpub))
    finally:
        spark_cluster.down(cl_paths.warehouse_dir)

    lines = [
        f"Scale {args.scale:g} (seed {args.seed}), the whole project (`dbt build`: seeds, models, "
        "data and unit tests) from the same raw Parquet. Local Spark: `--target spark`, "
        "`local[2]` inside dbt's process, in-memory catalog. Cluster: `opsmetrics spark up` on "
        "this machine (a master, two workers of one core and 1 GB each, one application serving "
        "Thrift and Spark Connect, 512 MB executors, a Derby metastore), `--target spark_cluster` "
        "(dbt-spark's thrift method, a schema per build). One run; the machine has 2 cores, "
        "shared by every process of the cluster, so read the ratios.",
        "",
        "| step | DuckDB | local Spark | cluster | local / DuckDB | cluster / DuckDB | cluster / local |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| dbt build (wall) | {duck_s:.1f} s | {local_s:.1f} s | {cluster_s:.1f} s | "
        f"{local_s / duck_s:.1f}× | {cluster_s / duck_s:.1f}× | {cluster_s / local_s:.2f}× |",
    ]
    for kind in sorted(set(dn) | set(ln) | set(cn)):
        d, l_, c = dn.get(kind, (0, 0.0)), ln.get(kind, (0, 0.0)), cn.get(kind, (0, 0.0))
        lines.append(
            f"| {kind} ({d[0]} / {l_[0]} / {c[0]}), summed node time | {d[1]:.1f} s | "
            f"{l_[1]:.1f} s | {c[1]:.1f} s | {ratio(l_[1], d[1])} | {ratio(c[1], d[1])} | "
            f"{ratio(c[1], l_[1])} |"
        )
    q = " ".join(QUERY)
    lines += [
        "",
        f"Cluster start (`opsmetrics spark up`, once): {up_s:.1f} s. A local Spark reader's "
        f"session start and registering the marts (once per reader process): {start_s:.1f} s; "
        f"a Spark Connect session on the cluster: {remote['connect']:.2f} s.",
        "",
        f"`opsmetrics {q}`, whole process (median of 3):",
        "",
        "| engine | seconds | / DuckDB |",
        "|---|---:|---:|",
    ]
    for name, s in cli.items():
        lines.append(f"| {name} | {s:.2f} s | {s / cli['DuckDB']:.1f}× |")
    lines += [
        "",
        f"Through Spark Connect the query process is {cli['local Spark'] / cli['cluster (Spark Connect)']:.1f}× "
        "faster than one that starts a local session: it starts no JVM.",
        "",
        "| metric request (warm, median of 3) | rows | DuckDB | local Spark | cluster (Connect) | cluster / local |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, n, d, l_, c in rows:
        lines.append(
            f"| {label} | {n} | {d * 1000:.0f} ms | {l_ * 1000:.0f} ms | {c * 1000:.0f} ms | "
            f"{c / l_:.2f}× |"
        )
    body = "\n".join(lines)
    print(body)
    record("Spark cluster vs local Spark vs DuckDB", body)


if __name__ == "__main__":
    main()
