"""Builds on a Spark cluster with a persistent metastore, published as one schema per build.

A target whose dbt-spark method is not ``session`` (``spark_cluster`` in profiles/profiles.yml:
``thrift``) talks to a long-running cluster whose catalog outlives every dbt run. Publication
then lives in that catalog::

    opsm_<build>              the build's marts (dbt's target schema)
    opsm_<build>_staging      its staging views, likewise _intermediate and _seeds
    <warehouse>/spark-cluster/builds/<build>/target/     dbt artifacts of the build
    <warehouse>/spark-cluster/current.json               the published build: its schema and
                                                          every relation it serves

``dbt build`` writes into the new schemas while readers keep reading the published ones; only
when every node passed is ``current.json`` replaced (atomically), so a reader sees one whole
build or the previous one, never a mixture. A failed build drops its schemas.

``--select``/``--exclude`` work as on DuckDB: the new build starts as a copy of the published
one, in which every relation it does not rebuild is a view of the relation that holds the data
(its *origin*: the build that last built it), and dbt rebuilds and tests the selection in
place. A build's schemas are dropped once no kept build needs them: the last ``KEEP_BUILDS``
published builds and every origin they point to stay.

Readers (``query``/``analyze --target spark_cluster``, the server) reach the cluster through
Spark Connect (``SparkSession.builder.remote``): no JVM in the reader; the SQL names the
published build's relations, as its semantic manifest does.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from analysis_py.config import Paths
from analysis_py.errors import BuildError, ConfigError
from analysis_py.warehouse import spark_cluster
from analysis_py.warehouse.publish import atomic_write_json, read_pointer
from analysis_py.warehouse.spark_target import BuildArtifacts, SparkBuildResult

CURRENT = "current.json"
RECORD = "build.json"
KEEP_BUILDS = 2
SCHEMA_PREFIX = "opsm_"
#: the environment the profile's `spark_cluster` target reads (profiles/profiles.yml)
ENV_HOST, ENV_PORT, ENV_USER = (
    "OPSMETRICS_SPARK_THRIFT_HOST",
    "OPSMETRICS_SPARK_THRIFT_PORT",
    "OPSMETRICS_SPARK_USER",
)
ENV_SCHEMA = "OPSMETRICS_SPARK_SCHEMA"
ENV_CONNECT = "OPSMETRICS_SPARK_CONNECT_URL"


def root(paths: Paths) -> Path:
    return spark_cluster.root(paths.warehouse_dir)


def build_schema(build_id: str) -> str:
    """The catalog schema of a build: ``opsm_`` and the build id, lower case."""
    return SCHEMA_PREFIX + re.sub(r"[^a-z0-9]+", "_", build_id.lower())


# -- where the cluster is ---------------------------------------------------------------------
def _running_cluster(paths: Paths) -> spark_cluster.Cluster | None:
    c = spark_cluster.read(paths.warehouse_dir)
    state = spark_cluster.status(paths.warehouse_dir)
    return c if c is not None and state and all(state.values()) else None


def thrift_endpoint(paths: Paths) -> tuple[str, int, str]:
    """(host, port, user) of the Thrift server: the environment's, else the local cluster's."""
    user = os.environ.get(ENV_USER, "opsmetrics")
    if ENV_HOST in os.environ or ENV_PORT in os.environ:
        port = os.environ.get(ENV_PORT, "10001")
        if not port.isdigit():
            raise ConfigError(f"{ENV_PORT}={port!r} is not a port number")
        return os.environ.get(ENV_HOST, "127.0.0.1"), int(port), user
    c = _running_cluster(paths)
    if c is None:
        raise ConfigError(
            f"no Spark cluster runs for {paths.warehouse_dir}",
            hint=f"start one with `opsmetrics spark up`, or set {ENV_HOST}/{ENV_PORT} to a "
            "Thrift server's address (docs/spark.md)",
        )
    return "127.0.0.1", c.ports["thrift"], user


def connect_url(paths: Paths) -> str:
    """The Spark Connect address readers use: the environment's, else the local cluster's."""
    if os.environ.get(ENV_CONNECT):
        return os.environ[ENV_CONNECT]
    c = _running_cluster(paths)
    if c is None:
        raise ConfigError(
            f"no Spark cluster runs for {paths.warehouse_dir}",
            hint=f"start one with `opsmetrics spark up`, or set {ENV_CONNECT}=sc://host:port "
            "(docs/spark.md)",
        )
    return c.connect_url


def remote_session(paths: Paths):
    """A Spark Connect session on the cluster (no JVM in this process)."""
    from analysis_py.warehouse.spark_target import require_pyspark

    require_pyspark()
    url = connect_url(paths)
    from pyspark.sql import SparkSession

    try:
        return SparkSession.builder.remote(url).getOrCreate()
    except Exception as exc:  # grpc's own errors: unreachable, refused
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(
            f"cannot reach Spark Connect at {url}: {first[:200]}",
            hint="is the cluster up? `opsmetrics spark status`",
        ) from None


@contextmanager
def thrift_cursor(paths: Paths) -> Iterator:
    """A cursor on the Thrift server (the build's own protocol) for catalog statements."""
    from pyhive import hive

    host, port, user = thrift_endpoint(paths)
    try:
        conn = hive.connect(host=host, port=port, username=user)
    except Exception as exc:
        raise ConfigError(
            f"cannot reach the Spark Thrift server at {host}:{port}: {exc}",
            hint="is the cluster up? `opsmetrics spark status`",
        ) from None
    try:
        yield conn.cursor()
    finally:
        conn.close()


# -- what a build holds -----------------------------------------------------------------------
@dataclass(frozen=True)
class ClusterPublished(BuildArtifacts):
    build_id: str
    schema: str
    build_dir: Path
    #: dbt unique id → {"relation": name in this build, "origin": where its data is,
    #: "origin_build": the build that built it}
    relations: dict[str, dict]
    published_at: str
    info: dict

    @classmethod
    def from_record(cls, info: dict) -> ClusterPublished:
        """A build from its record (``build.json``, ``current.json``)."""
        return cls(
            build_id=info["build_id"],
            schema=info["schema"],
            build_dir=Path(info["build_dir"]),
            relations=dict(info["relations"]),
            published_at=info.get("published_at", ""),
            info=info,
        )

    @property
    def tables(self) -> dict[str, str]:
        """The marts (the target schema's relations): ``main.<name>`` → relation."""
        return {
            f"main.{r['relation'].split('.', 1)[1]}": r["relation"]
            for r in self.relations.values()
            if r["relation"].split(".", 1)[0] == self.schema
        }


def current(paths: Paths) -> ClusterPublished:
    """The published cluster build, or a clear error if there is none."""
    info = read_pointer(
        root(paths) / CURRENT,
        f"no published Spark cluster build in {root(paths)}",
        "run `opsmetrics build --target spark_cluster` first (with `opsmetrics spark up`)",
    )
    return ClusterPublished.from_record(info)


def _manifest_relations(target_dir: Path) -> dict[str, str]:
    """dbt unique id → ``schema.alias`` for every node of the manifest that is a relation."""
    from analysis_py.warehouse.manifest import DbtManifest

    manifest = DbtManifest.read(target_dir / "manifest.json")
    if manifest is None:
        raise BuildError(f"dbt wrote no readable manifest.json in {target_dir}")
    return {
        r.unique_id: f"{r.schema}.{r.name}"
        for r in manifest.relations().values()
        if r.materialized != "ephemeral"
    }


# -- the build --------------------------------------------------------------------------------
def build(
    paths: Paths,
    *,
    target: str = "spark_cluster",
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    on_progress=None,
    on_step: Callable[[str], None] | None = None,
) -> SparkBuildResult:
    """dbt build on the cluster into a schema of its own; publish it if every node passed."""
    from analysis_py.warehouse.build import build_lock, check_raw_data
    from analysis_py.warehouse.spark_target import (
        dbt_build,
        new_build_folder,
        process_env,
        require_pyspark,
    )

    require_pyspark()
    started = dt.datetime.now(dt.UTC)
    host, port, user = thrift_endpoint(paths)
    data_info = check_raw_data(paths)
    step = on_step or (lambda _msg: None)
    with build_lock(paths):
        previous = None
        if select or exclude:
            try:
                previous = current(paths)
            except Exception:
                raise BuildError(
                    "--select/--exclude rebuild part of the published cluster build, and "
                    "there is none yet",
                    hint="run `opsmetrics build --target spark_cluster` once without them",
                ) from None
        _drop_abandoned(paths)
        folder = new_build_folder(root(paths))
        build_id, schema = folder.build_id, build_schema(folder.build_id)
        env = {
            **paths.env(),
            **process_env(),
            ENV_HOST: host,
            ENV_PORT: str(port),
            ENV_USER: user,
            ENV_SCHEMA: schema,
        }
        selection = [a for s in select for a in ("--select", s)]
        selection += [a for s in exclude for a in ("--exclude", s)]
        kept = 0
        try:
            if previous is not None:
                step("copy the published build (views)")
                chosen = _selected(folder.dbt_args(target), selection, paths, env)
                kept = _clone(paths, previous, folder.target_dir, skip=chosen)
            step(f"dbt build → {schema}")
            run = dbt_build(paths, folder, target, env, selection, on_progress)
            relations = _record_relations(folder.target_dir, schema, build_id, previous)
        except BaseException:
            _drop_build(paths, build_id)
            raise
        step("publish")
        record = {
            **data_info,
            "engine": "spark_cluster",
            "target": target,
            "select": list(select),
            "exclude": list(exclude),
            "build_id": build_id,
            "schema": schema,
            "build_dir": str(folder.build_dir),
            "thrift": f"{host}:{port}",
            "relations": relations,
            "published_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        atomic_write_json(folder.build_dir / RECORD, record)
        atomic_write_json(root(paths) / CURRENT, record)
        _prune(paths)
    seconds = (dt.datetime.now(dt.UTC) - started).total_seconds()
    return SparkBuildResult(current(paths), run, seconds, folder.log_path, kept)


def _selected(common: list[str], selection: list[str], paths: Paths, env: dict) -> set[str]:
    """The unique ids of the relations dbt's selection rebuilds (``dbt ls``, which also
    writes the new build's manifest into its target folder)."""
    from analysis_py.warehouse.dbt_runner import dbt_executable

    args = [dbt_executable(), "ls", *common, *selection, "--resource-types", "model", "seed",
            "snapshot", "--output", "json", "--output-keys", "unique_id", "--quiet",
            "--project-dir", str(paths.project_dir), "--profiles-dir", str(paths.profiles_dir)]  # fmt: skip
    p = subprocess.run(args, capture_output=True, text=True, env={**os.environ, **env})
    if p.returncode != 0:
        msg = (p.stdout + p.stderr).strip().splitlines()
        raise BuildError(f"dbt ls failed: {msg[-1] if msg else p.returncode}")
    chosen = set()
    for line in p.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            chosen.add(json.loads(line)["unique_id"])
    if not chosen:
        raise BuildError(
            "the selection matches no model, seed or snapshot",
            hint="check --select/--exclude (dbt ls --select … lists what they match)",
        )
    return chosen


def _clone(paths: Paths, previous: ClusterPublished, target_dir: Path, skip: set[str]) -> int:
    """Views in the new build's schemas of every published relation it does not rebuild."""
    new = _manifest_relations(target_dir)
    statements, schemas = [], set()
    for uid, rel in sorted(new.items()):
        old = previous.relations.get(uid)
        if uid in skip or old is None:
            continue
        schemas.add(rel.split(".", 1)[0])
        statements.append(f"create view {rel} as select * from {old['origin']}")
    with thrift_cursor(paths) as cur:
        for s in sorted(schemas):
            cur.execute(f"create database if not exists {s}")
        for sql in statements:
            cur.execute(sql)
    return len(statements)


def _record_relations(
    target_dir: Path, schema: str, build_id: str, previous: ClusterPublished | None
) -> dict[str, dict]:
    """Every relation the new build serves, with the build that holds its data."""
    results = json.loads((target_dir / "run_results.json").read_text()).get("results", [])
    built = {r["unique_id"] for r in results if r.get("status") == "success"}
    out = {}
    for uid, rel in _manifest_relations(target_dir).items():
        if uid in built:
            out[uid] = {"relation": rel, "origin": rel, "origin_build": build_id}
        elif previous is not None and uid in previous.relations:
            old = previous.relations[uid]
            out[uid] = {**old, "relation": rel}
    if not any(r["relation"].split(".", 1)[0] == schema for r in out.values()):
        raise BuildError(f"dbt build wrote no relation into {schema}")
    return out


# -- cleaning up ------------------------------------------------------------------------------
def _published_records(paths: Paths) -> list[dict]:
    """Every published build's record, oldest first."""
    out = []
    for f in sorted((root(paths) / "builds").glob(f"*/{RECORD}")):
        try:
            out.append(json.loads(f.read_text()))
        except (OSError, ValueError):
            continue
    return out


def _drop_build(paths: Paths, build_id: str) -> None:
    """Drop a build's schemas from the catalog and its folder (best effort: an unreachable
    cluster leaves them for the next build's clean-up)."""
    schema = build_schema(build_id)
    try:
        with thrift_cursor(paths) as cur:
            cur.execute(f"show databases like '{schema}*'")
            for (name,) in cur.fetchall():
                if name == schema or name.startswith(schema + "_"):
                    cur.execute(f"drop database if exists {name} cascade")
    except Exception:  # cleaning up after a failure must not hide the failure
        return
    shutil.rmtree(root(paths) / "builds" / build_id, ignore_errors=True)


def _drop_abandoned(paths: Paths) -> None:
    """Builds that started and were never published (a killed process) leave schemas behind."""
    builds = root(paths) / "builds"
    if not builds.is_dir():
        return
    for d in sorted(p for p in builds.iterdir() if p.is_dir()):
        if not (d / RECORD).is_file():
            _drop_build(paths, d.name)


def _prune(paths: Paths) -> None:
    """Drop the builds no kept build needs (the last KEEP_BUILDS and their origins stay)."""
    records = _published_records(paths)
    kept = records[-KEEP_BUILDS:]
    needed = {r["build_id"] for r in kept}
    for r in kept:
        needed |= {rel["origin_build"] for rel in r["relations"].values()}
    for r in records:
        if r["build_id"] not in needed:
            _drop_build(paths, r["build_id"])
