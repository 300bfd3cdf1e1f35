"""Do two commits give the same outputs? Both run here, in one go, on the same inputs.

    python scripts/compare_outputs.py --base REV [--head REV] [--database FILE] [--scale S]

For each commit (a detached ``git worktree``; without ``--head``, the working tree as it is)
this records, with the same Python environment:

- **generator bytes**: the SHA-256 of every file ``opsmetrics generate --scale S`` writes;
- **semantic manifest and SQL**: ``dbt parse`` of that commit's project (into its
  ``target/``), then the SQL its
  compiler writes for every metric by ``metric_time__day`` and, by month, with each of the
  metric's first three dimensions, a filter and an order;
- **analysis results**: ``opsmetrics analyze`` of that commit's specs on the same DuckDB file
  (``--database``; default: the published build), each result table's rows per spec with the
  run-specific columns (ids, times, durations, code version) left out and floats compared to
  9 significant digits (DuckDB's parallel sums differ in their last bits between runs).

It prints what differs and exits 1 if anything does. The wire's COPY bytes are not compared
here: tests pin them byte for byte against PostgreSQL.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
#: run-specific columns of result tables: they differ between any two runs
RUN_COLUMNS = {
    "run_id",
    "batch_id",
    "started_at",
    "finished_at",
    "created_at",
    "duration_s",
    "code_version",
}

# Runs inside each tree (its own analysis_py first on the path); prints JSON of SQL digests.
_SQL_DIGESTS = r"""
import hashlib, json, sys
from analysis_py.semantic.layer import SemanticLayer
layer = SemanticLayer(sys.argv[1], connection=None)
out = {}
for m in sorted(x["name"] for x in layer.metrics()):
    requests = [dict(group_by=["metric_time__day"])]
    dims = [d["name"] for d in layer.dimensions(metrics=[m]) if d.get("type") != "time"][:3]
    for d in dims:
        requests.append(dict(group_by=["metric_time__month", d], order_by=[f"-{m}"], limit=50))
    if dims:
        requests.append(dict(group_by=[dims[0]], where=[f"{{{{ Dimension('{dims[0]}') }}}} is not null"]))
    for r in requests:
        key = m + " " + json.dumps(r, sort_keys=True)
        try:
            sql = layer.compile(metrics=[m], **r).sql
        except Exception as exc:  # a request one commit refuses is a result too
            sql = f"error: {type(exc).__name__}: {exc}"
        out[key] = hashlib.sha256(sql.encode()).hexdigest()
print(json.dumps(out))
"""


def _run(cmd: list[str], tree: Path, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(tree), "OPSMETRICS_PROJECT_DIR": str(tree)}
    p = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise SystemExit(f"failed in {tree}: {' '.join(cmd[:4])} …\n{p.stderr[-2000:]}")
    return p


def _cli(tree: Path, *args: str) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-c", "from analysis_py.cli import main; main()", *args], tree)


def _files_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _stable(v):
    """A value as compared: floats to 9 significant digits, since DuckDB's parallel sums add
    in a varying order and differ in the last bits from run to run."""
    return float(f"{v:.9g}") if isinstance(v, float) else v


def _results_digest(results: Path) -> dict[str, str]:
    import duckdb

    con = duckdb.connect()
    out = {}
    tables = [p for p in sorted((results / "analysis").iterdir()) if any(p.glob("*.parquet"))]
    for table in (p.name for p in tables):
        files = str(results / "analysis" / table / "*.parquet")
        cols = [
            c[0]
            for c in con.execute(
                f"DESCRIBE SELECT * FROM read_parquet('{files}', union_by_name = true)"
            ).fetchall()
        ]
        keep = [c for c in cols if c not in RUN_COLUMNS]
        quoted = ", ".join(f'"{c}"' for c in keep)
        rows = con.execute(
            f"SELECT {quoted} FROM read_parquet('{files}', union_by_name = true)"
        ).fetchall()
        by_spec: dict[str, list[str]] = {}
        spec_at = keep.index("spec_name") if "spec_name" in keep else None
        for r in rows:
            spec = r[spec_at] if spec_at is not None else "-"
            by_spec.setdefault(spec, []).append(repr(tuple(_stable(v) for v in r)))
        for spec, reprs in by_spec.items():
            out[f"{table} / {spec}"] = hashlib.sha256("\n".join(sorted(reprs)).encode()).hexdigest()
    return out


def digests(tree: Path, database: Path, scale: float, work: Path) -> dict[str, dict[str, str]]:
    print(f"· {tree}: generate --scale {scale}", file=sys.stderr)
    raw = work / "raw"
    _cli(tree, "generate", "--scale", str(scale), "--out", str(raw), "--quiet")
    print(f"· {tree}: dbt parse and semantic SQL", file=sys.stderr)
    target = tree / "target"  # where `opsmetrics analyze --database` reads the dbt manifest
    _run(
        [str(BIN / "dbt"), "parse", "--quiet", "--project-dir", str(tree), "--profiles-dir",
         str(tree / "profiles"), "--target-path", str(target)],
        tree,
    )  # fmt: skip
    sql = json.loads(
        _run(
            [sys.executable, "-c", _SQL_DIGESTS, str(target / "semantic_manifest.json")], tree
        ).stdout
    )
    manifest = json.loads((target / "semantic_manifest.json").read_text())
    manifest.pop("project_configuration", None)
    sql["semantic_manifest"] = hashlib.sha256(
        json.dumps(manifest, sort_keys=True).encode()
    ).hexdigest()
    print(f"· {tree}: analyze on {database.name}", file=sys.stderr)
    results = work / "results"
    _cli(
        tree, "analyze", "--database", str(database), "--warehouse-dir", str(results), "--jobs", "1"
    )
    return {
        "generator": _files_digest(raw),
        "semantic": sql,
        "analyses": _results_digest(results),
    }


def compare(base: dict, head: dict) -> list[str]:
    diffs = []
    for part in base:
        b, h = base[part], head[part]
        for key in sorted(set(b) | set(h)):
            if b.get(key) != h.get(key):
                state = (
                    "only in base"
                    if key not in h
                    else "only in head"
                    if key not in b
                    else "differs"
                )
                diffs.append(f"{part}: {key}: {state}")
    return diffs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="the commit to compare against")
    ap.add_argument("--head", help="the commit to compare (default: the working tree)")
    ap.add_argument("--database", type=Path, help="DuckDB file the analyses read")
    ap.add_argument("--scale", type=float, default=0.01, help="generator scale (default 0.01)")
    a = ap.parse_args(argv)
    database = a.database or (ROOT / "warehouse" / "opsmetrics.duckdb")
    if not database.exists():
        print(f"error: no DuckDB file at {database}; pass --database FILE", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="compare-outputs-") as tmp:
        tmp = Path(tmp)
        trees = {}
        for side, rev in (("base", a.base), ("head", a.head)):
            if rev is None:
                trees[side] = ROOT
                continue
            trees[side] = tmp / f"tree-{side}"
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(trees[side]), rev],
                check=True,
            )  # fmt: skip
        try:
            got = {
                side: digests(tree, database, a.scale, tmp / side) for side, tree in trees.items()
            }
        finally:
            for tree in trees.values():
                if tree != ROOT:
                    subprocess.run(
                        ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)]
                    )
                    shutil.rmtree(tree, ignore_errors=True)
    diffs = compare(got["base"], got["head"])
    counts = ", ".join(f"{len(v)} {k}" for k, v in got["head"].items())
    if diffs:
        print(f"{len(diffs)} outputs differ (of {counts}):")
        print("\n".join(f"  {d}" for d in diffs))
        return 1
    print(f"identical: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
