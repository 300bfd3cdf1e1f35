"""``generate()``: every source system, in dependency order, written atomically.

Order matters because tables react to each other: incidents drop STP and add cases,
failed payments open Payments cases, anomaly cells avoid incident days.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from analysis_py.generate.anomalies import choose_cells
from analysis_py.generate.calendar import (
    BUSINESS_DAY_END_HOUR,
    BUSINESS_DAY_START_HOUR,
    COUNTRIES,
    DATA_END,
    DATA_START,
    UTC_OFFSET_MINUTES,
    calendar,
)
from analysis_py.generate.cases import make_cases
from analysis_py.generate.clients import make_clients
from analysis_py.generate.effects import resolve_effects
from analysis_py.generate.fx import make_fx
from analysis_py.generate.incidents import make_incidents
from analysis_py.generate.payments import make_payments
from analysis_py.generate.requests import iter_request_months
from analysis_py.generate.writer import (
    AtomicDir,
    BackgroundWriter,
    distinct_count,
    write_by_load,
    write_json,
)

GENERATOR_VERSION = 1

#: table -> (source folder, business key)
TABLES = {
    "clients": ("crm", "client_id"),
    "cases": ("crm", "case_id"),
    "case_events": ("crm", "event_id"),
    "csat_responses": ("survey_vendor", "response_id"),
    "payment_instructions": ("payments", "payment_id"),
    "fx_rates": ("market_data", None),
    "requests": ("platform", "request_id"),
    "incidents": ("platform", "incident_id"),
}


class _Chunked:
    """Writes a table one landing at a time and keeps the counts for ground_truth.json."""

    def __init__(self, folder: Path, sink):
        self.folder, self.sink = folder, sink
        self.raw_rows = self.files = 0

    def write(self, load_id: int, table) -> None:
        self.sink(self.folder / f"load_{load_id:04d}.parquet", table)
        self.raw_rows += table.num_rows
        self.files += 1

    def summary(self, distinct: int) -> dict[str, int]:
        return {"raw_rows": self.raw_rows, "distinct_keys": distinct, "files": self.files}


class _Steps:
    """Step lines on stderr (``[  3.2s] payments: 2,003,114 rows``); silent when quiet."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.t0 = time.perf_counter()
        self.console = None
        if enabled:
            from rich.console import Console

            self.console = Console(stderr=True, highlight=False)

    def __call__(self, msg: str) -> None:
        if self.console is not None:
            self.console.print(f"[dim][{time.perf_counter() - self.t0:6.1f}s][/dim] {msg}")


def generate(
    out_dir: str | Path | None = None,
    scale: float = 1.0,
    seed: int = 42,
    effects: Mapping | str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Generate the raw source data into ``out_dir`` and return the ground truth.

    ``out_dir`` defaults to :func:`analysis_py.config.resolve_paths` ``.data_dir``.
    ``effects`` overrides the planted effects (mapping or YAML path); it is validated
    before anything is written. The dataset replaces ``out_dir`` atomically on success.
    """
    from analysis_py.errors import ConfigError

    eff = resolve_effects(effects)  # raises EffectsError before any side effect
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not 0 < scale <= 100:
        raise ConfigError(f"scale must be a number in (0, 100], got {scale!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    if out_dir is None:
        from analysis_py.config import resolve_paths

        out_dir = resolve_paths().data_dir
    out = Path(out_dir)
    step = _Steps(progress)
    step(f"generating scale={scale} seed={seed} into {out}")

    rows: dict[str, dict[str, int]] = {}
    facts: dict[str, Any] = {}

    def land(tmp: Path, name: str, table) -> None:
        source, key = TABLES[name]
        folder = tmp / source / name
        per_load = write_by_load(folder, table, sink)
        rows[name] = {
            "raw_rows": table.num_rows,
            "distinct_keys": distinct_count(table, key) if key else table.num_rows,
            "files": len(per_load),
        }
        step(f"{source}.{name}: {table.num_rows:,} rows in {len(per_load)} files")

    with AtomicDir(out) as tmp, BackgroundWriter() as sink:
        calendar()
        clients, clients_table = make_clients(seed, scale)
        land(tmp, "clients", clients_table)
        windows, incidents_table, facts["incidents"] = make_incidents(seed, scale)
        land(tmp, "incidents", incidents_table)
        cells = choose_cells(seed, eff["anomalies"]["count"], windows)
        fx, fx_table = make_fx(seed)
        land(tmp, "fx_rates", fx_table)
        pay = _Chunked(tmp / "payments" / "payment_instructions", sink)
        failed, facts["payments"] = make_payments(
            seed, scale, eff, clients, windows, fx, cells, sink=pay.write
        )
        rows["payment_instructions"] = pay.summary(facts["payments"]["payments"])
        step(f"payments.payment_instructions: {pay.raw_rows:,} rows in {pay.files} files")
        case_tables, facts["cases"] = make_cases(seed, scale, eff, clients, windows, failed, cells)
        for name in ("cases", "case_events", "csat_responses"):
            land(tmp, name, case_tables[name])
        del case_tables

        req = _Chunked(tmp / "platform" / "requests", sink)
        req_facts = {"requests_non_test": 0, "errors_5xx_non_test": 0, "degraded_non_test": 0}
        for load_id, table, counters in iter_request_months(
            seed, scale, eff, clients, windows, cells, calendar().offset_s
        ):
            req.write(load_id, table)
            for k in req_facts:
                req_facts[k] += counters[k]
            step(f"platform.requests: load {load_id:02d} {table.num_rows:,} rows")
        rows["requests"] = req.summary(req.raw_rows)
        facts["requests"] = req_facts

        truth = {
            "generator_version": GENERATOR_VERSION,
            "seed": seed,
            "scale": scale,
            "period": {"start": DATA_START.isoformat(), "end_exclusive": DATA_END.isoformat()},
            "calendar": {
                c: {
                    "utc_offset_minutes": UTC_OFFSET_MINUTES[c],
                    "business_hours": [BUSINESS_DAY_START_HOUR, BUSINESS_DAY_END_HOUR],
                }
                for c in COUNTRIES
            },
            "effects": eff,
            "anomalies": {"count": len(cells), "cells": cells},
            "clients": {
                "clients": len(clients),
                "test_accounts": int(clients.is_test.sum()),
            },
            "row_counts": rows,
            "facts": facts,
        }
        write_json(tmp / "ground_truth.json", truth)
    step(f"done: {sum(r['raw_rows'] for r in rows.values()):,} rows written to {out}")
    return truth
