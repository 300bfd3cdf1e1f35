"""The same project on DuckDB and on a local Spark session gives the same answers.

One module, one process, one Spark session for the reads: the raw data of a tiny scale is
built by dbt on both targets (the two builds run side by side), then every public mart is
compared (row counts and checksums over canonicalised columns; every mart must have rows), the
dbt tests must have the same results, metric requests of every metric type must return the same
rows, one analysis must estimate the same effects, and `opsmetrics query|analyze --target spark`
run through the CLI's entry point on the same session. Without pyspark this module fails (it
never skips): CI runs it. Where its time goes, and the settings that keep it near a minute and a
half: docs/spark.md, "Tuning the local session".
"""

from __future__ import annotations

import os
import threading

import pytest

from analysis_py.config import resolve_paths
from tests.python.conftest import PY4J_SOCKETS, REPO, run_cli
from tests.python.spark.parity import checksum, first_difference, metric_requests, public_marts

# Two full dbt builds (dbt's Spark JVM) and one more JVM for the readers: ~80 s on a lightly
# loaded 2-core machine, several times that when the cores are shared, so the per-test timeout
# is wider than the suite's default.
# One xdist worker runs the whole module (make test uses --dist loadgroup): its fixtures are
# two full builds and a JVM, which a second worker would repeat.
pytestmark = [
    pytest.mark.spark,
    pytest.mark.timeout(1800),
    pytest.mark.xdist_group("spark"),
    PY4J_SOCKETS,
]

SCALE = 0.01
SEED = 11

try:
    import pyspark  # noqa: F401

    PYSPARK_ERROR = None
except ImportError as exc:  # the test must fail, loudly, not skip
    PYSPARK_ERROR = (
        f"pyspark is not installed ({exc}); the Spark parity test needs the spark extra: "
        "pip install -e '.[dev,spark]' (make install does this)"
    )


# -- fixtures ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """Raw data once; the DuckDB and the Spark build side by side, each in its own warehouse."""
    if PYSPARK_ERROR:
        pytest.fail(PYSPARK_ERROR, pytrace=False)
    from analysis_py.warehouse import build as duck_build
    from analysis_py.warehouse import spark_target as spark_wh

    root = tmp_path_factory.mktemp("spark-parity")
    raw = root / "raw"
    env = {**os.environ, "OPSMETRICS_DATA_DIR": str(raw)}
    run_cli(
        "generate",
        "--scale",
        str(SCALE),
        "--seed",
        str(SEED),
        "--out",
        str(raw),
        "--quiet",
        env=env,
    )
    duck_paths = resolve_paths(project_dir=REPO, data_dir=raw, warehouse_dir=root / "duckdb")
    spark_paths = resolve_paths(project_dir=REPO, data_dir=raw, warehouse_dir=root / "spark")
    out: dict = {}

    def run(key, fn):
        try:
            out[key] = fn()
        except BaseException as exc:  # reported below, in the test's thread
            out[key] = exc

    t = threading.Thread(
        target=run, args=("spark", lambda: spark_wh.build(spark_paths, target="spark"))
    )
    t.start()
    run("duckdb", lambda: duck_build.build(duck_paths, docs=False))
    # The DuckDB build ends long before the Spark one: start this process's own Spark session
    # (the one every reader below shares) meanwhile, instead of after the Spark build.
    run(
        "session",
        lambda: spark_wh.session("opsmetrics-tests", data_bytes=spark_wh.parquet_bytes(raw)),
    )
    t.join()
    for key in ("duckdb", "spark", "session"):
        if isinstance(out[key], BaseException):
            raise AssertionError(f"{key} failed: {out[key]}") from out[key]
    return {
        "duckdb": (duck_paths, out["duckdb"]),
        "spark": (spark_paths, out["spark"]),
        "session": out["session"],
    }


@pytest.fixture(scope="module")
def session(builds):
    """The one Spark session of this process (started during the Spark build), with the
    published marts registered. The analysis and the CLI commands below reuse it."""
    from analysis_py.warehouse import spark_target as spark_wh

    _paths, result = builds["spark"]
    spark_wh.register(builds["session"], result.published)
    return builds["session"]


@pytest.fixture(scope="module")
def duck(builds):
    import duckdb

    _paths, result = builds["duckdb"]
    con = duckdb.connect(str(result.published.duckdb_path), read_only=True)
    yield con
    con.close()


# -- tests -------------------------------------------------------------------------------------
def test_dbt_build_has_the_same_nodes_and_results_on_both_targets(builds):
    def statuses(result):
        return {r.unique_id: r.status for r in result.run.results}

    duck, spark = statuses(builds["duckdb"][1]), statuses(builds["spark"][1])
    assert duck, "the DuckDB build reported no nodes"
    assert set(duck) == set(spark), set(duck) ^ set(spark)
    differing = {k: (duck[k], spark[k]) for k in duck if duck[k] != spark[k]}
    assert not differing, differing
    bad = {k: v for k, v in spark.items() if v not in {"pass", "success", "ok", "noop", "no-op"}}
    assert not bad, bad


def test_every_public_mart_has_the_same_rows_on_both_engines(builds, duck, session):
    marts = public_marts(builds["duckdb"][1].published.manifest_path)
    assert len(marts) >= 8, marts
    spark_tables = builds["spark"][1].published.tables
    mismatches, empty = [], []
    for schema, table in marts:
        assert f"{schema}.{table}" in spark_tables, f"{schema}.{table} missing from the Spark build"
        columns = [r[0] for r in duck.sql(f'describe "{schema}"."{table}"').fetchall()]
        cols_d = ", ".join(f'"{c}"' for c in columns)
        cols_s = ", ".join(f"`{c}`" for c in columns)
        left = duck.sql(f'select {cols_d} from "{schema}"."{table}"').fetchall()
        right = [
            tuple(r) for r in session.sql(f"select {cols_s} from `{schema}`.`{table}`").collect()
        ]
        if not left or not right:
            empty.append(f"{table}: {len(left)} rows on DuckDB, {len(right)} on Spark")
        if checksum(left) != checksum(right):
            mismatches.append(
                f"{table}: duckdb {checksum(left)} vs spark {checksum(right)}; "
                + first_difference(columns, left, right)
            )
    assert not mismatches, "\n".join(mismatches)
    # An empty mart would compare equal and prove nothing: the parity scale must fill them all.
    assert not empty, "\n".join(empty)


def test_metric_requests_of_every_type_agree(builds, duck, session):
    from analysis_py.semantic.layer import SemanticLayer
    from analysis_py.semantic.spark_query import compile_request, execute

    duck_manifest = builds["duckdb"][1].published.semantic_manifest_path
    spark_manifest = builds["spark"][1].published.semantic_manifest_path
    requests = metric_requests(duck_manifest)
    types = {r["type"] for r in requests}
    assert {"simple", "ratio", "derived", "cumulative", "conversion"} <= types, types
    duck_layer = SemanticLayer(duck_manifest, dialect="duckdb")
    failures = []
    for r in requests:
        req = {"metrics": r["metrics"], "group_by": r["group_by"]}
        q = duck_layer.compile(**req)
        left = duck.sql(q.sql).fetchall()
        sql, columns = compile_request(spark_manifest, req)
        assert columns == list(q.columns)
        right = execute(session, sql)
        assert left, f"{req} returned no rows on DuckDB (a comparison of nothing)"
        if checksum(left) != checksum(right):
            failures.append(
                f"{r['type']} {req}: {len(left)} vs {len(right)} rows; "
                + first_difference(columns, left, right)
            )
    assert not failures, "\n".join(failures)


def frames_agree(name, left, right) -> list[str]:
    """Same rows (keyed by the non-float columns) and floats equal to 1e-6 relative."""
    import pandas as pd

    if len(left) != len(right):
        return [f"{name}: {len(left)} rows on DuckDB, {len(right)} on Spark"]
    num = [c for c in left.columns if left[c].dtype.kind in "fc" or c == "value"]
    key = [c for c in left.columns if c not in num]
    a = left.sort_values(key).reset_index(drop=True) if key else left
    b = right[list(left.columns)].sort_values(key).reset_index(drop=True) if key else right
    out = []
    for c in key:
        if not (a[c].astype(str) == b[c].astype(str)).all():
            out.append(f"{name}.{c}: keys differ")
    for c in num:
        x, y = pd.to_numeric(a[c], errors="coerce"), pd.to_numeric(b[c], errors="coerce")
        close = ((x - y).abs() <= 1e-6 * (1 + x.abs())) | (x.isna() & y.isna())
        if not close.all():
            out.append(
                f"{name}.{c}: {a.loc[~close, [*key, c]].head(3).to_dict('records')} vs "
                f"{b.loc[~close, c].head(3).tolist()}"
            )
    return out


@pytest.mark.parametrize("spec_file", ["resolution_drivers.yml", "csat_drivers.yml"])
def test_an_analysis_estimates_the_same_on_both_engines(builds, session, spec_file):
    """csat_drivers carries a ``where``: the checked predicate renders for Spark too."""
    from analysis_py.analyses import spark_inputs as spark_analyses
    from analysis_py.analyses.inputs import Inputs
    from analysis_py.analyses.runner import module_for
    from analysis_py.analyses.spec import load

    spec = load([str(REPO / "specs" / spec_file)])[0]
    duck_inputs = Inputs.open(builds["duckdb"][1].published.duckdb_path, REPO, use_semantic=False)
    try:
        left = module_for(spec.analysis).run(duck_inputs, spec)
    finally:
        duck_inputs.con.disconnect()
    right = module_for(spec.analysis).run(spark_analyses.open_inputs(builds["spark"][0]), spec)
    assert left.finding == right.finding
    frames = {"measures": (left.measures_frame(), right.measures_frame())}
    for name, frame in left.tables.items():
        if frame is not None:
            frames[name] = (frame, right.tables[name])
    assert sum(len(a) for a, _ in frames.values()) > 5, frames
    problems = [p for name, (a, b) in frames.items() for p in frames_agree(name, a, b)]
    assert not problems, "\n".join(problems)


def test_cli_query_and_analyze_run_on_the_spark_target(builds, session, monkeypatch, capsys):
    """The real CLI entry point (argument parsing, target resolution, output), run in this
    process so that it reuses the module's Spark session instead of starting two more JVMs."""
    from analysis_py.cli import main

    for k, v in builds["spark"][0].env().items():
        monkeypatch.setenv(k, v)
    code = main(
        ["query", "--target", "spark", "--metrics", "cases_opened",
         "--group-by", "metric_time__month", "--limit", "3"]
    )  # fmt: skip
    q = capsys.readouterr()
    assert code == 0, q.out + q.err
    assert "cases_opened" in q.out and len(q.out.strip().splitlines()) >= 4, q.out
    code = main(
        ["analyze", "--target", "spark", "--no-write", "--quiet",
         str(REPO / "specs" / "cases_profile.yml")]
    )  # fmt: skip
    a = capsys.readouterr()
    assert code == 0 and "success" in a.out, a.out + a.err


def test_cli_query_on_the_spark_target_in_its_own_process(builds, tmp_path):
    """The shell path too: `opsmetrics query --target spark` as its own process (its own JVM)
    writes the same CSV as the same query on the DuckDB build."""
    args = ["query", "--metrics", "cases_opened", "--group-by", "metric_time__month"]
    out = {}
    for engine, extra in (("spark", ["--target", "spark"]), ("duckdb", [])):
        csv_path = tmp_path / f"{engine}.csv"
        env = {**os.environ, **builds[engine][0].env()}
        run_cli(*args, *extra, "--csv", str(csv_path), env=env)
        out[engine] = csv_path.read_text().splitlines()
    assert len(out["spark"]) > 3
    assert out["spark"][0] == out["duckdb"][0]
    assert sorted(out["spark"][1:]) == sorted(out["duckdb"][1:])
