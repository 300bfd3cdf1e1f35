"""The checked-in dbt declarations of the analysis layer match the code and the shipped specs."""

from __future__ import annotations

from analysis_py.analyses import dbt_yaml
from analysis_py.analyses import spec as spec_mod
from analysis_py.config import REPO_DIR


def test_sources_and_exposures_are_current():
    folder = REPO_DIR / "models" / "analysis"
    assert (folder / "_analysis__sources.yml").read_text() == dbt_yaml.render(
        dbt_yaml.sources_dict()
    )
    specs = spec_mod.load([REPO_DIR / "analyses"])
    assert (folder / "_analysis__exposures.yml").read_text() == dbt_yaml.render(
        dbt_yaml.exposures_dict(specs)
    )


def test_every_shipped_spec_has_an_exposure_on_public_marts():
    exps = dbt_yaml.exposures_dict(spec_mod.load([REPO_DIR / "analyses"]))["exposures"]
    assert {e["name"] for e in exps} == {s.name for s in spec_mod.load([REPO_DIR / "analyses"])}
    for e in exps:
        assert e["depends_on"] and all(
            d.startswith("ref('fct_") or d.startswith("ref('dim_") for d in e["depends_on"]
        )
