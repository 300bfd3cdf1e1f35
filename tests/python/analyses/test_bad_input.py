"""Bad input: a clear error naming the spec and the field, and no results written.

Spec errors are caught before anything runs; input errors (unknown metric or mart, a private
model, a series too short, constant or all-null data) surface when the spec runs, and only
its ``runs`` row (status ``failed``, the error) is written — no result table.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from analysis_py.analyses import runner, store
from analysis_py.analyses import spec as spec_mod
from analysis_py.errors import SpecError


def write(tmp_path: Path, name: str, body: str) -> Path:
    p = tmp_path / f"{name}.yml"
    p.write_text(textwrap.dedent(body))
    return p


@pytest.mark.parametrize(
    "body, expected",
    [
        (
            "name: s1\nanalysis: drivers\ninput: {mart: fct_cases}\nparameters: {outcom: x}\n",
            "field 'parameters.outcom' is not a parameter of drivers; did you mean 'outcome'?",
        ),
        (
            "name: s1\nanalsis: drivers\ninput: {mart: fct_cases}\n",
            "unknown field 'analsis'; did you mean 'analysis'?",
        ),
        (
            "name: s1\nanalysis: forcast\ninput: {metric: cases_opened}\n",
            "unknown analysis 'forcast'; did you mean 'forecast'?",
        ),
        (
            "name: s1\nanalysis: forecast\ninput: {metric: cases_opened, slice: [product]}\n",
            "field 'input.slice' is not known; did you mean 'slices'?",
        ),
        (
            "name: s1\nanalysis: drivers\ninput: {metric: cases_opened}\n",
            "field 'input.metric' is not known",
        ),
        (
            "name: s1\nanalysis: forecast\ninput: {metric: cases_opened}\nparameters: {horizon: soon}\n",
            "field 'parameters.horizon' must be an integer, got 'soon'",
        ),
        ("name: s1\nanalysis: impact\n", "field 'input' is required"),
        (
            "name: s1\nanalysis: profile\ninput: {mart: fct_cases}\nquestion: [why]\n",
            "field 'question' must be text",
        ),
    ],
)
def test_spec_typos_name_spec_and_field(tmp_path, body, expected):
    path = write(tmp_path, "s1", body)
    with pytest.raises(SpecError) as exc:
        spec_mod.load([path])
    msg = str(exc.value)
    assert "spec 's1'" in msg and str(path) in msg
    assert expected in msg


def test_duplicate_spec_names(tmp_path):
    a = write(tmp_path, "a", "name: same\nanalysis: profile\ninput: {mart: fct_cases}\n")
    b = write(tmp_path, "b", "name: same\nanalysis: profile\ninput: {mart: dim_clients}\n")
    with pytest.raises(SpecError, match="defined twice"):
        spec_mod.load([a, b])


def test_shipped_specs_are_valid():
    specs = spec_mod.load()
    assert {s.analysis for s in specs} == set(spec_mod.SHIPPED)
    assert all(s.owner for s in specs)


BAD_RUNS = {
    "unknown_metric": (
        "analysis: forecast\ninput: {metric: cases_openned, slices: [product]}\n",
        "input: unknown metric 'cases_openned' (did you mean 'cases_opened'?)",
    ),
    "unknown_mart": (
        "analysis: profile\ninput: {mart: fct_casez}\n",
        "unknown model 'fct_casez' (did you mean 'fct_cases'?)",
    ),
    "private_model": (
        "analysis: profile\ninput: {mart: int_case_lifecycles_derived}\n",
        "model 'int_case_lifecycles_derived' is not a governed input (access=protected",
    ),
    "unknown_column": (
        "analysis: drivers\ninput: {mart: fct_cases}\nparameters: {factors: {chanel: portal}}\n",
        "unknown column 'chanel' (did you mean 'channel'?)",
    ),
    "too_short": (
        "analysis: forecast\ninput: {metric: cases_opened}\nparameters: {start: '2025-11-01', end: '2025-12-31'}\n",
        "series too short: 61 days, need ≥ 115 for 3 origins + a hold-out × 28 days",
    ),
    "constant": (
        # one row per calendar day: the daily count is 1 every day
        "analysis: forecast\ninput: {metric: days, mart: dim_dates, date: date_day, value: count}\n",
        "series is constant",
    ),
    "all_null": (
        "analysis: drivers\ninput: {mart: fct_cases}\n"
        "parameters: {outcome: csat_score, where: 'csat_score is null'}\n",
        "column 'csat_score' is entirely null",
    ),
    "anomaly_short": (
        "analysis: anomalies\ninput: {metric: payments, slices: [rail]}\nparameters: {start: '2025-12-20'}\n",
        "too short (12 days",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_RUNS))
def test_bad_inputs_fail_clearly_and_write_nothing(built_warehouse, tmp_path, case):
    body, expected = BAD_RUNS[case]
    path = write(tmp_path, case, f"name: {case}\n{body}")
    (spec,) = spec_mod.load([path])
    out = tmp_path / "out"
    (o,) = runner.run_specs([spec], duckdb_path=built_warehouse.duckdb_path, warehouse_dir=out)
    assert o.status == "failed"
    assert f"spec '{case}'" in o.error
    assert expected in o.error, o.error
    # only the runs row: status failed with the error; no result table, no plots
    written = sorted(p.parent.name for p in (out / "analysis").rglob("*.parquet"))
    assert written == ["runs"]
    runs = store.read_table("runs", out)
    assert runs.loc[0, "status"] == "failed" and expected in runs.loc[0, "error"]
    assert not (out / "analysis" / "_artifacts").exists()


def test_every_typed_parameter_is_documented():
    """docs/analyses.md's parameter table names every field of each analysis's Params."""
    import dataclasses
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[3] / "docs" / "analyses.md").read_text()
    for name in spec_mod.SHIPPED:
        mod = spec_mod.module_for(name)
        if not hasattr(mod, "Params"):
            continue
        row = re.search(rf"^\| {name} \|(.*)$", doc, re.M)
        assert row, f"no parameter row for {name} in docs/analyses.md"
        missing = [
            f.name for f in dataclasses.fields(mod.Params) if f"`{f.name}`" not in row.group(1)
        ]
        assert not missing, (name, missing)
