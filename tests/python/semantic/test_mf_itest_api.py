"""MetricFlow's own integration cases that only its Python API can ask (min_max_only,
apply_group_by=False), through ours; runs where the shared copy of the suite is present
(../shared/mf-itest), else skips."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from analysis_py.semantic.layer import SemanticLayer

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "mf-itest" / "data"
pytestmark = pytest.mark.skipif(
    not (DATA / "cases.json").is_file(), reason="../shared/mf-itest is not present (optional)"
)


def _cases():
    if not (DATA / "cases.json").is_file():
        return []
    return [
        c for c in json.loads((DATA / "cases.json").read_text())["cases"] if c.get("min_max_only")
    ]


def _ask(case, **request):
    """The case's request (its where filters included) on the suite's data: (query, rows)."""
    con = duckdb.connect(str(DATA / "mfit.duckdb"), read_only=True)
    try:
        sl = SemanticLayer(
            str(DATA / "manifests" / case["manifest"] / "semantic_manifest.json"), connection=con
        )
        q = sl.compile(where=case["where"] or None, **request)
        return q, q.fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c["name"])
def test_min_max_only_cases_equal_metricflows(case):
    q, rows = _ask(case, group_by=case["group_by"], min_max_only=True)
    got = [[str(v) for v in row] for row in rows]
    name = f"{case['file'].removesuffix('.yaml')}__{case['name']}.csv"
    header, *rows = list(csv.reader((DATA / "expected" / name).read_text().splitlines()))
    assert q.columns == header
    assert got == rows


def _no_dedupe_cases():
    if not (DATA / "cases.json").is_file():
        return []
    cases = json.loads((DATA / "cases.json").read_text())["cases"]
    return [c for c in cases if c.get("apply_group_by") is False]


@pytest.mark.parametrize("case", _no_dedupe_cases(), ids=lambda c: c["name"])
def test_no_dedupe_cases_equal_metricflows(case):
    """apply_group_by=False: every row, duplicates kept (compared as a multiset)."""
    q, got = _ask(
        case,
        group_by=case["group_by"] or None,
        saved_query=case["saved_query"],
        apply_group_by=False,
    )
    name = f"{case['file'].removesuffix('.yaml')}__{case['name']}.csv"
    header, *rows = list(csv.reader((DATA / "expected" / name).read_text().splitlines()))
    assert sorted(q.columns) == sorted(header)
    at = [q.columns.index(h) for h in header]
    mine = Counter(tuple("" if r[i] is None else str(r[i]) for i in at) for r in got)
    assert mine == Counter(tuple(r) for r in rows)
