"""The report's content model: numbers and words as a reader should see them."""

from __future__ import annotations

import math

import pandas as pd

from analysis_py.report import content


def test_p_values_and_numbers_for_readers():
    assert content.fmt_p(0.0) == "< 0.001" and content.fmt_p(2e-9) == "< 0.001"
    assert content.fmt_p(0.0123) == "0.012" and content.fmt_p(float("nan")) == ""
    assert content.fmt_number(1234567.8) == "1,234,568" and content.fmt_number(0.04456) == "0.0446"
    assert content.fmt_number(None) == "" and content.fmt_number(math.nan) == ""


def test_display_frame_labels_formats_and_drops_empty_columns():
    df = pd.DataFrame(
        {
            "factor": ["channel"],
            "reference_level": ["portal"],
            "estimate": [0.71],
            "ci_low": [0.69],
            "p_value": [0.0],
            "p_value_adjusted": [float("nan")],
            "drifted": [True],
        }
    )
    out = content.display_frame(df, list(df.columns), 10)
    assert list(out.columns) == [
        "Factor",
        "Compared with",
        "Estimate",
        "95% CI from",
        "p",
        "Drifted",
    ]
    assert out.iloc[0].tolist() == ["channel", "portal", "0.71", "0.69", "< 0.001", "yes"]


def test_certainty_in_words_follows_the_interval():
    assert content._certainty(10.0, 20.0).startswith("very likely")
    assert content._certainty(-20.0, -1.0).startswith("very likely")
    assert content._certainty(-1.0, 5.0).startswith("cannot tell")
    assert content._certainty(None, None) == "size estimated without an interval"


def test_valuation_comes_from_the_project_vars(tmp_path):
    (tmp_path / "dbt_project.yml").write_text(
        "name: p\nvars:\n  opsmetrics_report:\n    currency: EUR\n"
        "    value_per_unit: {EUR: 1, agent-hours: 40}\n"
    )
    assert content.valuation_of(tmp_path) == {"EUR": 1.0, "agent-hours": 40.0, "currency": "EUR"}
    assert content.valuation_of(tmp_path / "missing") == {}
