"""Light helpers shared by the CLI fast path and the facade (no sqlglot import here)."""

from __future__ import annotations

from pathlib import Path

from analysis_py.errors import ConfigError, ManifestError


def project_dir(path=None) -> Path:
    from analysis_py.config import find_project_dir

    if path:
        p = Path(path).expanduser().resolve()
        if not (p / "dbt_project.yml").is_file():
            raise ConfigError(
                f"{p} has no dbt_project.yml", hint="pass the folder that holds dbt_project.yml"
            )
        return p
    return find_project_dir()


def open_duckdb(path: Path, read_only: bool = True):
    """Open a DuckDB file (read-only by default: the published warehouse is shared)."""
    import duckdb

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
