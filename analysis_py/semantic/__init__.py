"""The semantic layer: dbt semantic manifest → sqlglot SQL → results.

``from analysis_py.semantic import SemanticLayer`` is the entry point; submodules are imported
lazily so that importing this package is cheap.
"""

from __future__ import annotations

__all__ = ["DIALECTS", "CompiledQuery", "SemanticLayer"]

#: the SQL dialects a request compiles to (sqlglot's names)
DIALECTS = ("duckdb", "spark", "snowflake", "bigquery", "postgres", "trino")


def __getattr__(name: str):
    if name in __all__:
        from analysis_py.semantic import layer

        return getattr(layer, name)
    raise AttributeError(name)
