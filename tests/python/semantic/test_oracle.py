"""Our answers equal MetricFlow's (the oracle) on the fixture project: same columns in the same
order, same rows (relative 1e-9), row order included when the request orders."""

from __future__ import annotations

import json

import pytest

from .compare import rows_equal
from .conftest import REQUESTS

IDS = [r["id"] for r in json.loads(REQUESTS.read_text())]


def test_enough_oracle_requests():
    assert len(IDS) >= 40 and len(set(IDS)) == len(IDS)


@pytest.mark.oracle
@pytest.mark.parametrize("rid", IDS)
def test_same_answer_as_metricflow(rid, sl, oracle_requests, oracle_answers):
    req = next(r for r in oracle_requests if r["id"] == rid)
    theirs = oracle_answers[rid]
    assert "error" not in theirs, f"MetricFlow refused {rid}: {theirs.get('error')}"
    q = sl.query(**{k: v for k, v in req.items() if k != "id"})
    assert q.columns == theirs["columns"]
    ordered = bool(req.get("order_by")) or bool(req.get("saved_query") == "orders_by_region")
    ok, why = rows_equal(q.fetchall(), theirs["rows"], ordered)
    assert ok, why
