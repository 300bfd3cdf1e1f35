"""Every command of README.md's "Using it" block, as written, on the shared warehouse.

The shared fixture itself runs ``opsmetrics generate`` and ``opsmetrics build`` (the first two
lines of the block); these tests check what they left and run the rest as a user would.
"""

from __future__ import annotations

import csv
import json
import re
import time

from tests.python.e2e.conftest import assert_ok, cli


def test_generate_and_build_left_a_published_warehouse(wh):
    raw = wh.raw_dir
    assert (raw / "ground_truth.json").is_file()
    assert list(raw.rglob("*.parquet")), "generate wrote no Parquet"
    whdir = wh.paths.warehouse_dir
    link = whdir / "opsmetrics.duckdb"
    assert link.is_symlink() and link.resolve().is_file()
    current = json.loads((whdir / "current.json").read_text())
    assert current["scale"] == wh.scale and current["seed"] == wh.seed
    assert link.resolve().name.startswith(current["build_id"])
    assert (whdir / "target" / "semantic_manifest.json").is_file()
    # no half-written leftovers next to the published build
    assert not list((whdir / "builds").glob("*.tmp*"))


def test_generate_small_scale_into_a_new_folder(tmp_path, wh):
    out = tmp_path / "raw"
    p = cli("generate", "--scale", "0.01", "--seed", "42", "--out", str(out), "--quiet", env=wh.env)
    assert_ok(p)
    truth = json.loads((out / "ground_truth.json").read_text())
    assert truth, "empty ground truth"
    assert list(out.rglob("*.parquet"))


def test_query_readme_example(wh):
    p = cli(
        "query",
        "--metrics",
        "cases_opened,stp_rate",
        "--group-by",
        "metric_time__month,client__region",
        env=wh.env,
    )
    assert_ok(p)
    header = p.stdout.splitlines()[0].split()
    assert header == ["metric_time__month", "client__region", "cases_opened", "stp_rate"]
    assert re.search(r"20\d\d-\d\d-01 00:00:00\s+(AMER|EMEA|APAC)\s+\d+\s+0\.\d+", p.stdout)


def test_query_where_order_limit(wh):
    p = cli(
        "query",
        "--metrics",
        "stp_rate",
        "--group-by",
        "metric_time__month,payment__rail",
        "--where",
        "{{ Dimension('client__region') }} = 'EMEA'",
        "--order",
        "-metric_time__month",
        "--limit",
        "12",
        env=wh.env,
    )
    assert_ok(p)
    rows = [line for line in p.stdout.splitlines()[2:] if re.match(r"\d{4}-", line)]
    assert len(rows) == 12
    months = [r.split()[0] for r in rows]
    assert months == sorted(months, reverse=True)


def test_query_csv_with_time_window(wh, tmp_path):
    out = tmp_path / "mtd.csv"
    p = cli(
        "query",
        "--metrics",
        "payment_value_usd_mtd",
        "--group-by",
        "metric_time__day",
        "--start-time",
        "2025-01-01",
        "--end-time",
        "2025-03-31",
        "--order",
        "metric_time__day",
        "--csv",
        str(out),
        env=wh.env,
    )
    assert_ok(p)
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert list(rows[0]) == ["metric_time__day", "payment_value_usd_mtd"]
    days = [r["metric_time__day"] for r in rows]
    assert days[0] == "2025-01-01 00:00:00" and days[-1] == "2025-03-31 00:00:00"
    assert len(days) == 90 and days == sorted(days)
    # month-to-date: resets on the first of each month, grows within it
    by_day = {r["metric_time__day"][:10]: float(r["payment_value_usd_mtd"]) for r in rows}
    assert by_day["2025-02-01"] < by_day["2025-01-31"]
    assert by_day["2025-01-31"] > by_day["2025-01-15"]
    assert not list(tmp_path.glob("*.tmp")), "temporary file left behind"


def test_query_saved_query(wh):
    p = cli("query", "--saved-query", "weekly_ops_kpis", env=wh.env)
    assert_ok(p)
    header = p.stdout.splitlines()[0].split()
    assert header[0] == "metric_time__week" and "stp_rate" in header and "error_rate" in header


def test_query_explain_spark_parses_back(wh):
    import sqlglot

    p = cli(
        "query",
        "--metrics",
        "error_rate",
        "--group-by",
        "metric_time__week",
        "--explain",
        "--dialect",
        "spark",
        env=wh.env,
    )
    assert_ok(p)
    sql = p.stdout
    assert "error_rate" in sql and "fct_platform_requests" in sql
    tree = sqlglot.parse_one(sql, read="spark")
    assert tree.find(sqlglot.exp.Select) is not None


def test_list_metrics_dimensions_entities_saved_queries(wh):
    p = cli("list", "metrics", env=wh.env)
    assert_ok(p)
    for m in ("cases_opened", "stp_rate", "error_rate", "payment_value_usd_mtd"):
        assert m in p.stdout
    p = cli("list", "dimensions", "--metrics", "stp_rate", env=wh.env)
    assert_ok(p)
    assert "payment__rail" in p.stdout and "client__region" in p.stdout
    assert "case__product" not in p.stdout
    p = cli("list", "entities", env=wh.env)
    assert_ok(p)
    for e in ("case", "client", "payment", "incident", "platform_request"):
        assert re.search(rf"\b{e}\b", p.stdout)
    p = cli("list", "saved-queries", env=wh.env)
    assert_ok(p)
    assert "weekly_ops_kpis" in p.stdout


def test_validate(wh):
    p = cli("validate", env=wh.env)
    assert_ok(p)
    assert "no problems" in p.stdout


def test_sql_semantic_readme_example(wh):
    p = cli(
        "sql",
        "select metric_time__week, stp_rate from metrics group by all order by 1",
        "--max-rows",
        "1000",
        env=wh.env,
    )
    assert_ok(p)
    # the SQL interface answers as the server does: a week bucket is a date
    weeks = re.findall(r"^(\d{4}-\d\d-\d\d) +\| 0\.\d+", p.stdout, re.M)
    assert len(weeks) > 50 and weeks == sorted(weeks)


def test_sql_semantic_equals_query(wh, tmp_path):
    """The same metric request through `sql` and `query` gives the same numbers."""
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert_ok(
        cli(
            "sql",
            "select metric_time__month, payment__rail, stp_rate from metrics "
            "where client__region = 'EMEA' group by all order by 1, 2",
            "--csv",
            str(a),
            env=wh.env,
        )
    )
    assert_ok(
        cli(
            "query",
            "--metrics",
            "stp_rate",
            "--group-by",
            "metric_time__month,payment__rail",
            "--where",
            "{{ Dimension('client__region') }} = 'EMEA'",
            "--order",
            "metric_time__month,payment__rail",
            "--csv",
            str(b),
            env=wh.env,
        )
    )
    ra, rb = (
        list(csv.reader(a.read_text().splitlines())),
        list(csv.reader(b.read_text().splitlines())),
    )
    assert len(ra) == len(rb) > 10
    for x, y in zip(ra[1:], rb[1:], strict=True):
        assert x[0][:10] == y[0][:10] and x[1] == y[1]
        assert abs(float(x[2]) - float(y[2])) < 1e-12


def test_sql_jdbc_syntax(wh):
    p = cli(
        "sql",
        "select * from {{ semantic_layer.query(metrics=['stp_rate'], "
        "group_by=[Dimension('metric_time').grain('month')]) }}",
        env=wh.env,
    )
    assert_ok(p)
    assert p.stdout.split()[0:3] == ["metric_time__month", "|", "stp_rate"]
    p = cli("sql", "select * from {{ semantic_layer.metrics() }}", env=wh.env)
    assert_ok(p)
    assert "stp_rate" in p.stdout


def test_sql_passthrough_csv_matches_count(wh, tmp_path):
    out = tmp_path / "rails.csv"
    p = cli(
        "sql",
        "select rail, count(*) as n from fct_payments group by 1 order by 1",
        "--csv",
        str(out),
        env=wh.env,
    )
    assert_ok(p)
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert {r["rail"] for r in rows} == {"ACH", "CHAPS", "FEDWIRE", "RTP", "SEPA", "SWIFT"}
    tot = tmp_path / "total.csv"
    assert_ok(cli("sql", "select count(*) as n from fct_payments", "--csv", str(tot), env=wh.env))
    assert sum(int(r["n"]) for r in rows) == int(tot.read_text().splitlines()[1])


def test_sql_from_file(wh, tmp_path):
    f = tmp_path / "q.sql"
    f.write_text("select count(*) as n from fct_cases\n")
    p = cli("sql", "-f", str(f), env=wh.env)
    assert_ok(p)
    assert re.search(r"^\s*\d{4,}\s*$", p.stdout, re.M)


def test_analyze_one_spec_then_self_contained_report(private_wh, tmp_path):
    d, env = private_wh
    p = cli("analyze", "-q", "specs/cases_profile.yml", env=env)
    assert_ok(p)
    assert "cases_profile" in p.stdout
    assert list((d / "analysis" / "profile").glob("*.parquet"))
    # the result is readable as a governed analysis table
    q = cli(
        "sql",
        "select count(*) as n from analysis.profile where spec_name = 'cases_profile'",
        "--csv",
        str(tmp_path / "n.csv"),
        env=env,
    )
    assert_ok(q)
    assert int((tmp_path / "n.csv").read_text().splitlines()[1]) > 0
    out = tmp_path / "rep"
    p = cli("report", "--out", str(out), env=env)
    assert_ok(p)
    html = (out / "report.html").read_text()
    assert "cases_profile" in html
    external = re.findall(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html, re.I)
    assert not external, f"report loads external resources: {external[:5]}"
    assert not re.search(r"@import\s+url\(\s*['\"]?https?:", html, re.I)


def test_query_warm_whole_process_time(wh):
    """Not a pass/fail figure: prints the whole-process time of a warm `opsmetrics query`."""
    args = ("query", "--metrics", "cases_opened,stp_rate", "--group-by", "metric_time__month")
    assert_ok(cli(*args, env=wh.env))  # warm the manifest and SQL caches
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        assert_ok(cli(*args, env=wh.env))
        times.append(time.perf_counter() - t0)
    print(f"\nopsmetrics query, warm, whole process: best {min(times):.2f}s of {times}")
