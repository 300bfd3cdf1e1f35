"""Layers point down: each package imports only the packages below it, lazily or not.

serve (the wire) → pg (PostgreSQL emulation) → sql (pure translation) → semantic."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "analysis_py"

#: package → packages of analysis_py it must never import
FORBIDDEN = {
    "sql": {"pg", "serve", "analyses", "report", "commands"},
    "pg": {"serve", "commands", "report"},
    "semantic": {"sql", "pg", "serve", "analyses", "report", "commands"},
}


def _imports(path: Path) -> set[str]:
    """Every analysis_py subpackage a module imports, at any depth of its code."""
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


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_nothing_above_it(package):
    bad = {}
    for f in sorted((PKG / package).rglob("*.py")):
        wrong = _imports(f) & FORBIDDEN[package]
        if wrong:
            bad[str(f.relative_to(PKG))] = sorted(wrong)
    assert not bad, f"imports pointing up: {bad}"


def test_the_checker_sees_lazy_imports(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from analysis_py.serve import wire\n")
    assert _imports(f) == {"serve"}
