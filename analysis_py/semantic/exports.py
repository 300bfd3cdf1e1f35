"""Saved-query exports materialised as tables or views (MetricFlow leaves them a no-op in
``dbt build``).

Exports need a writable DuckDB file. The published warehouse is opened read-only by readers,
so the build step calls :func:`run_exports` on the *build* file before it is published; running
``opsmetrics export --database FILE`` by hand writes into the file named. All exports are
written in one transaction: either every export is replaced or none is.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from analysis_py.errors import ConfigError, QueryError


@contextlib.contextmanager
def all_or_nothing(conn, what: str, hint: str):
    """One transaction on a build file: every statement of the block is kept, or none (a
    DuckDB error becomes a clear error saying nothing was written)."""
    import duckdb

    conn.execute("BEGIN TRANSACTION")
    try:
        yield
        conn.execute("COMMIT")
    except duckdb.Error as exc:
        conn.execute("ROLLBACK")
        raise QueryError(
            f"{what} failed, nothing was written: {str(exc).splitlines()[0]}", hint=hint
        ) from None
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def run_exports(
    manifest, duckdb_path, saved_queries=None, default_schema: str = "main"
) -> list[str]:
    """Materialise the exports of ``saved_queries`` (all when None); returns relation names."""
    import duckdb

    from analysis_py.semantic.layer import SemanticLayer

    path = Path(duckdb_path)
    if not path.exists():
        raise ConfigError(f"DuckDB file {path} does not exist", hint="build the warehouse first")
    try:
        conn = duckdb.connect(str(path))
    except duckdb.Error as exc:
        raise ConfigError(
            f"cannot open {path} for writing: {str(exc).splitlines()[0]}",
            hint="exports write into the build file before it is published; close other writers",
        ) from None
    try:
        sl = SemanticLayer(manifest, connection=conn)
        wanted = list(saved_queries) if saved_queries else list(sl.manifest.saved_queries)
        plans = []
        for name in wanted:
            sq = sl.manifest.saved_queries.get(name)
            if sq is None:
                raise QueryError(f"unknown saved query '{name}'")
            for ex in sq.exports:
                q = sl.compile(saved_query=name)
                schema = ex.schema or default_schema
                plans.append((schema, ex.alias, ex.export_as, q.expression.sql(dialect="duckdb")))
        written = []
        with all_or_nothing(
            conn,
            "export",
            "run `opsmetrics validate` and the saved query with `opsmetrics query --saved-query`",
        ):
            for schema, alias, kind, sql in plans:
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                what = "VIEW" if kind == "view" else "TABLE"
                existing = conn.execute(
                    "select table_type from information_schema.tables where table_schema = ? and table_name = ?",
                    [schema, alias],
                ).fetchall()
                if existing:
                    old_kind = "VIEW" if existing[0][0] == "VIEW" else "TABLE"
                    conn.execute(f'DROP {old_kind} "{schema}"."{alias}"')
                conn.execute(f'CREATE {what} "{schema}"."{alias}" AS {sql}')
                written.append(f"{schema}.{alias}")
        return written
    finally:
        conn.close()


def export_step(target_dir: Path, db_file: Path, step) -> None:
    """The build's post-build step: materialise every saved-query export of the manifest in
    ``target_dir`` into the build file ``db_file`` before it is published."""
    manifest = Path(target_dir) / "semantic_manifest.json"
    if manifest.is_file():
        step("saved-query exports")
        run_exports(manifest, db_file)
