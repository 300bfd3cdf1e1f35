"""The report of analysis results: one content model (:mod:`.content`), rendered as one
self-contained HTML page (:mod:`.html`) or Markdown with its plots beside it (:mod:`.markdown`)."""

from __future__ import annotations

from pathlib import Path

from analysis_py.errors import ConfigError
from analysis_py.report import content

FORMATS = ("html", "md")


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
    """Write ``report.<format>`` for each format into ``out_dir`` (each written to a temporary
    name, then renamed); returns the first. Nothing is created when the results are missing."""
    from analysis_py.report import html, markdown

    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ConfigError(
            f"unknown report format '{bad[0]}'", hint=f"choose from {', '.join(FORMATS)}"
        )
    rep = content.build(warehouse_dir, specs, project_dir)  # before creating anything
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        text = html.render(rep) if fmt == "html" else markdown.render(rep, out / "report_files")
        path = out / f"report.{fmt}"
        tmp = out / f".report.{fmt}.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    return written[0]


__all__ = ["FORMATS", "build_report", "write_report"]
