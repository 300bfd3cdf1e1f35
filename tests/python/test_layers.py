"""Layers point down: each package of analysis_py imports only the packages below it, at
any depth of its code (lazy imports included). No exceptions.

    errors, config, progress                  foundations
    generate, warehouse                       data: raw sources, dbt builds, results layout
    semantic                                  the metric compiler
    sql                                       pure SQL translation (semantic SQL, JDBC, guard)
    pg                                        PostgreSQL emulation (types, catalog, session)
    serve                                     the wire
    agents                                    MCP tools over the same sessions
    analyses  → semantic, warehouse           statistics on governed tables
    report    → analyses, warehouse           what the analyses tell
    commands, jobs, cli                       the entry points: anything
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "analysis_py"

FOUNDATIONS = {"errors", "config", "progress"}
#: package → the packages it may import (besides itself and the foundations)
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "config": set(),
    "progress": set(),
    "generate": set(),
    "warehouse": set(),
    "semantic": {"warehouse"},
    "sql": {"semantic", "warehouse"},
    "pg": {"sql", "semantic", "warehouse"},
    "serve": {"pg", "sql", "semantic", "warehouse"},
    "agents": {"serve", "pg", "sql", "semantic", "warehouse"},
    "analyses": {"semantic", "warehouse"},
    "report": {"analyses", "warehouse"},
}
ENTRY_POINTS = {"commands", "jobs", "cli", "__init__", "__main__"}


def _imports(path: Path) -> set[str]:
    """Every analysis_py package or top-level module a file imports, at any depth."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for n in names:
            parts = n.split(".")
            if parts[0] == "analysis_py" and len(parts) > 1:
                out.add(parts[1])
    return out


def _unit(path: Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def test_every_unit_has_a_layer():
    units = {_unit(f) for f in PKG.rglob("*.py")}
    assert units - ENTRY_POINTS <= set(ALLOWED), sorted(units - ENTRY_POINTS - set(ALLOWED))


@pytest.mark.parametrize("unit", sorted(ALLOWED))
def test_a_unit_imports_nothing_above_it(unit):
    allowed = {unit} | ALLOWED[unit] | (FOUNDATIONS if unit not in FOUNDATIONS else {"errors"})
    files = sorted(PKG.glob(f"{unit}/**/*.py")) or [PKG / f"{unit}.py"]
    bad = {}
    for f in files:
        wrong = _imports(f) - allowed
        if wrong:
            bad[str(f.relative_to(PKG))] = sorted(wrong)
    assert not bad, f"imports pointing up or sideways: {bad}"


def test_the_checker_sees_lazy_imports(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from analysis_py.serve import wire\n")
    assert _imports(f) == {"serve"}
