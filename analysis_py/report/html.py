"""The report as one self-contained HTML page (plots embedded), with a print stylesheet."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from analysis_py.report.content import LINEAGE, Block, Report, display_frame

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:980px;margin:2em auto;
color:#1d1d1f;line-height:1.45;padding:0 1em}
h1{font-size:1.7em;margin-bottom:.2em} h2{border-bottom:2px solid #1f4e79;padding-bottom:.2em;margin-top:2em}
h3{margin-bottom:.3em;color:#1f4e79} .meta{color:#666;font-size:.9em}
.finding{background:#f3f7fb;border-left:4px solid #1f4e79;padding:.6em 1em;margin:.6em 0}
.summary li{margin:.5em 0} .summary .do{color:#1f4e79} .summary .sure{color:#555;font-size:.9em}
.failed{background:#fdf1f0;border-left:4px solid #c0504d;padding:.6em 1em;margin:.6em 0}
table.tbl{border-collapse:collapse;font-size:.85em;margin:.5em 0}
table.tbl td,table.tbl th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:right}
table.tbl th{background:#f0f0f0} table.tbl td:first-child,table.tbl th:first-child{text-align:left}
details{margin:.6em 0} summary{cursor:pointer;color:#1f4e79}
img{max-width:100%;border:1px solid #eee;margin:.4em 0} ul{margin-top:.2em}
dl.gloss dt{font-weight:600} dl.gloss dd{margin:0 0 .4em 1em}
@media print{body{max-width:none;margin:0;font-size:10pt} details{display:block}
 details>summary{display:none} h2,h3{break-after:avoid} img,table{break-inside:avoid}
 a{color:inherit;text-decoration:none}}
"""

esc = html.escape


def _table(b: Block) -> str:
    df = display_frame(b.frame, b.columns, b.rows)
    if df.empty or not len(df.columns):
        return ""
    return df.to_html(index=False, border=0, classes="tbl", na_rep="", escape=True)


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    alt = path.stem.replace("_", " ")
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{data}">'


def _blocks(blocks: list[Block]) -> list[str]:
    out = []
    for b in blocks:
        if b.kind == "heading":
            out.append(f"<h4>{esc(b.text)}</h4>")
        elif b.kind == "text":
            out.append(f"<p>{esc(b.text)}</p>")
        elif b.kind == "table":
            out.append(_table(b))
        elif b.kind == "image" and b.path is not None:
            out.append(_img(b.path))
        elif b.kind == "bullets":
            out.append("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in b.items) + "</ul>")
    return out


def _ul(items: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>"


def render(rep: Report) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{esc(rep.title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{esc(rep.title)}</h1>",
        f'<p class="meta">Generated {rep.generated} from {len(rep.sections)} analyses on '
        f"warehouse build(s) {esc(', '.join(rep.versions) or '?')}. Every number comes from the "
        "governed tables analysis.* and can be queried with <code>opsmetrics sql</code>.</p>",
        "<h2>Executive summary</h2>",
        f'<p class="meta">{esc(rep.valuation)}</p><ol class="summary">',
    ]
    for h in rep.summary:
        parts.append(
            f'<li><b><a href="#{esc(h.anchor)}">{esc(h.title)}</a>.</b> {esc(h.finding)} '
            + (
                f"<br><span class='do'><b>What to do:</b> {esc(h.recommendation)}</span> "
                if h.recommendation
                else ""
            )
            + f"<br><span class='meta'>Informs: {esc(h.action or '—')}</span> "
            f"<br><span class='sure'>Size: {esc(h.size_text)}; {esc(h.certainty)}.</span></li>"
        )
    parts.append("</ol>")
    if rep.failed:
        parts.append("<h2>Analyses that did not run</h2>")
        for name, err in rep.failed:
            parts.append(f'<div class="failed"><b>{esc(name)}</b>: {esc(err)}</div>')
    parts.append("<h2>Details: evidence, method and limits</h2>")
    for s in rep.sections:
        parts.append(f'<h3 id="{esc(s.anchor)}">{esc(s.title)}</h3>')
        if s.question:
            parts.append(f"<p><b>Question.</b> {esc(s.question)}</p>")
        if s.decision or s.audience:
            parts.append(
                f'<p class="meta">Informs: {esc(s.decision or "—")} For: {esc(s.audience or "—")}.</p>'
            )
        parts.append(f'<p class="meta">{esc(" · ".join(s.context))}</p>')
        if s.headline:
            parts.append(f"<p><b>In short.</b> {esc(s.headline)}</p>")
        if s.recommendation:
            parts.append(f"<p class='do'><b>What to do.</b> {esc(s.recommendation)}</p>")
        parts.append(f'<div class="finding">{esc(s.finding)}</div>')
        parts.extend(_blocks(s.blocks))
        parts.append("<details open><summary>Method, assumptions and limitations</summary>")
        parts.append(f"<p><b>Method.</b> {esc(s.method)}</p>")
        parts.append("<p><b>Assumptions.</b></p>" + _ul(s.assumptions))
        parts.append("<p><b>Limitations.</b></p>" + _ul(s.limitations))
        parts.append("</details>")
        parts.append(f'<p class="meta">Lineage: {esc(s.lineage)}</p>')
    parts.append("<h2>Glossary</h2><dl class='gloss'>")
    for term, text in rep.glossary.items():
        parts.append(f"<dt>{esc(term)}</dt><dd>{esc(text)}</dd>")
    parts.append("</dl>")
    parts.append(f"<h2>Lineage</h2><p>{esc(LINEAGE)}</p>")
    parts.append(_table(rep.lineage))
    parts.append("</body></html>")
    return "\n".join(parts)
