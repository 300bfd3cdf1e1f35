"""``opsmetrics analyze`` and ``opsmetrics report``: thin wrappers over the analysis package."""

from __future__ import annotations

import click

from analysis_py.commands import options


@click.command()
@click.argument("specs", nargs=-1, type=click.Path())
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(1),
    default=None,
    help="Parallel processes (default: cores, ≤ 4).",
)
@options.warehouse_dir
@options.project_dir
@click.option(
    "--database",
    type=click.Path(),
    default=None,
    help="DuckDB file to read (default: the published build, else the file the project's "
    "dbt profile writes). Results go beside it unless --warehouse-dir is given.",
)
@click.option("--no-write", is_flag=True, help="Run and print, but write no results.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar; print the summary only.")
@click.option(
    "--target",
    default=None,
    help="dbt target whose published build to read; a spark target runs on Spark (docs/spark.md).",
)
def analyze(specs, jobs, warehouse_dir, project_dir, database, no_write, quiet, target):
    """Run analysis SPECS (YAML files or folders; default: every spec in specs/).

    Results are written to <warehouse>/analysis/<table>/run_id=<id>.parquet and show up as
    the analysis.* views in `opsmetrics sql` and the server. A failing spec is reported and
    the others still run; the exit code is 1 if any failed.
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from analysis_py.analyses import runner
    from analysis_py.analyses import spec as spec_mod
    from analysis_py.config import resolve_paths

    loaded = spec_mod.load(list(specs) or None)
    if not loaded:
        raise spec_mod.SpecError("no specs found", hint="pass spec files or add *.yml to specs/")
    paths = resolve_paths(project_dir=project_dir, warehouse_dir=warehouse_dir)
    from analysis_py.warehouse.spark_target import check_target, is_spark_target

    check_target(paths, target)
    on_spark = is_spark_target(paths, target)
    db = None if on_spark else _database(paths, database, target)
    results_dir = paths.warehouse_dir
    if db is not None and warehouse_dir is None and db != published_path(paths):
        results_dir = db.parent  # another project's warehouse: its results live beside it
    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]analyze"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} specs"),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=console,
        disable=quiet,
        transient=True,
    ) as progress:
        task = progress.add_task("", total=len(loaded))

        def done(o):
            mark = "✓" if o.status == "success" else "✗"
            err = f": {(o.error or '').splitlines()[0]}" if o.status != "success" else ""
            progress.console.print(f"{mark} {o.spec_name} ({o.analysis}) {o.seconds:.1f}s{err}")
            progress.update(task, advance=1, description=o.spec_name)

        if on_spark:
            from analysis_py.analyses import spark_inputs as spark_analyses

            outcomes = spark_analyses.run_specs(
                loaded, paths, write=not no_write, on_done=done, target=target
            )
        else:
            outcomes = runner.run_specs(
                loaded,
                duckdb_path=db,
                project_dir=paths.project_dir,
                warehouse_dir=results_dir,
                jobs=jobs,
                write=not no_write,
                on_done=done,
            )
    out = Console()
    table = Table(title="analysis runs", show_lines=False)
    for col in ("spec", "analysis", "status", "seconds", "finding / error"):
        table.add_column(col, overflow="fold")
    for o in outcomes:
        text = o.finding if o.status == "success" else (o.error or "").splitlines()[0]
        text = (text or "").split(". ")[0][:160]
        style = None if o.status == "success" else "red"
        table.add_row(
            o.spec_name, o.analysis, o.status, f"{o.seconds:.1f}", text or "", style=style
        )
    out.print(table)
    if not no_write:
        out.print(f"results: {results_dir / 'analysis'}")
    failed = [o for o in outcomes if o.status != "success"]
    return 1 if failed else 0


def published_path(paths):
    from analysis_py.config import PUBLISHED_NAME

    return paths.warehouse_dir / PUBLISHED_NAME


def _database(paths, database, target):
    """``--database``, else the published build, else the DuckDB file of the project's profile."""
    from pathlib import Path

    from analysis_py.analyses.inputs import published_warehouse
    from analysis_py.errors import ConfigError, DataNotFoundError
    from analysis_py.semantic.project import profile_duckdb_path

    if database:
        db = Path(database).expanduser().resolve()
        if not db.is_file():
            raise DataNotFoundError(
                f"--database {database}: no such DuckDB file",
                hint="pass the file your dbt profile writes (its `path:`), after `dbt build`",
            )
        return db
    try:
        return published_warehouse(paths.warehouse_dir)
    except DataNotFoundError as missing:
        try:
            prof = profile_duckdb_path(paths.project_dir, target)
        except ConfigError:
            raise missing from None  # no DuckDB profile either: say what was looked for first
        if prof.is_file():
            return prof.resolve()
        raise


@click.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(),
    default=None,
    help="Folder for the report (default: <project>/reports).",
)
@options.warehouse_dir
@click.option(
    "--spec", "spec_names", multiple=True, help="Only these specs (default: all with results)."
)
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=click.Choice(["html", "md", "tex", "pdf"]),
    default=("html",),
    show_default=True,
    help="Output format; repeat for several (html: one self-contained page; md: Markdown; tex: "
    "LaTeX for pdflatex; pdf: the page printed by headless Chromium; md and tex keep plots "
    "in report_files/).",
)
def report(out_dir, warehouse_dir, spec_names, formats):
    """Write the report of the latest analysis results: executive summary first."""
    from pathlib import Path

    from analysis_py.config import resolve_paths
    from analysis_py.report import write_report

    paths = resolve_paths(warehouse_dir=warehouse_dir)
    out = Path(out_dir) if out_dir else paths.project_dir / "reports"
    write_report(
        out,
        warehouse_dir=paths.warehouse_dir,
        specs=list(spec_names) or None,
        formats=tuple(dict.fromkeys(formats)),
        project_dir=paths.project_dir,
    )
    for fmt in dict.fromkeys(formats):
        click.echo(str(out / ("tex" if fmt == "tex" else "") / f"report.{fmt}"))
    return 0
