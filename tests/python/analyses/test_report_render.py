"""The report as a person sees it: every format rendered from real results, checked on the
rendered output — the page in headless Chromium, the PDF's pages as text and images, the
LaTeX compiled by pdflatex.

Chromium, poppler-utils and texlive come from Debian (``.ci/run`` installs them); where they
are missing these tests skip, and fail under ``OPSMETRICS_REQUIRE_DRIVERS=1`` (CI).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from analysis_py.analyses import runner
from analysis_py.analyses import spec as spec_mod
from analysis_py.report import write_report

REPO = __import__("pathlib").Path(__file__).resolve().parents[3]


def _tool(name: str):
    if shutil.which(name):
        return
    if os.environ.get("OPSMETRICS_REQUIRE_DRIVERS") == "1":
        pytest.fail(f"OPSMETRICS_REQUIRE_DRIVERS=1 but {name} is not installed")
    pytest.skip(f"{name} is not installed")


@pytest.fixture(scope="module")
def report_dir(built_warehouse, tmp_path_factory):
    """Three shipped specs analysed on the shared build, the report in every format."""
    _tool("chromium")
    root = tmp_path_factory.mktemp("report")
    wh = root / "wh"
    wh.mkdir()
    # the build's dbt manifest, where the report finds the columns' display names
    (wh / "target").symlink_to((built_warehouse.paths.warehouse_dir / "target").resolve())
    specs = spec_mod.load(
        [
            REPO / "specs" / f"{n}.yml"
            for n in ("stp_by_rail", "resolution_drivers", "metric_monitor")
        ]
    )
    outcomes = runner.run_specs(specs, duckdb_path=built_warehouse.duckdb_path, warehouse_dir=wh)
    assert all(o.status == "success" for o in outcomes), outcomes
    out = root / "out"
    write_report(out, wh, formats=("html", "md", "tex", "pdf"), project_dir=REPO)
    return out


def _pdftext(pdf, first=None, last=None) -> str:
    _tool("pdftotext")
    args = ["pdftotext", "-layout"]
    if first:
        args += ["-f", str(first), "-l", str(last or first)]
    return subprocess.run([*args, str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def test_the_first_printed_page_is_the_executive_summary(report_dir):
    page1 = _pdftext(report_dir / "report.pdf", 1)
    assert "Executive summary" in page1
    # ranked: the finding valued in USD (repair cost) comes first, with its decision
    items = page1[page1.index("Executive summary") :]
    assert items.index("Straight-through processed by Payment rail") < items.index("What to do:")
    assert "Which rails to fix first" in items and "USD" in items
    # what to do, from the numbers: the worst rail first, with the money it would save
    assert re.search(r"What to do: Start with \w+: bringing every Payment rail", items)


def test_the_pdf_has_every_plot_and_no_raw_values(report_dir):
    html = (report_dir / "report.html").read_text()
    n_img = len(re.findall(r"<img ", html))
    _tool("pdfimages")
    listing = subprocess.run(
        ["pdfimages", "-list", str(report_dir / "report.pdf")], capture_output=True, text=True
    ).stdout.splitlines()[2:]
    assert n_img >= 3 and len(listing) >= n_img
    text = _pdftext(report_dir / "report.pdf")
    assert re.search(r"\bnan\b", text, re.I) is None and "owner nan" not in text
    assert "reference_level" not in text and "ci_low" not in text
    assert re.search(r"\bp\s*=\s*0\b", text) is None


def test_the_pdf_pages_render_to_images(report_dir, tmp_path):
    _tool("pdftoppm")
    subprocess.run(
        ["pdftoppm", "-r", "40", "-png", "-f", "1", "-l", "2", str(report_dir / "report.pdf"),
         str(tmp_path / "page")],
        check=True,
    )  # fmt: skip
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == 2
    from PIL import Image

    for p in pages:
        im = Image.open(p).convert("L")
        lo, hi = im.getextrema()
        assert hi - lo > 100, p  # text on the page, not a blank sheet


def test_the_page_in_headless_chromium(report_dir):
    """The rendered DOM (after layout and scripts) of the self-contained page."""
    from analysis_py.report.pdf import browser

    dom = subprocess.run(
        [browser(), "--headless=new", "--no-sandbox", "--disable-gpu", "--dump-dom",
         (report_dir / "report.html").resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    body = re.sub(r'src="data:image/png;base64,[^"]+"', "", dom)
    assert body.index("Executive summary") < body.index("Details: evidence")
    assert len(re.findall(r"<img ", dom)) >= 3 and 'src="http' not in dom
    assert "Glossary" in body and "<th>Compared with</th>" in body


def test_the_latex_compiles_with_pdflatex(report_dir, tmp_path):
    _tool("pdflatex")
    src = report_dir / "tex"
    work = tmp_path / "tex"
    shutil.copytree(src, work)
    proc = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "report.tex"],
        cwd=work, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert (work / "report.pdf").stat().st_size > 10_000
    assert "Executive summary" in _pdftext(work / "report.pdf", 1)


def test_markdown_links_its_plots(report_dir):
    md = (report_dir / "report.md").read_text()
    links = re.findall(r"\]\((report_files/[^)]+\.png)\)", md)
    assert links and all((report_dir / p).is_file() for p in links)
    assert md.index("## Executive summary") < md.index("## Details")


def test_pdf_without_a_browser_fails_clearly_and_writes_nothing(report_dir, tmp_path, monkeypatch):
    from analysis_py.errors import ConfigError

    monkeypatch.setenv("OPSMETRICS_CHROMIUM", str(tmp_path / "no-such-browser"))
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match="not an executable browser") as exc:
        write_report(out, report_dir.parent / "wh", formats=("html", "pdf"))
    assert "Chrome/Chromium" in (exc.value.hint or "")
    assert not out.exists()


def test_prose_uses_display_names_not_column_names(report_dir, built_warehouse):
    """Titles and findings name columns by their dbt labels (``meta.label`` or the semantic
    dimension's label), never by a mart's column name."""
    from analysis_py.warehouse.manifest import DbtManifest

    man = DbtManifest.read(built_warehouse.paths.warehouse_dir / "target" / "manifest.json")
    cols = {c for r in man.models().values() if r.governed for c in r.column_docs if "_" in c}
    cols |= {m["name"] for m in man.data["metrics"].values() if "_" in m["name"] and m.get("label")}
    html = (report_dir / "report.html").read_text()
    prose = re.findall(r'<div class="finding">(.*?)</div>', html, re.S)
    prose += re.findall(r"<h3[^>]*>(.*?)</h3>", html)
    prose += re.findall(r'<ol class="summary">(.*?)</ol>', html, re.S)
    assert len(prose) >= 4
    raw = {c for c in cols for p in prose if re.search(rf"(?<![\w.]){c}(?!\w)", p)}
    assert not raw, raw
    assert "Straight-through processed" in html and "Payment rail" in html
