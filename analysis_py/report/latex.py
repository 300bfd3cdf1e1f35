"""The report as LaTeX source for a formal write-up; figures are files beside it.

Compiles with ``pdflatex`` from Debian's texlive packages (``texlive-latex-base``,
``texlive-latex-recommended``, ``texlive-fonts-recommended``): only standard packages, and
every character outside what pdflatex reads is mapped to a LaTeX command or spelled out.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from analysis_py.report.content import LINEAGE, Block, Report, display_frame

_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
}
#: characters the report uses that pdflatex does not read as text
_UNICODE = {
    "×": r"$\times$",
    "≥": r"$\geq$",
    "≤": r"$\leq$",
    "≈": r"$\approx$",
    "±": r"$\pm$",
    "−": "-",
    "–": "--",
    "—": "---",
    "→": r"$\rightarrow$",
    "←": r"$\leftarrow$",
    "·": r"$\cdot$",
    "…": r"\ldots{}",
    "√": r"$\surd$",
    "χ": r"$\chi$",
    "²": r"$^2$",
    "μ": r"$\mu$",
    "σ": r"$\sigma$",
    "ρ": r"$\rho$",
    "α": r"$\alpha$",
    "β": r"$\beta$",
    "γ": r"$\gamma$",
    "λ": r"$\lambda$",
    "Φ": r"$\Phi$",
    "θ": r"$\theta$",
    "✓": "yes",
    "✗": "no",
    "‘": "`",
    "’": "'",
    "“": "``",
    "”": "''",
    "€": "EUR",
    "£": r"\pounds{}",
    "°": r"$^\circ$",
    "\u00a0": "~",
}


def tex(text: str) -> str:
    """Text escaped for LaTeX; characters outside Latin-1 that have no mapping are dropped
    rather than breaking the compilation."""
    out = []
    for ch in str(text):
        if ch in _SPECIAL:
            out.append(_SPECIAL[ch])
        elif ch in _UNICODE:
            out.append(_UNICODE[ch])
        elif ord(ch) < 256:
            out.append(ch)
    return "".join(out)


def _table(b: Block) -> str:
    df = display_frame(b.frame, b.columns, b.rows)
    if df.empty or not len(df.columns):
        return ""
    specs = []
    for c in df.columns:
        longest = max([len(str(c)), *(len(str(v)) for v in df[c])])
        specs.append(r"p{4.2cm}" if longest > 28 else ("l" if c == df.columns[0] else "r"))
    head = " & ".join(r"\textbf{" + tex(c) + "}" for c in df.columns) + r" \\"
    rows = [" & ".join(tex(v) for v in row) + r" \\" for row in df.itertuples(index=False)]
    return "\n".join(
        [
            r"{\scriptsize",
            r"\begin{longtable}{" + "".join(specs) + "}",
            r"\toprule",
            head,
            r"\midrule",
            r"\endhead",
            *rows,
            r"\bottomrule",
            r"\end{longtable}}",
        ]
    )


def render(rep: Report, assets: Path) -> str:
    """LaTeX source; figures are copied into ``assets`` and included by relative path."""
    assets.mkdir(parents=True, exist_ok=True)
    out = [
        r"\documentclass[a4paper,10pt]{article}",
        r"\usepackage[T1]{fontenc}",
        r"\usepackage[utf8]{inputenc}",
        r"\usepackage{lmodern}",
        r"\usepackage[margin=2cm]{geometry}",
        r"\usepackage{graphicx,longtable,booktabs,array}",
        r"\usepackage[hidelinks]{hyperref}",
        r"\setlength{\parindent}{0pt}\setlength{\parskip}{0.5em}",
        r"\title{" + tex(rep.title) + "}",
        r"\date{"
        + tex(f"Generated {rep.generated}; warehouse build(s) ")
        + tex(", ".join(rep.versions) or "?")
        + "}",
        r"\author{opsmetrics}",
        r"\begin{document}",
        r"\maketitle",
        r"\section*{Executive summary}",
        r"\emph{" + tex(rep.valuation) + "}",
        r"\begin{enumerate}",
    ]
    for h in rep.summary:
        out.append(
            r"\item \textbf{" + tex(h.title) + ".} " + tex(h.finding)
            + (r"\\ \textbf{What to do:} " + tex(h.recommendation) if h.recommendation else "")
            + r"\\ \emph{Informs: " + tex(h.action or "---") + "}"
            + r"\\ \emph{" + tex(f"Size: {h.size_text}; {h.certainty}.") + "}"
        )  # fmt: skip
    out.append(r"\end{enumerate}")
    if rep.failed:
        out.append(r"\section*{Analyses that did not run}\begin{itemize}")
        out += [r"\item \textbf{" + tex(n) + "}: " + tex(e) for n, e in rep.failed]
        out.append(r"\end{itemize}")
    out.append(r"\section{Details: evidence, method and limits}")
    for s in rep.sections:
        out.append(r"\subsection{" + tex(s.title) + r"}\label{" + re.sub(r"\W", "", s.anchor) + "}")
        if s.question:
            out.append(r"\textbf{Question.} " + tex(s.question))
        if s.decision or s.audience:
            out.append(
                r"\emph{" + tex(f"Informs: {s.decision or '—'} For: {s.audience or '—'}.") + "}"
            )
        out.append(r"{\small " + tex(" · ".join(s.context)) + "}")
        if s.headline:
            out.append(r"\textbf{In short.} " + tex(s.headline))
        if s.recommendation:
            out.append(r"\textbf{What to do.} " + tex(s.recommendation))
        out.append(r"\begin{quote}" + tex(s.finding) + r"\end{quote}")
        for b in s.blocks:
            if b.kind == "heading":
                out.append(r"\paragraph{" + tex(b.text) + "}")
            elif b.kind == "table":
                out.append(_table(b))
            elif b.kind == "image" and b.path is not None:
                name = f"{s.anchor}__{b.path.name}"
                shutil.copyfile(b.path, assets / name)
                out.append(
                    r"\begin{center}\includegraphics[width=0.9\linewidth,height=0.4\textheight,"
                    r"keepaspectratio]{" + f"{assets.name}/{name}" + r"}\end{center}"
                )
            elif b.kind == "text":
                out.append(tex(b.text))
        out.append(r"\textbf{Method.} " + tex(s.method))
        for label, items in (("Assumptions", s.assumptions), ("Limitations", s.limitations)):
            if items:
                out.append(r"\textbf{" + label + r".}\begin{itemize}")
                out += [r"\item " + tex(i) for i in items]
                out.append(r"\end{itemize}")
        out.append(r"{\small\emph{Lineage: " + tex(s.lineage) + "}}")
    out.append(r"\section*{Glossary}\begin{description}")
    out += [r"\item[" + tex(k) + "] " + tex(v) for k, v in rep.glossary.items()]
    out.append(r"\end{description}")
    out.append(r"\section*{Lineage}" + tex(LINEAGE))
    out.append(_table(rep.lineage))
    out.append(r"\end{document}")
    return "\n\n".join(out) + "\n"
