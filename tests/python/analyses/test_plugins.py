"""Analysis types from another package: a team's package registers a module in the
``opsmetrics.analyses`` entry-point group and its specs run like the shipped ones — same
validation, same runner, same write-back. The package here is written to a temporary folder
with its distribution metadata, as pip would install it, and put on the CLI's PYTHONPATH."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import duckdb
import pytest

from analysis_py.analyses import store
from tests.python.conftest import run_cli

PLUGIN = '''
"""Share of rows with a flag set, per group (a team's own analysis type)."""
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis_py.analyses.base import AnalysisResults


@dataclass(frozen=True)
class Params:
    flag: str = "is_sla_breached"
    group: str = "priority"
    where: str | None = None


def run(inputs, spec):
    p = spec.params()
    t = inputs.spec_table(spec, [p.flag, p.group], p.where)
    df = (
        t.group_by(t[p.group].cast("string").name("level"))
        .aggregate(n=t[p.flag].count(), k=t[p.flag].cast("int64").sum())
        .to_pandas()
    )
    share = df["k"] / df["n"]
    se = np.sqrt(share * (1 - share) / df["n"])
    eff = pd.DataFrame(
        {
            "factor": p.group,
            "level": df["level"],
            "reference_level": "none",
            "estimate": share,
            "std_error": se,
            "ci_low": share - 1.96 * se,
            "ci_high": share + 1.96 * se,
            "scale": "share",
            "outcome": p.flag,
            "n_obs": df["n"],
        }
    )
    return AnalysisResults(
        analysis="share",
        title=f"Share of {p.flag} by {p.group}",
        finding=f"{p.flag} ranges from {share.min():.1%} to {share.max():.1%} across {p.group}.",
        method="Counts in the engine; normal-approximation intervals.",
        assumptions=["Rows are independent."],
        limitations=["No adjustment for mix."],
        tables={"effects": eff},
    )
'''

BROKEN = """
def run(inputs, spec):  # no Params dataclass: not an analysis
    return None
"""

CRASH = """
from dataclasses import dataclass


@dataclass(frozen=True)
class Params:
    divisor: int = 0


def run(inputs, spec):  # a bug in a team's analysis
    return 1 / spec.params().divisor
"""


@pytest.fixture(scope="module")
def plugin_env(built_warehouse, tmp_path_factory):
    root = tmp_path_factory.mktemp("plugin")
    pkg = root / "team_analyses"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "share.py").write_text(textwrap.dedent(PLUGIN))
    (pkg / "broken.py").write_text(textwrap.dedent(BROKEN))
    (pkg / "crash.py").write_text(textwrap.dedent(CRASH))
    dist = root / "team_analyses-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: team-analyses\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[opsmetrics.analyses]\n"
        "share = team_analyses.share\n"
        "broken = team_analyses.broken\n"
        "crash = team_analyses.crash\n"
        "drivers = team_analyses.share\n"  # cannot take a shipped name
    )
    env = {**built_warehouse.env, "PYTHONPATH": os.pathsep.join([str(root), os.getcwd()])}
    return root, env


def _spec(root, name, body):
    path = root / f"{name}.yml"
    path.write_text(f"name: {name}\nowner: team\n" + textwrap.dedent(body))
    return str(path)


def test_a_plugged_in_analysis_runs_and_writes_back_like_a_shipped_one(plugin_env, built_warehouse):
    root, env = plugin_env
    spec = _spec(
        root,
        "breach_share",
        """
        analysis: share
        input: {mart: fct_cases}
        parameters: {flag: is_sla_breached, group: channel}
        """,
    )
    out = root / "out"
    run_cli(
        "analyze",
        "-q",
        "--database",
        str(built_warehouse.duckdb_path),
        "--warehouse-dir",
        str(out),
        spec,
        env=env,
    )
    eff = store.read_table("effects", out)
    eff = eff[eff.spec_name == "breach_share"].set_index("level")
    con = duckdb.connect(str(built_warehouse.duckdb_path), read_only=True)
    try:
        want = dict(
            con.execute(
                "select channel, avg(is_sla_breached::int) from main.fct_cases group by 1"
            ).fetchall()
        )
    finally:
        con.close()
    assert set(eff.index) == set(want)
    for level, share in want.items():
        assert eff.loc[level, "estimate"] == pytest.approx(share)
    runs = store.read_table("runs", out)
    assert runs.set_index("spec_name").loc["breach_share", "analysis"] == "share"


def test_plugin_specs_are_validated_like_shipped_ones(plugin_env):
    root, env = plugin_env
    typo = _spec(
        root,
        "typo",
        """
        analysis: share
        input: {mart: fct_cases}
        parameters: {flagg: is_sla_breached}
        """,
    )
    p = run_cli("analyze", "-q", "--no-write", typo, env=env, check=False)
    assert p.returncode == 2
    assert "'parameters.flagg' is not a parameter of share; did you mean 'flag'?" in p.stderr
    broken = _spec(root, "broken", "analysis: broken\ninput: {mart: fct_cases}\n")
    p = run_cli("analyze", "-q", "--no-write", broken, env=env, check=False)
    assert p.returncode == 2
    assert "does not keep the analysis contract" in p.stderr
    assert "Traceback" not in p.stderr
    # a plug-in cannot replace a shipped analysis: 'drivers' still takes drivers' parameters
    drv = _spec(
        root,
        "drv",
        """
        analysis: drivers
        input: {mart: fct_cases}
        parameters: {flag: is_sla_breached}
        """,
    )
    p = run_cli("analyze", "-q", "--no-write", drv, env=env, check=False)
    assert "'parameters.flag' is not a parameter of drivers" in p.stderr


def test_a_crashing_analysis_fails_its_run_with_the_traceback_in_a_log_only(
    plugin_env, built_warehouse
):
    """An unexpected error (a bug, not bad input) fails only its run: the message is in
    ``runs.error`` and on stderr, the traceback in a log file beside the results — never in
    a result table or on the console."""
    root, env = plugin_env
    spec = _spec(root, "crashing", "analysis: crash\ninput: {mart: fct_cases}\n")
    out = root / "out_crash"
    p = run_cli(
        "analyze", "-q", "--database", str(built_warehouse.duckdb_path), "--warehouse-dir",
        str(out), spec, env=env, check=False,
    )  # fmt: skip
    assert p.returncode == 1
    assert "Traceback" not in p.stderr and "Traceback" not in p.stdout
    runs = store.read_table("runs", out).set_index("spec_name")
    err = runs.loc["crashing", "error"]
    assert err.startswith("unexpected error: ZeroDivisionError: division by zero")
    assert "Traceback" not in err
    log = err.split("(traceback in ")[1].rstrip(")")
    text = Path(log).read_text()
    assert text.startswith("Traceback") and "1 / spec.params().divisor" in text
