"""Metric requests on the published Spark build (``opsmetrics query --target spark``).

The compiler renders the request as Spark SQL (its tree is built per dialect, never transpiled
from DuckDB SQL) against the semantic manifest of the Spark build itself, and a local Spark
session with that build's tables registered runs it. Rows come back as plain Python tuples in
the compiler's column order, like the DuckDB path.

On a Spark cluster (``--target spark_cluster``) the same SQL runs through Spark Connect on
the cluster's published build, whose relations the manifest names.
"""

from __future__ import annotations

from pathlib import Path

from analysis_py.errors import QueryError


def compile_request(manifest_path: Path, request: dict) -> tuple[str, list[str]]:
    """(Spark SQL, output columns) for a request (the keys of ``SemanticLayer.compile``)."""
    from analysis_py.semantic.layer import SemanticLayer

    q = SemanticLayer(manifest_path, dialect="spark").compile(**request)
    return q.sql, list(q.columns)


def execute(spark, sql: str) -> list[tuple]:
    """Run Spark SQL; errors become a QueryError naming the first line of Spark's message."""
    try:
        return [tuple(r) for r in spark.sql(sql).collect()]
    except Exception as exc:  # pyspark raises its own AnalysisException / Py4J errors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise QueryError(
            f"Spark could not run the query: {first}",
            hint="check that the published Spark build matches the manifest (opsmetrics build --target spark)",
        ) from None


def run_request(paths, request: dict, *, explain: bool = False, cluster: bool = False):
    """Compile against the published Spark build and run it: (sql, columns, rows or None).
    ``cluster``: the build published on a Spark cluster, read through Spark Connect."""
    from analysis_py.warehouse import spark_cluster_build
    from analysis_py.warehouse import spark_target as spark_wh

    published = spark_cluster_build.current(paths) if cluster else spark_wh.current(paths)
    manifest = published.semantic_manifest_path
    if not manifest.is_file():
        raise QueryError(
            f"the published Spark build has no semantic manifest at {manifest}",
            hint="rebuild with `opsmetrics build --target spark`",
        )
    sql, columns = compile_request(manifest, request)
    if explain:
        return sql, columns, None
    if cluster:
        session = spark_cluster_build.remote_session(paths)
    else:
        session, _ = spark_wh.published_session(paths, app_name="opsmetrics-query")
    return sql, columns, execute(session, sql)
