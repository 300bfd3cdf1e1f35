"""Report rendering at scale 1: every format from the shipped specs' results.

Reads the analysis results of a scale-1 warehouse (``--warehouse``, default ``warehouse``;
run ``opsmetrics analyze`` there first) and times, each in a fresh process as a user runs it,
``opsmetrics report --format <f>`` for html, md, tex and pdf, plus ``pdflatex`` on the LaTeX.
Targets: HTML ≤ 10 s, PDF ≤ 30 s. The comparison is between formats: Markdown renders the
same content without embedding anything, so it is the floor.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._record import record

ROOT = Path(__file__).resolve().parent.parent


def _time(cmd: list[str], cwd: Path | None = None, env: dict | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--warehouse", type=Path, default=ROOT / "warehouse")
    args = ap.parse_args(argv)
    exe = str(Path(sys.executable).with_name("opsmetrics"))
    env = {**os.environ, "OPSMETRICS_WAREHOUSE_DIR": str(args.warehouse.resolve())}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        times = {}
        for fmt in ("md", "html", "tex", "pdf"):
            best = min(
                _time([exe, "report", "--format", fmt, "--out", str(out / fmt)], ROOT, env)
                for _ in range(2)
            )
            times[fmt] = best
        size = {
            "html": (out / "html" / "report.html").stat().st_size,
            "pdf": (out / "pdf" / "report.pdf").stat().st_size,
        }
        tex_compile = None
        if shutil.which("pdflatex"):
            tex_compile = _time(
                ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "report.tex"],
                cwd=out / "tex" / "tex",
            )
        pages = subprocess.run(
            ["pdfinfo", str(out / "pdf" / "report.pdf")], capture_output=True, text=True
        ).stdout
        n_pages = next((ln.split()[-1] for ln in pages.splitlines() if ln.startswith("Pages")), "?")
    rows = [
        f"| HTML (one self-contained page, plots embedded, {size['html'] / 1e6:.1f} MB) | "
        f"**{times['html']:.1f} s** | ≤ 10 s |",
        f"| PDF (the page printed by headless Chromium, {n_pages} pages, "
        f"{size['pdf'] / 1e6:.1f} MB) | **{times['pdf']:.1f} s** | ≤ 30 s |",
        f"| Markdown (plots as files) | {times['md']:.1f} s | — |",
        f"| LaTeX source (plots as files) | {times['tex']:.1f} s | — |",
    ]
    if tex_compile is not None:
        rows.append(f"| `pdflatex` on that source | {tex_compile:.1f} s | — |")
    md = (
        "`python -m bench.bench_report`: `opsmetrics report --format <f>` in a fresh process "
        "(imports included, best of 2) on the results of the shipped specs at scale 1.\n\n"
        "| format | time | target |\n| --- | --- | --- |\n" + "\n".join(rows) + "\n\n"
        f"HTML is {times['html'] / times['md']:.1f}× the Markdown floor (same content; the "
        f"difference is embedding the plots); the PDF costs {times['pdf'] - times['html']:.1f} s "
        "more than the HTML it prints (Chromium's start and layout).\n"
    )
    print(md)
    record("Report rendering", md)


if __name__ == "__main__":
    main()
