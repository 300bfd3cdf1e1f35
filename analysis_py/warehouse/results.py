"""Where analysis results live in the warehouse folder and how they are read, without pandas.

Layout: ``<warehouse>/analysis/<table>/run_id=<id>.parquet``, one file per run and table
(written by :mod:`analysis_py.analyses.store`). :func:`register_views` exposes them as schema
``analysis`` on any DuckDB connection (``analysis.runs``, ``analysis.effects``, …), which is
how ``opsmetrics sql``, the server and the report read them.
"""

from __future__ import annotations

from pathlib import Path

#: Column schemas (DuckDB types). The first columns of each are the contract every result table keeps.
SCHEMAS: dict[str, dict[str, str]] = {
    "runs": {
        "run_id": "VARCHAR",
        "spec_name": "VARCHAR",
        "analysis": "VARCHAR",
        "status": "VARCHAR",
        "error": "VARCHAR",
        "started_at": "TIMESTAMP",
        "finished_at": "TIMESTAMP",
        "parameters": "VARCHAR",
        "input_version": "VARCHAR",
        "code_version": "VARCHAR",
        "created_at": "TIMESTAMP",
        "batch_id": "VARCHAR",
        "owner": "VARCHAR",
        "spec": "VARCHAR",
        "inputs": "VARCHAR",
        "finding": "VARCHAR",
        "title": "VARCHAR",
        "method": "VARCHAR",
        "assumptions": "VARCHAR",
        "limitations": "VARCHAR",
        "duration_s": "DOUBLE",
        "headline": "VARCHAR",
        "recommendation": "VARCHAR",
    },
    "effects": {
        "run_id": "VARCHAR",
        "spec_name": "VARCHAR",
        "factor": "VARCHAR",
        "level": "VARCHAR",
        "reference_level": "VARCHAR",
        "estimate": "DOUBLE",
        "std_error": "DOUBLE",
        "ci_low": "DOUBLE",
        "ci_high": "DOUBLE",
        "p_value": "DOUBLE",
        "scale": "VARCHAR",
        "method": "VARCHAR",
        "outcome": "VARCHAR",
        "n_obs": "BIGINT",
        "p_value_adjusted": "DOUBLE",
    },
    "anomalies": {
        "run_id": "VARCHAR",
        "spec_name": "VARCHAR",
        "metric": "VARCHAR",
        "slice": "VARCHAR",
        "date": "DATE",
        "value": "DOUBLE",
        "expected": "DOUBLE",
        "score": "DOUBLE",
        "kind": "VARCHAR",
        "method": "VARCHAR",
        "excess": "DOUBLE",
        "volume": "DOUBLE",
        "context": "VARCHAR",
        "mode": "VARCHAR",
    },
    "forecasts": {
        "run_id": "VARCHAR",
        "spec_name": "VARCHAR",
        "metric": "VARCHAR",
        "slice": "VARCHAR",
        "date": "DATE",
        "forecast": "DOUBLE",
        "lower_80": "DOUBLE",
        "upper_80": "DOUBLE",
        "lower_95": "DOUBLE",
        "upper_95": "DOUBLE",
        "model": "VARCHAR",
        "median": "DOUBLE",
        "period_start": "TIMESTAMP",
    },
    "backtest_scores": {
        "run_id": "VARCHAR",
        "spec_name": "VARCHAR",
        "metric": "VARCHAR",
        "slice": "VARCHAR",
        "model": "VARCHAR",
        "mase": "DOUBLE",
        "mase_m": "INTEGER",
        "smape": "DOUBLE",
        "coverage_80": "DOUBLE",
        "coverage_95": "DOUBLE",
        "is_chosen": "BOOLEAN",
        "n_origins": "INTEGER",
        "horizon": "INTEGER",
        "window": "VARCHAR",
        "pinball": "DOUBLE",
    },
    "staffing": {
        "run_id": "VARCHAR",
        "spec_name": "VARCHAR",
        "metric": "VARCHAR",
        "slice": "VARCHAR",
        "date": "DATE",
        "cases": "DOUBLE",
        "handle_minutes": "DOUBLE",
        "workload_hours": "DOUBLE",
        "staffed_hours": "DOUBLE",
        "peak_agents": "INTEGER",
        "service_level_at_peak": "DOUBLE",
        "occupancy": "DOUBLE",
        "fte": "DOUBLE",
    },
    "model_scores": {
        "run_id": "VARCHAR",
        "spec_name": "VARCHAR",
        "model": "VARCHAR",
        "split": "VARCHAR",
        "metric": "VARCHAR",
        "value": "DOUBLE",
        "ci_low": "DOUBLE",
        "ci_high": "DOUBLE",
        "n_obs": "BIGINT",
        "is_chosen": "BOOLEAN",
    },
    "predictions": {
        "run_id": "VARCHAR",
        "spec_name": "VARCHAR",
        "entity_id": "VARCHAR",
        "as_of_date": "DATE",
        "probability": "DOUBLE",
        "flagged": "BOOLEAN",
        "threshold": "DOUBLE",
        "model": "VARCHAR",
        "model_version": "VARCHAR",
    },
    "measures": {
        "run_id": "VARCHAR",
        "spec_name": "VARCHAR",
        "measure": "VARCHAR",
        "value": "DOUBLE",
        "kind": "VARCHAR",
        "unit": "VARCHAR",
        "note": "VARCHAR",
    },
}


def analysis_dir(warehouse_dir: str | Path | None = None) -> Path:
    if warehouse_dir is None:
        from analysis_py.config import resolve_paths

        warehouse_dir = resolve_paths().warehouse_dir
    return Path(warehouse_dir) / "analysis"


def _empty_select(schema: dict[str, str]) -> str:
    cols = ", ".join(f"CAST(NULL AS {typ}) AS {col}" for col, typ in schema.items())
    return f"SELECT {cols} WHERE false"


def register_views(con, warehouse_dir: str | Path | None = None) -> list[str]:
    """Create views ``analysis.<table>`` over the result files on a DuckDB connection.

    Works on any connection whose default catalog is writable (an in-memory connection with
    the warehouse attached, as the server and ``opsmetrics sql`` use). On a read-only file
    connection, schemas cannot be created: the views are created as temporary views named
    ``analysis_<table>`` instead. Returns the qualified view names.
    """
    base = analysis_dir(warehouse_dir)
    found = {p.name for p in base.iterdir() if p.is_dir()} if base.is_dir() else set()
    names = sorted(set(SCHEMAS) | found)
    try:
        con.execute("CREATE SCHEMA IF NOT EXISTS analysis")
        qualify = "analysis.{}"
        create = "CREATE OR REPLACE VIEW"
    except Exception:
        qualify = "analysis_{}"
        create = "CREATE OR REPLACE TEMP VIEW"
    out = []
    for name in names:
        glob = base / name / "*.parquet"
        has_files = any((base / name).glob("*.parquet")) if (base / name).is_dir() else False
        if has_files:
            path = str(glob).replace("'", "''")
            body = f"SELECT * FROM read_parquet('{path}', union_by_name = true)"
        elif name in SCHEMAS:
            body = _empty_select(SCHEMAS[name])
        else:
            continue
        view = qualify.format(name)
        con.execute(f"{create} {view} AS {body}")
        out.append(view)
    return out
