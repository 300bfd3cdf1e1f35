"""``opsmetrics build --select/--exclude``: a criterion matching nothing is an error naming it,
and a selection rebuilds only its nodes on top of a copy of the published build.

The fast tests feed dbt 1.11's own JSON log events (recorded from ``dbt --log-format json build
--select nosuch_model``) to the log reader and check the guards that run before dbt; the slow
ones run the real CLI and dbt against a private copy of the session's warehouse.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import duckdb
import pytest

from analysis_py.config import resolve_paths
from analysis_py.errors import BuildError
from analysis_py.warehouse.build import _failure_message, build, check_selection
from analysis_py.warehouse.dbt_runner import DbtRun
from analysis_py.warehouse.publish import current, publish
from tests.python.conftest import REPO, run_cli

#: What dbt 1.11.16 prints (one JSON object a line) when no node matches the selection.
NOTHING_SELECTED_LOG = [
    '{"data": {"stat_line": "27 models, 202 data tests, 9 seeds"}, "info": {"level": "info", '
    '"msg": "Found 27 models", "name": "FoundStats"}}',
    '{"data": {"spec_raw": "nosuch_model"}, "info": {"code": "M030", "level": "warn", "msg": '
    "\"The selection criterion 'nosuch_model' does not match any enabled nodes\", "
    '"name": "NoNodesForSelectionCriteria"}}',
    '{"data": {"spec_raw": "fct_casse"}, "info": {"code": "M030", "level": "warn", "msg": '
    "\"The selection criterion 'fct_casse' does not match any enabled nodes\", "
    '"name": "NoNodesForSelectionCriteria"}}',
    '{"data": {}, "info": {"code": "Q035", "level": "warn", "msg": "Nothing to do. Try checking '
    'your model configs and model specification args", "name": "NothingToDo"}}',
]

#: A finished node, as dbt 1.11 reports it (trimmed to the fields the reader uses).
MODEL_RESULT = (
    '{"data": {"description": "sql table model main.fct_cases", "index": 1, "node_info": '
    '{"node_name": "fct_cases", "node_status": "error", "resource_type": "model", "unique_id": '
    '"model.opsmetrics.fct_cases"}, "status": "error", "total": 42}, "info": {"level": "error", '
    '"msg": "1 of 42 ERROR creating sql table model main.fct_cases", "name": "LogModelResult"}}'
)


#: dbt 1.11's run summary for a failing data test and a model whose upstream is missing.
FAILURE_SUMMARY = [
    '{"data": {}, "info": {"level": "error", "msg": "Failure in test test_deliberately_broken '
    '(tests/dbt/test_deliberately_broken.sql)", "name": "RunResultFailure"}}',
    '{"data": {}, "info": {"level": "error", "msg": "  Got 1 result, configured to fail if != 0", '
    '"name": "RunResultError"}}',
    '{"data": {}, "info": {"level": "error", "msg": "Failure in model fct_cases '
    '(models/marts/cases/fct_cases.sql)", "name": "RunResultFailure"}}',
    '{"data": {}, "info": {"level": "error", "msg": "  Runtime Error in model fct_cases '
    "(models/marts/cases/fct_cases.sql)\\n  Catalog Error: Table with name "
    '\\"intermediate.int_case_lifecycles_derived\\" does not exist because schema '
    '\\"intermediate\\" does not exist.\\n  \\n  LINE 6:     select * from ...", '
    '"name": "RunResultError"}}',
]


def _read(lines: list[str]) -> tuple[DbtRun, list]:
    run = DbtRun(args=[], returncode=0)
    progress = [p for p in (run.read_log_line(ln + "\n") for ln in lines) if p is not None]
    return run, progress


def test_log_reader_records_unmatched_selectors_and_nothing_to_do():
    run, progress = _read([*NOTHING_SELECTED_LOG, "not json", "{broken"])
    assert run.unmatched_selectors == ["nosuch_model", "fct_casse"]
    assert run.nothing_to_do
    assert run.results == [] and progress == []
    assert run.errors == []  # warnings, not errors: dbt exits 0 here


def test_log_reader_reports_finished_nodes():
    run, progress = _read([MODEL_RESULT])
    assert progress == [(1, 42, "error  fct_cases")]
    assert [(r.unique_id, r.status) for r in run.failures()] == [
        ("model.opsmetrics.fct_cases", "error")
    ]
    assert not run.unmatched_selectors and not run.nothing_to_do


def test_failure_message_says_why_each_node_failed():
    run, _ = _read([MODEL_RESULT, *FAILURE_SUMMARY])
    run.returncode = 1
    msg = _failure_message(run)
    assert "ERROR  model.opsmetrics.fct_cases" in msg
    assert (
        "test test_deliberately_broken (tests/dbt/test_deliberately_broken.sql): "
        "Got 1 result, configured to fail if != 0"
    ) in msg
    assert (
        "model fct_cases (models/marts/cases/fct_cases.sql): Catalog Error: Table with name "
        '"intermediate.int_case_lifecycles_derived" does not exist'
    ) in msg
    assert "LINE 6" not in msg  # one line of cause per node, not the whole SQL excerpt


def test_unmatched_selector_error_names_it_and_suggests(built_warehouse):
    run, _ = _read(NOTHING_SELECTED_LOG)
    target = current(built_warehouse.paths).target_path  # a real manifest of this project
    with pytest.raises(BuildError) as exc:
        check_selection(run, built_warehouse.paths, target)
    msg = str(exc.value)
    assert "'nosuch_model'" in msg and "'fct_casse'" in msg
    assert "did you mean 'fct_cases'" in msg
    assert "nothing was built or published" in msg
    assert "dbt ls" in msg


def test_nothing_to_do_without_unmatched_selector_is_an_error(built_warehouse):
    run, _ = _read([NOTHING_SELECTED_LOG[-1]])
    with pytest.raises(BuildError, match="leave no node to build"):
        check_selection(run, built_warehouse.paths, Path("/nonexistent"))


def _private_published(built_warehouse, root: Path):
    """A warehouse folder of our own whose published build is the session's (hard-linked).

    The base file is only ever read (copied) by a selection build, so sharing its inode with
    the session warehouse is safe; the test checks that its bytes stay unchanged.
    """
    shared = current(built_warehouse.paths)
    paths = resolve_paths(
        project_dir=REPO, data_dir=built_warehouse.raw_dir, warehouse_dir=root / "wh"
    )
    paths.builds_dir.mkdir(parents=True)
    db = paths.builds_dir / shared.duckdb_path.name
    try:
        os.link(shared.duckdb_path, db)
    except OSError:
        shutil.copy2(shared.duckdb_path, db)
    target = paths.builds_dir / shared.target_path.name
    shutil.copytree(shared.target_path, target)
    info = {
        k: v
        for k, v in shared.info.items()
        if k not in {"build_id", "duckdb_path", "target_path", "published_at"}
    }
    publish(paths, shared.build_id, db, target, info)
    return paths


def _state(paths) -> tuple:
    wh = paths.warehouse_dir
    return (
        os.readlink(wh / "opsmetrics.duckdb"),
        (wh / "current.json").read_text(),
        sorted(p.name for p in paths.builds_dir.iterdir()),
    )


def test_selection_on_other_raw_data_is_refused_before_dbt_runs(built_warehouse, tmp_path):
    paths = _private_published(built_warehouse, tmp_path)
    cur = json.loads((paths.warehouse_dir / "current.json").read_text())
    assert cur["ground_truth_sha256"], "the session build records which raw data it was built from"
    cur["ground_truth_sha256"] = "0123456789abcdef"  # as if the data had been regenerated since
    (paths.warehouse_dir / "current.json").write_text(json.dumps(cur))
    before = _state(paths)
    with pytest.raises(BuildError, match="other raw data") as exc:
        build(paths, select=["dim_dates"], docs=False)
    assert "without --select" in str(exc.value)
    assert _state(paths) == before
    assert not (paths.warehouse_dir / "logs").exists(), "dbt must not have been started"


@pytest.mark.slow  # one dbt parse (≈ 10-25 s)
def test_selection_matching_nothing_leaves_published_build_untouched(built_warehouse, tmp_path):
    paths = _private_published(built_warehouse, tmp_path)
    before = _state(paths)
    env = {**os.environ, **paths.env()}
    p = run_cli("build", "-q", "--no-docs", "--select", "fct_casse", env=env, check=False)
    assert p.returncode != 0
    assert "Traceback" not in p.stderr
    assert "'fct_casse'" in p.stderr and "did you mean 'fct_cases'" in p.stderr, p.stderr
    # the scratch copy of the base was removed; nothing was published
    assert _state(paths) == before


@pytest.mark.slow  # one dbt build of a model and its tests (≈ 20-40 s)
def test_selection_rebuilds_only_selected_nodes_on_top_of_published(built_warehouse, tmp_path):
    paths = _private_published(built_warehouse, tmp_path)
    base = current(paths)
    base_stat = os.stat(base.duckdb_path)
    env = {**os.environ, **paths.env()}
    run_cli("build", "-q", "--no-docs", "--select", "dim_dates", env=env)

    new = current(paths)
    assert new.build_id != base.build_id
    assert new.info["base_build_id"] == base.build_id
    assert new.info["select"] == ["dim_dates"]
    assert os.stat(base.duckdb_path).st_mtime_ns == base_stat.st_mtime_ns, "base was written"

    results = json.loads((new.target_path / "run_results.json").read_text())["results"]
    models = sorted(r["unique_id"] for r in results if r["unique_id"].startswith("model."))
    assert models == ["model.opsmetrics.dim_dates"]
    assert all(r["status"] in {"success", "pass"} for r in results)

    # the unselected marts are carried over from the base, row for row
    def counts(path: Path) -> dict[str, int]:
        con = duckdb.connect(str(path), read_only=True)
        try:
            return {
                t: con.execute(f"select count(*) from main.{t}").fetchone()[0]
                for t in ("fct_cases", "fct_payments", "fct_platform_usage_daily", "dim_dates")
            }
        finally:
            con.close()

    assert counts(new.duckdb_path) == counts(base.duckdb_path)
    assert counts(new.duckdb_path)["fct_payments"] > 0


@pytest.mark.slow  # one dbt build attempt of a model (≈ 15-30 s)
def test_selection_in_a_fresh_warehouse_dir_says_to_build_everything_first(
    built_warehouse, tmp_path
):
    env = {**os.environ, **built_warehouse.paths.env(), "OPSMETRICS_WAREHOUSE_DIR": str(tmp_path)}
    p = run_cli("build", "-q", "--no-docs", "--select", "fct_cases", env=env, check=False)
    assert p.returncode != 0
    assert "Traceback" not in p.stderr
    assert "int_case_lifecycles_derived" in p.stderr  # dbt's missing upstream, named
    assert "run a full `opsmetrics build` first" in p.stderr
    assert not (tmp_path / "current.json").exists()
    assert not list((tmp_path / "builds").glob("*.duckdb"))
