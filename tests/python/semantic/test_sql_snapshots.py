"""Snapshots of the SQL every fixture request compiles to, per dialect, compared as parsed trees
(formatting and quoting style do not matter; a changed join, filter or function does).

A deliberate change to the compiler's SQL is recorded by regenerating the snapshots and
reviewing their diff::

    OPSMETRICS_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/python/semantic/test_sql_snapshots.py

The answers themselves are checked elsewhere (MetricFlow's rows, DuckDB against PostgreSQL and
Spark); this catches a change of SQL nobody meant to make, in the dialects no test runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import sqlglot

from analysis_py.semantic import SemanticLayer

from .conftest import REQUESTS

SNAPSHOTS = Path(__file__).resolve().parents[2] / "fixtures" / "semantic" / "sql_snapshots"
DIALECTS = ("duckdb", "spark", "snowflake", "bigquery", "postgres", "trino")
UPDATE = os.environ.get("OPSMETRICS_UPDATE_SNAPSHOTS") == "1"


def _requests() -> list[dict]:
    return json.loads(REQUESTS.read_text())


def _compile_all(manifest: Path, dialect: str) -> dict[str, str]:
    sl = SemanticLayer(str(manifest))
    out = {}
    for r in _requests():
        q = sl.compile(**{k: v for k, v in r.items() if k != "id"})
        out[r["id"]] = q.sql_for(dialect)
    return out


@pytest.mark.parametrize("dialect", DIALECTS)
def test_sql_equals_the_snapshot(sl_project, dialect):
    path = SNAPSHOTS / f"{dialect}.json"
    ours = _compile_all(sl_project.manifest, dialect)
    if UPDATE:
        SNAPSHOTS.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(ours, indent=1, sort_keys=True) + "\n")
    assert path.is_file(), f"no snapshot for {dialect}: run with OPSMETRICS_UPDATE_SNAPSHOTS=1"
    saved = json.loads(path.read_text())
    missing = sorted(set(ours) - set(saved))
    assert not missing, f"requests without a {dialect} snapshot: {missing}"
    changed = [
        rid
        for rid, sql in ours.items()
        if sqlglot.parse_one(sql, read=dialect) != sqlglot.parse_one(saved[rid], read=dialect)
    ]
    assert not changed, (
        f"{dialect} SQL changed for {changed[:5]} ({len(changed)} in all); if meant, regenerate "
        "with OPSMETRICS_UPDATE_SNAPSHOTS=1 and review the diff"
    )


def test_every_snapshot_belongs_to_a_request():
    ids = {r["id"] for r in _requests()}
    for dialect in DIALECTS:
        saved = json.loads((SNAPSHOTS / f"{dialect}.json").read_text())
        assert set(saved) <= ids, f"{dialect}: stale snapshots {sorted(set(saved) - ids)}"
