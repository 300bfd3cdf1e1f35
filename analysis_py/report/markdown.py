"""The report as Markdown for wikis and pull requests; plots are files beside it."""

from __future__ import annotations

import shutil
from pathlib import Path

from analysis_py.report.content import LINEAGE, Block, Report, display_frame


def _cell(v) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def _table(b: Block) -> str:
    df = display_frame(b.frame, b.columns, b.rows)
    if df.empty or not len(df.columns):
        return ""
    head = "| " + " | ".join(_cell(c) for c in df.columns) + " |"
    rule = "| " + " | ".join("---" for _ in df.columns) + " |"
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def render(rep: Report, assets: Path) -> str:
    """Markdown text; images are copied into ``assets`` and linked relatively."""
    assets.mkdir(parents=True, exist_ok=True)
    out = [
        f"# {rep.title}",
        "",
        f"_Generated {rep.generated} from {len(rep.sections)} analyses on warehouse build(s) "
        f"{', '.join(rep.versions) or '?'}; every number is in the governed tables `analysis.*`._",
        "",
        "## Executive summary",
        "",
        f"_{rep.valuation}_",
        "",
    ]
    for i, h in enumerate(rep.summary, 1):
        out += [
            f"{i}. **[{h.title}](#{h.anchor}).** {h.finding}  ",
            *([f"   **What to do:** {h.recommendation}  "] if h.recommendation else []),
            f"   _Informs: {h.action or '—'}_  ",
            f"   _Size: {h.size_text}; {h.certainty}._",
        ]
    out.append("")
    if rep.failed:
        out += ["## Analyses that did not run", ""]
        out += [f"- **{name}**: {err}" for name, err in rep.failed]
        out.append("")
    out += ["## Details: evidence, method and limits", ""]
    for s in rep.sections:
        out += [f'<a id="{s.anchor}"></a>', f"### {s.title}", ""]
        if s.question:
            out += [f"**Question.** {s.question}", ""]
        if s.decision or s.audience:
            out += [f"_Informs: {s.decision or '—'} For: {s.audience or '—'}._", ""]
        out += ["_" + " · ".join(s.context) + "_", ""]
        if s.headline:
            out += [f"**In short.** {s.headline}", ""]
        if s.recommendation:
            out += [f"**What to do.** {s.recommendation}", ""]
        out += [f"> {s.finding}", ""]
        for b in s.blocks:
            if b.kind == "heading":
                out += [f"#### {b.text}", ""]
            elif b.kind == "table":
                out += [_table(b), ""]
            elif b.kind == "image" and b.path is not None:
                name = f"{s.anchor}__{b.path.name}"
                shutil.copyfile(b.path, assets / name)
                out += [f"![{b.path.stem.replace('_', ' ')}]({assets.name}/{name})", ""]
            elif b.kind == "text":
                out += [b.text, ""]
        out += [f"**Method.** {s.method}", "", "**Assumptions.**", ""]
        out += [f"- {a}" for a in s.assumptions] + ["", "**Limitations.**", ""]
        out += [f"- {x}" for x in s.limitations] + ["", f"_Lineage: {s.lineage}_", ""]
    out += ["## Glossary", ""] + [f"- **{k}**: {v}" for k, v in rep.glossary.items()] + [""]
    out += ["## Lineage", "", LINEAGE, "", _table(rep.lineage), ""]
    return "\n".join(out)
