"""The report as PDF, for attaching and printing: the HTML page (with its print stylesheet)
printed by headless Chromium (Debian's ``chromium``), so the PDF shows exactly what the page
shows."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from analysis_py.errors import ConfigError

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def browser() -> str:
    """The headless browser to print with: ``$OPSMETRICS_CHROMIUM`` or the first on PATH."""
    given = os.environ.get("OPSMETRICS_CHROMIUM")
    if given:
        found = shutil.which(given)
        if found is None:
            raise ConfigError(
                f"OPSMETRICS_CHROMIUM={given} is not an executable browser",
                hint="point it at a Chrome/Chromium binary, or unset it to search PATH",
            )
        return found
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    raise ConfigError(
        "the PDF report needs headless Chromium, and none was found",
        hint="install Debian's `chromium` (apt install chromium), or set OPSMETRICS_CHROMIUM "
        "to a Chrome/Chromium binary; the HTML and Markdown formats need nothing",
    )


def print_html(html_path: Path, pdf_path: Path, timeout: float = 120.0) -> Path:
    """Print ``html_path`` to ``pdf_path`` (A4, no browser header or footer)."""
    exe = browser()
    with tempfile.TemporaryDirectory(prefix="opsmetrics-chromium-") as profile:
        cmd = [
            exe,
            "--headless=new",
            "--no-sandbox",  # containers run as root, where the sandbox cannot start
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf_path}",
            Path(html_path).resolve().as_uri(),
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ConfigError(
                f"Chromium did not print the report within {timeout:.0f} s",
                hint="check that the browser starts headless on this machine",
            ) from None
    if proc.returncode != 0 or not pdf_path.is_file() or pdf_path.stat().st_size == 0:
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ConfigError(
            f"Chromium could not print the report ({exe}: {last[0][:200]})",
            hint="run the same command by hand with --enable-logging to see why",
        )
    return pdf_path
