"""dbt's parse failures told in a few lines that name the file, instead of dbt's traceback;
a metric cycle (which dbt reports as a RecursionError) found and named."""

from __future__ import annotations

import re
from pathlib import Path


def read_yaml(path: Path) -> dict:
    """A YAML file as a mapping; an empty one when it is missing or not valid YAML."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(path.read_text(), Loader=loader) or {}
    except (OSError, yaml.YAMLError):
        return {}


_FILEPATH = re.compile(r"FilePath\(searched_path='([^']*)', relative_path='([^']*)'[^)]*\)")


def explain_parse_failure(project: Path, output: str) -> str:
    """dbt's parse error in a few lines that name the file (not dbt's traceback). A metric
    cycle, which dbt reports as a RecursionError, is found and named here."""
    if "RecursionError" in output or "maximum recursion depth" in output:
        cycle = metric_cycle(project)
        if cycle:
            names, where = cycle
            return (
                f"  the metrics {' → '.join(names)} are computed from each other (a cycle)"
                + (f" in {where}" if where else "")
                + "; a derived or ratio metric cannot read itself through its inputs"
            )
        return "  dbt ran out of recursion depth while parsing (a metric refers to itself?)"
    text = _FILEPATH.sub(lambda m: f"{m.group(1)}/{m.group(2)}", output)
    lines = [ln.rstrip() for ln in text.strip().splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if "Encountered an error" in ln), None)
    picked = lines[start + 1 :] if start is not None else lines[-8:]
    if any(ln.startswith("Traceback") for ln in picked):
        picked = [ln for ln in picked if not ln.startswith((" ", "Traceback"))] or picked[-1:]
    return "\n".join(f"  {ln.strip()}" for ln in picked[:8])


def metric_cycle(project: Path) -> tuple[list[str], str] | None:
    """A cycle among the project's metrics ``(names, file)`` read from its YAML, or None."""
    import yaml

    proj = read_yaml(project / "dbt_project.yml")
    deps: dict[str, set[str]] = {}
    where: dict[str, str] = {}
    for folder in proj.get("model-paths") or ["models"]:
        for f in sorted((project / folder).rglob("*.yml")):
            try:
                doc = yaml.safe_load(f.read_text()) or {}
            except (yaml.YAMLError, OSError, UnicodeDecodeError):
                continue
            for m in doc.get("metrics") or [] if isinstance(doc, dict) else []:
                if not isinstance(m, dict) or "name" not in m:
                    continue
                tp = m.get("type_params") or {}
                inputs = set()
                for key in ("numerator", "denominator"):
                    v = tp.get(key)
                    inputs.add(v.get("name") if isinstance(v, dict) else v)
                for v in tp.get("metrics") or []:
                    inputs.add(v.get("name") if isinstance(v, dict) else v)
                deps[str(m["name"])] = {str(i) for i in inputs if i}
                where[str(m["name"])] = str(f.relative_to(project))
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for d in sorted(deps.get(n, ())):
            if state.get(d) == 1:
                return [*stack[stack.index(d) :], d]
            if d in deps and d not in state and (found := visit(d)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for name in sorted(deps):
        if name not in state and (found := visit(name)):
            return found, where.get(found[0], "")
    return None
