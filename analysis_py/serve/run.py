"""Start the server: in the foreground (the CLI) or in a background thread (tests, benchmarks)."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from analysis_py.pg.engine import Engine, EngineOptions
from analysis_py.serve.config import ServeConfig
from analysis_py.serve.server import PgServer


def make_engine(cfg: ServeConfig, warehouse_dir=None, project_dir=None, target=None) -> Engine:
    """The engine over the published DuckDB build, or (``target`` a Spark cluster target of
    the profile) over the build published on that cluster."""
    from analysis_py.config import resolve_paths
    from analysis_py.errors import ConfigError
    from analysis_py.warehouse.spark_target import check_target, is_cluster_target

    paths = resolve_paths(project_dir=project_dir, warehouse_dir=warehouse_dir)
    check_target(paths, target)
    on_cluster = is_cluster_target(paths, target)
    if target and not on_cluster and target != "dev":
        raise ConfigError(
            f"the server reads the published DuckDB build or a Spark cluster's; target "
            f"'{target}' is neither",
            hint="leave --target out (DuckDB), or use --target spark_cluster (docs/spark.md)",
        )
    opts = EngineOptions(
        database=cfg.database,
        threads=cfg.threads,
        memory_limit=cfg.memory_limit,
        result_cache_bytes=cfg.result_cache_bytes,
        rollups=cfg.rollups and not on_cluster,
        spark_cluster=on_cluster,
    )
    return Engine(
        paths.warehouse_dir,
        cfg.roles,
        opts,
        project_dir=paths.project_dir,
        users_by_role=cfg.users_by_role(),
    ).start()


def run_forever(cfg: ServeConfig, *, warehouse_dir=None, project_dir=None, target=None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    engine = make_engine(cfg, warehouse_dir, project_dir, target)

    async def main():
        server = PgServer(engine, cfg)
        host, port = await server.start()
        # Everything loaded so far (the modules, sqlglot's tables, the semantic manifest) lives
        # as long as the server. Freezing it keeps the garbage collector's full passes, which
        # run in the middle of some request, from walking it again: that walk was most of the
        # slowest metric compiles (docs/benchmarks.md, "Compiling unseen requests"). A later
        # publish's objects are not frozen, so they are collected normally once replaced.
        gc.collect()
        gc.freeze()
        logging.getLogger("opsmetrics.serve").info(
            "serving %s on %s:%s (%s users, TLS %s); Ctrl-C stops",
            engine.current.path.name if engine.current else "?",
            host,
            port,
            len(cfg.users),
            "on" if server.ssl_context else "off",
        )
        try:
            await server.serve_forever()
        finally:
            await server.stop()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    finally:
        engine.close()


@dataclass
class Running:
    host: str
    port: int
    server: PgServer
    engine: Engine
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread

    def stop(self) -> None:
        fut = asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop)
        try:
            fut.result(timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            self.engine.close()


def start_in_thread(
    cfg: ServeConfig,
    warehouse_dir: str | Path,
    project_dir=None,
    engine: Engine | None = None,
    target: str | None = None,
) -> Running:
    """A server on its own event loop thread (port 0 in the config = a free port)."""
    engine = engine or make_engine(cfg, warehouse_dir, project_dir, target)
    loop = asyncio.new_event_loop()
    server = PgServer(engine, cfg)
    ready = threading.Event()
    box: dict = {}

    def target():
        asyncio.set_event_loop(loop)

        async def boot():
            box["addr"] = await server.start()
            ready.set()

        loop.run_until_complete(boot())
        try:
            loop.run_forever()
        finally:  # stopped by Running.stop(): release the loop's selector and sockets
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    t = threading.Thread(target=target, name="opsmetrics-serve", daemon=True)
    t.start()
    if not ready.wait(30):
        raise RuntimeError("server did not start")
    host, port = box["addr"]
    return Running(host, port, server, engine, loop, t)
