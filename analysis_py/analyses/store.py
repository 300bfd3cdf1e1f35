"""Write-back of analysis results as governed tables (Parquet) and views over them.

Layout: ``$OPSMETRICS_WAREHOUSE_DIR/analysis/<table>/run_id=<id>.parquet`` — one file per run
and table, never rewritten. Why Parquet and not tables in the warehouse: the published
DuckDB file is read-only for readers and may be held open by the Postgres-wire server, while
appending a new file needs no lock. Each file is written under a temporary name and renamed
into place only after *every* table of the run has been written, so a failing run leaves no
partial results (only its ``runs`` row, with status ``failed`` and the error).

The layout itself (table schemas, folders, the views over them) is pandas-free and lives in
:mod:`analysis_py.warehouse.results`, which the server reads too.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd

from analysis_py.warehouse.results import SCHEMAS, analysis_dir


def new_run_id(spec_name: str) -> str:
    """Sortable, unique and readable: ``20250101T120000Z-<spec>-<hex>``."""
    now = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in spec_name)[:40]
    return f"{now}-{safe}-{secrets.token_hex(3)}"


def code_version() -> str:
    """Package version plus the git commit of the checkout, when there is one."""
    try:
        from importlib.metadata import version

        ver = version("opsmetrics")
    except Exception:
        ver = "unknown"
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except Exception:
        sha = ""
    return f"{ver}+g{sha}" if sha else ver


def _conform(name: str, df: pd.DataFrame, run_id: str, spec_name: str) -> pd.DataFrame:
    """Add run columns and order/complete the contract columns (extras kept at the end)."""
    df = df.copy()
    df["run_id"] = run_id
    df["spec_name"] = spec_name
    schema = SCHEMAS.get(name)
    if schema is None:
        front = ["run_id", "spec_name"]
        return df[front + [c for c in df.columns if c not in front]]
    for col, typ in schema.items():
        if col not in df:
            df[col] = pd.Series([None] * len(df), dtype=_pandas_dtype(typ))
    ordered = list(schema) + [c for c in df.columns if c not in schema]
    df = df[ordered]
    for col, typ in schema.items():
        df[col] = _cast(df[col], typ)
    return df


def _pandas_dtype(typ: str) -> str:
    return {
        "VARCHAR": "string",
        "DOUBLE": "float64",
        "BIGINT": "Int64",
        "INTEGER": "Int32",
        "BOOLEAN": "boolean",
        "TIMESTAMP": "datetime64[us]",
        "DATE": "datetime64[us]",
    }[typ]


def _cast(s: pd.Series, typ: str) -> pd.Series:
    if typ in ("TIMESTAMP", "DATE"):
        out = pd.to_datetime(s)
        if getattr(out.dt, "tz", None) is not None:
            out = out.dt.tz_convert("UTC").dt.tz_localize(None)
        out = out.astype("datetime64[us]")
        return out.dt.date if typ == "DATE" else out
    if typ == "VARCHAR":
        return s.astype("string")
    return s.astype(_pandas_dtype(typ))


def artifacts_dir(run_id: str, warehouse_dir: str | Path | None = None) -> Path:
    """Where a run's plots (PNG) live: ``analysis/_artifacts/run_id=<id>/``."""
    return analysis_dir(warehouse_dir) / "_artifacts" / f"run_id={run_id}"


def write_run(
    run: dict[str, Any],
    tables: dict[str, pd.DataFrame],
    warehouse_dir: str | Path | None = None,
    artifacts: dict[str, bytes] | None = None,
) -> dict[str, Path]:
    """Write one run's tables, then its ``runs`` row; all-or-nothing for the result tables.

    ``run`` holds the runs columns (run_id, spec_name, analysis, status, …). Result tables are
    written only when status is ``success``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    base = analysis_dir(warehouse_dir)
    run_id = run["run_id"]
    spec_name = run["spec_name"]
    pending: list[tuple[Path, Path]] = []
    to_write = dict(tables) if run.get("status") == "success" else {}
    to_write["runs"] = pd.DataFrame([run])
    try:
        for name, df in to_write.items():
            if df is None:
                continue
            if name != "runs" and len(df) == 0:
                continue
            folder = base / name
            folder.mkdir(parents=True, exist_ok=True)
            final = folder / f"run_id={run_id}.parquet"
            # not *.parquet: readers globbing the folder must never see a half-written file
            tmp = folder / f".tmp-{run_id}-{os.getpid()}.partial"
            frame = _conform(name, df, run_id, spec_name)
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)
            pending.append((tmp, final))
    except BaseException:
        for tmp, _ in pending:
            if tmp.is_file():
                tmp.unlink(missing_ok=True)
        raise
    if artifacts and run.get("status") == "success":
        final_dir = artifacts_dir(run_id, warehouse_dir)
        tmp_dir = final_dir.with_name(f".tmp-{final_dir.name}-{os.getpid()}")
        tmp_dir.mkdir(parents=True, exist_ok=True)
        for name, data in artifacts.items():
            (tmp_dir / (name if "." in name else f"{name}.png")).write_bytes(data)
        pending.append((tmp_dir, final_dir))
    # runs last: a reader that sees the run row can rely on the results being there.
    pending.sort(key=lambda p: p[1].parent.name == "runs" and p[1].suffix == ".parquet")
    written = {}
    for tmp, final in pending:
        os.replace(tmp, final)
        written[final.parent.name] = final
    return written


def run_row(**kw: Any) -> dict[str, Any]:
    """A ``runs`` row with JSON-encoded parameters/spec and timestamps in UTC."""
    row = {k: None for k in SCHEMAS["runs"]}
    row.update(kw)
    for key in ("parameters", "spec", "inputs", "assumptions", "limitations"):
        if row.get(key) is not None and not isinstance(row[key], str):
            row[key] = json.dumps(row[key], default=str, sort_keys=True)
    row.setdefault("created_at", dt.datetime.now(dt.UTC).replace(tzinfo=None))
    if row.get("created_at") is None:
        row["created_at"] = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return row


def read_table(name: str, warehouse_dir: str | Path | None = None) -> pd.DataFrame:
    """All runs' rows of one result table (empty frame with the contract columns if none)."""
    import duckdb

    base = analysis_dir(warehouse_dir)
    files = sorted((base / name).glob("*.parquet")) if (base / name).is_dir() else []
    if not files:
        return pd.DataFrame(columns=list(SCHEMAS.get(name, {})))
    con = duckdb.connect()
    try:
        path = str(base / name / "*.parquet").replace("'", "''")
        return con.sql(f"SELECT * FROM read_parquet('{path}', union_by_name = true)").df()
    finally:
        con.close()
