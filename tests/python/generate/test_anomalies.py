"""Anomaly cell selection: valid days, distinct cells, no failure at large scale or count."""

from __future__ import annotations

import datetime as dt

import pytest

from analysis_py.generate.anomalies import METRICS, choose_cells
from analysis_py.generate.calendar import holiday_dates
from analysis_py.generate.incidents import make_incidents


@pytest.mark.parametrize(("scale", "count"), [(0.05, 12), (10.0, 12), (100.0, 60)])
def test_cells_are_valid_weekdays_and_distinct(scale, count):
    windows, _, _ = make_incidents(7, scale)
    cells = choose_cells(7, count, windows)
    assert len(cells) == count
    holidays = {d for _, d in holiday_dates()}
    keys = set()
    for c in cells:
        d = dt.date.fromisoformat(c["date"])
        assert d.weekday() < 5 and d not in holidays
        assert c["dimension"] == METRICS[c["metric"]][0]
        assert c["slice"] in METRICS[c["metric"]][1]
        assert (c["kind"], c["factor"]) in {("spike", 3.0), ("drop", 0.2)}
        keys.add((c["metric"], c["date"]))
    assert len(keys) == count
    # Drops sit in the busiest slice of their metric.
    assert all(c["slice"] == METRICS[c["metric"]][1][0] for c in cells if c["kind"] == "drop")
