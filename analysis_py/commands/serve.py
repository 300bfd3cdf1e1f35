"""``opsmetrics serve``: the Postgres wire-protocol server over the published warehouse."""

from __future__ import annotations

import os
import sys

import click

from analysis_py.commands import options


@click.command("serve")
@click.option("--host", default=None, help="address to bind (default 127.0.0.1).")
@click.option(
    "--port",
    default=None,
    type=click.IntRange(0, 65535),
    help="port (default 5433; 0 = any free port).",
)
@options.serve_config
@click.option(
    "--demo",
    is_flag=True,
    help="one user 'demo' (password from $OPSMETRICS_PASSWORD): all public marts and metrics, no PII.",
)
@click.option(
    "--target",
    "-t",
    default=None,
    help="A Spark cluster target of the profile (spark_cluster): serve the metrics of the "
    "build published on it (docs/spark.md). Default: the published DuckDB build.",
)
@options.warehouse_dir
@options.project_dir
@click.option(
    "--hash-password",
    is_flag=True,
    help="print a SCRAM-SHA-256 verifier for a password read from stdin (or $OPSMETRICS_PASSWORD) and exit.",
)
def serve(host, port, config_path, demo, target, warehouse_dir, project_dir, hash_password):
    """Serve governed marts and metrics to psql, BI tools and drivers over the Postgres protocol."""
    from analysis_py.errors import ConfigError

    if hash_password:
        from analysis_py.serve.scram import make_verifier

        pw = os.environ.get("OPSMETRICS_PASSWORD")
        if pw is None:
            pw = (
                sys.stdin.readline().rstrip("\n")
                if not sys.stdin.isatty()
                else click.prompt("Password", hide_input=True, confirmation_prompt=True)
            )
        if not pw:
            raise ConfigError(
                "empty password", hint="pipe the password on stdin or set OPSMETRICS_PASSWORD"
            )
        click.echo(make_verifier(pw))
        return
    from analysis_py.serve.config import demo_config, load_config
    from analysis_py.serve.run import run_forever

    if demo == bool(config_path):
        raise ConfigError(
            "choose one of --demo or --config FILE",
            hint="--demo serves one user 'demo'; --config reads users and roles from YAML",
        )
    cfg = demo_config(os.environ.get("OPSMETRICS_PASSWORD")) if demo else load_config(config_path)
    if host:
        cfg.host = host
    if port is not None:
        cfg.port = port
    run_forever(cfg, warehouse_dir=warehouse_dir, project_dir=project_dir, target=target)
