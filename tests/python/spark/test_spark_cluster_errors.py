"""The Spark cluster's commands fail clearly when the cluster or a build is missing, before
anything is started or written (no JVM here: these checks come first)."""

from __future__ import annotations

import os
import socket

from analysis_py.config import resolve_paths
from analysis_py.warehouse import spark_cluster_build
from analysis_py.warehouse.spark_target import is_cluster_target, is_spark_target
from tests.python.conftest import REPO, run_cli


def _env(tmp_path, **extra):
    paths = resolve_paths(
        project_dir=REPO, data_dir=tmp_path / "raw", warehouse_dir=tmp_path / "wh"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSMETRICS_SPARK_")}
    return {**env, **paths.env(), **extra}


def _fails(p, *phrases):
    assert p.returncode != 0, p.stdout
    assert "Traceback" not in p.stderr, p.stderr
    for phrase in phrases:
        assert phrase in p.stderr, p.stderr


def test_the_profile_tells_a_cluster_target_from_a_local_session():
    paths = resolve_paths(project_dir=REPO)
    assert is_cluster_target(paths, "spark_cluster") and is_spark_target(paths, "spark_cluster")
    assert is_spark_target(paths, "spark") and not is_cluster_target(paths, "spark")
    assert not is_cluster_target(paths, "dev") and not is_cluster_target(paths, None)
    assert spark_cluster_build.build_schema("b20261207T053855778Z-fe55") == (
        "opsm_b20261207t053855778z_fe55"
    )


def test_spark_up_refuses_ports_in_use_and_starts_nothing(tmp_path):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        p = run_cli("spark", "up", "--thrift-port", str(port), env=_env(tmp_path), check=False)
    _fails(p, "ports in use", f"thrift {port}")
    assert not (tmp_path / "wh" / "spark-cluster" / "cluster.json").exists()


def test_build_without_a_cluster_says_how_to_start_one(tmp_path):
    p = run_cli("build", "--target", "spark_cluster", env=_env(tmp_path), check=False)
    _fails(p, "no Spark cluster runs", "opsmetrics spark up")
    assert not (tmp_path / "wh" / "spark-cluster" / "builds").exists()


def test_select_needs_a_published_cluster_build(tmp_path):
    # an address is configured (a hosted Thrift server), but nothing was built there yet
    env = _env(tmp_path, OPSMETRICS_SPARK_THRIFT_PORT="1")
    run_cli("generate", "--scale", "0.002", "--out", str(tmp_path / "raw"), "--quiet", env=env)
    p = run_cli("build", "--target", "spark_cluster", "--select", "fct_cases", env=env, check=False)
    _fails(p, "there is none yet", "without them")


def test_readers_without_a_published_build_or_a_cluster(tmp_path):
    env = _env(tmp_path)
    q = ["query", "--target", "spark_cluster", "--metrics", "cases_opened"]
    _fails(run_cli(*q, env=env, check=False), "no published Spark cluster build")
    (tmp_path / "wh" / "spark-cluster").mkdir(parents=True)
    (tmp_path / "wh" / "spark-cluster" / "current.json").write_text(
        '{"build_id": "b1", "schema": "opsm_b1", "build_dir": "%s", "relations": {}}'
        % (tmp_path / "wh" / "spark-cluster" / "builds" / "b1")
    )
    _fails(run_cli(*q, env=env, check=False), "semantic manifest")


def test_a_served_roles_spark_views_carry_its_masks_and_policies():
    """What the server creates in a role's Spark session (no JVM: the SQL itself)."""
    from analysis_py.pg.governance import Grants, MartInfo, Role, RowPolicy, spark_view_sql

    clients = MartInfo(
        "dim_clients", "opsm_b1",
        (("client_id", "VARCHAR"), ("legal_name", "VARCHAR"), ("onboarded_date", "DATE"),
         ("region", "VARCHAR")),
        pii=frozenset({"legal_name", "onboarded_date"}),
    )  # fmt: skip
    cases = MartInfo("fct_cases", "opsm_b1", (("case_id", "VARCHAR"), ("client_id", "VARCHAR")))
    marts = {"dim_clients": clients, "fct_cases": cases}
    emea = Role(
        "emea", row_policies=(RowPolicy("emea", "dim_clients", "region = 'EMEA'", "client_id"),)
    )
    assert spark_view_sql(clients, emea, marts) == (
        "SELECT `client_id`, CASE WHEN `legal_name` IS NULL THEN NULL ELSE '****' END AS "
        "`legal_name`, CAST(NULL AS DATE) AS `onboarded_date`, `region` "
        "FROM `opsm_b1`.`dim_clients` WHERE (region = 'EMEA')"
    )
    # the policy follows the key into every mart that carries it
    assert spark_view_sql(cases, emea, marts) == (
        "SELECT `case_id`, `client_id` FROM `opsm_b1`.`fct_cases` WHERE `client_id` IN "
        "(SELECT `client_id` FROM `opsm_b1`.`dim_clients` WHERE region = 'EMEA')"
    )
    # a role granted the PII reads the columns themselves
    admin = Role("admin", pii=Grants(None))
    assert "'****'" not in spark_view_sql(clients, admin, marts)
