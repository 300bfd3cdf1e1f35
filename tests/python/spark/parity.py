"""What the Spark tests compare: canonical rows, checksums, the public marts and metric
requests of every type (shared by the local-session and the cluster tests, and by
``connect_reader``, which runs in a process of its own)."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import math
from pathlib import Path


def canon(v):
    """One value as the same text on both engines: numbers to 6 significant digits (Spark sums
    doubles in another order), instants to the microsecond, booleans as 0/1, null as ∅."""
    if v is None:
        return "∅"
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, (int, float, decimal.Decimal)):
        f = float(v)
        if math.isnan(f):
            return "∅"
        if f == int(f) and abs(f) < 1e15:
            return str(int(f))
        return f"{f:.6g}"
    if isinstance(v, dt.datetime):
        return v.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    if isinstance(v, dt.date):
        return dt.datetime(v.year, v.month, v.day).isoformat(sep=" ", timespec="microseconds")
    return str(v)


def checksum(rows: list[tuple]) -> tuple[int, str]:
    """(row count, order-independent digest of the canonical rows)."""
    lines = sorted("\x1f".join(canon(v) for v in r) for r in rows)
    return len(lines), hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def first_difference(columns, left, right) -> str:
    """The first column whose canonical values differ (for a readable failure)."""
    for i, c in enumerate(columns):
        a = sorted(canon(r[i]) for r in left)
        b = sorted(canon(r[i]) for r in right)
        if a != b:
            diff = next(((x, y) for x, y in zip(a, b, strict=False) if x != y), (len(a), len(b)))
            return f"column {c}: first difference {diff}"
    return "rows pair up differently across columns"


def public_marts(manifest_path: Path) -> list[tuple[str, str]]:
    nodes = json.loads(manifest_path.read_text())["nodes"].values()
    return sorted(
        (n["schema"], n["alias"])
        for n in nodes
        if n["resource_type"] == "model"
        and n.get("access") == "public"
        and n["config"].get("materialized") == "table"
    )


def metric_requests(manifest_path: Path) -> list[dict]:
    """Requests covering every metric type the project defines, by day, month and a slice."""
    from analysis_py.semantic.layer import SemanticLayer

    sl = SemanticLayer(manifest_path, dialect="duckdb")
    by_type: dict[str, list[str]] = {}
    for m in sl.metrics():
        by_type.setdefault(m["type"], []).append(m["name"])
    requests = []
    for mtype, names in sorted(by_type.items()):
        for i, name in enumerate(sorted(names)[:2]):
            grain = ("day", "month", "week")[i % 3]
            dims = [
                d["name"]
                for d in sl.dimensions([name])
                if d["type"] == "categorical" and "__" in d["name"]
            ]
            group_by = [f"metric_time__{grain}", *dims[:1]]
            requests.append({"metrics": [name], "group_by": group_by, "type": mtype})
    return requests
