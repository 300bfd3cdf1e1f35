"""What the report says, independent of how it is rendered: one content model for every format.

Built only from the governed result tables (``analysis.*`` Parquet) and the plots stored with
each run, so a report can be regenerated at any time without refitting anything and shows
exactly what BI tools see. Order: an executive summary (the findings that matter most, ranked
by business size, each with the decision it informs and how sure we are); then, per analysis,
the question, the filters and data version, the finding, the key tables and plots, method,
assumptions and limitations; then a glossary and the lineage.

Renderers (:mod:`.html`, :mod:`.markdown`) walk the same :class:`Report`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis_py.analyses import store
from analysis_py.errors import DataNotFoundError
from analysis_py.warehouse import results

ORDER = ["impact", "predict", "drivers", "forecast", "anomalies", "survival", "compare", "profile"]

#: Display names of result-table columns (the report never shows a raw column name).
LABELS = {
    "factor": "Factor",
    "level": "Level",
    "reference_level": "Compared with",
    "estimate": "Estimate",
    "ci_low": "95% CI from",
    "ci_high": "95% CI to",
    "p_value": "p",
    "p_value_adjusted": "p (Holm-adjusted)",
    "scale": "Scale",
    "outcome": "Outcome",
    "measure": "Measure",
    "value": "Value",
    "kind": "Kind",
    "unit": "Unit",
    "note": "How it was derived",
    "metric": "Metric",
    "slice": "Slice",
    "model": "Model",
    "mase": "MASE",
    "mase_m": "Season (m)",
    "smape": "sMAPE %",
    "pinball": "Pinball (scaled)",
    "coverage_80": "In 80% interval",
    "coverage_95": "In 95% interval",
    "date": "Date",
    "expected": "Expected",
    "score": "Score",
    "excess": "Size (excess)",
    "volume": "Volume",
    "context": "Calendar and incidents",
    "cases": "Cases",
    "handle_minutes": "Handling min/case",
    "workload_hours": "Workload h",
    "staffed_hours": "Staffed h",
    "peak_agents": "Peak agents",
    "service_level_at_peak": "Service level at peak",
    "occupancy": "Occupancy",
    "fte": "FTE",
    "chosen": "Chosen",
    "auc": "AUC",
    "auc_95ci": "AUC 95% CI",
    "pr_auc": "PR-AUC",
    "pr_auc_95ci": "PR-AUC 95% CI",
    "brier": "Brier score",
    "log_loss": "Log loss",
    "feature": "Feature",
    "psi": "Drift (PSI)",
    "drifted": "Drifted",
    "latest_rows": "Latest rows",
    "column": "Column",
    "type": "Type",
    "null_share": "Missing share",
    "distinct": "Distinct values",
    "min": "Min",
    "q50": "Median",
    "max": "Max",
    "outliers_3iqr": "Outliers (3 IQR)",
    "top_values": "Most frequent",
    "spec_name": "Analysis",
    "analysis": "Method",
    "marts": "Governed inputs",
    "input_version": "Warehouse build",
    "code_version": "Code version",
    "run_id": "Run",
}

#: The few technical terms that stay, explained once.
#: the path every number took, for the lineage section of every format
LINEAGE = (
    "raw source systems → dbt staging → intermediate → public contracted marts → analyses "
    "(this report) → analysis.* tables."
)

GLOSSARY = {
    "95% CI": "The range that contains the true value with 95% confidence, given the data and "
    "the model; a finding is called 'very likely' only when this range excludes zero (no effect).",
    "MASE": "Forecast error relative to repeating last week (below 1: better than that).",
    "sMAPE": "Average forecast error in percent of the actual volume.",
    "Pinball (scaled)": "How well the forecast ranges fit the outcomes (lower is better).",
    "AUC": "How well the risk score ranks cases that breach above those that do not (0.5 is a "
    "coin flip, 1 is perfect).",
    "Brier score": "Average squared error of the predicted probabilities (lower is better).",
    "FTE": "Full-time equivalents: staffed hours over a shift, after breaks and absence.",
    "Erlang C": "The queueing formula that turns arrivals and handling time into agents needed "
    "for a service level.",
    "Drift (PSI)": "How much a column's distribution moved between periods (≥ 0.2: moved).",
}


@dataclass
class Block:
    """One piece of a section: ``kind`` is heading, text, table, image, bullets or details."""

    kind: str
    text: str = ""
    frame: pd.DataFrame | None = None
    columns: list[str] = field(default_factory=list)
    rows: int = 20
    path: Path | None = None
    items: list[str] = field(default_factory=list)
    children: list[Block] = field(default_factory=list)


@dataclass
class Headline:
    """One line of the executive summary."""

    anchor: str
    title: str
    finding: str
    #: what the numbers suggest doing (the analysis's recommendation)
    recommendation: str
    #: the decision the spec says this informs
    action: str
    certainty: str
    size: float | None
    size_text: str


@dataclass
class Section:
    anchor: str
    title: str
    question: str
    audience: str
    decision: str
    headline: str
    recommendation: str
    finding: str
    context: list[str]
    blocks: list[Block]
    method: str
    assumptions: list[str]
    limitations: list[str]
    lineage: str


@dataclass
class Report:
    title: str
    generated: str
    versions: list[str]
    summary: list[Headline]
    sections: list[Section]
    failed: list[tuple[str, str]]
    glossary: dict[str, str]
    #: which marts, build, code and run each analysis came from
    lineage: Block
    valuation: str


def fmt_number(v) -> str:
    """Numbers as a reader wants them: thousands separated, 3 significant digits below 1,000,
    nothing for a missing value."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int | float):
        return f"{v:,.0f}" if abs(v) >= 1e3 else f"{v:.3g}"
    return str(v)


def fmt_p(p) -> str:
    """A p-value as a reader should see it: never 0, '< 0.001' below that."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return ""
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def display_frame(df: pd.DataFrame, cols: list[str], n: int) -> pd.DataFrame:
    """The first ``n`` rows of ``cols`` formatted and relabelled; empty columns dropped."""
    cols = [c for c in cols if c in df.columns and df[c].notna().any()]
    show = df[cols].head(n).copy()
    for c in show.columns:
        if c.startswith("p_value"):
            show[c] = show[c].map(fmt_p)
        elif pd.api.types.is_bool_dtype(show[c]):
            show[c] = show[c].map({True: "yes", False: "no"})
        elif pd.api.types.is_float_dtype(show[c]) or pd.api.types.is_integer_dtype(show[c]):
            show[c] = show[c].map(fmt_number)
        else:
            show[c] = show[c].map(lambda v: "" if v is None or v != v else str(v))
    return show.rename(columns=lambda c: LABELS.get(c, c.replace("_", " ")))


def column_labels(warehouse_dir: Path) -> dict[str, str]:
    """Display names from the build's dbt manifest: each mart column's ``meta.label``, else
    its semantic dimension's label; and each metric's label."""
    from analysis_py.warehouse.manifest import DbtManifest

    man = DbtManifest.read(Path(warehouse_dir) / "target" / "manifest.json")
    if man is None:
        return {}
    out: dict[str, str] = {}
    for rel in man.models().values():
        out.update(rel.labels)
    for metric in (man.data.get("metrics") or {}).values():  # metrics by their labels too
        if metric.get("label") and metric.get("name"):
            out[metric["name"]] = metric["label"]
    return out


def plain(text: str, labels: dict[str, str]) -> str:
    """Prose with the marts' column names replaced by their display names."""
    if not labels or not text:
        return text
    names = sorted(labels, key=len, reverse=True)
    pattern = re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, names)) + r")(?![\w(])")
    return pattern.sub(lambda m: labels[m.group(1)], text)


def _list(value) -> list[str]:
    if isinstance(value, str) and value.startswith("["):
        return [str(x) for x in json.loads(value)]
    return [str(value)] if value else []


def _json(run: pd.Series, key: str) -> dict:
    """A JSON column of a ``runs`` row as a mapping (empty when missing)."""
    value = run.get(key)
    return json.loads(value) if isinstance(value, str) else {}


def _text(value) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _latest_runs(runs: pd.DataFrame, specs: list[str] | None) -> pd.DataFrame:
    if runs.empty:
        return runs
    runs = runs.sort_values("started_at")
    if specs:
        runs = runs[runs["spec_name"].isin(specs)]
    return runs.groupby("spec_name", as_index=False).tail(1)


# -- the executive summary ------------------------------------------------------------------
#: extrinsic measures that size a finding, per analysis: (measure prefix, low, high)
_SIZE = {
    "predict": ("net_value_test", "net_value_test_low", "net_value_test_high"),
    "impact": ("business_hours_saved", "business_hours_saved_low", "business_hours_saved_high"),
    "compare": ("cost_avoidable_at_best_rate", None, None),
    "forecast": ("workload_hours_next_", None, None),
}


def _certainty(low, high) -> str:
    """Certainty in words from a 95% interval of a business effect."""
    if low is None or high is None or any(map(math.isnan, (low, high))):
        return "size estimated without an interval"
    if low > 0 or high < 0:
        return "very likely (its 95% interval excludes zero)"
    return "cannot tell (its 95% interval includes zero)"


def _headline(
    run: pd.Series, measures: pd.DataFrame, valuation: dict, labels: dict[str, str]
) -> Headline:
    m = measures[measures["run_id"] == run["run_id"]].set_index("measure")
    spec = _json(run, "spec")
    size, size_text, certainty = None, "not sized", "see the details"
    key = _SIZE.get(run["analysis"])
    if key is not None:
        hit = [key[0]] if key[0] in m.index else [i for i in m.index if i.startswith(key[0])]
        if hit:
            row = m.loc[hit[0]]
            value, unit = float(row["value"]), str(row.get("unit") or "")
            lo = float(m.loc[key[1], "value"]) if key[1] and key[1] in m.index else None
            hi = float(m.loc[key[2], "value"]) if key[2] and key[2] in m.index else None
            rate = valuation.get(unit.split(" (")[0])
            size = value * rate if rate is not None else None
            size_text = f"{fmt_number(value)} {unit}"
            if rate is not None and rate != 1:
                size_text += f" ≈ {fmt_number(size)} {valuation.get('currency', '')}".rstrip()
            certainty = _certainty(lo, hi) if key[1] else "size estimated without an interval"
    if run["analysis"] == "anomalies":
        certainty = "each flag is beyond chance at the stated threshold"
    decision = spec.get("decision") or ""
    first = _text(run.get("finding")).split(". ")[0].rstrip(".") + "."
    return Headline(
        anchor=run["spec_name"],
        title=plain(_text(run.get("title")) or run["spec_name"], labels),
        finding=plain(_text(run.get("headline")) or first, labels),
        recommendation=plain(_text(run.get("recommendation")), labels),
        action=decision,
        certainty=certainty,
        size=size,
        size_text=size_text,
    )


def valuation_of(project_dir: Path | None) -> dict:
    """``vars: opsmetrics_report`` of the dbt project: the currency and what one unit of each
    business measure is worth, used only to rank the summary (and shown with it)."""
    from analysis_py.warehouse.project import project_vars

    if project_dir is None:
        return {}
    rep = project_vars(project_dir).get("opsmetrics_report") or {}
    out = {str(k): float(v) for k, v in (rep.get("value_per_unit") or {}).items()}
    if rep.get("currency"):
        out["currency"] = str(rep["currency"])
    return out


# -- one analysis ---------------------------------------------------------------------------
def _blocks(run: pd.Series, tables: dict[str, pd.DataFrame], wh: Path) -> list[Block]:
    rid = run["run_id"]

    def rows(name):
        df = tables.get(name)
        return df[df["run_id"] == rid] if df is not None and not df.empty else pd.DataFrame()

    out: list[Block] = []

    def table(title, df, cols, n=20):
        if len(df):
            out.append(Block("heading", title))
            out.append(Block("table", frame=df, columns=cols, rows=n))

    eff = rows("effects")
    table(
        "Effects, with 95% confidence intervals",
        eff,
        ["factor", "level", "reference_level", "estimate", "ci_low", "ci_high", "p_value",
         "p_value_adjusted", "scale", "outcome"],
        30,
    )  # fmt: skip
    meas = rows("measures")
    table("Measures", meas, ["measure", "value", "unit", "note"])
    bt = rows("backtest_scores")
    if len(bt):
        ch = bt[bt["is_chosen"].astype(bool)]
        held = "window" in ch and (ch["window"] == "holdout").any()
        if held:
            ch = ch[ch["window"] == "holdout"]
        table(
            "Accuracy on the final hold-out (chosen model per series)"
            if held
            else "Backtest accuracy (chosen model per series)",
            ch,
            ["metric", "slice", "model", "mase", "mase_m", "smape", "pinball", "coverage_80",
             "coverage_95"],
            30,
        )  # fmt: skip
    st = rows("staffing")
    if len(st):
        tot = st[st["slice"] == "all"] if (st["slice"] == "all").any() else st
        tot = tot.assign(date=pd.to_datetime(tot["date"]).dt.strftime("%Y-%m-%d"))
        table(
            "Staffing for the total, per forecast day",
            tot,
            ["date", "cases", "handle_minutes", "workload_hours", "staffed_hours", "peak_agents",
             "service_level_at_peak", "occupancy", "fte"],
            31,
        )  # fmt: skip
    an = rows("anomalies")
    if len(an):
        an = an.assign(date=pd.to_datetime(an["date"]).dt.strftime("%Y-%m-%d"))
        size = "excess" if "excess" in an and an["excess"].notna().any() else "score"
        table(
            "Flagged days, largest first",
            an.sort_values(size, key=abs, ascending=False),
            ["metric", "slice", "date", "value", "expected", "score", "kind", "excess", "volume",
             "context"],
            25,
        )  # fmt: skip
    ms = rows("model_scores")
    if len(ms):
        test = ms[ms["split"] == "test"]
        wide = test.pivot_table(index="model", columns="metric", values="value").reset_index()
        wide.columns.name = None
        for k in ("auc", "pr_auc"):
            ci = test[test.metric == k].set_index("model")
            wide[f"{k}_95ci"] = wide["model"].map(
                lambda x, ci=ci: f"{ci.loc[x, 'ci_low']:.3f}–{ci.loc[x, 'ci_high']:.3f}"
            )
        chosen = set(ms.loc[ms["is_chosen"].astype(bool), "model"])
        wide["chosen"] = wide["model"].isin(chosen).map({True: "✓", False: ""})
        table(
            "Models on the test period",
            wide,
            ["model", "chosen", "auc", "auc_95ci", "pr_auc", "pr_auc_95ci", "brier", "log_loss"],
        )
    table(
        "Drift: latest period against training",
        rows("drift"),
        ["feature", "psi", "drifted", "latest_rows"],
    )
    for extra, title in (("survival", "Time to resolution"), ("proportions", "Proportions")):
        df = rows(extra)
        table(title, df, [c for c in df.columns if c not in ("run_id", "spec_name")], 20)
    table(
        "Columns",
        rows("profile"),
        ["column", "type", "null_share", "distinct", "min", "q50", "max", "outliers_3iqr",
         "top_values"],
        60,
    )  # fmt: skip
    art = store.artifacts_dir(rid, wh)
    if art.is_dir():
        out.extend(Block("image", path=png) for png in sorted(art.glob("*.png")))
    return out


def _context(run: pd.Series, spec: dict) -> list[str]:
    """What the numbers are about: filters, slices and the data version."""
    out = []
    inp = spec.get("input") or {}
    params = _json(run, "parameters")
    if inp.get("mart"):
        out.append(f"Input: the governed table {inp['mart']}")
    if inp.get("metric") or inp.get("series"):
        series = inp.get("series") or [{"metric": inp.get("metric")}]
        out.append("Metrics: " + ", ".join(sorted({str(s.get("metric")) for s in series})))
    slices = inp.get("slices") or [
        s.get("slice") for s in inp.get("series") or [] if s.get("slice")
    ]
    if slices:
        out.append("Slices: " + "; ".join(str(s) for s in slices))
    if inp.get("grain"):
        out.append(f"Grain: {inp['grain']}")
    if inp.get("where"):
        out.append(f"Filter: {inp['where']}")
    for key in ("where", "score_where"):
        if params.get(key):
            out.append(f"Filter ({key.replace('_', ' ')}): {params[key]}")
    for key in ("start", "end", "change_date"):
        if params.get(key):
            out.append(f"{key.replace('_', ' ').capitalize()}: {params[key]}")
    out.append(f"Warehouse build {_text(run.get('input_version'))}, run {run['run_id']}")
    return out


def _section(
    run: pd.Series, tables: dict[str, pd.DataFrame], wh: Path, labels: dict[str, str]
) -> Section:
    spec = _json(run, "spec")
    inputs = _json(run, "inputs")
    owner = _text(run.get("owner")) or "not named"
    lineage = (
        f"{', '.join(inputs.get('marts') or []) or 'metrics'} → analysis {run['spec_name']} "
        f"({run['analysis']}); warehouse build {_text(run.get('input_version'))}; code "
        f"{_text(run.get('code_version'))}; run {run['run_id']} at "
        f"{_text(run.get('started_at'))[:19]} UTC; owner {owner}."
    )
    title = plain(_text(run.get("title")) or run["spec_name"], labels)
    return Section(
        anchor=run["spec_name"],
        title=f"{title} — {run['spec_name'].replace('_', ' ')}",
        question=spec.get("question") or spec.get("description") or "",
        audience=spec.get("audience") or "",
        decision=spec.get("decision") or "",
        headline=plain(_text(run.get("headline")), labels),
        recommendation=plain(_text(run.get("recommendation")), labels),
        finding=plain(_text(run.get("finding")), labels),
        context=_context(run, spec),
        blocks=_blocks(run, tables, wh),
        method=_text(run.get("method")),
        assumptions=_list(run.get("assumptions")),
        limitations=_list(run.get("limitations")),
        lineage=lineage,
    )


TABLES = (
    "effects", "measures", "backtest_scores", "anomalies", "survival", "proportions",
    "profile", "model_scores", "drift", "staffing",
)  # fmt: skip


def build(
    warehouse_dir: str | Path | None = None,
    specs: list[str] | None = None,
    project_dir: str | Path | None = None,
) -> Report:
    """The report's content from the latest run of each spec (or of ``specs``)."""
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
    tables = {name: store.read_table(name, wh) for name in TABLES}
    ok = latest[latest["status"] == "success"].copy()
    failed = latest[latest["status"] != "success"]
    ok["_order"] = ok["analysis"].map(lambda a: ORDER.index(a) if a in ORDER else 99)
    ok = ok.sort_values(["_order", "spec_name"])
    valuation = valuation_of(Path(project_dir) if project_dir else None)
    measures = (
        tables["measures"]
        if not tables["measures"].empty
        else pd.DataFrame(columns=["run_id", "measure", "value", "unit"])
    )
    labels = column_labels(wh)
    heads = [_headline(r, measures, valuation, labels) for _, r in ok.iterrows()]
    # valued findings first, by size; then the rest in the analysis order
    ranked = sorted(
        range(len(heads)),
        key=lambda i: (heads[i].size is None, -(abs(heads[i].size or 0.0)), i),
    )
    summary = [heads[i] for i in ranked][:5]
    lin = ok[["spec_name", "analysis", "inputs", "input_version", "code_version", "run_id"]].copy()
    lin["marts"] = lin["inputs"].map(
        lambda s: ", ".join(json.loads(s).get("marts") or []) if isinstance(s, str) else ""
    )
    rate_text = ", ".join(
        f"1 {k} = {fmt_number(v)} {valuation.get('currency', '')}".rstrip()
        for k, v in valuation.items()
        if k != "currency" and v != 1
    )
    return Report(
        title="Operations analytics: what the data says",
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        versions=sorted({str(v) for v in ok["input_version"].dropna()}),
        summary=summary,
        sections=[_section(r, tables, wh, labels) for _, r in ok.iterrows()],
        failed=[
            (r["spec_name"], _text(r.get("error")).splitlines()[0] if r.get("error") else "")
            for _, r in failed.iterrows()
        ],
        glossary=GLOSSARY,
        lineage=Block(
            "table",
            frame=lin,
            columns=["spec_name", "analysis", "marts", "input_version", "code_version", "run_id"],
            rows=100,
        ),
        valuation=(
            f"Ranked by business size, valued with the project's rates ({rate_text})."
            if rate_text
            else "Ranked by business size in each finding's own unit."
        ),
    )
