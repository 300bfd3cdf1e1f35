"""The CLI: query output, --csv as `mf query --csv`, --explain per dialect, list, validate
(every problem at once), export (all or nothing), and from_dbt over a project + profile."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess

import duckdb
import pytest
import sqlglot

from analysis_py.semantic import SemanticLayer
from analysis_py.semantic.exports import run_exports

from .conftest import ORACLE_VENV, cli, ensure_oracle


def src(p):
    return ["--manifest", str(p.manifest), "--database", str(p.db)]


def test_query_prints_a_table(sl_project, tmp_path):
    proc = cli(
        "query",
        *src(sl_project),
        "--metrics",
        "order_total",
        "--group-by",
        "metric_time__month",
        "--order",
        "metric_time__month",
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["metric_time__month", "order_total"]
    assert lines[2].startswith("2024-01-01 00:00:00")


@pytest.mark.oracle
def test_csv_is_what_mf_query_writes(sl_project, tmp_path):
    ensure_oracle()
    proj = tmp_path / "proj"
    shutil.copytree(sl_project.dir, proj, ignore=shutil.ignore_patterns("*.duckdb*", "logs"))
    (tmp_path / "db").mkdir()
    db = tmp_path / "db" / sl_project.db.name
    shutil.copyfile(sl_project.db, db)
    args = [
        "--metrics",
        "order_total,completion_rate,order_count",
        "--group-by",
        "metric_time__month,customer__segment",
    ]
    mf = subprocess.run(
        [
            str(ORACLE_VENV / "bin" / "mf"),
            "query",
            *args,
            "--csv",
            str(tmp_path / "mf.csv"),
            "--quiet",
        ],
        cwd=proj,
        env={**os.environ, "SL_FIXTURE_DUCKDB": str(db), "DBT_PROFILES_DIR": str(proj)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert mf.returncode == 0, mf.stdout + mf.stderr
    ours = cli("query", *src(sl_project), *args, "--csv", str(tmp_path / "ours.csv"))
    assert ours.returncode == 0, ours.stderr
    theirs_lines = (tmp_path / "mf.csv").read_text().splitlines()
    ours_lines = (tmp_path / "ours.csv").read_text().splitlines()
    assert ours_lines[0] == theirs_lines[0]  # header: MetricFlow's column order
    assert sorted(ours_lines[1:]) == sorted(theirs_lines[1:])


def test_csv_null_is_empty_field(sl_project, tmp_path):
    out = tmp_path / "o.csv"
    proc = cli(
        "query",
        *src(sl_project),
        "--metrics",
        "order_total",
        "--group-by",
        "customer__segment",
        "--csv",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.reader(out.read_text().splitlines()))
    assert rows[0] == ["customer__segment", "order_total"]
    assert any(r[0] == "" for r in rows[1:])  # the customer without a segment


@pytest.mark.parametrize(
    "dialect", ["duckdb", "spark", "snowflake", "bigquery", "postgres", "trino"]
)
def test_explain_per_dialect_parses_back(sl_project, dialect):
    proc = cli(
        "query",
        "--manifest",
        str(sl_project.manifest),
        "--metrics",
        "order_total_7d,completion_rate,p90_order_amount",
        "--group-by",
        "metric_time__week,customer__segment",
        "--explain",
        "--dialect",
        dialect,
    )
    assert proc.returncode == 0, proc.stderr
    tree = sqlglot.parse_one(proc.stdout, read=dialect)
    assert tree.find(sqlglot.exp.Select) is not None


def test_spark_percentile_is_exact(sl):
    sql = sl.compile(metrics=["p90_order_amount"]).sql_for("spark")
    assert "PERCENTILE(" in sql.upper() and "APPROX" not in sql.upper()


def test_list_commands(sl_project):
    m = cli("list", "metrics", "--manifest", str(sl_project.manifest))
    assert m.returncode == 0 and "order_total_wow (derived)" in m.stdout
    d = cli(
        "list",
        "dimensions",
        "--metrics",
        "visits,purchases",
        "--manifest",
        str(sl_project.manifest),
    )
    assert d.returncode == 0 and "metric_time" in d.stdout and "customer__segment" in d.stdout
    assert "order__status" not in d.stdout
    e = cli("list", "entities", "--manifest", str(sl_project.manifest))
    assert "customer (primary)" in e.stdout


def test_list_dimension_values(sl_project):
    """``mf list dimension-values``: the values of a dimension among a metric's rows."""
    got = cli(
        "list",
        "dimension-values",
        *src(sl_project),
        "--metrics",
        "order_total",
        "--dimension",
        "customer__segment",
    )
    assert got.returncode == 0, got.stderr
    con = duckdb.connect(str(sl_project.db), read_only=True)
    want = con.sql(
        "select distinct c.segment from main.fct_orders o "
        "left join main.dim_customers c on o.customer_id = c.customer_id"
    ).fetchall()
    con.close()
    shown = sorted(str(v) if v is not None else "(null)" for (v,) in want)
    assert sorted(got.stdout.split()) == shown
    bad = cli("list", "dimension-values", *src(sl_project), "--metrics", "order_total")
    assert bad.returncode != 0 and "needs --metrics and --dimension" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_decimals_and_quiet(sl_project, tmp_path):
    args = ["query", *src(sl_project), "--metrics", "avg_order_amount"]
    two = cli(*args)
    four = cli(*args, "--decimals", "4")
    assert two.returncode == 0 and four.returncode == 0, two.stderr + four.stderr
    value2, value4 = two.stdout.splitlines()[2].strip(), four.stdout.splitlines()[2].strip()
    assert len(value2.split(".")[1]) == 2 and len(value4.split(".")[1]) == 4
    assert float(value2) == pytest.approx(float(value4), abs=0.005)
    out = tmp_path / "q.csv"
    loud = cli(*args, "--csv", str(out))
    quiet = cli(*args, "--csv", str(out), "--quiet")
    assert "Wrote 1 rows" in loud.stderr and quiet.stderr == ""
    # the CSV keeps every digit whatever --decimals says
    assert len(out.read_text().splitlines()[1].split(".")[1]) > 4


def test_validate_reports_every_problem(sl_project, tmp_path):
    data = sl_project.manifest_data
    data["semantic_models"][0]["measures"][2]["agg"] = "sum"
    data["semantic_models"][0]["measures"][2]["agg_time_dimension"] = "nope"
    data["metrics"].append(
        {"name": "broken", "type": "simple", "type_params": {"measure": {"name": "no_such"}}}
    )
    data["metrics"].append(
        {
            "name": "bad_filter",
            "type": "simple",
            "type_params": {"measure": {"name": "order_count"}},
            "filter": {"where_filters": [{"where_sql_template": "drop table x"}]},
        }
    )
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    proc = cli("validate", "--manifest", str(bad))
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "measure 'order_total'" in proc.stderr and "agg_time_dimension" in proc.stderr
    assert "metric 'broken'" in proc.stderr and "no_such" in proc.stderr
    assert "metric 'bad_filter'" in proc.stderr
    ok = cli("validate", *src(sl_project))
    assert ok.returncode == 0, ok.stderr


def test_validate_checks_what_mf_validate_configs_checks(sl_project, tmp_path):
    """dbt's semantic-interfaces rules that reading the manifest does not enforce, and every
    element's column in the warehouse (with --database), each problem named."""
    data = sl_project.manifest_data
    orders = next(sm for sm in data["semantic_models"] if sm["name"] == "orders")
    customers = next(sm for sm in data["semantic_models"] if sm["name"] == "customers")
    orders["dimensions"].append({**orders["dimensions"][1], "name": "bad__name"})
    customers["dimensions"].append({**orders["dimensions"][0], "name": "status"})  # time here
    customers["entities"].append({"name": "second", "type": "primary", "expr": "customer_id"})
    customers["measures"].append({**orders["measures"][0], "agg_params": {"percentile": 0.5}})
    orders["dimensions"].append({**orders["dimensions"][1], "name": "channel2", "expr": "chanel"})
    wow = next(m for m in data["metrics"] if m["name"] == "order_total_wow")
    wow["type_params"]["metrics"][1]["offset_to_grain"] = "month"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    proc = cli("validate", "--manifest", str(bad), "--database", str(sl_project.db))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    err = proc.stderr
    assert "dimension 'bad__name'" in err and "'__'" in err
    assert "dimension 'status'" in err and "one type across the project" in err
    assert "more than one primary entity" in err
    assert "measure names are unique across the project" in err
    assert "takes no percentile parameters" in err
    assert "both offset_window and offset_to_grain" in err
    assert "dimension 'channel2'" in err and "chanel" in err


def test_export_writes_tables_all_or_nothing(sl_project, tmp_path):
    db = tmp_path / sl_project.db.name
    shutil.copyfile(sl_project.db, db)
    written = run_exports(sl_project.manifest, db)
    assert written == ["exports.weekly_orders_table", "main.orders_by_region"]
    con = duckdb.connect(str(db), read_only=True)
    n = con.sql("select count(*) from exports.weekly_orders_table").fetchall()[0][0]
    kind = con.sql(
        "select table_type from information_schema.tables where table_name = 'orders_by_region'"
    ).fetchall()[0][0]
    con.close()
    sl = SemanticLayer.from_manifest(sl_project.manifest, sl_project.db)
    assert n == len(sl.query(saved_query="weekly_orders").fetchall())
    assert kind == "VIEW"
    # a failing export leaves the earlier ones as they were
    data = sl_project.manifest_data
    data["saved_queries"][0]["query_params"]["where"] = {
        "where_filters": [
            {
                "where_sql_template": "{{ Dimension('order__status') }} = 1 / 0 > 0 and {{ Dimension('order__status') }}::int = 3"
            }
        ]
    }
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    proc = cli("export", "--manifest", str(bad), "--database", str(db))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    con = duckdb.connect(str(db), read_only=True)
    assert con.sql("select count(*) from exports.weekly_orders_table").fetchall()[0][0] == n
    con.close()


def test_from_dbt_reads_profile_env_var(sl_project, monkeypatch):
    monkeypatch.setenv("SL_FIXTURE_DUCKDB", str(sl_project.db))
    sl = SemanticLayer.from_dbt(sl_project.dir, profiles_dir=sl_project.dir)
    assert sl.query(metrics=["order_count"]).fetchall()[0][0] > 0
    proc = cli(
        "query",
        "--project-dir",
        str(sl_project.dir),
        "--profiles-dir",
        str(sl_project.dir),
        "--metrics",
        "order_count",
        env={"SL_FIXTURE_DUCKDB": str(sl_project.db)},
    )
    assert proc.returncode == 0, proc.stderr


def test_python_api_results(sl):
    q = sl.query(
        metrics=["order_total", "order_count"],
        group_by=["metric_time__month"],
        order_by=["metric_time__month"],
    )
    df = q.to_pandas()
    assert list(df.columns) == ["metric_time__month", "order_total", "order_count"]
    assert q.to_arrow().num_rows == len(df)
    t = q.to_ibis()
    assert t.count().execute() == len(df)
    assert sl.metrics() and sl.entities() and sl.saved_queries()
