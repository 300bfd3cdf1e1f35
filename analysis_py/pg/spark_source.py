"""Metric queries of the server answered by a Spark cluster (``opsmetrics serve --target
spark_cluster``).

The server stays what it is — the wire, the catalog, the guard, semantic SQL, grants — and
only the compiled metric query runs elsewhere: on the cluster's published build, through
Spark Connect, in a Spark session of the role's own. That session reads each mart through
a temporary view holding the role's masks and row policies (:func:`governance.spark_view_sql`,
the same rules as the DuckDB views), named per generation (``_sem_<gen>_<mart>``), so a
query compiled for one build never reads another. The compiled SQL never reaches DuckDB:
the session's DuckDB SQL reads a placeholder relation (``__spark_<digest>``), which
:meth:`SparkSource.bind` fills, for one execution on one cursor, with the Arrow result of
the Spark query it stands for. The client's outer SQL, the wire's types and the result cache
work on that relation as on a DuckDB answer.

Plain queries of the marts are not served from a cluster (the marts are not in DuckDB): the
catalog lists only metrics (and analysis results) and the guard refuses the rest.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import threading
from collections import OrderedDict
from pathlib import Path

from analysis_py.config import Paths
from analysis_py.errors import ConfigError, SQLStateError
from analysis_py.pg.governance import MartInfo, Role, spark_view_sql

PLACEHOLDER = re.compile(r"__spark_[0-9a-f]{20}")
#: compiled queries remembered for their placeholders (each a few kB of SQL)
REMEMBERED = 20_000

_SPARK_TO_DUCK = {
    "string": "VARCHAR",
    "int": "INTEGER",
    "bigint": "BIGINT",
    "smallint": "SMALLINT",
    "tinyint": "TINYINT",
    "double": "DOUBLE",
    "float": "FLOAT",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "timestamp_ntz": "TIMESTAMP",
}


def duck_type(spark_type: str) -> str:
    """A Spark column type (``simpleString``) as the DuckDB type name the masks cast to."""
    t = spark_type.lower()
    if t.startswith("decimal"):
        return t.upper()
    return _SPARK_TO_DUCK.get(t, "VARCHAR")


class PlanExpired(SQLStateError):
    """A plan names a compiled query no longer remembered, or one made for another build
    (a publish came between planning and running): plan it again. A client that meets it
    (the session retries once) may simply run the statement again."""

    sqlstate = "40001"

    def __init__(self, name: str):
        super().__init__(
            "the published build changed while the statement was planned",
            hint="run the statement again",
        )
        self.placeholder = name


class SparkSource:
    def __init__(self, paths: Paths):
        self.paths = paths
        self._lock = threading.Lock()
        self._sessions: dict[str, object] = {}  # role → its Spark Connect session
        self._views: dict[str, dict[str, list[str]]] = {}  # role → generation → its views
        self._view_lock: dict[str, threading.Lock] = {}
        self._queries: OrderedDict[str, tuple[str, str, str]] = OrderedDict()

    # -- the published build ------------------------------------------------------------
    def published(self) -> tuple[Path, Path | None] | None:
        """(the published build's record, its dbt target folder), or None."""
        from analysis_py.warehouse import spark_cluster_build as cluster

        try:
            pub = cluster.current(self.paths)
        except Exception:
            return None
        record = pub.build_dir / cluster.RECORD
        return (record, pub.target_path) if record.is_file() else None

    def marts(self, record: Path, target: Path | None) -> dict[str, MartInfo]:
        """Every relation of the build's target schema (the marts and the time spine: what
        semantic models read), its columns as the cluster has them. ``record`` is the build's
        record (:meth:`published`), read again here: a later publication does not matter."""
        from analysis_py.warehouse import spark_cluster_build as cluster
        from analysis_py.warehouse.manifest import DbtManifest

        pub = cluster.ClusterPublished.from_record(json.loads(record.read_text()))
        manifest = DbtManifest.read(target / "manifest.json") if target else None
        relations = manifest.relations() if manifest else {}
        spark = self._session("_catalog")
        out = {}
        for name, relation in sorted(pub.tables.items()):
            alias = name.split(".", 1)[1]
            rel = relations.get(alias)
            fields = spark.table(relation).schema.fields
            out[alias] = MartInfo(
                name=alias,
                schema=relation.split(".", 1)[0],
                columns=tuple((f.name, duck_type(f.dataType.simpleString())) for f in fields),
                public=False,  # read by the semantic layer only
                pii=rel.pii if rel else frozenset(),
            )
        return out

    # -- sessions and views ---------------------------------------------------------------
    def _session(self, role_name: str):
        with self._lock:
            s = self._sessions.get(role_name)
            if s is None:
                from analysis_py.warehouse import spark_cluster_build as cluster
                from analysis_py.warehouse.spark_target import require_pyspark

                require_pyspark()
                from pyspark.sql import SparkSession

                # pyspark logs every failed query with the JVM's stack trace; the session
                # reports the error to the client and logs its first line
                logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL + 1)

                url = cluster.connect_url(self.paths)
                try:
                    # create(): a session of this role's own (its temporary views are its own)
                    s = SparkSession.builder.remote(url).create()
                except Exception as exc:
                    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                    raise ConfigError(
                        f"cannot reach Spark Connect at {url}: {first[:200]}",
                        hint="is the cluster up? `opsmetrics spark status`",
                    ) from None
                self._sessions[role_name] = s
                self._view_lock[role_name] = threading.Lock()
            return s

    @staticmethod
    def view_name(gen: str, mart: str) -> str:
        return f"_sem_{gen}_{mart}"

    def _ensure_views(self, role: Role, gen) -> object:
        """The role's session, with the governed views of generation ``gen``. The views of
        the generation before stay for the queries still running on it; older ones go."""
        spark = self._session(role.name)
        with self._view_lock[role.name]:
            made = self._views.setdefault(role.name, {})
            if gen.alias not in made:
                names = []
                for mart in gen.marts.values():
                    names.append(self.view_name(gen.alias, mart.name))
                    spark.sql(
                        f"CREATE OR REPLACE TEMPORARY VIEW `{names[-1]}` AS "
                        + spark_view_sql(mart, role, gen.marts)
                    )
                made[gen.alias] = names
                for old in sorted(made, key=lambda a: int(a.rsplit("_", 1)[1]))[:-2]:
                    for name in made.pop(old):
                        spark.sql(f"DROP VIEW IF EXISTS `{name}`")
        return spark

    # -- placeholders ---------------------------------------------------------------------
    def remember(self, role: Role, gen_alias: str, spark_sql: str) -> str:
        """The placeholder relation standing for ``spark_sql`` run as ``role`` on ``gen``."""
        digest = hashlib.sha256(f"{role.name}\0{gen_alias}\0{spark_sql}".encode()).hexdigest()
        name = f"__spark_{digest[:20]}"
        with self._lock:
            self._queries[name] = (role.name, gen_alias, spark_sql)
            self._queries.move_to_end(name)
            while len(self._queries) > REMEMBERED:
                self._queries.popitem(last=False)
        return name

    def bind(self, cur, sql: str, role: Role, gen, *, schema_only: bool = False) -> list[str]:
        """Register on ``cur`` the Arrow result of every placeholder ``sql`` reads; returns
        their names (unregister them once the result is read)."""
        names = sorted(set(PLACEHOLDER.findall(sql)))
        bound = []
        try:
            for name in names:
                with self._lock:
                    entry = self._queries.get(name)
                if entry is None:
                    raise PlanExpired(name)
                role_name, gen_alias, spark_sql = entry
                if role_name != role.name or gen is None or gen_alias != gen.alias:
                    raise PlanExpired(name)  # planned for another role or build
                spark = self._ensure_views(role, gen)
                df = spark.sql(spark_sql)
                table = (df.limit(0) if schema_only else df).toArrow()
                cur.register(name, table)
                bound.append(name)
        except BaseException:
            self.unbind(cur, bound)
            raise
        return bound

    @staticmethod
    def unbind(cur, names: list[str]) -> None:
        for name in names:
            with contextlib.suppress(Exception):  # the cursor may be closed already
                cur.unregister(name)

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for s in sessions:
            with contextlib.suppress(Exception):  # a cluster that went away
                s.stop()
