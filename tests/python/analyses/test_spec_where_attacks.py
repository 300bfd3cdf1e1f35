"""A spec's ``where`` (and predict's ``score_where``) cannot reach past the governed input.

Specs are written by the team, but they run with the analyses' connection to the whole
warehouse: a predicate that could read files, other schemas or settings, or run a second
statement, would bypass the governance that picks the input. Each attack must fail the run
with a clear error naming the spec and the field, touch nothing and write no result.
"""

from __future__ import annotations

import json

import pytest

from analysis_py.analyses import runner, store
from analysis_py.analyses import spec as spec_mod
from analysis_py.errors import FilterError
from analysis_py.semantic.where import check_predicate

ATTACKS = {
    "file_read": ("channel in (select column0 from read_csv('/etc/passwd'))", "subqueries"),
    "table_function": ("read_csv('/etc/passwd') is not null", "READCSV is not allowed"),
    "other_mart": ("exists (select 1 from main.dim_clients)", "subqueries"),
    "second_statement": ("true; copy fct_cases to '/tmp/opsm_leak.csv'", "more than one statement"),
    "comment_escape": ("true) as _in; select 1 --", "not valid SQL"),
    "settings": ("current_setting('threads') = '2'", "function current_setting() is not allowed"),
    "env": ("getenv('HOME') = '/root'", "function getenv() is not allowed"),
    "qualified": ("_in.channel = 'email'", "qualified column"),
    "unknown_column": ("chanel = 'email'", "unknown column 'chanel' (did you mean 'channel'?)"),
    "not_boolean": ("channel", "unknown column"),
}


@pytest.mark.parametrize("case", sorted(ATTACKS))
def test_checker_refuses(case):
    text, expected = ATTACKS[case]
    cols = ["channel", "priority", "csat_score", "is_resolved"]
    with pytest.raises(FilterError) as exc:
        check_predicate(text, cols if case != "not_boolean" else ["priority"])
    assert expected in str(exc.value), str(exc.value)
    assert "a spec's where is one condition over the input's columns" in str(exc.value)


def test_checker_renders_from_the_tree():
    got = check_predicate(
        "Channel = 'email' /* note */ and csat_score between 1 and 3 "
        "and created_at >= date '2025-01-01' + interval 1 day",
        ["channel", "csat_score", "created_at"],
    )
    assert got == (
        '"channel" = \'email\' AND "csat_score" BETWEEN 1 AND 3 '
        "AND \"created_at\" >= CAST('2025-01-01' AS DATE) + INTERVAL '1' DAY"
    )
    assert check_predicate("is_resolved", ["is_resolved"]) == '"is_resolved"'


@pytest.mark.parametrize("field", ["where", "score_where"])
@pytest.mark.parametrize("case", ["file_read", "second_statement", "settings"])
def test_attacks_fail_the_run_and_write_nothing(built_warehouse, tmp_path, field, case):
    text, expected = ATTACKS[case]
    analysis = "drivers" if field == "where" else "predict"
    params = (
        {"outcome": "csat_score", "factors": {"channel": "email"}, "where": text}
        if analysis == "drivers"
        else {"outcome": "is_sla_breached", "features": ["channel"], "score_where": text}
    )
    body = json.dumps(
        {
            "name": "attack",
            "analysis": analysis,
            "input": {"mart": "fct_cases"},
            "parameters": params,
        }
    )
    path = tmp_path / "attack.yml"
    path.write_text(body)
    (spec,) = spec_mod.load([path])
    out = tmp_path / "out"
    (o,) = runner.run_specs([spec], duckdb_path=built_warehouse.duckdb_path, warehouse_dir=out)
    assert o.status == "failed", o
    assert f"spec 'attack': parameters.{field}" in o.error, o.error
    assert expected in o.error, o.error
    assert "Traceback" not in o.error
    written = sorted(p.parent.name for p in (out / "analysis").rglob("*.parquet"))
    assert written == ["runs"]
    assert store.read_table("runs", out).loc[0, "status"] == "failed"
