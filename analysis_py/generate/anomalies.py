"""Planted anomaly cells: single-day spikes (×3) or drops (×0.2) in one slice of a metric.

Cells are chosen on ordinary weekdays (no public holiday in any client country, not at a
month end, away from SEV1/SEV2 incident days and from each other) and in high-volume
slices (drops always in the busiest one), so that a detector can find them even at
scale 0.1.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from analysis_py.generate.calendar import CAL_START_DAY, DAY, calendar, epoch_day
from analysis_py.generate.common import table_rng
from analysis_py.generate.incidents import ImpactWindows

#: metric -> (dimension, candidate slices by volume)
METRICS = {
    "cases_opened": ("product", ("Payments", "Cash Management")),
    "payments": ("rail", ("SWIFT", "ACH", "SEPA")),
    "platform_requests": ("surface", ("portal", "api", "mobile")),
}
SPIKE, DROP = 3.0, 0.2
WINDOW = (dt.date(2024, 3, 1), dt.date(2025, 12, 10))


def choose_cells(seed: int, count: int, windows: ImpactWindows) -> list[dict]:
    rng = table_rng(seed, "anomalies")
    if count == 0:
        return []
    cal = calendar()
    days = np.arange(epoch_day(WINDOW[0]), epoch_day(WINDOW[1]))
    ci = days - CAL_START_DAY
    ok = cal.is_business[:, ci].all(axis=0).astype(bool)
    dom = (days.astype("datetime64[D]") - days.astype("datetime64[D]").astype("datetime64[M]")
           ).astype(np.int64)  # fmt: skip
    ok &= (dom >= 2) & (dom <= 24)
    incident_days = set()
    for st, en in zip(windows.start, windows.end, strict=True):
        incident_days.update(range(int(st // DAY) - 1, int(en // DAY) + 2))
    loose = days[ok]
    strict = loose[~np.isin(loose, list(incident_days))]
    used: dict[str, list[int]] = {m: [] for m in METRICS}
    cells = []
    metric_names = list(METRICS)
    spikes = dict.fromkeys(metric_names, 0)
    for i in range(count):  # loop over a dozen cells
        metric = metric_names[i % len(metric_names)]
        dim, slices = METRICS[metric]
        kind = "spike" if i % 2 == 0 else "drop"
        # A drop needs volume to be visible, so drops go to the busiest slice.
        slice_ = slices[spikes[metric] % len(slices)] if kind == "spike" else slices[0]
        spikes[metric] += kind == "spike"
        # Prefer days away from incidents and ≥ 10 days from every other cell; relax
        # (large scales have incidents on most days, large counts run out of room).
        all_used = [d for v in used.values() for d in v]
        pool = np.array([], dtype=np.int64)
        for cand, taken, gap in (
            (strict, all_used, 10),
            (loose, all_used, 10),
            (loose, used[metric], 10),
            (loose, used[metric], 1),
        ):
            pool = _spaced(cand, taken, gap)
            if len(pool):
                break
        if not len(pool):
            break  # more cells than weekdays: plant what fits
        day = int(pool[rng.integers(0, len(pool))])
        used[metric].append(day)
        cells.append(
            {
                "metric": metric,
                "dimension": dim,
                "slice": slice_,
                "date": (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat(),
                "kind": kind,
                "factor": SPIKE if kind == "spike" else DROP,
            }
        )
    cells.sort(key=lambda c: (c["date"], c["metric"]))
    return cells


def _spaced(candidates: np.ndarray, taken: list[int], gap: int) -> np.ndarray:
    if not taken:
        return candidates
    return candidates[np.all(np.abs(candidates[:, None] - np.array(taken)) >= gap, axis=1)]


def factor_grid(cells: list[dict], metric: str, slices: tuple[str, ...], days: np.ndarray):
    """Multiplier array [slice, day] for one metric (1 outside anomaly cells)."""
    grid = np.ones((len(slices), len(days)))
    for c in cells:
        if c["metric"] != metric:
            continue
        d = epoch_day(dt.date.fromisoformat(c["date"]))
        j = np.searchsorted(days, d)
        if j < len(days) and days[j] == d:
            grid[slices.index(c["slice"]), j] *= c["factor"]
    return grid
