"""Fixtures for the analysis tests: the shared default warehouse and a second one built from
``effects_alt.yml`` (different effect sizes, a later process change, more anomalies)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.python.conftest import make_warehouse, shared_dir

HERE = Path(__file__).resolve().parent
ALT_EFFECTS = HERE / "effects_alt.yml"
ALT_SEED = 11


@pytest.fixture(scope="session")
def alt_warehouse(tmp_path_factory):
    """Scale 0.1, seed 11, the alternative effects file."""
    return make_warehouse(
        shared_dir(tmp_path_factory, "warehouse-analyses-alt"),
        scale=0.1,
        seed=ALT_SEED,
        effects=ALT_EFFECTS,
    )


@pytest.fixture(scope="session")
def alt_effects() -> dict:
    return yaml.safe_load(ALT_EFFECTS.read_text())


@pytest.fixture(params=["default", "alt"], scope="session")
def any_warehouse(request):
    """Each recovery test runs on both warehouses."""
    name = "built_warehouse" if request.param == "default" else "alt_warehouse"
    return request.getfixturevalue(name)
