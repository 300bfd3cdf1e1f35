"""Run metric requests through MetricFlow (the oracle) in one process; print JSON results.

Executed by ``.venv-oracle/bin/python`` (MetricFlow is never imported by opsmetrics itself).
Usage: ``oracle_runner.py PROJECT_DIR PROFILES_DIR REQUESTS.json OUT.json [--explain]``.
Each request is a dict with MetricFlow's query parameters; each result holds ``columns``,
``rows`` (values made JSON-safe), ``sql`` and ``seconds``, or ``error``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import pathlib
import sys
import time


def _safe(v):
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat(sep=" ") if isinstance(v, dt.datetime) else v.isoformat()
    return v


def main() -> None:
    project, profiles, req_path, out_path = (pathlib.Path(a) for a in sys.argv[1:5])
    explain_only = "--explain" in sys.argv
    from dbt_metricflow.cli.cli_configuration import CLIConfiguration
    from metricflow.engine.metricflow_engine import MetricFlowQueryRequest

    cfg = CLIConfiguration()
    cfg.setup(dbt_profiles_path=profiles, dbt_project_path=project, configure_file_logging=False)
    mf = cfg.mf
    results = []
    for req in json.loads(req_path.read_text()):
        t0 = time.perf_counter()
        try:
            request = MetricFlowQueryRequest.create(
                saved_query_name=req.get("saved_query"),
                metric_names=req.get("metrics"),
                group_by_names=req.get("group_by"),
                limit=req.get("limit"),
                time_constraint_start=dt.datetime.fromisoformat(req["start_time"])
                if req.get("start_time")
                else None,
                time_constraint_end=dt.datetime.fromisoformat(req["end_time"])
                if req.get("end_time")
                else None,
                where_constraints=req.get("where"),
                order_by_names=req.get("order_by"),
            )
            explain = mf.explain(mf_request=request)
            sql = explain.sql_statement.without_descriptions.sql
            t_compile = time.perf_counter() - t0
            if explain_only:
                results.append({"sql": sql, "compile_seconds": t_compile})
                continue
            res = mf.query(mf_request=request)
            df = res.result_df
            results.append(
                {
                    "columns": list(df.column_names),
                    "rows": [[_safe(v) for v in row] for row in df.rows],
                    "sql": sql,
                    "compile_seconds": t_compile,
                    "seconds": time.perf_counter() - t0,
                }
            )
        except Exception as exc:  # the oracle's refusal is itself a fact to compare
            results.append({"error": f"{type(exc).__name__}: {exc}"[:2000]})
    out_path.write_text(json.dumps(results, default=str))


if __name__ == "__main__":
    main()
