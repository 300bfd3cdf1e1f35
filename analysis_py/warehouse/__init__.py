"""Running dbt, publishing builds atomically, and opening the published warehouse."""

from __future__ import annotations

from pathlib import Path

from analysis_py.warehouse.publish import Published, current, published_duckdb

__all__ = ["Published", "current", "open_duckdb", "published_duckdb"]


def open_duckdb(path: str | Path, read_only: bool = True):
    """Open a DuckDB file (read-only by default: the published warehouse is shared)."""
    import duckdb

    from analysis_py.errors import ConfigError, ManifestError

    path = Path(path)
    if not path.exists():
        raise ManifestError(
            f"DuckDB file {path} does not exist",
            hint="build the warehouse first (dbt build / opsmetrics build) or pass --database",
        )
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        raise ConfigError(f"cannot open {path}: {str(exc).splitlines()[0]}") from None
