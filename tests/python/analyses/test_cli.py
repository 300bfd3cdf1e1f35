"""The real ``opsmetrics analyze`` and ``opsmetrics report`` commands."""

from __future__ import annotations

import base64
import re

import duckdb

from analysis_py.analyses import store
from analysis_py.warehouse import results
from tests.python.conftest import run_cli


def test_analyze_keeps_going_after_a_failure_and_report_embeds_plots(built_warehouse, tmp_path):
    wh = tmp_path / "wh"
    wh.mkdir()
    # publish a view of the shared build into a private warehouse folder (results go there)
    (wh / "opsmetrics.duckdb").symlink_to(built_warehouse.duckdb_path.resolve())
    (wh / "target").symlink_to((built_warehouse.paths.warehouse_dir / "target").resolve())
    bad = tmp_path / "bad.yml"
    bad.write_text("name: bad\nanalysis: profile\ninput: {mart: int_case_lifecycles_derived}\n")
    env = {**built_warehouse.env, "OPSMETRICS_WAREHOUSE_DIR": str(wh)}
    proc = run_cli(
        "analyze",
        "-q",
        "specs/resolution_drivers.yml",
        "specs/stp_by_rail.yml",
        str(bad),
        env=env,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert "not a governed input" in proc.stderr
    runs = store.read_table("runs", wh)
    assert dict(zip(runs.spec_name, runs.status, strict=True)) == {
        "resolution_drivers": "success",
        "stp_by_rail": "success",
        "bad": "failed",
    }
    con = duckdb.connect()
    results.register_views(con, wh)
    assert (
        con.sql(
            "select count(*) from analysis.effects where spec_name = 'resolution_drivers' and scale = 'multiplier'"
        ).fetchall()[0][0]
        >= 6
    )

    out = tmp_path / "report"
    proc = run_cli("report", "--out", str(out), "--format", "html", "--format", "md", env=env)
    html = (out / "report.html").read_text()
    assert html.index("Executive summary") < html.index("Details") < html.index("Method")
    assert "chat" in html and "95% CI" in html
    # the summary ranks the valued finding (repair cost in USD) first, with its decision
    summary = html[html.index("Executive summary") : html.index("Details")]
    assert summary.index("stp_by_rail") < summary.index("resolution_drivers")
    assert "Which rails to fix first to cut manual repairs." in summary
    assert "What to do:" in summary and "In short." in html
    assert "USD" in summary
    # plain presentation: the spec's question, labelled headers, p-values never 0, no nan
    assert "Which payment rails fall short on straight-through processing" in html
    assert "<th>Compared with</th>" in html and "<th>reference_level</th>" not in html
    assert "<th>ci_low</th>" not in html and "&lt; 0.001" in html
    text = re.sub(r'src="data:image/png;base64,[^"]+"', "", html)
    assert "<td>0.0</td>" not in text and "nan" not in text.lower().replace("financ", "")
    md = (out / "report.md").read_text()
    assert md.index("## Executive summary") < md.index("## Details")
    pngs = re.findall(r"\]\((report_files/[^)]+\.png)\)", md)
    assert pngs and all((out / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert "| Compared with |" in md and "nan" not in md.lower().replace("financ", "")
    imgs = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert imgs and base64.b64decode(imgs[0])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "bad" in html  # the failed spec is listed, not hidden
    assert 'src="http' not in html  # self-contained


def test_analyze_typo_fails_before_running(built_warehouse, tmp_path):
    spec = tmp_path / "typo.yml"
    spec.write_text(
        "name: typo\nanalysis: drivers\ninput: {mart: fct_cases}\nparameters: {clustr: client_id}\n"
    )
    env = {**built_warehouse.env, "OPSMETRICS_WAREHOUSE_DIR": str(tmp_path / "wh")}
    proc = run_cli("analyze", str(spec), env=env, check=False)
    assert proc.returncode == 2
    assert (
        "spec 'typo'" in proc.stderr
        and "parameters.clustr" in proc.stderr
        and "cluster" in proc.stderr
    )
    assert not (tmp_path / "wh" / "analysis").exists()
