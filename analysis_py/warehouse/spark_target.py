"""The Spark target: where a Spark build lives, how it is published, and a session that reads it.

Publication model (the Spark twin of publish.py, kept apart so a Spark build never replaces the
published DuckDB warehouse)::

    <warehouse>/spark/builds/<build_id>/warehouse/<schema>.db/<table>/   Parquet written by dbt
    <warehouse>/spark/builds/<build_id>/target/                          dbt artifacts of the build
    <warehouse>/spark/current.json     {"build_id", "build_dir", "tables": {"main.fct_cases": path}}

dbt runs with an in-memory catalog (no Hive metastore, no Derby lock, ~25% faster), so a
build's catalog dies with its dbt process and what survives is the folder of Parquet tables.
Each build writes a fresh folder; only when dbt build passed is ``current.json`` replaced
(atomically) with the list of its tables. Readers (``opsmetrics query|analyze --target spark``)
start their own local session and register those tables as external Parquet tables, so any
number of readers can read a published build while the next one is being written. A failed build
removes its folder and leaves the published build as it was.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from analysis_py.config import Paths
from analysis_py.errors import BuildError, ConfigError
from analysis_py.warehouse.publish import atomic_write_json, read_pointer

SPARK_DIRNAME = "spark"
CURRENT = "current.json"
KEEP_BUILDS = 2

#: Session settings shared by dbt's profile (profiles/profiles.yml, target `spark`) and the
#: readers' sessions: local, loopback only, no UI, in-memory catalog, UTC wall clock, one
#: shuffle partition per local core (docs/spark.md, "Tuning", says why and what each cost).
SESSION_CONF = {
    "spark.master": "local[2]",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.catalogImplementation": "in-memory",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "2",
    "spark.sql.sources.default": "parquet",
}

#: JVM options of a local session on little data: the client JIT compiler (C1) only. A build
#: or a reader on little data runs hundreds of statements of milliseconds each, and the
#: optimising C2 compiler spent about half the JVM's CPU compiling code that then barely ran
#: (docs/spark.md, "Tuning the local session"). On much data the same option makes a long
#: query ~2.6× slower (C2's code repays its compile time), so it applies only below
#: SMALL_DATA_BYTES of Parquet; OPSMETRICS_SPARK_JAVA_OPTS overrides the choice either way
#: (an empty value: the JVM's defaults).
SMALL_DATA_JAVA_OPTS = "-XX:TieredStopAtLevel=1"
SMALL_DATA_BYTES = 64 * 2**20
JAVA_OPTS_ENV = "OPSMETRICS_SPARK_JAVA_OPTS"


def parquet_bytes(*folders: Path | str) -> int:
    """Total size of the Parquet files under ``folders`` (the data a session will read)."""
    return sum(f.stat().st_size for d in folders for f in Path(d).rglob("*.parquet"))


def java_opts(data_bytes: int | None = None) -> str:
    """The driver's JVM options for a local session over ``data_bytes`` of Parquet (None:
    unknown, so the JVM's defaults), unless OPSMETRICS_SPARK_JAVA_OPTS says otherwise."""
    if JAVA_OPTS_ENV in os.environ:
        return os.environ[JAVA_OPTS_ENV]
    if data_bytes is not None and data_bytes < SMALL_DATA_BYTES:
        return SMALL_DATA_JAVA_OPTS
    return ""


def require_pyspark() -> None:
    """Fail clearly when the optional Spark extra is not installed."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise ConfigError(
            "the spark target needs pyspark, which is not installed",
            hint="pip install -e '.[spark]' (or `make install`, which installs it)",
        ) from None


def profile_targets(paths: Paths) -> dict[str, str]:
    """Target name → adapter type, for every output of the project's profile(s)."""
    profile_file = paths.profiles_dir / "profiles.yml"
    if not profile_file.is_file():
        return {}
    out: dict[str, str] = {}
    for profile in (yaml.safe_load(profile_file.read_text()) or {}).values():
        if isinstance(profile, dict):
            for name, o in (profile.get("outputs") or {}).items():
                if isinstance(o, dict):
                    out.setdefault(name, str(o.get("type")))
    return out


def check_target(paths: Paths, target: str | None) -> None:
    """A clear error for a target the profile does not define (None means the default)."""
    targets = profile_targets(paths)
    if target is not None and targets and target not in targets:
        raise ConfigError(
            f"target '{target}' is not in profiles/profiles.yml",
            hint=f"targets: {', '.join(sorted(targets))}",
        )


def _output(paths: Paths, target: str | None) -> dict:
    """The profile's output named ``target`` (empty when there is none)."""
    profile_file = paths.profiles_dir / "profiles.yml"
    if not target or not profile_file.is_file():
        return {}
    for profile in (yaml.safe_load(profile_file.read_text()) or {}).values():
        if isinstance(profile, dict):
            out = (profile.get("outputs") or {}).get(target)
            if isinstance(out, dict):
                return out
    return {}


def is_spark_target(paths: Paths, target: str | None) -> bool:
    """True when ``target`` names an output of type ``spark`` in the project's profile."""
    return _output(paths, target).get("type") == "spark"


def is_cluster_target(paths: Paths, target: str | None) -> bool:
    """True for a Spark output that reaches a running cluster (dbt-spark's ``thrift``,
    ``http`` or ``odbc`` method) rather than a session inside the dbt process: its catalog
    persists, so it builds and publishes by schema (spark_cluster_build)."""
    out = _output(paths, target)
    return out.get("type") == "spark" and out.get("method", "session") != "session"


def spark_root(paths: Paths) -> Path:
    return paths.warehouse_dir / SPARK_DIRNAME


def process_env(spark_dir: Path | None = None) -> dict[str, str]:
    """Environment for a process that starts a local Spark: loopback networking, this
    interpreter for Python workers, and (for dbt) the folder the profile writes to."""
    env = {
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }
    if spark_dir is not None:
        env["OPSMETRICS_SPARK_DIR"] = str(spark_dir)
    return env


class BuildArtifacts:
    """Where a published Spark build's dbt artifacts are (its ``build_dir``'s ``target``)."""

    build_dir: Path

    @property
    def target_path(self) -> Path:
        return self.build_dir / "target"

    @property
    def semantic_manifest_path(self) -> Path:
        return self.target_path / "semantic_manifest.json"


@dataclass(frozen=True)
class SparkPublished(BuildArtifacts):
    build_id: str
    build_dir: Path
    tables: dict[str, str]
    published_at: str
    info: dict


@dataclass
class SparkBuildResult:
    published: object  # SparkPublished, or spark_cluster_build.ClusterPublished on a cluster
    run: object  # dbt_runner.DbtRun
    seconds: float
    log_path: Path
    #: relations kept from the published build (a cluster build with --select/--exclude)
    kept: int = 0


@dataclass(frozen=True)
class BuildFolder:
    """A new Spark build's id and where dbt writes its artifacts and its log."""

    build_id: str
    build_dir: Path
    log_dir: Path

    @property
    def target_dir(self) -> Path:
        return self.build_dir / "target"

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.build_id}.dbt.log"

    def dbt_args(self, target: str) -> list[str]:
        """The arguments every dbt command of this build takes."""
        return ["--target", target, "--target-path", str(self.target_dir),
                "--log-path", str(self.log_dir / self.build_id)]  # fmt: skip


def new_build_folder(root: Path) -> BuildFolder:
    """A fresh ``<root>/builds/<build id>`` folder for the next build."""
    from analysis_py.warehouse.build import new_build_id

    build_id = new_build_id()
    folder = BuildFolder(build_id, root / "builds" / build_id, root / "logs")
    folder.build_dir.mkdir(parents=True)
    return folder


def dbt_build(
    paths: Paths, folder: BuildFolder, target: str, env: dict, extra=(), on_progress=None
):
    """``dbt build`` into ``folder``; a BuildError naming the failures unless every node passed."""
    from analysis_py.warehouse.build import _failure_message
    from analysis_py.warehouse.dbt_runner import run_dbt

    run = run_dbt(
        ["build", *folder.dbt_args(target), *extra],
        project_dir=paths.project_dir,
        env=env,
        log_path=folder.log_path,
        on_progress=on_progress,
    )
    if not run.ok:
        raise BuildError(_failure_message(run), hint=f"full dbt log: {folder.log_path}")
    return run


def build(
    paths: Paths,
    *,
    target: str = "spark",
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    on_progress=None,
    on_step: Callable[[str], None] | None = None,
) -> SparkBuildResult:
    """dbt build on the Spark target into a fresh folder; publish it if everything passed."""
    from analysis_py.warehouse.build import build_lock, check_raw_data

    if select or exclude:
        raise BuildError(
            "--select/--exclude is not supported on the local Spark target: its in-memory "
            "catalog starts empty in every build, so the selected nodes would not see the "
            "published tables (their parents, the relations their tests check), and publishing "
            "the selection alone would drop every other table from the Spark warehouse",
            hint="run `opsmetrics build --target spark` without --select/--exclude, or build "
            "on a cluster, whose catalog persists: `--target spark_cluster` (docs/spark.md)",
        )
    require_pyspark()
    started = dt.datetime.now(dt.UTC)
    data_info = check_raw_data(paths)
    step = on_step or (lambda _msg: None)
    with build_lock(paths):
        folder = new_build_folder(spark_root(paths))
        build_dir = folder.build_dir
        env = {**paths.env(), **process_env(build_dir)}
        # The profile reads the JVM options from this variable (default: none).
        env[JAVA_OPTS_ENV] = java_opts(parquet_bytes(paths.data_dir))
        try:
            step(f"dbt build (spark) → {build_dir.relative_to(paths.warehouse_dir)}")
            run = dbt_build(paths, folder, target, env, on_progress=on_progress)
            tables = _tables(build_dir / "warehouse")
            if not tables:
                raise BuildError(f"dbt build wrote no tables under {build_dir / 'warehouse'}")
        except BaseException:
            shutil.rmtree(build_dir, ignore_errors=True)
            raise
        step("publish")
        published = _publish(
            paths,
            folder.build_id,
            build_dir,
            tables,
            {"target": target, "select": list(select), **data_info},
        )
    seconds = (dt.datetime.now(dt.UTC) - started).total_seconds()
    return SparkBuildResult(published, run, seconds, folder.log_path)


def _tables(warehouse: Path) -> dict[str, str]:
    """``schema.table`` → Parquet folder, for every table dbt wrote (views are not kept:
    they live in the build's catalog only; readers need the marts)."""
    out: dict[str, str] = {}
    for db in sorted(warehouse.glob("*.db")):
        for t in sorted(p for p in db.iterdir() if p.is_dir()):
            if any(t.rglob("*.parquet")) or (t / "_SUCCESS").exists():
                out[f"{db.name[:-3]}.{t.name}"] = str(t)
    return out


def _publish(
    paths: Paths, build_id: str, build_dir: Path, tables: dict, info: dict
) -> SparkPublished:
    root = spark_root(paths)
    payload = {
        **info,
        "engine": "spark",
        "build_id": build_id,
        "build_dir": str(build_dir),
        "tables": tables,
        "published_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    atomic_write_json(root / CURRENT, payload)
    _prune(root, build_id)
    return current(paths)


def _prune(root: Path, keep_id: str) -> None:
    builds = sorted(p for p in (root / "builds").iterdir() if p.is_dir())
    for old in builds[:-KEEP_BUILDS]:
        if old.name != keep_id:
            shutil.rmtree(old, ignore_errors=True)


def current(paths: Paths) -> SparkPublished:
    """The published Spark build, or a clear error if there is none."""
    info = read_pointer(
        spark_root(paths) / CURRENT,
        f"no published Spark build in {spark_root(paths)}",
        "run `opsmetrics build --target spark` first",
    )
    return SparkPublished(
        build_id=info["build_id"],
        build_dir=Path(info["build_dir"]),
        tables=dict(info["tables"]),
        published_at=info.get("published_at", ""),
        info=info,
    )


def session(app_name: str = "opsmetrics", *, data_bytes: int | None = None):
    """A local SparkSession configured like the dbt profile (reused if one is running);
    ``data_bytes``, the size of what it will read, chooses the JVM options (java_opts)."""
    require_pyspark()
    for k, v in process_env().items():
        os.environ.setdefault(k, v)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    for k, v in SESSION_CONF.items():
        builder = builder.config(k, v)
    # Readers create only namespaces (their tables are external); keep Spark's default
    # ./spark-warehouse out of the working directory.
    scratch = tempfile.mkdtemp(prefix="opsmetrics-spark-")
    atexit.register(shutil.rmtree, scratch, True)
    builder = builder.config("spark.sql.warehouse.dir", scratch)
    # Errors only on the console (Spark's default prints WARN lines and a banner to stderr,
    # which would mix with the CLI's output).
    log4j = Path(scratch) / "log4j2.properties"
    log4j.write_text(
        "rootLogger.level = error\nrootLogger.appenderRef.stderr.ref = console\n"
        "appender.console.type = Console\nappender.console.name = console\n"
        "appender.console.target = SYSTEM_ERR\nappender.console.layout.type = PatternLayout\n"
        "appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n\n"
    )
    builder = builder.config(
        "spark.driver.extraJavaOptions",
        f"{java_opts(data_bytes)} -Dlog4j2.configurationFile=file:{log4j}".strip(),
    )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def register(spark, published: SparkPublished, schemas: Sequence[str] = ("main",)) -> list[str]:
    """Make the published build's tables of ``schemas`` (default: the marts) visible to
    ``spark`` under their dbt names. Each table costs a Parquet footer read, so readers
    register only what they read."""
    chosen = {n: loc for n, loc in published.tables.items() if n.split(".", 1)[0] in schemas}
    for s in sorted({name.split(".", 1)[0] for name in chosen}):
        spark.sql(f"create database if not exists `{s}`")
    for name, location in sorted(chosen.items()):
        schema, table = name.split(".", 1)
        with contextlib.suppress(Exception):
            spark.sql(f"drop table if exists `{schema}`.`{table}`")
        spark.sql(f"create table `{schema}`.`{table}` using parquet location '{location}'")
    return sorted(chosen)


def published_session(paths: Paths, app_name: str = "opsmetrics"):
    """(session, published build): a session with the published Spark build registered."""
    published = current(paths)
    marts = [loc for name, loc in published.tables.items() if name.startswith("main.")]
    spark = session(app_name, data_bytes=parquet_bytes(*marts))
    register(spark, published)
    return spark, published
