"""Find a dbt project's semantic manifest and its DuckDB file without importing dbt.

The profile YAML is read directly; ``{{ env_var('NAME', 'default') }}`` (the only Jinja that
profiles here use) is rendered by a small regex so the query path stays free of dbt and Jinja.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from analysis_py.errors import ConfigError, ManifestError
from analysis_py.warehouse.dbt_parse import explain_parse_failure

_JINJA = re.compile(r"\{\{(.*?)\}\}", re.S)


def _eval_jinja(node, text: str) -> str:
    """Evaluate the tiny Jinja subset profiles use: string literals, ``env_var(name[, default])``
    (nested) and ``~`` concatenation. Anything else is refused."""
    import ast

    if isinstance(node, ast.Constant) and isinstance(node.value, str | int | float):
        return str(node.value)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _eval_jinja(node.left, text) + _eval_jinja(node.right, text)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "env_var":
        args = [_eval_jinja(a, text) for a in node.args]
        if not args:
            raise ConfigError(f"env_var() without a name in profile value {text!r}")
        val = os.environ.get(args[0], args[1] if len(args) > 1 else None)
        if val is None:
            raise ConfigError(
                f"environment variable {args[0]} is not set (the dbt profile needs it)",
                hint=f"export {args[0]}=… or give it a default in profiles.yml",
            )
        return val
    raise ConfigError(
        f"unsupported Jinja in profile value {text!r}",
        hint="opsmetrics reads env_var('NAME', 'default') and ~ concatenation; use --database FILE",
    )


def render_env(text: str) -> str:
    """Render ``{{ env_var('X', 'default') }}`` (nested, with ``~``) without Jinja or dbt.

    >>> os.environ["OPSM_DOCTEST"] = "a.duckdb"; render_env("{{ env_var('OPSM_DOCTEST') }}")
    'a.duckdb'
    >>> render_env("{{ env_var('OPSM_UNSET_X', env_var('OPSM_DOCTEST') ~ '.bak') }}")
    'a.duckdb.bak'
    """
    from analysis_py.semantic.names import parse_python_expression

    def repl(m: re.Match) -> str:
        src = m.group(1).strip().replace("~", "+")
        try:
            tree = parse_python_expression(src)
        except SyntaxError:
            raise ConfigError(f"cannot read Jinja in profile value {text!r}") from None
        return _eval_jinja(tree, text)

    return _JINJA.sub(repl, text)


def _yaml(path: Path) -> dict:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(path.read_text(), Loader=loader) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None


def _render_tree(obj):
    if isinstance(obj, str):
        return render_env(obj)
    if isinstance(obj, dict):
        return {k: _render_tree(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_render_tree(v) for v in obj]
    return obj


def profiles_dir_for(project: Path, profiles_dir=None) -> Path:
    """dbt's order: --profiles-dir, $DBT_PROFILES_DIR, the project folder, ~/.dbt; this repo
    also keeps its profile in ``<project>/profiles``."""
    candidates = [
        Path(profiles_dir) if profiles_dir else None,
        Path(os.environ["DBT_PROFILES_DIR"]) if os.environ.get("DBT_PROFILES_DIR") else None,
        project,
        project / "profiles",
        Path.home() / ".dbt",
    ]
    for c in candidates:
        if c is not None and (c / "profiles.yml").is_file():
            return c
    raise ConfigError(
        f"no profiles.yml found for the dbt project {project}",
        hint="pass --profiles-dir DIR or set DBT_PROFILES_DIR",
    )


def profile_duckdb_path(project: Path, target=None, profiles_dir=None) -> Path:
    """The DuckDB file the project's profile/target points at (relative paths: the project)."""
    proj = _yaml(project / "dbt_project.yml")
    pdir = profiles_dir_for(project, profiles_dir)
    profiles = _yaml(pdir / "profiles.yml")
    name = proj.get("profile")
    prof = profiles.get(name)
    if not isinstance(prof, dict):
        raise ConfigError(f"profile '{name}' is not in {pdir / 'profiles.yml'}")
    tname = target or os.environ.get("DBT_TARGET") or render_env(str(prof.get("target", "dev")))
    outputs = prof.get("outputs") or {}
    out = outputs.get(tname)
    if out is None:
        raise ConfigError(
            f"target '{tname}' is not in profile '{name}'",
            hint=f"targets: {', '.join(outputs) or 'none'}",
        )
    out = _render_tree(out)
    if str(out.get("type")) != "duckdb":
        raise ConfigError(
            f"target '{tname}' is a {out.get('type')} target; opsmetrics executes on DuckDB",
            hint="use --explain --dialect … to get SQL for other engines",
        )
    path = Path(str(out.get("path") or ":memory:")).expanduser()
    if not path.is_absolute():
        path = (project / path).resolve()
    return path


def find_manifest(project: Path, target=None, profiles_dir=None) -> Path:
    """``<project>/<target-path>/semantic_manifest.json``; runs ``dbt parse`` only if missing."""
    proj = _yaml(project / "dbt_project.yml")
    tdir = project / str(proj.get("target-path") or "target")
    path = tdir / "semantic_manifest.json"
    if path.is_file():
        return path
    proc = _dbt_parse(project, target, profiles_dir, f"{path} is missing and dbt could not be run")
    if proc.returncode != 0 or not path.is_file():
        raise ManifestError(
            f"{path} is missing and `dbt parse` failed:\n"
            + explain_parse_failure(project, proc.stdout + proc.stderr)
        )
    return path


def published_warehouse(project: Path) -> tuple[Path | None, Path] | None:
    """The published warehouse of an opsmetrics project, if one exists: (its semantic
    manifest, its DuckDB file). Builds publish ``<warehouse>/opsmetrics.duckdb`` with the
    artifacts that match it in ``<warehouse>/target``; the profile's path names the file dbt
    writes during a build, not the file readers should open."""
    from analysis_py.config import resolve_paths

    try:
        paths = resolve_paths(project_dir=project)
    except Exception:
        return None
    db = paths.published_path
    if db.is_symlink() and not db.exists():
        from analysis_py.errors import DataNotFoundError

        raise DataNotFoundError(
            f"the published warehouse {db} points to {os.readlink(db)}, which does not exist",
            hint="the build file was moved or deleted: run `opsmetrics build` to publish again",
        )
    if not db.exists():
        return None
    manifest = paths.warehouse_dir / "target" / "semantic_manifest.json"
    return (manifest if manifest.is_file() else None), db


def resolve_sources(project: Path, target=None, profiles_dir=None, database=None, connect=True):
    """(manifest path, DuckDB path or None) for a project: the published warehouse and its own
    manifest when there is one and no target/database was asked for, else the dbt profile's."""
    if target is None and database is None:
        pub = published_warehouse(project)
        if pub is not None:
            manifest, db = pub
            return manifest or find_manifest(project, profiles_dir=profiles_dir), (
                db if connect else None
            )
    manifest = find_manifest(project, target=target, profiles_dir=profiles_dir)
    if not connect:
        return manifest, None
    db = (
        Path(database)
        if database
        else profile_duckdb_path(project, target=target, profiles_dir=profiles_dir)
    )
    return manifest, db


def _dbt_parse(project: Path, target, profiles_dir, cannot: str, extra=()):
    """``dbt parse`` of ``project`` (the finished process; ``cannot`` starts the error when
    dbt cannot be started at all)."""
    dbt = shutil.which("dbt") or str(Path(sys.executable).with_name("dbt"))
    cmd = [
        dbt,
        "parse",
        *extra,
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(profiles_dir_for(project, profiles_dir)),
    ]
    if target:
        cmd += ["--target", target]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    except OSError as exc:
        raise ManifestError(f"{cannot}: {exc}") from None


def parse_project(project: Path, target=None, profiles_dir=None) -> Path:
    """``dbt parse`` of the project as it is now, into a fresh target folder; the path of its
    semantic manifest (a :class:`ManifestError` explaining the failure otherwise)."""
    import tempfile

    out = Path(tempfile.mkdtemp(prefix="opsmetrics-parse-"))
    proc = _dbt_parse(
        project,
        target,
        profiles_dir,
        "dbt could not be run",
        extra=["--no-partial-parse", "--target-path", str(out)],
    )
    path = out / "semantic_manifest.json"
    if proc.returncode != 0 or not path.is_file():
        raise ManifestError(
            f"dbt cannot parse the project {project}:\n"
            + explain_parse_failure(project, proc.stdout + proc.stderr)
        )
    return path
