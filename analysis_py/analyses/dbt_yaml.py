"""dbt declarations of the analysis layer, generated from the code so they cannot drift.

``models/analysis/_analysis__sources.yml`` declares the result tables as dbt-duckdb external
sources over their Parquet globs (so ``dbt docs`` and BI catalogs show them, with column
docs); ``models/analysis/_analysis__exposures.yml`` declares one exposure per shipped spec,
depending on the marts it reads, so lineage shows mart → analysis. A test regenerates both
and compares with the checked-in files.

    python -m analysis_py.analyses.dbt_yaml   # rewrite both files
"""

from __future__ import annotations

from pathlib import Path

import yaml

from analysis_py.warehouse.results import SCHEMAS

DESCRIPTIONS = {
    "run_id": "Identifier of one execution of one spec (sortable: UTC time, spec name, random suffix).",
    "spec_name": "Name of the analysis spec (specs/<name>.yml) that produced the row.",
    "analysis": "Analysis type: profile, forecast, anomalies, drivers, survival, impact, compare or predict.",
    "status": "success or failed; a failed run has no rows in the result tables.",
    "error": "The error message of a failed run (naming the spec and field).",
    "headline": "The finding in one plain sentence for the people who decide.",
    "recommendation": "What the numbers suggest doing, with its size and how sure we are.",
    "started_at": "UTC time the run started.",
    "finished_at": "UTC time the run finished.",
    "parameters": "The spec's parameters after defaults were applied (JSON).",
    "input_version": "Build id of the warehouse read (current.json build_id, else the file name).",
    "code_version": "opsmetrics package version and git commit of the code that ran.",
    "created_at": "UTC time the row was written.",
    "batch_id": "Identifier of the `opsmetrics analyze` invocation that ran this spec.",
    "owner": "Owner named in the spec.",
    "spec": "The spec as given (JSON).",
    "inputs": "Governed inputs read: marts and metric/slice series (JSON).",
    "finding": "The finding in plain words, with numbers and uncertainty.",
    "title": "Title of the results.",
    "method": "How the result was computed.",
    "assumptions": "Assumptions the result rests on (JSON list).",
    "limitations": "Known limitations (JSON list).",
    "duration_s": "Wall time of the run in seconds.",
    "factor": "The factor (e.g. channel, priority) or process_change for an intervention.",
    "level": "The level compared with the reference (e.g. chat), or the method (its, did) for an intervention.",
    "reference_level": "The level the estimate is relative to (e.g. portal).",
    "estimate": "The effect on the stated scale (multiplier: chat takes estimate × as long as portal).",
    "std_error": "Standard error on the stated scale (delta method for ratios).",
    "ci_low": "Lower bound of the 95% confidence interval (percentile bootstrap for model scores).",
    "ci_high": "Upper bound of the 95% confidence interval (percentile bootstrap for model scores).",
    "p_value": "Two-sided p-value for no effect.",
    "scale": "multiplier, odds_ratio, hazard_ratio or difference.",
    "outcome": "The outcome column the effect acts on.",
    "n_obs": "Observations used.",
    "p_value_adjusted": "p-value adjusted for multiple comparisons (compare analyses).",
    "metric": "Metric name (semantic layer).",
    "slice": "Slice value (e.g. a product or rail); 'all' for the total.",
    "date": "Day (UTC); for weekly and monthly series the first day of the period.",
    "value": "The value: the day's observed value (anomalies) or the metric's value (model_scores).",
    "expected": "Value expected from trend, weekly pattern and calendar.",
    "score": "Normal-scale score of the departure: tail probability of a count or rate, robust z of a percentile (|score| ≥ threshold is flagged).",
    "kind": "spike, drop or level_shift.",
    "excess": "Business size: value − expected (a count's units; for a rate, times its denominator: the cases or payments affected).",
    "volume": "What the day's value rests on: the count itself, a rate's denominator, or the rows behind a percentile or average.",
    "context": "The day's calendar (weekend, public holidays, month-end) and the incidents overlapping it.",
    "mode": "retrospective (centred context) or trailing (scored against earlier days only).",
    "forecast": "Point forecast: the mean (what adds up over slices and days), reconciled to the total.",
    "median": "Median forecast: the typical period (below the mean for log models).",
    "period_start": "Start of the forecast period (the hour for hourly series).",
    "lower_80": "Lower bound of the 80% prediction interval.",
    "upper_80": "Upper bound of the 80% prediction interval.",
    "lower_95": "Lower bound of the 95% prediction interval.",
    "upper_95": "Upper bound of the 95% prediction interval.",
    "model": "Model: the forecasting model (chosen per series by backtest MASE) or the predict candidate.",
    "mase": "Mean absolute scaled error over the window's origins (scale: in-sample seasonal naive).",
    "mase_m": "Seasonal period m of the MASE scaling (7 = weekly on days; 1 = non-seasonal).",
    "window": "selection: the rolling backtest that chose the model; holdout: the final window, scored once.",
    "pinball": "Mean pinball loss over the 2.5/10/50/90/97.5% quantiles, scaled like MASE.",
    "cases": "Forecast volume of the day (the reconciled mean).",
    "handle_minutes": "Agent minutes per case: touches per case measured on the marts × minutes per touch.",
    "workload_hours": "cases × handle_minutes / 60.",
    "staffed_hours": "Agent-hours staffed: the Erlang-C agents of each hour, summed.",
    "peak_agents": "Agents needed in the busiest hour.",
    "service_level_at_peak": "Share answered within the target time in the busiest hour.",
    "occupancy": "workload_hours / staffed_hours.",
    "fte": "staffed_hours / (shift hours × (1 − shrinkage)).",
    "smape": "Symmetric mean absolute percentage error, percent (0–200).",
    "coverage_80": "Share of backtest actuals inside the 80% interval.",
    "coverage_95": "Share of backtest actuals inside the 95% interval.",
    "is_chosen": "True for the chosen model (forecast: per series by backtest MASE; predict: by validation log loss).",
    "split": "Period the score is measured on: validation (used for choices) or test (reported).",
    "entity_id": "Identifier of the scored row (e.g. case_id).",
    "as_of_date": "Date of the scored row (the spec's date_column).",
    "probability": "Predicted probability of the outcome.",
    "flagged": "probability ≥ threshold: the row should be acted on.",
    "threshold": "The flagging threshold, chosen on validation to maximise net value.",
    "model_version": "Hash of the fitted model artefact (model.pkl beside the run's plots).",
    "n_origins": "Backtest origins scored.",
    "horizon": "Forecast horizon in periods of the series' grain.",
    "measure": "Name of an intrinsic (fit, accuracy) or extrinsic (business) measure.",
    "unit": "Unit of the measure.",
    "note": "How the measure was derived.",
}

TABLE_DOCS = {
    "runs": "One row per execution of an analysis spec: status, parameters, input and code versions.",
    "effects": "One row per factor level or intervention: estimate with 95% CI on a stated scale.",
    "anomalies": "One row per flagged metric × slice × day, with its expected value and score.",
    "forecasts": "Forecasts (mean and median) with 80% and 95% intervals, per metric × slice × period.",
    "backtest_scores": "Selection-backtest and hold-out accuracy per metric × slice × candidate model.",
    "staffing": "Forecast runs with staffing: workload, Erlang-C agents and FTE per slice × day.",
    "measures": "Intrinsic (fit, accuracy) and extrinsic (business) headline numbers per run.",
    "model_scores": "Predict runs: every candidate model's scores on validation and test, with bootstrap CIs.",
    "predictions": "Predict runs: rows without an outcome yet, scored by the chosen model.",
}


def sources_dict() -> dict:
    tables = []
    for name, cols in SCHEMAS.items():
        tables.append(
            {
                "name": name,
                "description": TABLE_DOCS[name],
                "columns": [
                    {"name": c, "description": DESCRIPTIONS[c], "data_type": t.lower()}
                    for c, t in cols.items()
                ],
            }
        )
    return {
        "version": 2,
        "sources": [
            {
                "name": "analysis",
                "description": (
                    "Results written back by the analysis layer (`opsmetrics analyze`): append-only "
                    "Parquet files, one per run and table, under $OPSMETRICS_WAREHOUSE_DIR/analysis. "
                    "Generated by analysis_py/analyses/dbt_yaml.py; do not edit by hand."
                ),
                "meta": {
                    "external_location": "{{ env_var('OPSMETRICS_WAREHOUSE_DIR', 'warehouse') }}/analysis/{name}/*.parquet",
                    "owner": "ops-analytics",
                },
                "tables": tables,
            }
        ],
    }


def exposures_dict(specs) -> dict:
    exps = []
    for s in sorted(specs, key=lambda s: s.name):
        exps.append(
            {
                "name": s.name,
                "label": s.name.replace("_", " ").capitalize(),
                "type": "analysis",
                "maturity": "medium",
                "description": f"{s.description or ''} Spec: specs/{s.name}.yml ({s.analysis}); results in the analysis.* tables, run_id per execution.".strip(),
                "owner": {"name": s.owner or "ops-analytics"},
                "depends_on": s.depends_on(),
                "meta": {"analysis": s.analysis, "spec": f"specs/{s.name}.yml"},
            }
        )
    return {"version": 2, "exposures": exps}


HEADER = "# Generated by `python -m analysis_py.analyses.dbt_yaml` from the code and specs/*.yml.\n"


def render(d: dict) -> str:
    return HEADER + yaml.safe_dump(d, sort_keys=False, allow_unicode=True, width=100)


def write(project_dir: Path | None = None) -> list[Path]:
    from analysis_py.analyses import spec as spec_mod
    from analysis_py.config import find_project_dir

    proj = project_dir or find_project_dir()
    folder = proj / "models" / "analysis"
    folder.mkdir(parents=True, exist_ok=True)
    out = [folder / "_analysis__sources.yml", folder / "_analysis__exposures.yml"]
    out[0].write_text(render(sources_dict()))
    out[1].write_text(render(exposures_dict(spec_mod.load([proj / "specs"]))))
    return out


if __name__ == "__main__":
    for p in write():
        print(p)
