"""The main job behind ``opsmetrics run`` (and the Quickstart's ``make run``)."""

from __future__ import annotations

import json
from collections.abc import Callable

from analysis_py.config import Paths
from analysis_py.progress import progress


def _raw_matches(paths: Paths, scale: float, seed: int) -> bool:
    gt = paths.ground_truth_path
    if not gt.is_file():
        return False
    meta = json.loads(gt.read_text())
    return float(meta.get("scale", -1)) == float(scale) and int(meta.get("seed", -1)) == int(seed)


def main_job(
    paths: Paths,
    *,
    scale: float,
    seed: int,
    regenerate: bool = False,
    analyses: bool = True,
    quiet: bool = False,
    echo: Callable[[str], None] = print,
) -> dict:
    """Run every stage and return a summary of where the results are."""
    from analysis_py.semantic.exports import export_step
    from analysis_py.semantic.rollups import rollup_step
    from analysis_py.warehouse.build import build

    summary: dict = {}
    if regenerate or not _raw_matches(paths, scale, seed):
        from analysis_py.generate import generate

        echo(f"Generating raw data (scale {scale}, seed {seed}) into {paths.data_dir}")
        generate(paths.data_dir, scale=scale, seed=seed, progress=not quiet)
    else:
        echo(
            f"Raw data for scale {scale}, seed {seed} already in {paths.data_dir} (use --regenerate to redo)"
        )
    summary["raw data"] = str(paths.data_dir)

    with progress("dbt build", quiet=quiet) as p:
        result = build(
            paths, on_progress=p.update, on_step=p.step, after_build=[export_step, rollup_step]
        )
    pub = result.published
    echo(f"Published build {pub.build_id} in {result.seconds:.0f}s")
    summary["warehouse"] = str(paths.published_path)
    summary["dbt docs"] = str(pub.target_path / "static_index.html")

    echo("")
    echo(sample_tables(paths))
    echo("")
    echo(sample_metrics(paths))
    summary["query"] = (
        "opsmetrics query --metrics cases_opened,stp_rate --group-by metric_time__month"
    )
    if not analyses:
        return summary

    echo("")
    outcomes = run_analyses(paths, quiet=quiet, echo=echo)
    failed = [o for o in outcomes if o.status != "success"]
    summary["analyses"] = (
        f"{len(outcomes) - len(failed)}/{len(outcomes)} specs succeeded; results in {paths.warehouse_dir / 'analysis'}"
    )
    from analysis_py.errors import ConfigError
    from analysis_py.report import pdf, write_report

    formats = ["html", "md", "tex"]
    try:
        pdf.browser()
        formats.append("pdf")
    except ConfigError as exc:  # the PDF needs Chromium; the other formats need nothing
        summary["report (pdf)"] = f"not written: {exc.message}"
    report = write_report(
        paths.project_dir / "reports",
        warehouse_dir=paths.warehouse_dir,
        formats=tuple(formats),
        project_dir=paths.project_dir,
    )
    summary["report"] = str(report)
    if failed:
        from analysis_py.errors import AnalysisError

        names = ", ".join(o.spec_name for o in failed)
        raise AnalysisError(
            f"{len(failed)} analysis spec(s) failed: {names}",
            hint=f"the report with the others is at {report}; rerun one with `opsmetrics analyze specs/<spec>.yml`",
        )
    return summary


def run_analyses(paths: Paths, *, quiet: bool, echo: Callable[[str], None]) -> list:
    """Run every shipped spec in specs/ against the published warehouse."""
    from analysis_py.analyses import runner
    from analysis_py.analyses import spec as spec_mod
    from analysis_py.analyses.inputs import published_warehouse

    specs = spec_mod.load(None)
    db = published_warehouse(paths.warehouse_dir)
    with progress("analyze", quiet=quiet) as p:
        p.update(0, len(specs))
        done = 0

        def on_done(o) -> None:
            nonlocal done
            done += 1
            mark = "ok" if o.status == "success" else "FAILED"
            p.step(f"{o.spec_name} ({o.analysis}) {mark} in {o.seconds:.1f}s")
            p.update(done, len(specs), o.spec_name)

        outcomes = runner.run_specs(
            specs,
            duckdb_path=db,
            project_dir=paths.project_dir,
            warehouse_dir=paths.warehouse_dir,
            write=True,
            on_done=on_done,
        )
    for o in outcomes:
        if o.status == "success" and o.finding:
            echo(f"  {o.spec_name}: {o.finding.split('. ')[0]}.")
    return outcomes


def sample_tables(paths: Paths) -> str:
    """Row counts of the public marts and a few rows of one, from the published warehouse."""
    import duckdb

    con = duckdb.connect(str(paths.published_path), read_only=True)
    try:
        rows = con.execute(
            """
            select table_name, estimated_size
            from duckdb_tables()
            where schema_name = 'main' and (table_name like 'fct\\_%' escape '\\' or table_name like 'dim\\_%' escape '\\')
            order by table_name
            """
        ).fetchall()
        lines = ["Governed tables (published warehouse):"]
        for name, _ in rows:
            n = con.execute(f'select count(*) from main."{name}"').fetchall()[0][0]
            lines.append(f"  {name:<28} {n:>12,} rows")
        if any(name == "fct_cases" for name, _ in rows):
            lines.append("")
            lines.append("Sample of fct_cases:")
            lines.append(
                str(
                    con.sql(
                        "select case_id, client_id, product, channel, priority, opened_at, "
                        "round(business_hours_to_resolve, 1) as bh_to_resolve, is_sla_breached "
                        "from main.fct_cases order by case_id limit 5"
                    )
                )
            )
        return "\n".join(lines)
    finally:
        con.close()


def sample_metrics(paths: Paths) -> str:
    """A first metric query through the semantic layer."""
    from analysis_py.semantic import SemanticLayer

    sl = SemanticLayer.from_dbt(paths.project_dir)
    q = sl.query(
        metrics=["cases_opened", "stp_rate"],
        group_by=["metric_time__quarter"],
        order_by=["metric_time__quarter"],
    )
    df = q.to_pandas()
    return (
        "Metrics by quarter (opsmetrics query --metrics cases_opened,stp_rate --group-by metric_time__quarter):\n"
        + df.to_string(index=False)
    )
