"""``opsmetrics spark up | down | status``: a local Spark cluster for the warehouse."""

from __future__ import annotations

import click

from analysis_py.commands import options


@click.group("spark")
def spark():
    """A local Spark cluster (master, workers, Thrift and Spark Connect), loopback only."""


def _paths(warehouse_dir, project_dir):
    from analysis_py.config import resolve_paths

    return resolve_paths(project_dir=project_dir, warehouse_dir=warehouse_dir)


@spark.command("up")
@click.option("--workers", type=click.IntRange(1, 8), default=2, show_default=True)
@click.option("--worker-memory", default="1g", show_default=True, help="Memory of each worker.")
@click.option("--master-port", type=click.IntRange(1, 65535), default=17077, show_default=True)
@click.option("--thrift-port", type=click.IntRange(1, 65535), default=10001, show_default=True)
@click.option("--connect-port", type=click.IntRange(1, 65535), default=15002, show_default=True)
@click.option("--ui-port", type=click.IntRange(1, 65535), default=18080, show_default=True)
@options.warehouse_dir
@options.project_dir
def up(
    workers,
    worker_memory,
    master_port,
    thrift_port,
    connect_port,
    ui_port,
    warehouse_dir,
    project_dir,
):
    """Start the cluster; it runs until `opsmetrics spark down` (docs/spark.md)."""
    from analysis_py.warehouse import spark_cluster

    paths = _paths(warehouse_dir, project_dir)
    ports = {
        "master": master_port,
        "master_ui": ui_port,
        "thrift": thrift_port,
        "connect": connect_port,
    }
    c = spark_cluster.up(
        paths.warehouse_dir,
        workers=workers,
        worker_memory=worker_memory,
        ports=ports,
        step=lambda m: click.echo(f"• {m}", err=True),
    )
    click.echo(f"master   {c.master_url}")
    click.echo(f"thrift   {c.thrift_url}")
    click.echo(f"connect  {c.connect_url}")
    click.echo(f"files    {c.root}")


@spark.command("down")
@options.warehouse_dir
@options.project_dir
def down(warehouse_dir, project_dir):
    """Stop the cluster."""
    from analysis_py.warehouse import spark_cluster

    stopped = spark_cluster.down(_paths(warehouse_dir, project_dir).warehouse_dir)
    click.echo(f"stopped: {', '.join(stopped)}" if stopped else "no Spark cluster was running")


@spark.command("status")
@options.warehouse_dir
@options.project_dir
def status(warehouse_dir, project_dir):
    """Which processes of the cluster run, and the published build; exit code 1 when not
    all processes run."""
    from analysis_py.warehouse import spark_cluster, spark_cluster_build

    paths = _paths(warehouse_dir, project_dir)
    wh = paths.warehouse_dir
    state = spark_cluster.status(wh)
    if not state:
        click.echo("no Spark cluster started for this warehouse")
        raise SystemExit(1)
    c = spark_cluster.read(wh)
    for name, alive in state.items():
        click.echo(f"{name:<8} {'running' if alive else 'stopped'}")
    click.echo(f"thrift   {c.thrift_url}\nconnect  {c.connect_url}")
    record = spark_cluster_build.root(paths) / spark_cluster_build.CURRENT
    if record.is_file():
        pub = spark_cluster_build.current(paths)
        click.echo(f"build    {pub.schema} (published {pub.published_at})")
    if not all(state.values()):
        raise SystemExit(1)
