"""The user-facing facade: ``SemanticLayer`` and the compiled query it returns (``.sql``,
``.to_pandas()``, ``.to_ibis()``, …)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis_py.config import project_dir as project_dir_of
from analysis_py.errors import ConfigError, QueryError, did_you_mean
from analysis_py.semantic import DIALECTS
from analysis_py.semantic.compiler import Compiler, make_request
from analysis_py.semantic.manifest import Manifest, load_manifest
from analysis_py.semantic.request import Request
from analysis_py.warehouse import open_duckdb


@dataclass
class CompiledQuery:
    """A compiled metric request. Building it runs nothing; ``to_*`` methods execute it."""

    layer: SemanticLayer
    request: Any
    expression: Any  # sqlglot Select for the layer's dialect
    columns: list[str]
    #: "marts", or "rollup <name>" when a rollup of the build answers the request
    answered_from: str = "marts"
    #: why: which rollup holds the request, or why none does
    why: str = ""

    @property
    def sql(self) -> str:
        return self.expression.sql(dialect=self.layer.dialect, pretty=True)

    @property
    def metrics_used(self) -> frozenset[str]:
        """Every metric this query reads: requested (or the saved query's), named by
        ``{{ Metric(...) }}`` in a filter, and the inputs of each, recursively. Grants are
        checked on all of them, so no path computes a metric the caller may not see."""
        return metrics_touched(self.layer.manifest, self.request)

    def sql_for(self, dialect: str) -> str:
        """SQL for another engine, built as a tree for that dialect (not transpiled text)."""
        if dialect not in DIALECTS:
            raise QueryError(
                f"unknown dialect '{dialect}'", hint=f"choose one of: {', '.join(DIALECTS)}"
            )
        if dialect == self.layer.dialect:
            return self.sql
        comp = Compiler(self.layer.manifest, dialect, self.layer.relation_resolver)
        tree, _cols = comp.compile(self.request)
        return tree.sql(dialect=dialect, pretty=True)

    def _conn(self):
        conn = self.layer.connection
        if conn is None:
            raise ConfigError(
                "this SemanticLayer has no database connection",
                hint="use SemanticLayer.from_dbt(...) or from_manifest(path, connection)",
            )
        return conn

    def to_arrow(self):
        cached = self.layer._cached(self._conn(), self.expression.sql(dialect="duckdb"))
        if cached is not None:
            return cached
        return self._conn().sql(self.expression.sql(dialect="duckdb")).to_arrow_table()

    def to_pandas(self):
        cached = self.layer._cached(self._conn(), self.expression.sql(dialect="duckdb"))
        if cached is not None:
            df = cached.to_pandas()
        else:
            df = self._conn().sql(self.expression.sql(dialect="duckdb")).df()
        df.columns = self.columns
        return df

    def fetchall(self) -> list[tuple]:
        cached = self.layer._cached(self._conn(), self.expression.sql(dialect="duckdb"))
        if cached is not None:
            return [tuple(r.values()) for r in cached.to_pylist()]
        return self._conn().sql(self.expression.sql(dialect="duckdb")).fetchall()

    def to_ibis(self, backend=None):
        """An ibis table expression over this query's SQL (duckdb backend by default, on the
        same connection), so further work is pushed down to the engine."""
        import ibis

        _ibis_duckdb2_compat()
        if backend is None:
            backend = ibis.duckdb.from_connection(self._conn())
        return backend.sql(self.expression.sql(dialect="duckdb"), dialect="duckdb")


class SemanticLayer:
    """Compile (and run) metric requests against a dbt semantic manifest.

    >>> # sl = SemanticLayer.from_dbt("path/to/project"); sl.query(metrics=["revenue"]).to_pandas()
    """

    def __init__(
        self,
        manifest,
        connection=None,
        dialect: str = "duckdb",
        relation_resolver=None,
        result_cache=None,
    ):
        self.manifest: Manifest = load_manifest(manifest)
        self.connection = connection
        #: a :class:`~analysis_py.warehouse.result_cache.ResultCache` (or its size in bytes):
        #: results of a read-only database file are kept and served again; types then are
        #: Arrow's for every ``to_*`` method
        if isinstance(result_cache, int):
            from analysis_py.warehouse.result_cache import ResultCache

            result_cache = ResultCache(result_cache)
        self.results = result_cache
        self._db_identity: tuple | None = None
        self._rollups: list | None = None
        #: rollup → the table to read it as (the server points at each role's view)
        self.rollup_resolver = None
        if dialect not in DIALECTS:
            raise QueryError(
                f"unknown dialect '{dialect}'", hint=f"choose one of: {', '.join(DIALECTS)}"
            )
        self.dialect = dialect
        self.relation_resolver = relation_resolver
        self._compiler = Compiler(self.manifest, dialect, relation_resolver)

    def _cached(self, conn, sql: str):
        """The Arrow result of ``sql`` through the result cache; None when there is none or
        the database can change under it (only a read-only file is cached, keyed by its path,
        inode and modification time: a published build is a new file)."""
        if self.results is None or not self.results.enabled:
            return None
        identity = self._identity(conn)
        if identity is None:
            return None
        hit = self.results.get(identity, sql)
        if hit is not None:
            return hit.table
        table = conn.sql(sql).to_arrow_table()
        self.results.put(identity, sql, (), table)
        return table

    def _identity(self, conn) -> str | None:
        if self._db_identity is None or self._db_identity[0] is not conn:
            import os

            rows = conn.execute(
                "SELECT path, readonly FROM duckdb_databases() "
                "WHERE database_name = current_database()"
            ).fetchall()
            row = rows[0] if rows else None
            ident = None
            if row and row[0] and row[1]:
                st = os.stat(row[0])
                ident = f"{os.path.realpath(row[0])}:{st.st_ino}:{st.st_mtime_ns}"
            self._db_identity = (conn, ident)
        return self._db_identity[1]

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def from_manifest(cls, manifest, connection=None, **kw) -> SemanticLayer:
        if isinstance(connection, str | Path):
            connection = open_duckdb(Path(connection))
        return cls(manifest, connection=connection, **kw)

    @classmethod
    def from_dbt(
        cls, project_dir=None, target=None, profiles_dir=None, connect: bool = True, **kw
    ) -> SemanticLayer:
        from analysis_py.semantic.project import resolve_sources

        # Same resolution as the CLI: the published warehouse with its own manifest when there
        # is one (and no target was asked for), else the file the dbt profile names.
        project = project_dir_of(project_dir)
        manifest_path, db = resolve_sources(
            project, target=target, profiles_dir=profiles_dir, connect=connect
        )
        conn = open_duckdb(db) if connect and db is not None else None
        return cls(manifest_path, connection=conn, **kw)

    # -- queries -----------------------------------------------------------------------------

    def compile(
        self,
        metrics=None,
        group_by=None,
        where=None,
        order_by=None,
        limit=None,
        start_time=None,
        end_time=None,
        saved_query: str | None = None,
        min_max_only: bool = False,
        apply_group_by: bool = True,
        *,
        use_rollups: bool = True,
        rollups=None,
    ) -> CompiledQuery:
        """Compile a request. ``min_max_only`` (no metrics) gives each group-by item's range as
        ``<item>__min``/``<item>__max``; ``apply_group_by=False`` (no metrics) gives the values
        without de-duplication. Both are MetricFlow's API-only options. A rollup of the build
        (:mod:`analysis_py.semantic.rollups`) answers the request when it can, unless
        ``use_rollups`` is False; ``rollups`` overrides the list the layer read from its
        connection (the server passes each role's)."""
        req = self._with_saved_query(
            saved_query,
            make_request(
                metrics,
                group_by,
                where,
                order_by,
                limit,
                start_time,
                end_time,
                min_max_only=min_max_only,
                apply_group_by=apply_group_by,
            ),
        )
        candidates = self.rollups() if rollups is None else rollups
        why = ""
        if use_rollups and candidates and self.dialect == "duckdb":
            from analysis_py.semantic import rollups as ru

            found = ru.match(candidates, req)
            why = found.why
            if found.rollup is not None:
                table = self._rollup_table(found.rollup)
                _marts, cols = self._compiler.compile(req)  # the columns, in the marts' order
                tree, cols = ru.render(found.rollup, req, table, cols)
                return CompiledQuery(self, req, tree, cols, f"rollup {found.rollup.name}", why)
        elif candidates and not use_rollups:
            why = "rollups not used (asked for the marts)"
        tree, cols = self._compiler.compile(req)
        return CompiledQuery(self, req, tree, cols, "marts", why)

    def rollups(self) -> list:
        """The rollups the connected build holds (read once); none without a connection."""
        if self._rollups is None:
            from analysis_py.semantic import rollups as ru

            self._rollups = ru.load(self.connection) if self.connection is not None else []
        return self._rollups

    def _rollup_table(self, rollup):
        from sqlglot import exp

        if self.rollup_resolver is not None:
            return self.rollup_resolver(rollup)
        return exp.table_(rollup.name, db="rollups", quoted=True)

    def plan(self, *args, **kwargs):
        """The immutable plan (:class:`analysis_py.semantic.plan.QueryPlan`) of the request
        :meth:`compile` takes: the metric nodes the SQL is rendered from; ``.describe()``
        prints it."""
        return self._compiler.plan(self.compile(*args, **kwargs).request)

    def _with_saved_query(self, name: str | None, req: Request) -> Request:
        """``req`` completed from saved query ``name``: what the request leaves out is the
        saved query's, and the saved query's filters apply as well as the request's."""
        if not name:
            return req
        sq = self.manifest.saved_queries.get(name)
        if sq is None:
            raise QueryError(
                f"unknown saved query '{name}'",
                hint=did_you_mean(name, self.manifest.saved_queries)
                or "see `opsmetrics list saved-queries`",
            )
        saved = make_request(sq.metrics, sq.group_by, list(sq.where), sq.order_by, sq.limit)
        return dataclasses.replace(
            req,
            metrics=req.metrics or saved.metrics,
            group_by=req.group_by or saved.group_by,
            where=saved.where + req.where,
            order_by=req.order_by or saved.order_by,
            limit=req.limit if req.limit is not None else saved.limit,
        )

    query = compile  # a CompiledQuery runs lazily: .to_pandas() / .to_arrow() execute it

    # -- metadata ----------------------------------------------------------------------------

    def metrics(self) -> list[dict]:
        out = []
        for m in sorted(self.manifest.metrics.values(), key=lambda x: x.name):
            out.append(
                {
                    "name": m.name,
                    "type": m.type,
                    "label": m.label,
                    "description": m.description,
                    "dimensions": None,
                }
            )
        return out

    def dimensions(self, metrics=None) -> list[dict]:
        from analysis_py.semantic.dimensions import dimensions_for

        return dimensions_for(self, metrics)

    def entities(self) -> list[dict]:
        seen = {}
        for sm in self.manifest.semantic_models.values():
            for e in sm.entities:
                d = seen.setdefault(
                    e.name,
                    {
                        "name": e.name,
                        "type": e.type,
                        "description": e.description,
                        "semantic_models": [],
                    },
                )
                d["semantic_models"].append(sm.name)
                if e.is_unique:
                    d["type"] = e.type
        return sorted(seen.values(), key=lambda d: d["name"])

    def saved_queries(self) -> list[dict]:
        return [
            {
                "name": s.name,
                "description": s.description,
                "label": s.label,
                "metrics": list(s.metrics),
                "group_by": list(s.group_by),
                "where": list(s.where),
                "exports": [e.alias for e in s.exports],
            }
            for s in sorted(self.manifest.saved_queries.values(), key=lambda x: x.name)
        ]


def _filter_metrics(text: str) -> list[str]:
    from analysis_py.semantic.where import parse_filter

    return [r.element for r in parse_filter(text).refs if r.kind == "metric"]


def metrics_touched(manifest: Manifest, request) -> frozenset[str]:
    """The closure of metrics a request reads (see :attr:`CompiledQuery.metrics_used`)."""
    todo = list(request.metrics)
    for w in request.where:
        todo += _filter_metrics(w)
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        m = manifest.metrics.get(name)
        if m is None:
            continue
        filters = list(m.filters)
        for inp in (m.numerator, m.denominator, *m.inputs):
            if inp is not None:
                todo.append(inp.name)
                filters += inp.filters
        conv = m.conversion
        for measure in (m.measure, conv.base if conv else None, conv.conversion if conv else None):
            if measure is not None:
                filters += measure.filters
        for f in filters:
            todo += _filter_metrics(f)
    return frozenset(seen)


def _ibis_duckdb2_compat() -> None:
    """Ibis 12's DuckDB backend calls ``fetch_arrow_table()`` on the connection's result, which
    DuckDB 2 renamed to ``to_arrow_table()``; restore the old name once (idempotent)."""
    import warnings

    import duckdb

    if hasattr(duckdb.DuckDBPyConnection, "fetch_arrow_table"):
        return

    def fetch_arrow_table(self, *args, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return self.to_arrow_table(*args, **kwargs)

    duckdb.DuckDBPyConnection.fetch_arrow_table = fetch_arrow_table
