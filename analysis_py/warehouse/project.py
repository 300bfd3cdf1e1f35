"""Which models a dbt project counts as governed analysis inputs, read from its
``dbt_project.yml`` without running dbt.

By default an analysis reads only models that are ``access: public`` with an enforced
contract. A project that does not use contracts lists the models it trusts instead::

    vars:
      opsmetrics_governed_inputs: [fct_orders, "dim_*", "tag:certified", "path:models/marts/*"]

Entries are model names or globs, ``tag:<tag>`` or ``path:<glob>`` on the model's file. (The
DuckDB file a project's profile writes is read by :func:`analysis_py.semantic.project.profile_duckdb_path`.)
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

from analysis_py.warehouse.dbt_parse import read_yaml

GOVERNED_INPUTS_VAR = "opsmetrics_governed_inputs"


def project_vars(project_dir: str | Path) -> dict:
    """The ``vars`` of the project's ``dbt_project.yml`` (empty when it has none or no file)."""
    return read_yaml(Path(project_dir) / "dbt_project.yml").get("vars") or {}


def governed_patterns(project_dir: str | Path) -> tuple[str, ...]:
    """The project's ``opsmetrics_governed_inputs`` var (empty when it sets none).

    >>> governed_patterns("/nonexistent")
    ()
    """
    raw = project_vars(project_dir).get(GOVERNED_INPUTS_VAR)
    if raw is None:
        return ()
    if isinstance(raw, str):
        raw = [raw]
    return tuple(str(x) for x in raw)


def matches(patterns: tuple[str, ...], name: str, tags: list[str], path: str) -> bool:
    """Whether a model (name, tags, file path) is listed by the governance patterns.

    >>> matches(("fct_*", "tag:certified"), "dim_x", ["certified"], "models/dim_x.sql")
    True
    >>> matches(("path:models/marts/*",), "stg_x", [], "models/staging/stg_x.sql")
    False
    """
    for p in patterns:
        if p.startswith("tag:"):
            if p[4:] in tags:
                return True
        elif p.startswith("path:"):
            if fnmatch.fnmatch(path, p[5:]):
                return True
        elif fnmatch.fnmatch(name, p):
            return True
    return False
