"""The project on a real standalone Spark cluster, started and stopped by ``opsmetrics spark``.

One cluster for the module (master, two workers, one application serving Thrift and Spark
Connect), on free loopback ports:

- a table written through Thrift (beeline, as JDBC clients reach it) reads back through Spark
  Connect;
- ``opsmetrics build --target spark_cluster`` (dbt-spark's thrift method) builds the project
  at a small scale into a schema of its own, and every public mart and metric requests of
  every type, read through Spark Connect, equal the DuckDB build of the same raw data;
- ``query``/``analyze --target spark_cluster`` run through Spark Connect (no JVM in them);
- ``--select`` rebuilds part of the published build on the persistent catalog, and a failed
  build leaves the published one readable and drops what it wrote;
- ``down`` stops every process and frees the ports.

Every Spark Connect read runs in a process of its own (``connect_reader``): a Connect session
puts its process in Connect mode, which the local sessions of the other Spark tests must not
inherit. Skipped only where Java is missing (the reason is printed with -ra).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from analysis_py.config import resolve_paths
from analysis_py.warehouse import spark_cluster, spark_cluster_build
from tests.python.conftest import PY4J_SOCKETS, REPO, run_cli
from tests.python.spark.parity import checksum, metric_requests, public_marts

# A group of its own: the module's tests share one cluster, and it may run beside the local
# Spark tests on the other worker (this process opens no Spark session: every Spark Connect
# client and the Spark-backed server run in processes of their own).
pytestmark = [
    pytest.mark.spark,
    pytest.mark.timeout(1800),
    pytest.mark.xdist_group("spark_cluster"),
    PY4J_SOCKETS,
]

SCALE = 0.01
SEED = 11

if shutil.which("java") is None:  # printed with -ra: why the cluster was not tried
    pytest.skip(
        "Java is not installed: the Spark cluster needs a Java 17 runtime", allow_module_level=True
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Raw data, the DuckDB build (beside the cluster's start) and a running cluster."""
    from analysis_py.warehouse import build as duck_build

    root = tmp_path_factory.mktemp("spark-cluster")
    raw = root / "raw"
    run_cli("generate", "--scale", str(SCALE), "--seed", str(SEED), "--out", str(raw), "--quiet")
    duck_paths = resolve_paths(project_dir=REPO, data_dir=raw, warehouse_dir=root / "duckdb")
    paths = resolve_paths(project_dir=REPO, data_dir=raw, warehouse_dir=root / "cluster")
    env = {**os.environ, **paths.env()}
    master, ui, thrift, connect = spark_cluster.free_ports(4)
    ports = ["--master-port", str(master), "--ui-port", str(ui), "--thrift-port", str(thrift),
             "--connect-port", str(connect)]  # fmt: skip
    duck: dict = {}
    t = threading.Thread(target=lambda: duck.update(r=duck_build.build(duck_paths, docs=False)))
    t.start()
    try:
        up = run_cli("spark", "up", "--workers", "2", "--worker-memory", "512m", *ports, env=env)
    finally:
        t.join()
    assert "r" in duck, "the DuckDB build failed"
    yield {
        "paths": paths,
        "env": env,
        "duck": duck["r"],
        "duck_paths": duck_paths,
        "duck_env": {**os.environ, **duck_paths.env()},
        "ports": {"master": master, "thrift": thrift, "connect": connect},
        "up": up,
    }
    run_cli("spark", "down", env=env, check=False)  # in case a test failed before `down`


@pytest.fixture(scope="module")
def built(cluster):
    """The project built on the cluster through Thrift and published."""
    p = run_cli("build", "--target", "spark_cluster", "--quiet", env=cluster["env"], timeout=1500)
    assert "Published Spark cluster build" in p.stdout, p.stdout
    return spark_cluster_build.current(cluster["paths"])


def read_through_connect(cluster, queries: dict[str, str], tmp_path: Path) -> dict[str, list]:
    request = tmp_path / "connect-request.json"
    url = f"sc://127.0.0.1:{cluster['ports']['connect']}"
    request.write_text(json.dumps({"url": url, "queries": queries}))
    p = subprocess.run(
        [sys.executable, "-m", "tests.python.spark.connect_reader", str(request)],
        capture_output=True, text=True, timeout=900, cwd=REPO,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-4000:]
    return json.loads(p.stdout)


def duck_rows(cluster, sql: str) -> list[tuple]:
    import duckdb

    con = duckdb.connect(str(cluster["duck"].published.duckdb_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


# -- tests, in the order they run ---------------------------------------------------------------
def test_the_cluster_serves_thrift_and_spark_connect(cluster, tmp_path):
    import pyspark

    assert f"sc://127.0.0.1:{cluster['ports']['connect']}" in cluster["up"].stdout
    st = run_cli("spark", "status", env=cluster["env"])
    assert st.stdout.count("running") == 4  # master, two workers, the server
    again = run_cli("spark", "up", env=cluster["env"], check=False)
    assert again.returncode != 0 and "already runs" in again.stderr
    assert "Traceback" not in again.stderr

    beeline = Path(pyspark.__file__).parent / "bin" / "beeline"
    sql = "create table t as select id, id * 2 as x from range(1000); select sum(x) from t;"
    p = subprocess.run(
        [str(beeline), "-u", f"jdbc:hive2://127.0.0.1:{cluster['ports']['thrift']}/default",
         "-n", "opsmetrics", "--silent=true", "--outputformat=csv2", "-e", sql],
        capture_output=True, text=True, timeout=300, env=spark_cluster._env(),
    )  # fmt: skip
    assert p.returncode == 0, p.stdout + p.stderr
    assert "999000" in p.stdout
    got = read_through_connect(cluster, {"t": "select count(*), sum(x) from default.t"}, tmp_path)
    assert got["t"] == [["1000", "999000"]]  # the table written through Thrift


def test_dbt_build_on_the_cluster_has_duckdbs_node_results(cluster, built):
    results = json.loads((built.target_path / "run_results.json").read_text())["results"]
    # the on-run-start hook is a node of run_results.json only
    spark = {r["unique_id"]: r["status"] for r in results if r["unique_id"][:10] != "operation."}
    duck = {r.unique_id: r.status for r in cluster["duck"].run.results}
    assert set(spark) == set(duck), set(spark) ^ set(duck)
    assert set(spark.values()) <= {"success", "pass", "no-op"}, spark
    assert sum(v == "pass" for v in spark.values()) >= 200  # data tests and unit tests ran
    # one schema per build: marts in the build's schema, each folder in a schema beside it
    assert built.schema.startswith("opsm_b")
    schemas = {r["relation"].split(".", 1)[0] for r in built.relations.values()}
    assert schemas == {
        built.schema,
        *(f"{built.schema}_{s}" for s in ("staging", "intermediate", "seeds")),
    }
    assert built.schema in run_cli("spark", "status", env=cluster["env"]).stdout


def test_every_mart_and_metric_type_equal_duckdb_through_spark_connect(cluster, built, tmp_path):
    from analysis_py.semantic.layer import SemanticLayer
    from analysis_py.semantic.spark_query import compile_request

    duck = cluster["duck"].published
    marts = public_marts(duck.manifest_path)
    assert len(marts) >= 8, marts
    queries, expected = {}, {}
    for schema, table in marts:
        relation = built.tables.get(f"{schema}.{table}")
        assert relation, f"{schema}.{table} is not in the cluster build"
        import duckdb

        con = duckdb.connect(str(duck.duckdb_path), read_only=True)
        columns = [r[0] for r in con.execute(f'describe "{schema}"."{table}"').fetchall()]
        con.close()
        queries[table] = f"select {', '.join(f'`{c}`' for c in columns)} from {relation}"
        expected[table] = duck_rows(
            cluster,
            f'select {", ".join(chr(34) + c + chr(34) for c in columns)} from "{schema}"."{table}"',
        )
    requests = metric_requests(duck.semantic_manifest_path)
    assert {"simple", "ratio", "derived", "cumulative", "conversion"} <= {
        r["type"] for r in requests
    }
    duck_layer = SemanticLayer(duck.semantic_manifest_path, dialect="duckdb")
    for i, r in enumerate(requests):
        req = {"metrics": r["metrics"], "group_by": r["group_by"]}
        sql, columns = compile_request(built.semantic_manifest_path, req)
        assert built.schema in sql  # the published build's relations, as its manifest names them
        queries[f"request {i}"] = sql
        expected[f"request {i}"] = duck_rows(cluster, duck_layer.compile(**req).sql)
    got = read_through_connect(cluster, queries, tmp_path)
    problems = []
    for name, rows in expected.items():
        assert rows, f"{name} has no rows on DuckDB (a comparison of nothing)"
        if checksum(rows) != checksum(got[name]):
            problems.append(f"{name}: duckdb {checksum(rows)} vs cluster {checksum(got[name])}")
    assert not problems, "\n".join(problems)


def test_query_and_analyze_run_through_spark_connect(cluster, built, tmp_path):
    args = ["query", "--metrics", "cases_opened,payments", "--group-by", "metric_time__month"]
    out = {}
    for engine, env, extra in (
        ("cluster", cluster["env"], ["--target", "spark_cluster"]),
        ("duckdb", cluster["duck_env"], []),
    ):
        csv_path = tmp_path / f"{engine}.csv"
        run_cli(*args, *extra, "--csv", str(csv_path), env=env)
        out[engine] = csv_path.read_text().splitlines()
    assert len(out["cluster"]) > 3
    assert out["cluster"][0] == out["duckdb"][0]
    assert sorted(out["cluster"][1:]) == sorted(out["duckdb"][1:])

    a = run_cli("analyze", "--target", "spark_cluster", "--no-write", "--quiet",
                str(REPO / "specs" / "resolution_drivers.yml"), env=cluster["env"])  # fmt: skip
    assert "success" in a.stdout, a.stdout + a.stderr


def test_select_rebuilds_part_of_the_published_build(cluster, built, tmp_path):
    p = run_cli("build", "--target", "spark_cluster", "--select", "fct_cases", "--quiet",
                env=cluster["env"], timeout=1500)  # fmt: skip
    assert "kept from the previous build" in p.stdout, p.stdout
    new = spark_cluster_build.current(cluster["paths"])
    assert new.build_id != built.build_id
    origins = {uid: r["origin_build"] for uid, r in new.relations.items()}
    assert origins.pop("model.opsmetrics.fct_cases") == new.build_id
    assert set(origins.values()) == {built.build_id}  # the rest still read the first build
    assert set(new.relations) == set(built.relations)
    # the whole project still answers from the new build's schema, as on DuckDB
    sql = "select count(*), count(distinct client_id) from {}"
    got = read_through_connect(
        cluster,
        {"cases": sql.format(new.tables["main.fct_cases"]),
         "payments": "select count(*) from " + new.tables["main.fct_payments"]},
        tmp_path,
    )  # fmt: skip
    assert got["cases"] == [[str(v) for v in duck_rows(cluster, sql.format("main.fct_cases"))[0]]]
    assert got["payments"] == [
        [str(duck_rows(cluster, "select count(*) from main.fct_payments")[0][0])]
    ]


def test_a_failed_build_keeps_the_published_build_and_drops_its_schemas(cluster, tmp_path):
    before = spark_cluster_build.current(cluster["paths"])
    # a raw file Spark cannot read makes the selected staging model's tests fail
    source = next(iter(sorted((cluster["paths"].data_dir / "crm").glob("cases/*.parquet"))))
    saved = source.read_bytes()
    try:
        source.write_bytes(b"not parquet")
        p = run_cli("build", "--target", "spark_cluster", "--select", "stg_crm__cases",
                    env=cluster["env"], check=False, timeout=1500)  # fmt: skip
    finally:
        source.write_bytes(saved)
    assert p.returncode != 0 and "Traceback" not in p.stderr, p.stderr
    assert spark_cluster_build.current(cluster["paths"]).build_id == before.build_id
    builds = spark_cluster_build.root(cluster["paths"]) / "builds"
    assert {d.name for d in builds.iterdir()} <= {
        r["origin_build"] for r in before.relations.values()
    } | {before.build_id}
    with spark_cluster_build.thrift_cursor(cluster["paths"]) as cur:
        cur.execute("show databases like 'opsm_*'")
        left = {name for (name,) in cur.fetchall()}
    kept = {b.name for b in builds.iterdir()}
    assert {n.split("_")[1] for n in left} == {
        spark_cluster_build.build_schema(b).split("_")[1] for b in kept
    }


def test_masks_and_row_policies_hold_in_the_spark_views(cluster, built, tmp_path):
    """The views a served role reads on the cluster: PII masked, rows cut by the policy."""
    import duckdb

    from analysis_py.pg.governance import Grants, MartInfo, Role, RowPolicy, spark_view_sql

    con = duckdb.connect(str(cluster["duck"].published.duckdb_path), read_only=True)
    cols = tuple(con.execute("select column_name, data_type from duckdb_columns() "
                             "where table_name = 'dim_clients' order by column_index").fetchall())  # fmt: skip
    expected = con.execute(
        "select count(*) from main.dim_clients where region = 'EMEA'"
    ).fetchall()[0][0]
    con.close()
    schema = built.tables["main.dim_clients"].split(".", 1)[0]
    mart = MartInfo("dim_clients", schema, cols, pii=frozenset({"legal_name", "contact_email"}))
    role = Role("emea", pii=Grants(frozenset()),
                row_policies=(RowPolicy("emea", "dim_clients", "region = 'EMEA'", "client_id"),))  # fmt: skip
    view = spark_view_sql(mart, role, {"dim_clients": mart})
    got = read_through_connect(
        cluster,
        {"v": f"select count(*), count(distinct legal_name), max(legal_name), "
              f"count(distinct region) from ({view})"},
        tmp_path,
    )  # fmt: skip
    assert expected > 0
    assert got["v"] == [[str(expected), "1", "****", "1"]]


SERVED_QUERIES = [
    "select metric_time__month, cases_opened from metrics group by 1 order by 1",
    "select metric_time__month, client__region, payments from metrics group by all order by 1, 2",
    "select client__segment, stp_rate from metrics where client__region = 'EMEA' "
    "group by all order by 1",
    "select count(*) from metrics.cases_opened",
]


def _serve_config(tmp_path) -> Path:
    from analysis_py.serve.scram import make_verifier

    verifier = make_verifier("pw")
    config = tmp_path / "serve.yml"
    config.write_text(
        json.dumps(
            {
                "server": {"port": 0},
                "row_policies": {
                    "emea": {
                        "table": "dim_clients",
                        "key": "client_id",
                        "filter": "region = 'EMEA'",
                    }
                },
                "roles": {
                    "admin": {"marts": "*", "metrics": "*", "pii": True},
                    "emea": {"marts": "*", "metrics": "*", "row_policies": ["emea"]},
                },
                "users": {u: {"password": verifier, "role": u} for u in ("admin", "emea")},
            }
        )
    )
    return config


def test_the_server_serves_the_clusters_metrics_under_the_same_governance(cluster, tmp_path):
    """`opsmetrics serve --target spark_cluster` (its own process: it holds Spark Connect
    sessions) answers semantic SQL like the DuckDB server on the DuckDB build, for a full role
    and under a row policy, and refuses plain queries of the marts."""
    import psycopg

    from analysis_py.serve.config import load_config
    from analysis_py.serve.run import start_in_thread

    config = _serve_config(tmp_path)
    port = spark_cluster.free_ports(1)[0]
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("opsmetrics")), "serve", "--config", str(config),
         "--target", "spark_cluster", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env=cluster["env"], cwd=REPO,
    )  # fmt: skip
    duck = start_in_thread(load_config(config), cluster["duck_paths"].warehouse_dir)
    try:
        deadline = time.monotonic() + 300
        while not spark_cluster._port_open(port):
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "the Spark-backed server did not start"
            time.sleep(0.5)
        answers = {}
        for user in ("admin", "emea"):
            for q in SERVED_QUERIES:
                got = {}
                for name, p in (("duck", duck.port), ("spark", port)):
                    with psycopg.connect(host="127.0.0.1", port=p, user=user, password="pw",
                                         dbname="opsmetrics") as con:  # fmt: skip
                        got[name] = con.execute(q).fetchall()
                assert got["duck"], f"{user}: {q} has no rows (a comparison of nothing)"
                assert got["spark"] == got["duck"], f"{user}: {q}"
                answers[user, q] = got["spark"]
        by_region = SERVED_QUERIES[1]
        assert {r[1] for r in answers["emea", by_region]} == {"EMEA"}  # the row policy held
        assert len({r[1] for r in answers["admin", by_region]}) > 1
        with psycopg.connect(host="127.0.0.1", port=port, user="emea", password="pw",
                             dbname="opsmetrics") as con:  # fmt: skip
            # a parameter, bound through the extended protocol
            year = con.execute(
                "select metric_time__year, cases_opened from metrics "
                "where metric_time__year >= %s group by 1 order by 1", ["2025-01-01"],
            ).fetchall()  # fmt: skip
            assert year and all(r[0].year == 2025 for r in year)
            schemas = con.execute(
                "select distinct table_schema from information_schema.tables"
            ).fetchall()
            assert schemas == [("metrics",)]  # the marts are not served from a cluster
            with pytest.raises(psycopg.errors.FeatureNotSupported, match="Spark cluster"):
                con.execute("select count(*) from fct_cases")
    finally:
        duck.stop()
        server.terminate()
        server.wait(timeout=60)
        log.close()
    assert "Traceback" not in (tmp_path / "serve.log").read_text()


def test_down_stops_every_process(cluster):
    down = run_cli("spark", "down", env=cluster["env"], check=False)
    assert down.returncode == 0 and "server" in down.stdout
    after = run_cli("spark", "status", env=cluster["env"], check=False)
    assert after.returncode == 1 and "no Spark cluster" in after.stdout
    assert not any(spark_cluster._port_open(p) for p in cluster["ports"].values())
