"""The oracle on OUR project: on the session's shared warehouse (generated and built with the
real CLI), our answers for the ops KPIs equal MetricFlow's.

"""

from __future__ import annotations

import json
import shutil

import pytest

from .compare import rows_equal
from .conftest import REPO, Project, run_oracle

REQUESTS = REPO / "tests" / "fixtures" / "semantic" / "project_requests.json"
IDS = [r["id"] for r in json.loads(REQUESTS.read_text())]


@pytest.fixture(scope="session")
def ops_project(built_warehouse, tmp_path_factory) -> Project:
    """The session's shared warehouse (built by `opsmetrics build` for every area's tests):
    its published DuckDB file and the dbt artifacts published with it."""
    db = built_warehouse.duckdb_path.resolve()
    target = (built_warehouse.paths.warehouse_dir / "target").resolve()
    proj = tmp_path_factory.mktemp("ops_project")
    for item in ("dbt_project.yml", "models", "macros", "seeds", "profiles"):
        src = REPO / item
        if src.is_dir():
            shutil.copytree(src, proj / item)
        elif src.exists():
            shutil.copyfile(src, proj / item)
    shutil.copytree(
        target, proj / "target", ignore=shutil.ignore_patterns("*.html", "catalog.json")
    )
    return Project(proj, db, proj / "target" / "semantic_manifest.json")


@pytest.fixture(scope="session")
def ops_answers(ops_project, tmp_path_factory):
    reqs = json.loads(REQUESTS.read_text())
    work = tmp_path_factory.mktemp("ops_oracle")
    res = run_oracle(
        ops_project, reqs, work, profiles_subdir="profiles", db_env="OPSMETRICS_DUCKDB_PATH"
    )
    return {r["id"]: x for r, x in zip(reqs, res, strict=True)}


@pytest.mark.oracle
@pytest.mark.parametrize("rid", IDS)
def test_ops_kpis_equal_metricflow(rid, ops_project, ops_answers):
    from analysis_py.semantic import SemanticLayer

    req = next(r for r in json.loads(REQUESTS.read_text()) if r["id"] == rid)
    theirs = ops_answers[rid]
    assert "error" not in theirs, theirs.get("error")
    sl = SemanticLayer.from_manifest(ops_project.manifest, ops_project.db)
    q = sl.query(**{k: v for k, v in req.items() if k != "id"})
    assert q.columns == theirs["columns"]
    ok, why = rows_equal(q.fetchall(), theirs["rows"], ordered=bool(req.get("order_by")))
    assert ok, why
    sl.connection.close()


def test_published_warehouse_is_what_from_dbt_and_the_cli_read(built_warehouse, monkeypatch):
    from analysis_py.semantic import SemanticLayer
    from tests.python.conftest import run_cli

    for k, v in built_warehouse.paths.env().items():
        monkeypatch.setenv(k, v)
    sl = SemanticLayer.from_dbt(REPO)
    n = sl.query(metrics=["cases_opened"]).fetchall()[0][0]
    assert n > 0
    exported = sl.connection.sql("select count(*) from exports.weekly_ops_kpis").fetchall()[0][0]
    assert exported == len(sl.query(saved_query="weekly_ops_kpis").fetchall())
    sl.connection.close()
    proc = run_cli("query", "--metrics", "cases_opened", env=built_warehouse.env)
    assert str(n) in proc.stdout
    # export writes into the profile's file (a scratch dev.duckdb by default), never into the
    # published build; with no scratch file built by hand there is nothing to write into.
    published = built_warehouse.duckdb_path.resolve().read_bytes()
    refused = run_cli("export", env=built_warehouse.env, check=False)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "dev.duckdb" in refused.stderr or "never modified" in refused.stderr
    assert built_warehouse.duckdb_path.resolve().read_bytes() == published
