"""What a dbt project says about itself that opsmetrics reads without running dbt: which
models a team counts as governed analysis inputs, and where its DuckDB profile writes.

Both make the analysis layer work on a dbt project that is not opsmetrics' own:

* **Governed inputs.** By default an analysis reads only models that are ``access: public``
  with an enforced contract. A project that does not use contracts lists the models it
  trusts in ``dbt_project.yml``::

      vars:
        opsmetrics_governed_inputs: [fct_orders, "dim_*", "tag:certified", "path:models/marts/*"]

  Entries are model names or globs, ``tag:<tag>`` or ``path:<glob>`` on the model's file.
* **The warehouse.** ``opsmetrics analyze`` reads ``--database``, else opsmetrics' published
  build, else the DuckDB file the project's profile writes (``profiles.yml`` beside the
  project or in its ``profiles/``, in ``$DBT_PROFILES_DIR`` or in ``~/.dbt``; ``env_var()`` rendered as dbt does).
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path

GOVERNED_INPUTS_VAR = "opsmetrics_governed_inputs"


def _yaml(path: Path) -> dict:
    import yaml

    try:
        return yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}


def governed_patterns(project_dir: str | Path) -> tuple[str, ...]:
    """The project's ``opsmetrics_governed_inputs`` var (empty when it sets none).

    >>> governed_patterns("/nonexistent")
    ()
    """
    raw = (_yaml(Path(project_dir) / "dbt_project.yml").get("vars") or {}).get(GOVERNED_INPUTS_VAR)
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


def profile_duckdb_path(project_dir: str | Path, target: str | None = None) -> Path | None:
    """The DuckDB file the project's dbt profile writes for ``target`` (default: the profile's
    own default), or None when the profile is not found or is not DuckDB."""
    proj = Path(project_dir)
    name = _yaml(proj / "dbt_project.yml").get("profile")
    if not name:
        return None
    dirs = [proj, proj / "profiles"]
    if os.environ.get("DBT_PROFILES_DIR"):
        dirs.insert(0, Path(os.environ["DBT_PROFILES_DIR"]))
    dirs.append(Path.home() / ".dbt")
    for d in dirs:
        profiles = _yaml(d / "profiles.yml")
        prof = profiles.get(name)
        if not isinstance(prof, dict):
            continue
        out = (prof.get("outputs") or {}).get(target or _render(str(prof.get("target", "dev"))))
        if not isinstance(out, dict) or out.get("type") != "duckdb":
            return None
        raw = _render(str(out.get("path") or ""))
        if not raw or raw == ":memory:" or raw.startswith("md:"):
            return None
        p = Path(raw).expanduser()
        return p if p.is_absolute() else (proj / p)
    return None


def _render(text: str) -> str:
    """``{{ env_var('X', 'default') }}`` and friends, rendered as dbt renders profiles."""
    if "{{" not in text and "{%" not in text:
        return text
    import jinja2

    def env_var(key: str, default: str | None = None) -> str:
        if key in os.environ:
            return os.environ[key]
        if default is None:
            raise KeyError(key)
        return default

    try:
        return jinja2.Environment().from_string(text).render(env_var=env_var)
    except (jinja2.TemplateError, KeyError):
        return ""
