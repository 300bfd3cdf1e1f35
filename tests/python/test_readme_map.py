"""The README's map of the code is true: it is exactly what scripts/code_map.py generates
from the modules' docstrings (one line per module, every module listed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _code_map():
    spec = importlib.util.spec_from_file_location("code_map", REPO / "scripts" / "code_map.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_readme_map_is_generated_from_the_modules():
    cm = _code_map()
    block = cm.readme_block((REPO / "README.md").read_text())
    assert block is not None, "README.md lost its code map markers"
    assert block == cm.render(), "the map is stale: run `python scripts/code_map.py --write`"


def test_every_module_is_on_the_map():
    cm = _code_map()
    listed = {name for _i, name, _t in cm.entries()}
    for f in (REPO / "analysis_py").rglob("*.py"):
        if "__pycache__" not in f.parts and f.name != "__init__.py":
            assert f.name in listed, f"{f.relative_to(REPO)} is not on the map"


def test_the_map_answers_where_things_live():
    """A newcomer's questions, answered by one line each."""
    entries = _code_map().entries()

    def where(*words: str) -> list[str]:
        return [name for _i, name, text in entries if all(w in text for w in words)]

    assert where("time spine join") == ["compiler.py"]
    assert where("pg_attribute") == ["catalog.py"]
    assert "manifest.py" in where("PII") and "governance.py" in where("PII")
    assert where("backtest") == ["forecast.py"]
