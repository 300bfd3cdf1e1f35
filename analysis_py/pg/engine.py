"""The governed, read-only DuckDB instance behind ``opsmetrics sql`` and ``opsmetrics serve``.

One in-memory DuckDB instance, locked down (no file access outside the warehouse folder,
no extension loading, configuration locked). The published build is attached READ_ONLY
under a generation alias (``gen_1``, ``gen_2``, ...) and each role gets its own in-memory
database (``role_<name>``) whose views read that generation through masking and row
policies, plus a materialised ``pg_catalog`` of exactly what the role may see.

When a new build is published (the ``opsmetrics.duckdb`` symlink or ``current.json``
changes) :meth:`Engine.refresh` attaches it as the next generation, repoints every role's
views in one transaction per role (a query sees the old or the new build, never a mix),
and detaches the old generation once no query holds a lease on it. A build that fails to
attach is logged and the last good one keeps serving. ``dbt build`` never waits on us:
a read-only attach of an immutable build file takes no lock that a writer needs.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import threading
from collections.abc import Callable
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from sqlglot import exp

from analysis_py.config import PUBLISHED_NAME
from analysis_py.errors import ConfigError, DataNotFoundError
from analysis_py.pg import catalog as pgcatalog
from analysis_py.pg.catalog import CatalogSpec, CatColumn, CatRelation
from analysis_py.pg.governance import MartInfo, Role, view_sql
from analysis_py.pg.settings import DEFAULT_SETTINGS
from analysis_py.pg.types import pg_type_of
from analysis_py.warehouse.manifest import DbtManifest
from analysis_py.warehouse.result_cache import DEFAULT_BYTES as DEFAULT_RESULT_CACHE_BYTES
from analysis_py.warehouse.result_cache import ResultCache

log = logging.getLogger("opsmetrics.sql")

_MART = re.compile(r"^(fct|dim)_|^metricflow_time_spine$")
METRIC_TIME_GRAINS = ("day", "week", "month", "quarter", "year")


@dataclass
class Generation:
    alias: str
    path: Path  # resolved build file
    target_dir: Path | None
    marts: dict[str, MartInfo]
    leases: int = 0
    retired: bool = False
    #: per role: (schema, relation) → (OID, {column: attnum}) of what it may read
    relations: dict[str, dict[tuple[str, str], tuple[int, dict[str, int]]]] = field(
        default_factory=dict
    )
    #: the build's rollups (semantic.rollups.Rollup), and per role those it may be answered
    #: from: none under row policies (a rollup sums every row), none reading a column it may
    #: only see masked (the marts' answer would be computed on masked values)
    rollup_specs: tuple = ()
    rollups: dict[str, list] = field(default_factory=dict)


@dataclass
class EngineOptions:
    database: str = "opsmetrics"
    threads: int | None = None
    memory_limit: str | None = None
    #: extra ``(name, schema, comment)`` the catalog shows; metrics/analysis are added
    schemas: tuple[str, ...] = ("main",)
    semantic: bool = True
    #: bytes of metric query results kept across sessions (0 = none), per published build
    result_cache_bytes: int = DEFAULT_RESULT_CACHE_BYTES
    #: answer metric requests from the build's rollups where a role may be
    rollups: bool = True
    #: serve the metrics of the build published on a Spark cluster (pg/spark_source.py)
    #: instead of the DuckDB build
    spark_cluster: bool = False


@dataclass
class SemanticInfo:
    layer: object
    metrics: dict[str, dict]  # name -> {description, dimensions: [(name, kind)]}
    grains: frozenset[str] = frozenset()  # standard and custom time grains


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    """A SQL string literal (paths and settings are quoted, never pasted)."""
    return "'" + value.replace("'", "''") + "'"


#: a serial number per engine of the process (keys of caches shared across engines)
_ENGINE_SERIAL = itertools.count(1)

_MEMORY_SIZE = re.compile(r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.I)


class Engine:
    """A locked-down DuckDB instance serving the published warehouse to a set of roles."""

    def __init__(
        self,
        warehouse_dir: str | Path,
        roles: dict[str, Role],
        options: EngineOptions | None = None,
        *,
        project_dir: str | Path | None = None,
        users_by_role: dict[str, list[str]] | None = None,
    ):
        self.warehouse_dir = Path(warehouse_dir).expanduser().resolve()
        self.roles = dict(roles)
        self.options = options or EngineOptions()
        self.serial = next(_ENGINE_SERIAL)
        self.project_dir = Path(project_dir) if project_dir else None
        self._lock = threading.RLock()
        # serialises ATTACH/DETACH and view rebuilds, which run on one admin cursor
        self._swap_lock = threading.RLock()
        self._cursor_lock = threading.Lock()
        self._gen_no = 0
        self._refused: tuple[Path, float] | None = None  # a publication that failed to attach
        self.current: Generation | None = None
        self._old: list[Generation] = []
        self.semantic: SemanticInfo | None = None
        self.analysis_tables: list[tuple[str, list[tuple[str, str]]]] = []
        #: pg_proc rows of the functions clients can call, read from DuckDB once at start
        self._functions: list[dict] = []
        self.listeners: list[Callable[[Generation], None]] = []
        self.users_by_role = users_by_role or {}
        #: metric results by (generation, role, SQL): a new generation's queries never meet
        #: the last one's answers, and its publication drops them
        self.results = ResultCache(self.options.result_cache_bytes)
        self.con = self._open()
        #: the Spark cluster that answers metric queries, when serving one
        self.spark = None
        if self.options.spark_cluster:
            from analysis_py.config import resolve_paths
            from analysis_py.pg.spark_source import SparkSource

            self.spark = SparkSource(
                resolve_paths(project_dir=self.project_dir, warehouse_dir=self.warehouse_dir)
            )

    # ------------------------------------------------------------------ setup
    def _open(self) -> duckdb.DuckDBPyConnection:
        if not self.warehouse_dir.is_dir():
            raise DataNotFoundError(
                f"warehouse folder {self.warehouse_dir} does not exist",
                hint="run `opsmetrics build` first, or set OPSMETRICS_WAREHOUSE_DIR",
            )
        con = duckdb.connect(":memory:")
        opts = self.options
        settings = [
            "SET TimeZone = 'UTC'",
            "SET python_enable_replacements = false",
            "SET autoinstall_known_extensions = false",
            "SET autoload_known_extensions = false",
        ]
        if opts.threads:
            settings.append(f"SET threads = {int(opts.threads)}")
        if opts.memory_limit:
            if not _MEMORY_SIZE.match(opts.memory_limit):
                raise ConfigError(
                    f"memory_limit {opts.memory_limit!r} is not a memory size",
                    hint="write e.g. 1GB, 512MB or 2GiB",
                )
            settings.append(f"SET memory_limit = {_lit(opts.memory_limit.strip())}")
        for s in settings:
            con.execute(s)
        allowed = {str(self.warehouse_dir), os.path.realpath(self.warehouse_dir)}
        published = self.warehouse_dir / PUBLISHED_NAME
        if published.exists():  # a build linked in from elsewhere by hand is readable too
            allowed.add(os.path.dirname(os.path.realpath(published)))
        allowed = sorted(allowed)
        con.execute("SET allowed_directories = [" + ", ".join(_lit(f"{d}/") for d in allowed) + "]")
        con.execute("SET enable_external_access = false")
        return con

    def start(self) -> Engine:
        """Attach the published build, create role databases, lock the configuration."""
        found = self.published()
        if found is None:
            if self.spark is not None:
                raise DataNotFoundError(
                    f"no published Spark cluster build in {self.warehouse_dir}",
                    hint="run `opsmetrics build --target spark_cluster` first",
                )
            raise DataNotFoundError(
                f"no published warehouse in {self.warehouse_dir}",
                hint="run `opsmetrics build` (or `make run`) first, or set OPSMETRICS_WAREHOUSE_DIR",
            )
        for role in self.roles.values():
            self.con.execute(f"ATTACH ':memory:' AS {_q(role.db_name)}")
            for schema in ("main", "metrics", "analysis", "_sem"):
                self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {_q(role.db_name)}.{schema}")
            pgcatalog.create_catalog(self.con, role.db_name)
        self._functions = pgcatalog.function_rows(self.con)
        self.con.execute("ATTACH ':memory:' AS _analysis")
        self.con.execute("SET lock_configuration = true")
        self._swap_to(*found)
        return self

    def _register_analysis(self) -> None:
        """Views over analysis results (Parquet in the warehouse folder).

        Re-run at every generation swap, so result tables written since appear too. Skipped
        while the warehouse has no ``analysis`` folder (no analysis was ever run)."""
        if not (self.warehouse_dir / "analysis").is_dir():
            self.analysis_tables = []
            return
        from analysis_py.warehouse.results import register_views

        with self._cursor_lock:
            cur = self.con.cursor()
        try:
            cur.execute("USE _analysis")
            register_views(cur, self.warehouse_dir)
            rows = cur.execute(
                "SELECT table_name, column_name, data_type FROM duckdb_columns() "
                "WHERE database_name = '_analysis' AND schema_name = 'analysis' "
                "ORDER BY table_name, column_index"
            ).fetchall()
        except Exception as exc:  # analysis results are optional for serving
            log.warning("analysis views not available: %s", exc)
            return
        finally:
            cur.close()
        tables: dict[str, list[tuple[str, str]]] = {}
        for t, c, d in rows:
            tables.setdefault(t, []).append((c, d))
        self.analysis_tables = sorted(tables.items())

    # ------------------------------------------------------------------ generations
    def published(self) -> tuple[Path, Path | None] | None:
        """(build file, its dbt target folder) currently published, resolved (on a Spark
        cluster: the build's record)."""
        if self.spark is not None:
            return self.spark.published()
        link = self.warehouse_dir / "opsmetrics.duckdb"
        path: Path | None = None
        target: Path | None = None
        info_file = self.warehouse_dir / "current.json"
        if info_file.is_file():
            try:
                info = json.loads(info_file.read_text())
                path = Path(info["duckdb_path"])
                target = Path(info["target_path"]) if info.get("target_path") else None
            except (ValueError, KeyError, OSError):
                path = None
        if link.exists() and (path is None or link.is_symlink()):
            path = Path(os.path.realpath(link))
            guess = path.with_suffix(".target")
            target = guess if guess.is_dir() else target
        if path is None or not path.is_file():
            return None
        if target is None:
            for cand in (self.warehouse_dir / "target", (self.project_dir or Path()) / "target"):
                if cand.is_dir():
                    target = Path(os.path.realpath(cand))
                    break
        return Path(os.path.realpath(path)), target

    def refresh(self) -> bool:
        """Swap to a newly published build if there is one; True when swapped.

        A publication that cannot be served is logged once and not retried until something
        else is published (or the same file changes)."""
        found = self.published()
        if found is None or (self.current and found[0] == self.current.path):
            self._reap()
            return False
        stamp = (found[0], _mtime(found[0]))
        if stamp == self._refused:
            return False
        try:
            self._swap_to(*found)
        except Exception as exc:
            self._refused = stamp
            log.error(
                "could not serve new build %s, keeping %s: %s",
                found[0],
                self.current.path if self.current else None,
                getattr(exc, "message", None) or exc,
            )
            return False
        return True

    def _swap_to(self, path: Path, target: Path | None) -> None:
        """Serve a newly published build as the next generation. A DuckDB build is attached;
        a Spark cluster's is not (its marts' columns come from the cluster, and every role
        reads them through its own Spark session's views)."""
        with self._swap_lock:
            alias = f"gen_{self._gen_no + 1}"
            if self.spark is None:
                self._attach(path, alias)
            self._gen_no += 1
            try:
                if self.spark is None:
                    marts, rollups = self._marts(alias, target), self._read_rollups(alias)
                else:
                    marts, rollups = self.spark.marts(path, target), ()
                self._register_analysis()
                if self.options.semantic:
                    self._load_semantic(target, spark_gen=alias if self.spark else None)
                gen = Generation(alias, path, target, marts, rollup_specs=rollups)
                for role in self.roles.values():
                    self._build_role(role, gen)
            except Exception:
                if self.spark is None:
                    self._admin().execute(f"DETACH {alias}")
                raise
            with self._lock:
                old = self.current
                self.current = gen
                if old is not None:
                    old.retired = True
                    self._old.append(old)
            self.results.retain(alias)
            log.info("serving %s as %s", path.name, alias)
            for fn in self.listeners:
                fn(gen)
            self._reap()

    def _attach(self, path: Path, alias: str) -> None:
        try:
            self._admin().execute(f"ATTACH {_lit(str(path))} AS {alias} (READ_ONLY)")
        except duckdb.PermissionException:
            raise DataNotFoundError(
                f"the published build {path} lies outside the warehouse folder "
                f"{self.warehouse_dir}; the locked-down engine reads only inside that folder",
                hint="publish builds with `opsmetrics build`, or point OPSMETRICS_WAREHOUSE_DIR "
                "(--warehouse-dir) at the folder that holds the build files",
            ) from None
        except duckdb.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataNotFoundError(
                f"the published build {path} cannot be opened as a DuckDB database ({first})",
                hint="the file is damaged or not a warehouse build: run `opsmetrics build` "
                "to publish a new one",
            ) from None

    def _read_rollups(self, alias: str) -> tuple:
        if not self.options.semantic or not self.options.rollups:
            return ()
        from analysis_py.semantic import rollups as ru

        cur = self._admin()
        has = cur.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? "
            "AND table_name = ?",
            [alias, ru.SCHEMA, ru.CATALOG],
        ).fetchall()[0][0]
        if not has:
            return ()
        rows = cur.execute(f"SELECT spec FROM {alias}.{ru.SCHEMA}.{ru.CATALOG}").fetchall()
        return tuple(ru.Rollup.from_json(r[0]) for r in rows)

    def _admin(self) -> duckdb.DuckDBPyConnection:
        """The cursor that generation changes run on (never shared with client queries)."""
        if getattr(self, "_admin_cur", None) is None:
            with self._cursor_lock:
                self._admin_cur = self.con.cursor()
        return self._admin_cur

    def _reap(self) -> None:
        with self._lock:
            done = [g for g in self._old if g.leases == 0]
            self._old = [g for g in self._old if g.leases > 0]
        if self.spark is not None:  # nothing attached
            return
        for g in done:
            try:
                with self._swap_lock:
                    self._admin().execute(f"DETACH {g.alias}")
            except duckdb.Error as exc:  # pragma: no cover - logged, retried never needed
                log.warning("detach %s failed: %s", g.alias, exc)

    @contextmanager
    def lease(self):
        """Hold the current generation attached while a query runs."""
        with self._lock:
            gen = self.current
            if gen is not None:
                gen.leases += 1
        try:
            yield gen
        finally:
            if gen is not None:
                with self._lock:
                    gen.leases -= 1
                    reap = gen.retired and gen.leases == 0
                if reap:
                    self._reap()

    def acquire(self) -> Generation | None:
        with self._lock:
            gen = self.current
            if gen is not None:
                gen.leases += 1
            return gen

    def release(self, gen: Generation | None) -> None:
        if gen is None:
            return
        with self._lock:
            gen.leases -= 1
            reap = gen.retired and gen.leases == 0
        if reap:
            self._reap()

    # ------------------------------------------------------------------ objects
    def _marts(self, alias: str, target: Path | None) -> dict[str, MartInfo]:
        # Tables only: views in a build (staging) read the raw landing files, which the
        # locked-down engine may not open; marts and time spines are tables.
        rows = (
            self._admin()
            .execute(
                "SELECT c.schema_name, c.table_name, c.column_name, c.data_type "
                "FROM duckdb_columns() c JOIN duckdb_tables() t ON t.database_name = "
                "c.database_name AND t.schema_name = c.schema_name AND t.table_name = c.table_name "
                f"WHERE c.database_name = '{alias}' "
                "ORDER BY c.schema_name, c.table_name, c.column_index"
            )
            .fetchall()
        )
        cols: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for s, t, c, d in rows:
            cols.setdefault((s, t), []).append((c, d))
        manifest = DbtManifest.read(target / "manifest.json") if target else None
        relations = manifest.relations() if manifest else {}
        out: dict[str, MartInfo] = {}
        for name, rel in relations.items():
            if rel.resource_type != "model" or rel.access != "public":
                continue
            key = (rel.schema, name) if (rel.schema, name) in cols else ("main", name)
            if key not in cols:
                continue
            out[name] = MartInfo(
                name=name,
                schema=key[0],
                columns=tuple(cols[key]),
                pii=rel.pii,
                description=rel.description,
                column_docs=rel.column_docs,
                primary_key=rel.primary_key,
                foreign_keys=rel.foreign_keys,
                not_null=rel.not_null,
            )
        if not out:  # no public models: every fct_/dim_ table in the build is a public mart
            for (s, t), cl in cols.items():
                if _MART.search(t) and t not in out:
                    out[t] = MartInfo(name=t, schema=s, columns=tuple(cl))
        # Every other relation is readable by the semantic layer only (hidden _sem views),
        # masked by the same PII rule when the manifest tags it.
        for (s, t), cl in sorted(cols.items(), key=lambda kv: kv[0][0] != "main"):
            if t not in out:
                rel = relations.get(t)
                out[t] = MartInfo(
                    name=t,
                    schema=s,
                    columns=tuple(cl),
                    public=False,
                    pii=rel.pii if rel else frozenset(),
                )
        return out

    def _load_semantic(self, target: Path | None, spark_gen: str | None = None) -> None:
        """The semantic layer of the build: in DuckDB's dialect over each role's ``_sem``
        views, or (``spark_gen``) in Spark's over the role's Spark views of that generation."""
        path = target / "semantic_manifest.json" if target else None
        if path is None or not path.is_file():
            self.semantic = None
            return
        try:
            from analysis_py.semantic.layer import SemanticLayer
            from analysis_py.semantic.manifest import GRAINS
        except ImportError:
            self.semantic = None
            return

        def resolver(rel: dict) -> str:
            name = rel.get("alias") or rel.get("relation_name")
            if spark_gen is not None:
                return self.spark.view_name(spark_gen, name)
            return f"_sem.{_q(name)}"

        try:
            layer = SemanticLayer(
                str(path),
                connection=None,
                dialect="spark" if spark_gen else "duckdb",
                relation_resolver=resolver,
            )
            layer.rollup_resolver = lambda r: exp.Table(
                this=exp.to_identifier(f"__rollup__{r.name}", quoted=True),
                db=exp.to_identifier("_sem"),
            )
            metrics: dict[str, dict] = {}
            for m in layer.metrics():
                try:
                    dims = layer.dimensions(metrics=[m["name"]])
                except Exception:
                    dims = []
                metrics[m["name"]] = {
                    "description": m.get("description"),
                    "dimensions": dims,
                    "type": m.get("type"),
                }
            grains = frozenset(GRAINS) | frozenset(layer.manifest.custom_granularities)
            self.semantic = SemanticInfo(layer, metrics, grains)
        except Exception as exc:
            log.warning("semantic layer not available: %s", exc)
            self.semantic = None

    def metric_columns(self, name: str) -> list[tuple[str, str]]:
        """(column, DuckDB type) of the ``metrics.<name>`` table BI tools see."""
        info = self.semantic.metrics[name] if self.semantic else {"dimensions": []}
        # day-or-longer buckets are dates over the wire (see session._wire_sql)
        cols = [(f"metric_time__{g}", "DATE") for g in METRIC_TIME_GRAINS]
        seen = {c for c, _ in cols}
        for d in info["dimensions"]:
            dname = d["name"] if isinstance(d, dict) else str(d)
            dtype = (d.get("type") if isinstance(d, dict) else "") or ""
            if dname in seen or dname.startswith("metric_time"):
                continue
            seen.add(dname)
            if "time" in str(dtype).lower():
                cols.append((dname, "TIMESTAMP"))
                for g in METRIC_TIME_GRAINS:
                    cols.append((f"{dname}__{g}", "DATE"))
            else:
                cols.append((dname, "VARCHAR"))
        cols.append((name, "DOUBLE"))
        return cols

    def _build_role(self, role: Role, gen: Generation) -> None:
        db = _q(role.db_name)
        with self._cursor_lock:
            con = self.con.cursor()
        try:
            con.execute("BEGIN")
            existing = con.execute(
                "SELECT schema_name, view_name FROM duckdb_views() WHERE database_name = ? "
                "AND NOT internal",
                [role.db_name],
            ).fetchall()
            relations: list[CatRelation] = []
            keep: set[tuple[str, str]] = set()
            # on a Spark cluster the marts are read in Spark, through the role's Spark views
            for mart in gen.marts.values() if self.spark is None else ():
                con.execute(
                    f"CREATE OR REPLACE VIEW {db}._sem.{_q(mart.name)} AS "
                    + view_sql(mart, gen.alias, role, gen.marts)
                )
                keep.add(("_sem", mart.name))
                if not mart.public or not role.marts.allows(mart.name):
                    continue
                con.execute(
                    f"CREATE OR REPLACE VIEW {db}.main.{_q(mart.name)} AS "
                    f"SELECT * FROM {db}._sem.{_q(mart.name)}"
                )
                keep.add(("main", mart.name))
                relations.append(
                    CatRelation(
                        "main",
                        mart.name,
                        "r",
                        tuple(
                            CatColumn(
                                c,
                                pg_type_of(d),
                                # a masked column may read NULL, whatever the project says
                                c in mart.not_null
                                and not (c in mart.pii and not role.pii_allowed(mart.name, c)),
                                mart.column_docs.get(c),
                            )
                            for c, d in mart.columns
                        ),
                        mart.description,
                        mart.primary_key,
                        # shown only where the role sees the parent (pg/catalog.py checks)
                        tuple((c, "main", parent, pc) for c, parent, pc in mart.foreign_keys),
                    )
                )
            gen.rollups[role.name] = []
            for spec in gen.rollup_specs:
                if role.row_policies or any(not role.pii_allowed(t, c) for t, c in spec.pii):
                    continue
                view = f"__rollup__{spec.name}"
                con.execute(
                    f"CREATE OR REPLACE VIEW {db}._sem.{_q(view)} AS "
                    f"SELECT * FROM {gen.alias}.{_q(spec.table.split('.')[0])}.{_q(spec.name)}"
                )
                keep.add(("_sem", view))
                gen.rollups[role.name].append(spec)
            for tname, tcols in self.analysis_tables:
                # results are computed over every row: never shown through row policies
                if role.row_policies or not role.analysis.allows(tname):
                    continue
                con.execute(
                    f"CREATE OR REPLACE VIEW {db}.analysis.{_q(tname)} AS "
                    f"SELECT * FROM _analysis.analysis.{_q(tname)}"
                )
                keep.add(("analysis", tname))
                relations.append(
                    CatRelation(
                        "analysis", tname, "r", tuple(CatColumn(c, pg_type_of(d)) for c, d in tcols)
                    )
                )
            if self.semantic:
                for mname, info in sorted(self.semantic.metrics.items()):
                    if not role.metrics.allows(mname):
                        continue
                    relations.append(
                        CatRelation(
                            "metrics",
                            mname,
                            "v",
                            tuple(
                                CatColumn(c, pg_type_of(d)) for c, d in self.metric_columns(mname)
                            ),
                            info.get("description"),
                        )
                    )
            for schema, view in existing:
                if (schema, view) not in keep and not schema.startswith("_pg"):
                    con.execute(f"DROP VIEW IF EXISTS {db}.{_q(schema)}.{_q(view)}")
            schemas = [("main", "Public marts of the published warehouse")]
            if self.semantic:
                schemas.append(("metrics", "Semantic-layer metrics: one table per metric"))
            if self.analysis_tables:
                schemas.append(("analysis", "Analysis results"))
            spec = CatalogSpec(
                self.options.database,
                schemas,
                relations,
                users=sorted({pgcatalog.OWNER, *self.user_names(role)}),
                functions=self._functions,
            )
            gen.relations[role.name] = {
                (r.schema, r.name): (
                    pgcatalog.stable_oid("r", r.schema, r.name),
                    {c.name: i for i, c in enumerate(r.columns, start=1)},
                )
                for r in relations
            }
            pgcatalog.fill_catalog(
                con, role.db_name, pgcatalog.catalog_rows(spec, DEFAULT_SETTINGS)
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        finally:
            con.close()

    def relations(self, role: Role, gen: Generation | None):
        """What ``role`` may read in ``gen``: (schema, relation) → (OID, {column: attnum})."""
        return gen.relations.get(role.name, {}) if gen is not None else {}

    def user_names(self, role: Role) -> list[str]:
        return self.users_by_role.get(role.name, [])

    # ------------------------------------------------------------------ connections
    def cursor(self, role: Role) -> duckdb.DuckDBPyConnection:
        with self._cursor_lock:  # the root connection object is not shared across threads
            cur = self.con.cursor()
        cur.execute(f"USE {_q(role.db_name)}")
        return cur

    def close(self) -> None:
        if self.spark is not None:
            self.spark.close()
        with suppress(duckdb.Error):
            self.con.close()


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
