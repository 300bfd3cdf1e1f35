"""The HTML report of analysis results (one self-contained file, plots embedded)."""

from analysis_py.report.html import build_report, write_report

__all__ = ["build_report", "write_report"]
