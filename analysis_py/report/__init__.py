"""The report of analysis results: one content model (:mod:`.content`), rendered as one
self-contained HTML page (:mod:`.html`), Markdown (:mod:`.markdown`) or LaTeX (:mod:`.latex`)
with their plots beside them, and PDF (:mod:`.pdf`, the HTML printed by headless Chromium)."""

from __future__ import annotations

from pathlib import Path

from analysis_py.errors import ConfigError
from analysis_py.report import content

FORMATS = ("html", "md", "tex", "pdf")


def build_report(warehouse_dir=None, specs=None, project_dir=None) -> str:
    """The report as an HTML string."""
    from analysis_py.report import html

    return html.render(content.build(warehouse_dir, specs, project_dir))


def write_report(
    out_dir: str | Path,
    warehouse_dir: str | Path | None = None,
    specs: list[str] | None = None,
    *,
    formats: tuple[str, ...] = ("html",),
    project_dir: str | Path | None = None,
) -> Path:
    """Write ``report.<format>`` for each format into ``out_dir`` (LaTeX into ``out_dir/tex``;
    each written to a temporary name, then renamed); returns the first. Nothing is created when
    the results are missing or a needed tool (Chromium for PDF) is absent."""
    from analysis_py.report import html, latex, markdown, pdf

    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ConfigError(
            f"unknown report format '{bad[0]}'", hint=f"choose from {', '.join(FORMATS)}"
        )
    rep = content.build(warehouse_dir, specs, project_dir)  # before creating anything
    if "pdf" in formats:
        pdf.browser()  # no browser: say so before anything is written
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for fmt in sorted(formats, key=lambda f: f == "pdf"):  # the PDF prints the HTML
        # LaTeX gets its own folder: pdflatex writes report.pdf beside its source
        home = out / "tex" if fmt == "tex" else out
        home.mkdir(exist_ok=True)
        path = home / f"report.{fmt}"
        tmp = home / f".report.{fmt}.tmp"
        if fmt == "pdf":
            page = written.get("html")
            if page is None:
                page = out / ".report.print.html"
                page.write_text(html.render(rep), encoding="utf-8")
            try:
                pdf.print_html(page, tmp)
            finally:
                if page.name.startswith("."):
                    page.unlink(missing_ok=True)
        else:
            if fmt == "html":
                text = html.render(rep)
            elif fmt == "md":
                text = markdown.render(rep, out / "report_files")
            else:
                text = latex.render(rep, home / "report_files")
            tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        written[fmt] = path
    return written[formats[0]]


__all__ = ["FORMATS", "build_report", "write_report"]
