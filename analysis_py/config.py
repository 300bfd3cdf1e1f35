"""Where things live: project, raw data, warehouse, dbt profiles.

Resolution order for every path: explicit argument > environment variable > default
relative to the dbt project directory. The dbt profile (``profiles/profiles.yml``) reads
the same environment variables, so ``dbt`` run by hand and ``opsmetrics`` agree.

=============================  ==========================================  =====================
environment variable           meaning                                     default
=============================  ==========================================  =====================
``OPSMETRICS_PROJECT_DIR``     the dbt project (holds ``dbt_project.yml``)  nearest parent of cwd
``OPSMETRICS_DATA_DIR``        raw Parquet landing folder                   ``<project>/data/raw``
``OPSMETRICS_WAREHOUSE_DIR``   published DuckDB warehouses                  ``<project>/warehouse``
``OPSMETRICS_DUCKDB_PATH``     DuckDB file dbt writes (set per build)       ``<warehouse>/dev.duckdb``
=============================  ==========================================  =====================
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from analysis_py.errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent
#: The repository root when running from a checkout (editable install).
REPO_DIR = PACKAGE_DIR.parent

PUBLISHED_NAME = "opsmetrics.duckdb"


def project_dir(path=None) -> Path:
    """The dbt project folder: ``path`` (which must hold ``dbt_project.yml``), else the one
    :func:`find_project_dir` finds."""
    if path:
        p = Path(path).expanduser().resolve()
        if not (p / "dbt_project.yml").is_file():
            raise ConfigError(
                f"{p} has no dbt_project.yml", hint="pass the folder that holds dbt_project.yml"
            )
        return p
    return find_project_dir()


def find_project_dir(start: Path | None = None) -> Path:
    """The dbt project directory: ``$OPSMETRICS_PROJECT_DIR``, else the nearest parent of
    ``start`` (default: cwd) holding ``dbt_project.yml``, else the package's checkout."""
    env = os.environ.get("OPSMETRICS_PROJECT_DIR")
    if env:
        p = Path(env).expanduser().resolve()
        if not (p / "dbt_project.yml").is_file():
            raise ConfigError(
                f"OPSMETRICS_PROJECT_DIR={env} has no dbt_project.yml",
                hint="point it at the folder that holds dbt_project.yml, or unset it",
            )
        return p
    here = (start or Path.cwd()).resolve()
    for p in (here, *here.parents):
        if (p / "dbt_project.yml").is_file():
            return p
    if (REPO_DIR / "dbt_project.yml").is_file():
        return REPO_DIR
    raise ConfigError(
        "no dbt project found (no dbt_project.yml in this folder or its parents)",
        hint="run from the opsmetrics checkout, pass --project-dir, or set OPSMETRICS_PROJECT_DIR",
    )


@dataclass(frozen=True)
class Paths:
    """Resolved locations for one project."""

    project_dir: Path
    data_dir: Path
    warehouse_dir: Path

    @property
    def profiles_dir(self) -> Path:
        return self.project_dir / "profiles"

    @property
    def target_dir(self) -> Path:
        return self.project_dir / "target"

    @property
    def builds_dir(self) -> Path:
        return self.warehouse_dir / "builds"

    @property
    def published_path(self) -> Path:
        """Stable name of the last good warehouse (a symlink swapped atomically)."""
        return self.warehouse_dir / PUBLISHED_NAME

    @property
    def ground_truth_path(self) -> Path:
        return self.data_dir / "ground_truth.json"

    def env(self) -> dict[str, str]:
        """Environment variables that make dbt's profile agree with these paths."""
        return {
            "OPSMETRICS_PROJECT_DIR": str(self.project_dir),
            "OPSMETRICS_DATA_DIR": str(self.data_dir),
            "OPSMETRICS_WAREHOUSE_DIR": str(self.warehouse_dir),
        }


def resolve_paths(
    project_dir: str | Path | None = None,
    data_dir: str | Path | None = None,
    warehouse_dir: str | Path | None = None,
) -> Paths:
    proj = Path(project_dir).expanduser().resolve() if project_dir else find_project_dir()
    data = data_dir or os.environ.get("OPSMETRICS_DATA_DIR") or proj / "data" / "raw"
    wh = warehouse_dir or os.environ.get("OPSMETRICS_WAREHOUSE_DIR") or proj / "warehouse"
    return Paths(
        project_dir=proj,
        data_dir=Path(data).expanduser().resolve(),
        warehouse_dir=Path(wh).expanduser().resolve(),
    )
