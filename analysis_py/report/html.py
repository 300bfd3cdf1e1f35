"""One self-contained HTML report that a non-specialist can read.

Built only from the governed result tables (``analysis.*`` Parquet) and the plots stored
with each run, so the report can be regenerated at any time without refitting anything and
shows exactly what BI tools see. Order: the findings first, in plain words with their numbers
and uncertainty; then, per analysis, the key table and plots; then method, assumptions and
limitations; and at the end the lineage (which marts, which warehouse build, which code, when).
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
from pathlib import Path

import pandas as pd

from analysis_py.analyses import store
from analysis_py.errors import DataNotFoundError
from analysis_py.warehouse import results

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:980px;margin:2em auto;
color:#1d1d1f;line-height:1.45;padding:0 1em}
h1{font-size:1.7em;margin-bottom:.2em} h2{border-bottom:2px solid #1f4e79;padding-bottom:.2em;margin-top:2em}
h3{margin-bottom:.3em;color:#1f4e79} .meta{color:#666;font-size:.9em}
.finding{background:#f3f7fb;border-left:4px solid #1f4e79;padding:.6em 1em;margin:.6em 0}
.failed{background:#fdf1f0;border-left:4px solid #c0504d;padding:.6em 1em;margin:.6em 0}
table.tbl{border-collapse:collapse;font-size:.85em;margin:.5em 0}
table.tbl td,table.tbl th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:right}
table.tbl th{background:#f0f0f0} table.tbl td:first-child,table.tbl th:first-child{text-align:left}
details{margin:.6em 0} summary{cursor:pointer;color:#1f4e79}
img{max-width:100%;border:1px solid #eee;margin:.4em 0} ul{margin-top:.2em}
.toc a{color:#1f4e79;text-decoration:none}
"""

ORDER = ["impact", "drivers", "forecast", "anomalies", "survival", "compare", "profile"]


def _latest_runs(runs: pd.DataFrame, specs: list[str] | None) -> pd.DataFrame:
    if runs.empty:
        return runs
    runs = runs.sort_values("started_at")
    if specs:
        runs = runs[runs["spec_name"].isin(specs)]
    return runs.groupby("spec_name", as_index=False).tail(1)


def _fmt_table(df: pd.DataFrame, cols: list[str], n: int = 20) -> str:
    cols = [c for c in cols if c in df.columns]
    if df.empty or not cols:
        return ""
    show = df[cols].head(n).copy()
    for c in show.columns:
        if pd.api.types.is_float_dtype(show[c]):
            show[c] = show[c].map(
                lambda v: "" if pd.isna(v) else (f"{v:.3g}" if abs(v) < 1e3 else f"{v:,.0f}")
            )
    return show.to_html(index=False, border=0, classes="tbl", na_rep="", escape=True)


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def _list(value) -> str:
    items = (
        json.loads(value)
        if isinstance(value, str) and value.startswith("[")
        else [value]
        if value
        else []
    )
    return "<ul>" + "".join(f"<li>{html.escape(str(i))}</li>" for i in items) + "</ul>"


def _section(run: pd.Series, tables: dict[str, pd.DataFrame], wh: Path) -> str:
    rid = run["run_id"]
    esc = html.escape
    parts = [
        f'<h3 id="{esc(run["spec_name"])}">{esc(str(run.get("title") or run["spec_name"]))}</h3>'
    ]
    spec = json.loads(run["spec"]) if isinstance(run.get("spec"), str) else {}
    if spec.get("description"):
        parts.append(f'<p class="meta">Question: {esc(spec["description"])}</p>')
    parts.append(f'<div class="finding">{esc(str(run.get("finding") or ""))}</div>')

    def rows(name):
        df = tables.get(name)
        return df[df["run_id"] == rid] if df is not None and not df.empty else pd.DataFrame()

    eff = rows("effects")
    if len(eff):
        parts.append("<h4>Effects (95% confidence intervals)</h4>")
        parts.append(
            _fmt_table(
                eff,
                [
                    "factor",
                    "level",
                    "reference_level",
                    "estimate",
                    "ci_low",
                    "ci_high",
                    "p_value",
                    "p_value_adjusted",
                    "scale",
                    "outcome",
                ],
                30,
            )
        )
    meas = rows("measures")
    if len(meas):
        parts.append("<h4>Measures</h4>")
        parts.append(_fmt_table(meas, ["measure", "value", "kind", "unit", "note"]))
    bt = rows("backtest_scores")
    if len(bt):
        ch = bt[bt["is_chosen"].astype(bool)]
        held = "window" in ch and (ch["window"] == "holdout").any()
        if held:
            ch = ch[ch["window"] == "holdout"]
        parts.append(
            "<h4>Accuracy on the final hold-out (chosen model per series)</h4>"
            if held
            else "<h4>Backtest (chosen model per series)</h4>"
        )
        parts.append(
            _fmt_table(
                ch,
                [
                    "metric",
                    "slice",
                    "model",
                    "mase",
                    "mase_m",
                    "smape",
                    *(["pinball"] if "pinball" in ch else []),
                    "coverage_80",
                    "coverage_95",
                ],
                30,
            )
        )
        by = (
            bt.groupby(bt["model"].str.replace(r"\+cal$", "", regex=True))[
                ["mase", "smape", "coverage_80", "coverage_95"]
            ]
            .mean()
            .reset_index()
        )
        parts.append(
            "<details><summary>All candidate models (mean over series)</summary>"
            + _fmt_table(by, list(by.columns))
            + "</details>"
        )
    an = rows("anomalies")
    if len(an):
        parts.append("<h4>Flagged days</h4>")
        an = an.assign(date=pd.to_datetime(an["date"]).dt.strftime("%Y-%m-%d"))
        size = "excess" if "excess" in an and an["excess"].notna().any() else "score"
        cols = ["metric", "slice", "date", "value", "expected", "score", "kind"]
        cols += [c for c in ("excess", "volume", "context") if c in an]
        parts.append(_fmt_table(an.sort_values(size, key=abs, ascending=False), cols, 25))
    st = rows("staffing")
    if len(st):
        tot = st[st["slice"] == "all"] if (st["slice"] == "all").any() else st
        tot = tot.assign(date=pd.to_datetime(tot["date"]).dt.strftime("%Y-%m-%d"))
        parts.append("<h4>Staffing (total, per forecast day)</h4>")
        parts.append(
            _fmt_table(
                tot,
                [
                    "date",
                    "cases",
                    "handle_minutes",
                    "workload_hours",
                    "staffed_hours",
                    "peak_agents",
                    "service_level_at_peak",
                    "occupancy",
                    "fte",
                ],
                31,
            )
        )
    ms = rows("model_scores")
    if len(ms):
        test = ms[ms["split"] == "test"]
        wide = test.pivot_table(index="model", columns="metric", values="value").reset_index()
        wide.columns.name = None
        for m in ("auc", "pr_auc"):
            ci = test[test.metric == m].set_index("model")
            wide[f"{m}_95ci"] = wide["model"].map(
                lambda k, ci=ci: f"{ci.loc[k, 'ci_low']:.3f}–{ci.loc[k, 'ci_high']:.3f}"
            )
        chosen = set(ms.loc[ms["is_chosen"].astype(bool), "model"])
        wide["chosen"] = wide["model"].isin(chosen).map({True: "✓", False: ""})
        parts.append("<h4>Models on the test period</h4>")
        cols = ["model", "chosen", "auc", "auc_95ci", "pr_auc", "pr_auc_95ci", "brier", "log_loss"]
        parts.append(_fmt_table(wide, cols))
    dr = rows("drift")
    if len(dr):
        parts.append("<h4>Drift: latest period vs training (population-stability index)</h4>")
        parts.append(_fmt_table(dr, ["feature", "psi", "drifted", "latest_rows"]))
    for extra in ("survival", "proportions"):
        df = rows(extra)
        if len(df):
            parts.append(f"<h4>{extra.title()}</h4>")
            cols = [c for c in df.columns if c not in ("run_id", "spec_name")]
            parts.append(_fmt_table(df, cols, 20))
    prof = rows("profile")
    if len(prof):
        parts.append("<h4>Columns</h4>")
        parts.append(
            _fmt_table(
                prof,
                [
                    "column",
                    "type",
                    "null_share",
                    "distinct",
                    "min",
                    "q50",
                    "max",
                    "outliers_3iqr",
                    "top_values",
                ],
                60,
            )
        )
    art = store.artifacts_dir(rid, wh)
    if art.is_dir():
        for png in sorted(art.glob("*.png")):
            parts.append(_img(png))
    parts.append("<details open><summary>Method, assumptions and limitations</summary>")
    parts.append(f"<p><b>Method.</b> {esc(str(run.get('method') or ''))}</p>")
    parts.append("<p><b>Assumptions.</b></p>" + _list(run.get("assumptions")))
    parts.append("<p><b>Limitations.</b></p>" + _list(run.get("limitations")))
    parts.append("</details>")
    inputs = json.loads(run["inputs"]) if isinstance(run.get("inputs"), str) else {}
    parts.append(
        '<p class="meta">Lineage: '
        + esc(", ".join(inputs.get("marts") or []) or "metrics")
        + f" → analysis <code>{esc(run['spec_name'])}</code> ({esc(run['analysis'])}); "
        + f"warehouse build <code>{esc(str(run.get('input_version')))}</code>; code "
        + f"<code>{esc(str(run.get('code_version')))}</code>; run <code>{esc(rid)}</code> at "
        + f"{esc(str(run.get('started_at'))[:19])} UTC; owner {esc(str(run.get('owner') or '—'))}.</p>"
    )
    return "\n".join(parts)


def build_report(warehouse_dir: str | Path | None = None, specs: list[str] | None = None) -> str:
    """The report as an HTML string."""
    wh = Path(warehouse_dir) if warehouse_dir else results.analysis_dir().parent
    runs = store.read_table("runs", wh)
    latest = _latest_runs(runs, specs)
    if specs and not runs.empty and "spec_name" in runs:
        known = sorted(set(runs["spec_name"].dropna()))
        unknown = [s for s in specs if s not in known]
        if unknown:
            raise DataNotFoundError(
                f"no analysis results for spec(s) {', '.join(unknown)}",
                hint=f"specs with results: {', '.join(known) or 'none'}; "
                "run `opsmetrics analyze specs/<spec>.yml` for the others",
            )
    if latest.empty:
        raise DataNotFoundError(
            f"no analysis results under {results.analysis_dir(wh)}",
            hint="run `opsmetrics analyze` first",
        )
    tables = {
        name: store.read_table(name, wh)
        for name in (
            "effects",
            "measures",
            "backtest_scores",
            "anomalies",
            "survival",
            "proportions",
            "profile",
            "model_scores",
            "drift",
            "staffing",
        )
    }
    ok = latest[latest["status"] == "success"].copy()
    failed = latest[latest["status"] != "success"]
    ok["_order"] = ok["analysis"].map(lambda a: ORDER.index(a) if a in ORDER else 99)
    ok = ok.sort_values(["_order", "spec_name"])
    esc = html.escape
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    versions = sorted({str(v) for v in ok["input_version"].dropna()})
    head = [
        "<!doctype html><html><head><meta charset='utf-8'><title>opsmetrics analysis report</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>Operations analytics: what the data says</h1>",
        f'<p class="meta">Generated {now} from {len(ok)} analyses on warehouse build(s) {esc(", ".join(versions) or "?")}. '
        "Every number comes from the governed tables analysis.* and can be queried with <code>opsmetrics sql</code>.</p>",
        "<h2>Findings</h2><ol>",
    ]
    for _, r in ok.iterrows():
        head.append(
            f'<li><b><a href="#{esc(r["spec_name"])}">{esc(str(r.get("title") or r["spec_name"]))}</a>.</b> {esc(str(r.get("finding") or ""))}</li>'
        )
    head.append("</ol>")
    if len(failed):
        head.append("<h2>Analyses that did not run</h2>")
        for _, r in failed.iterrows():
            head.append(
                f'<div class="failed"><b>{esc(r["spec_name"])}</b>: {esc(str(r.get("error") or "").splitlines()[0] if r.get("error") else "")}</div>'
            )
    body = ["<h2>Details: method, evidence and limits</h2>"]
    for _, r in ok.iterrows():
        body.append(_section(r, tables, wh))
    lineage = [
        "<h2>Lineage</h2><p>raw source systems → dbt staging → intermediate → public contracted marts → analyses (this report) → <code>analysis.*</code> tables.</p>"
    ]
    lin = ok[["spec_name", "analysis", "inputs", "input_version", "code_version", "run_id"]].copy()
    lin["marts"] = lin["inputs"].map(
        lambda s: ", ".join(json.loads(s).get("marts") or []) if isinstance(s, str) else ""
    )
    lineage.append(
        _fmt_table(
            lin, ["spec_name", "analysis", "marts", "input_version", "code_version", "run_id"], 100
        )
    )
    return "\n".join([*head, *body, *lineage, "</body></html>"])


def write_report(
    out_dir: str | Path, warehouse_dir: str | Path | None = None, specs: list[str] | None = None
) -> Path:
    """Write ``report.html`` into ``out_dir`` (written to a temp name, then renamed)."""
    out = Path(out_dir)
    text = build_report(warehouse_dir, specs)  # before creating anything: no empty folder on error
    out.mkdir(parents=True, exist_ok=True)
    path = out / "report.html"
    tmp = out / ".report.html.tmp"
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
