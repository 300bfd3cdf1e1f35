"""Bad input across every command: non-zero exit, a message naming what is wrong (and, where
there is one, the closest valid name), no Python traceback, nothing half-written.

Known bugs are recorded as ``xfail(strict=True)`` tests whose reason starts with ``BUG:``; when
a bug is fixed the test starts passing and strict mode turns it red until the mark is removed.
"""

from __future__ import annotations

import os
import socket

import pytest

from tests.python.e2e.conftest import assert_clean_error, assert_ok, cli, file_digest

Q = ("query", "--metrics", "stp_rate", "--group-by", "metric_time__month")


# --- generate -------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", ["0", "-1", "1000"])
def test_generate_bad_scale_writes_nothing(tmp_path, wh, scale):
    out = tmp_path / "raw"
    p = cli("generate", "--scale", scale, "--out", str(out), "-q", env=wh.env)
    assert_clean_error(p, "scale")
    assert not out.exists()


def test_generate_non_numeric_scale(tmp_path, wh):
    p = cli("generate", "--scale", "abc", "--out", str(tmp_path / "raw"), "-q", env=wh.env)
    assert_clean_error(p, "--scale", "abc")


@pytest.mark.parametrize(
    "text, needles",
    [
        ("nosuch_key: 3\n", ["nosuch_key", "allowed keys"]),
        ("stp:\n  base_rate: 7\n", ["stp.base_rate"]),
        ("not: [valid\n", ["yaml", "line"]),
        ("- 1\n- 2\n", ["mapping"]),
        ("resolution:\n  channel_multiplier:\n    chat: -0.7\n", ["chat", "> 0"]),
    ],
)
def test_generate_bad_effects_file(tmp_path, wh, text, needles):
    eff = tmp_path / "effects.yml"
    eff.write_text(text)
    out = tmp_path / "raw"
    p = cli(
        "generate", "--scale", "0.01", "--effects", str(eff), "--out", str(out), "-q", env=wh.env
    )
    assert_clean_error(p, *needles)
    assert not out.exists()


def test_generate_missing_effects_file(tmp_path, wh):
    p = cli(
        "generate",
        "--scale",
        "0.01",
        "--effects",
        str(tmp_path / "nope.yml"),
        "--out",
        str(tmp_path / "raw"),
        "-q",
        env=wh.env,
    )
    assert_clean_error(p, "nope.yml")
    assert not (tmp_path / "raw").exists()


def test_generate_out_below_a_file(tmp_path, wh):
    f = tmp_path / "afile"
    f.write_text("x")
    p = cli("generate", "--scale", "0.01", "--out", str(f / "raw"), "-q", env=wh.env)
    assert_clean_error(p, "afile")


# --- build ----------------------------------------------------------------------------------


def test_build_without_raw_data(tmp_path, wh):
    env = {
        **wh.env,
        "OPSMETRICS_DATA_DIR": str(tmp_path / "noraw"),
        "OPSMETRICS_WAREHOUSE_DIR": str(tmp_path / "wh"),
    }
    (tmp_path / "noraw").mkdir()
    p = cli("build", "-q", env=env)
    assert_clean_error(p, "no raw data", "opsmetrics generate")
    assert not (tmp_path / "wh" / "opsmetrics.duckdb").exists()


def test_build_unknown_target_keeps_last_good_warehouse(private_wh, wh, tmp_path):
    """README: a failed build leaves the last good warehouse published."""
    d, env = private_wh
    (d / "current.json").write_text((wh.paths.warehouse_dir / "current.json").read_text())
    before = (os.readlink(d / "opsmetrics.duckdb"), (d / "current.json").read_text())
    p = cli("build", "-q", "--target", "nosuch", env=env)
    assert_clean_error(p, "nosuch", "dev")
    assert (os.readlink(d / "opsmetrics.duckdb"), (d / "current.json").read_text()) == before
    assert len(list((d / "builds").glob("*.duckdb"))) == 1, "a failed build file was left"
    # readers still get the last good build
    out = tmp_path / "n.csv"
    assert_ok(cli("sql", "select count(*) as n from fct_cases", "--csv", str(out), env=env))
    assert int(out.read_text().splitlines()[1]) > 1000


@pytest.mark.slow  # one dbt parse: ≈ 10-25 s on the shared machine
def test_build_select_matching_nothing_names_the_selector(tmp_path, wh):
    env = {**wh.env, "OPSMETRICS_WAREHOUSE_DIR": str(tmp_path / "wh")}
    p = cli("build", "-q", "--select", "nosuch_model", env=env)
    out = assert_clean_error(p, "nosuch_model", "no node", "dbt ls")
    assert not (tmp_path / "wh" / "opsmetrics.duckdb").exists()
    assert not (tmp_path / "wh" / "current.json").exists()
    assert not list((tmp_path / "wh" / "builds").glob("*.duckdb")), "a scratch build file was left"
    assert "does not exist" not in out


# --- query ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, needles",
    [
        (("--metrics", "stp_rat"), ["stp_rat", "did you mean", "stp_rate"]),
        (
            ("--metrics", "stp_rate", "--group-by", "payment__rial"),
            ["payment__rial", "payment__rail"],
        ),
        (("--metrics", "stp_rate", "--group-by", "metric_time__fortnight"), ["fortnight"]),
        ((*Q[1:], "--order", "nosuch"), ["nosuch", "metric_time__month"]),
        ((*Q[1:], "--limit", "-1"), ["limit"]),
        ((*Q[1:], "--limit", "abc"), ["--limit", "abc"]),
        ((*Q[1:], "--start-time", "notadate"), ["notadate", "ISO"]),
        (("--saved-query", "nosuch"), ["nosuch", "list saved-queries"]),
        (("--metrics", "stp_rate", "--explain", "--dialect", "nosql"), ["nosql", "spark"]),
        ((), ["no metrics", "--metrics"]),
        (("--metrics", "stp_rate", "--target", "nosuch"), ["nosuch", "dev"]),
    ],
    ids=lambda v: "_".join(v) if isinstance(v, tuple) else None,
)
def test_query_bad_request(wh, args, needles):
    assert_clean_error(cli("query", *args, env=wh.env), *needles)


@pytest.mark.parametrize(
    "where",
    [
        "1=1; drop table x",
        "{{ Dimension('client__region') }} = 'EMEA'; drop table fct_payments",
        "{{ Dimension('client__region') }} in (select region from dim_clients)",
        "(select count(*) from read_csv('/etc/passwd')) > 0",
        "{{ Dimension('client__region') }} = (select * from read_csv('/etc/passwd'))",
        "{{ __import__('os').system('touch /tmp/opsmetrics_pwned') }}",
        "{% for x in y %}1{% endfor %}",
        "{{ Dimension('client__region') }} = ",
        "{{ Dimension('client__region') }}",
        "region = 'EMEA'",
    ],
)
def test_query_where_injection_refused(wh, wh_digest, where):
    p = cli(*Q, "--where", where, env=wh.env)
    assert_clean_error(p)
    assert not os.path.exists("/tmp/opsmetrics_pwned")
    assert file_digest(wh.duckdb_path.resolve()) == wh_digest


def test_query_where_unknown_dimension_suggests(wh):
    p = cli(*Q, "--where", "{{ Dimension('client__regio') }} = 'EMEA'", env=wh.env)
    assert_clean_error(p, "client__regio", "client__region")


def test_query_missing_warehouse(tmp_path, wh):
    env = {**wh.env, "OPSMETRICS_WAREHOUSE_DIR": str(tmp_path / "nowh")}
    assert_clean_error(cli(*Q, env=env), "does not exist", "build")


def test_query_database_not_duckdb(tmp_path, wh):
    f = tmp_path / "fake.duckdb"
    f.write_text("not a database")
    assert_clean_error(cli(*Q, "--database", str(f), env=wh.env), "fake.duckdb")


def test_query_csv_into_missing_folder(tmp_path, wh):
    target = tmp_path / "nodir" / "x.csv"
    assert_clean_error(cli(*Q, "--csv", str(target), env=wh.env), "nodir")


def test_query_missing_manifest_file(tmp_path, wh):
    p = cli(
        "query",
        "--metrics",
        "stp_rate",
        "--manifest",
        str(tmp_path / "nope.json"),
        "--explain",
        env=wh.env,
    )
    assert_clean_error(p, "nope.json")


def test_query_bad_manifest_json(tmp_path, wh):
    m = tmp_path / "m.json"
    m.write_text('{"bad": ')
    p = cli("query", "--metrics", "stp_rate", "--manifest", str(m), "--explain", env=wh.env)
    assert_clean_error(p, "m.json", "JSON")


def test_list_bad_kind_and_unknown_metric(wh):
    assert_clean_error(cli("list", "nosuch", env=wh.env), "nosuch", "metrics")
    assert_clean_error(
        cli("list", "dimensions", "--metrics", "stp_rat", env=wh.env), "stp_rat", "stp_rate"
    )


def test_export_refuses_published_warehouse(wh, wh_digest):
    assert_clean_error(cli("export", env=wh.env), "--database")
    assert file_digest(wh.duckdb_path.resolve()) == wh_digest


def test_export_missing_database(tmp_path, wh):
    f = tmp_path / "exp.duckdb"
    assert_clean_error(cli("export", "--database", str(f), env=wh.env), "exp.duckdb")
    assert not f.exists()


# --- sql ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stmt, needles",
    [
        ("create table x as select 1", ["CREATE", "read-only"]),
        ("drop table fct_payments", ["DROP"]),
        ("copy fct_payments to '{tmp}/leak.csv'", ["COPY"]),
        ("attach '{tmp}/other.duckdb' as o", ["ATTACH"]),
        ("pragma database_list", ["PRAGMA"]),
        ("select * from read_csv('/etc/passwd')", ["read_csv"]),
        ("select 1; drop table fct_cases", ["DROP"]),
        (
            "select metric_time__month, stp_rate from metrics "
            "where client__region in (select region from read_csv('/etc/passwd')) group by all",
            ["read_csv"],
        ),
        ("select nosuch from fct_cases", ["nosuch"]),
        ("selec 1", ["syntax"]),
        (
            "select * from {{ semantic_layer.query(metrics=['stp_rate'], group_by=[__import__('os')]) }}",
            ["__import__"],
        ),
    ],
)
def test_sql_refused(tmp_path, wh, wh_digest, stmt, needles):
    p = cli("sql", stmt.replace("{tmp}", str(tmp_path)), env=wh.env)
    assert_clean_error(p, *needles)
    assert not list(tmp_path.iterdir()), "a refused statement wrote a file"
    assert file_digest(wh.duckdb_path.resolve()) == wh_digest


def test_sql_no_statement_and_missing_file(tmp_path, wh):
    assert_clean_error(cli("sql", env=wh.env), "no SQL")
    assert_clean_error(cli("sql", "-f", str(tmp_path / "q.sql"), env=wh.env), "q.sql")


def test_sql_missing_warehouse(tmp_path, wh):
    env = {**wh.env, "OPSMETRICS_WAREHOUSE_DIR": str(tmp_path / "nowh")}
    assert_clean_error(cli("sql", "select 1", env=env), "does not exist", "opsmetrics build")


def test_sql_config_errors(tmp_path, wh):
    assert_clean_error(
        cli("sql", "select 1", "--config", str(tmp_path / "s.yml"), "--as", "x", env=wh.env),
        "s.yml",
    )
    assert_clean_error(cli("sql", "select 1", "--as", "demo", env=wh.env), "--config")


def test_sql_unknown_metric_suggests(wh):
    p = cli("sql", "select metric_time__month, stp_rat from metrics group by all", env=wh.env)
    assert_clean_error(p, "stp_rat", "stp_rate")


def test_sql_csv_into_missing_folder(tmp_path, wh):
    p = cli("sql", "select 1", "--csv", str(tmp_path / "nodir" / "x.csv"), env=wh.env)
    assert_clean_error(p, "nodir")


def test_sql_negative_max_rows(wh):
    assert_clean_error(cli("sql", "select 1", "--max-rows", "-5", env=wh.env), "max-rows")


def test_sql_set_prints_no_blank_screen(wh):
    p = cli("sql", "set threads=1", env=wh.env)
    assert_ok(p)
    assert p.stdout.count("\n") < 5, repr(p.stdout[:200])


def test_sql_published_symlink_outside_folder(tmp_path, wh):
    d = tmp_path / "wh"
    d.mkdir()
    (d / "opsmetrics.duckdb").symlink_to(wh.duckdb_path.resolve())
    (d / "target").symlink_to((wh.paths.warehouse_dir / "target").resolve())
    p = cli(
        "sql", "select count(*) from fct_cases", env={**wh.env, "OPSMETRICS_WAREHOUSE_DIR": str(d)}
    )
    assert_ok(p)


# --- analyze / report -----------------------------------------------------------------------


def _spec(tmp_path, old: str, new: str):
    from tests.python.conftest import REPO

    text = (REPO / "specs" / "cases_profile.yml").read_text()
    assert old in text
    f = tmp_path / "spec.yml"
    f.write_text(text.replace(old, new))
    return f


@pytest.mark.parametrize(
    "old, new, needles",
    [
        ("analysis: profile", "analysis: profil", ["profil", "did you mean", "profile"]),
        ("input:", "inptu:", ["inptu", "input"]),
        ("name: cases_profile", "name: [oops", ["yaml"]),
    ],
)
def test_analyze_spec_typo_fails_before_running(private_wh, tmp_path, old, new, needles):
    d, env = private_wh
    spec = _spec(tmp_path, old, new)
    assert_clean_error(cli("analyze", "-q", str(spec), env=env), *needles)
    assert not (d / "analysis").exists(), "an invalid spec wrote results"


def test_analyze_unknown_mart_named_with_suggestion(private_wh, tmp_path):
    d, env = private_wh
    spec = _spec(tmp_path, "mart: fct_cases", "mart: fct_casez")
    p = cli("analyze", "-q", str(spec), env=env)
    out = p.stdout + p.stderr
    assert p.returncode != 0 and "Traceback" not in out
    assert "fct_casez" in out and "fct_cases" in out
    assert not list((d / "analysis").glob("profile/*.parquet"))


def test_analyze_unknown_spec_file(private_wh, tmp_path):
    _, env = private_wh
    assert_clean_error(cli("analyze", "-q", str(tmp_path / "nope.yml"), env=env), "nope.yml")


def test_analyze_unknown_target(private_wh):
    _, env = private_wh
    p = cli("analyze", "-q", "--no-write", "--target", "nosuch", "specs/cases_profile.yml", env=env)
    assert_clean_error(p, "nosuch")


def test_report_without_results(private_wh, tmp_path):
    _, env = private_wh
    out = tmp_path / "rep"
    p = cli("report", "--out", str(out), env=env)
    assert_clean_error(p, "no analysis results", "opsmetrics analyze")
    assert not (out / "report.html").exists()


def test_report_without_results_creates_no_folder(private_wh, tmp_path):
    _, env = private_wh
    out = tmp_path / "rep"
    cli("report", "--out", str(out), env=env)
    assert not out.exists()


# --- serve ----------------------------------------------------------------------------------


def test_serve_demo_refuses_without_password(wh):
    env = {k: v for k, v in wh.env.items() if k != "OPSMETRICS_PASSWORD"}
    assert_clean_error(cli("serve", "--demo", "--port", "1", env=env), "OPSMETRICS_PASSWORD")
    env["OPSMETRICS_PASSWORD"] = ""
    assert_clean_error(cli("serve", "--demo", "--port", "1", env=env), "OPSMETRICS_PASSWORD")


def test_serve_missing_config(tmp_path, wh):
    assert_clean_error(cli("serve", "--config", str(tmp_path / "s.yml"), env=wh.env), "s.yml")


def test_serve_port_in_use(wh):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        env = {**wh.env, "OPSMETRICS_PASSWORD": "pw"}
        p = cli("serve", "--demo", "--port", str(port), env=env, timeout=120)
    assert_clean_error(p, str(port), "in use")


def test_serve_port_out_of_range(wh):
    env = {**wh.env, "OPSMETRICS_PASSWORD": "pw"}
    assert_clean_error(cli("serve", "--demo", "--port", "99999", env=env, timeout=120), "port")


# --- top level ------------------------------------------------------------------------------


def test_unknown_command(wh):
    assert_clean_error(cli("nosuchcmd", env=wh.env), "nosuchcmd")


def test_run_bad_scale(tmp_path, wh):
    env = {
        **wh.env,
        "OPSMETRICS_DATA_DIR": str(tmp_path / "raw"),
        "OPSMETRICS_WAREHOUSE_DIR": str(tmp_path / "wh"),
    }
    assert_clean_error(cli("run", "--scale", "0", "-q", env=env), "scale")
    assert not (tmp_path / "raw").exists() and not (tmp_path / "wh").exists()


def test_report_unknown_spec_is_named(private_wh, tmp_path):
    _, env = private_wh
    assert_ok(cli("analyze", "-q", "specs/cases_profile.yml", env=env))
    p = cli("report", "--out", str(tmp_path / "rep"), "--spec", "nosuch", env=env)
    assert_clean_error(p, "nosuch", "cases_profile")


@pytest.mark.parametrize(
    "text, needles",
    [
        ('users:\n  bob: {password: "plain", role: x}\n', ["bob", "SCRAM", "--hash-password"]),
        ("server: [\n", ["YAML"]),
    ],
)
def test_serve_bad_config(tmp_path, wh, text, needles):
    cfg = tmp_path / "serve.yml"
    cfg.write_text(text)
    p = cli("serve", "--config", str(cfg), "--port", "1", env=wh.env)
    assert_clean_error(p, *needles)
