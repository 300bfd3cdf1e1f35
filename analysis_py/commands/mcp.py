"""``opsmetrics mcp``: the governed metrics as an MCP server, for AI agents."""

from __future__ import annotations

import ipaddress
import sys
import threading

import click

from analysis_py.commands import options
from analysis_py.errors import ConfigError


@click.command("mcp")
@click.option(
    "--transport",
    type=click.Choice(["stdio", "http"]),
    default="stdio",
    show_default=True,
    help="stdio (the client starts this command) or streamable HTTP.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="HTTP: address to bind.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8765, show_default=True, help="HTTP: port."
)
@options.serve_config
@options.as_user
@options.warehouse_dir
@options.project_dir
@click.option(
    "--new-token",
    is_flag=True,
    help="Print a new bearer token and the hash a config user carries for it, and exit.",
)
def mcp(transport, host, port, config_path, as_user, warehouse_dir, project_dir, new_token):
    """Serve metrics, saved queries, analyses and marts to AI agents (Model Context Protocol).

    \b
    Tools have dbt-mcp's names and arguments (list_metrics, get_dimensions, query_metrics, …),
    answered under the same grants, masking and row policies as `opsmetrics serve`.
    stdio:  opsmetrics mcp [--config serve.yml --as USER]
    HTTP:   opsmetrics mcp --transport http --config serve.yml   (bearer tokens per user)
            OPSMETRICS_MCP_TOKEN=… opsmetrics mcp --transport http   (the local user)
    """
    from analysis_py.agents.server import new_token as make_token

    if new_token:
        token, digest = make_token()
        click.echo(f"token: {token}\nconfig: token: {digest}")
        click.echo(
            "Give the token to the client; put the hash under the user in the config.", err=True
        )
        return
    if as_user and not config_path:
        raise ConfigError("--as needs --config", hint="--config serve.yml --as alice")
    if transport == "stdio" and config_path and not as_user:
        raise ConfigError(
            "over stdio the server answers as one user: pass --as USER with --config",
            hint="opsmetrics mcp --config serve.yml --as alice",
        )
    http = transport == "http"
    if http and not _loopback(host):
        click.echo(
            f"warning: serving MCP over plain HTTP on {host}: tokens cross the network in clear; "
            "put a TLS proxy in front",
            err=True,
        )
    from analysis_py.agents.server import build_server, identities
    from analysis_py.serve.config import ServeConfig, load_config
    from analysis_py.serve.run import make_engine

    cfg = load_config(config_path) if config_path else None
    ids = identities(cfg, as_user, http=http)
    serve_cfg = cfg or ServeConfig()
    if cfg is None:  # the local user: everything, PII included, as `opsmetrics sql`
        from analysis_py.pg import local_engine

        engine = local_engine(warehouse_dir, project_dir=project_dir)
    else:
        engine = make_engine(serve_cfg, warehouse_dir, project_dir)
    _refresh_in_background(engine, serve_cfg.poll_interval)
    server = build_server(engine, ids, max_rows=serve_cfg.max_rows, host=host, port=port)
    try:
        if http:
            click.echo(f"opsmetrics MCP on http://{host}:{port}/mcp", err=True)
            # sessions kept and plain JSON answers: half the cost of stateless SSE per call
            server.run("streamable-http", host=host, port=port, json_response=True)
        else:
            server.run("stdio")
    except KeyboardInterrupt:
        pass
    finally:
        engine.close()
    sys.exit(0)


def _refresh_in_background(engine, interval: float) -> None:
    """Pick up a newly published build, as the Postgres server does."""
    import logging

    log = logging.getLogger("opsmetrics.mcp")

    def loop():
        stop = threading.Event()
        while not stop.wait(interval):
            try:
                engine.refresh()
            except Exception as exc:  # keep serving the last good build
                log.error("refresh failed: %s", exc)

    threading.Thread(target=loop, name="opsmetrics-mcp-refresh", daemon=True).start()


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
