"""``opsmetrics build``."""

from __future__ import annotations

import click

from analysis_py.commands import options


@click.command()
@click.option(
    "--target",
    "-t",
    default="dev",
    show_default=True,
    help="dbt target from profiles/profiles.yml.",
)
@click.option(
    "--select", "-s", multiple=True, help="dbt selection (repeatable); default: the whole project."
)
@click.option("--exclude", multiple=True, help="dbt exclusion (repeatable).")
@options.project_dir
@click.option("--no-docs", is_flag=True, help="Skip `dbt docs generate`.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def build(target, select, exclude, project_dir, no_docs, quiet):
    """Run dbt build into a new DuckDB file and publish it atomically.

    A failed build leaves the published warehouse as it was.
    """
    from analysis_py.config import resolve_paths
    from analysis_py.progress import progress
    from analysis_py.semantic.exports import export_step
    from analysis_py.semantic.rollups import rollup_step
    from analysis_py.warehouse.build import build as do_build

    paths = resolve_paths(project_dir=project_dir)
    from analysis_py.warehouse import spark_target as spark

    if spark.is_spark_target(paths, target):
        return _build_spark(paths, target, select, exclude, quiet)
    with progress("dbt build", quiet=quiet) as p:
        result = do_build(
            paths,
            target=target,
            select=select,
            exclude=exclude,
            docs=not no_docs,
            on_progress=p.update,
            on_step=p.step,
            after_build=[export_step, rollup_step],
        )
    pub = result.published
    summary = _status_summary(result.run)
    click.echo(f"Published build {pub.build_id} in {result.seconds:.1f}s ({summary})")
    click.echo(f"  warehouse: {paths.published_path} -> {pub.duckdb_path.name}")
    docs = pub.target_path / "static_index.html"
    if docs.is_file():
        click.echo(f"  dbt docs:  {docs}")


def _build_spark(paths, target, select, exclude, quiet):
    """A Spark target builds into its own publication: a folder of Parquet tables for a local
    session, a schema per build on a cluster (docs/spark.md)."""
    from analysis_py.progress import progress
    from analysis_py.warehouse import spark_cluster_build as cluster
    from analysis_py.warehouse import spark_target as spark

    on_cluster = spark.is_cluster_target(paths, target)
    what = "Spark cluster" if on_cluster else "Spark"
    with progress(f"dbt build ({what})", quiet=quiet) as p:
        result = (cluster.build if on_cluster else spark.build)(
            paths,
            target=target,
            select=select,
            exclude=exclude,
            on_progress=p.update,
            on_step=p.step,
        )
    pub = result.published
    summary = _status_summary(result.run)
    click.echo(f"Published {what} build {pub.build_id} in {result.seconds:.1f}s ({summary})")
    if on_cluster:
        kept = f", {result.kept} kept from the previous build" if result.kept else ""
        click.echo(f"  schema:    {pub.schema} ({len(pub.relations)} relations{kept})")
        click.echo(f"  record:    {cluster.root(paths) / cluster.CURRENT}")
    else:
        click.echo(
            f"  tables:    {len(pub.tables)} Parquet tables under {pub.build_dir / 'warehouse'}"
        )
        click.echo(f"  record:    {spark.spark_root(paths) / spark.CURRENT}")


def _status_summary(run) -> str:
    """dbt's node results counted by status: "3 pass, 200 success"."""
    counts: dict[str, int] = {}
    for r in run.results:
        counts[r.status] = counts.get(r.status, 0) + 1
    return ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
