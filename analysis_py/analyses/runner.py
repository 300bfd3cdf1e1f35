"""Run specs, each in its own process when there are several; results written back per run.

A spec either succeeds — its result tables, plots and a ``runs`` row with status
``success`` are written — or fails, in which case only its ``runs`` row is written (status
``failed`` and the error message) and nothing else. Other specs carry on either way. Specs
are validated before anything runs, so a typo fails fast without running the rest.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import secrets
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from analysis_py.analyses import store
from analysis_py.analyses.spec import Spec, module_for
from analysis_py.errors import OpsMetricsError


@dataclass(frozen=True)
class Outcome:
    spec_name: str
    analysis: str
    status: str
    run_id: str
    seconds: float
    finding: str | None = None
    error: str | None = None
    rows: dict[str, int] | None = None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _render_plots(res) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = {}
    for name, fn in res.plot_fns.items():
        try:
            fig = fn()
        except Exception:
            continue
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        plt.close(fig)
        out[f"{name}.png"] = buf.getvalue()
    return out


def run_one(
    spec: Spec,
    *,
    duckdb_path: str | None = None,
    project_dir: str | None = None,
    warehouse_dir: str | None = None,
    batch_id: str | None = None,
    write: bool = True,
    inner_jobs: int | None = None,
    inputs=None,
) -> Outcome:
    """Run one spec end to end (open inputs, fit, render plots, write back).

    ``inputs``: already-open Inputs to use (and leave open), e.g. on Spark (analyses/spark_inputs.py).
    """
    from analysis_py.analyses.inputs import Inputs

    run_id = store.new_run_id(spec.name)
    started = _now()
    t0 = time.perf_counter()
    version = None
    if inner_jobs is not None and "n_jobs" in spec.parameters and spec.parameters["n_jobs"] is None:
        spec = replace(spec, parameters={**spec.parameters, "n_jobs": inner_jobs})
    base = {
        "run_id": run_id,
        "spec_name": spec.name,
        "analysis": spec.analysis,
        "started_at": started,
        "parameters": spec.parameters,
        "code_version": store.code_version(),
        "batch_id": batch_id,
        "owner": spec.owner,
        "spec": spec.to_dict(),
        "inputs": {"marts": spec.marts(), "input": spec.input},
    }
    try:
        shared = inputs is not None
        if not shared:
            inputs = Inputs.open(duckdb_path, project_dir)
        version = inputs.version
        base["inputs"] = {"marts": inputs.spec_marts(spec), "input": spec.input}
        try:
            res = module_for(spec.analysis).run(inputs, spec)
        finally:
            if not shared:
                with contextlib.suppress(Exception):
                    inputs.con.disconnect()
        tables = dict(res.tables)
        tables["measures"] = res.measures_frame()
        files = {**_render_plots(res), **res.files} if write else {}
        row = store.run_row(
            **base,
            status="success",
            finished_at=_now(),
            input_version=version,
            finding=res.finding,
            title=res.title,
            headline=res.headline,
            recommendation=res.recommendation,
            method=res.method,
            assumptions=res.assumptions,
            limitations=res.limitations,
            duration_s=time.perf_counter() - t0,
        )
        if write:
            store.write_run(row, tables, warehouse_dir, artifacts=files)
        return Outcome(
            spec.name,
            spec.analysis,
            "success",
            run_id,
            time.perf_counter() - t0,
            finding=res.finding,
            rows={k: len(v) for k, v in tables.items() if v is not None},
        )
    except Exception as exc:
        if isinstance(exc, OpsMetricsError):
            msg = exc.message + (f"\nHint: {exc.hint}" if exc.hint else "")
        else:
            # an unexpected error: its message in the run, its traceback in a log file only
            msg = f"unexpected error: {type(exc).__name__}: {exc}"
            if write and warehouse_dir is not None:
                log = Path(warehouse_dir) / "logs" / f"analyze-{run_id}.log"
                with contextlib.suppress(OSError):
                    log.parent.mkdir(parents=True, exist_ok=True)
                    log.write_text("".join(traceback.format_exception(exc)))
                    msg += f" (traceback in {log})"
        row = store.run_row(
            **base,
            status="failed",
            error=msg,
            finished_at=_now(),
            input_version=version,
            duration_s=time.perf_counter() - t0,
        )
        if write:
            with contextlib.suppress(Exception):
                store.write_run(row, {}, warehouse_dir)
        return Outcome(
            spec.name, spec.analysis, "failed", run_id, time.perf_counter() - t0, error=msg
        )


def run_specs(
    specs: list[Spec],
    *,
    duckdb_path: str | Path | None = None,
    project_dir: str | Path | None = None,
    warehouse_dir: str | Path | None = None,
    jobs: int | None = None,
    write: bool = True,
    on_done: Callable[[Outcome], Any] | None = None,
) -> list[Outcome]:
    """Run specs, in parallel processes when there are several (and cores to use)."""
    from analysis_py.analyses.inputs import published_warehouse

    if duckdb_path is None:
        duckdb_path = published_warehouse(warehouse_dir)
    if warehouse_dir is None:
        warehouse_dir = Path(duckdb_path).parent
    batch_id = f"{_now():%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    jobs = jobs or min(len(specs), os.cpu_count() or 1, 4)
    kw = {
        "duckdb_path": str(duckdb_path),
        "project_dir": str(project_dir) if project_dir else None,
        "warehouse_dir": str(warehouse_dir),
        "batch_id": batch_id,
        "write": write,
    }
    outcomes: list[Outcome] = []
    if jobs <= 1 or len(specs) <= 1:
        for s in specs:
            o = run_one(s, **kw)
            outcomes.append(o)
            if on_done:
                on_done(o)
        return outcomes
    # Heavy specs first so the pool is not left waiting on one long tail.
    weight = {"forecast": 0, "survival": 1, "drivers": 2, "impact": 3, "anomalies": 4}
    ordered = sorted(specs, key=lambda s: weight.get(s.analysis, 9))
    with ProcessPoolExecutor(jobs) as ex:
        futs = {ex.submit(run_one, s, inner_jobs=1, **kw): s for s in ordered}
        for fut in as_completed(futs):
            s = futs[fut]
            try:
                o = fut.result()
            except Exception as exc:  # a crashed worker process
                o = Outcome(s.name, s.analysis, "failed", "", 0.0, error=f"worker crashed: {exc}")
            outcomes.append(o)
            if on_done:
                on_done(o)
    order = {s.name: i for i, s in enumerate(specs)}
    return sorted(outcomes, key=lambda o: order.get(o.spec_name, 0))
