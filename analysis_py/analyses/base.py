"""The results object every analysis returns, in statsmodels' manner.

A model is specified, ``fit()`` returns a separate :class:`AnalysisResults`; the results know
how to print themselves (``summary()`` as text and HTML), expose their numbers as frames
(``to_frame()`` and ``tables`` keyed by output table name, which the store writes back), draw
their plots, and say in plain words what was found, how, under which assumptions and with
which limits. Keeping those in one object is what lets the runner, the store and the report
treat seven different analyses the same way.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

#: Output tables of the minimum contract, in the order the report shows them.
CONTRACT_TABLES = ("effects", "anomalies", "forecasts", "backtest_scores")


@dataclass
class Summary:
    """Text and HTML renderings of a results object (like statsmodels' ``Summary``)."""

    title: str
    sections: list[tuple[str, pd.DataFrame | str]]

    def as_text(self) -> str:
        out = [self.title, "=" * len(self.title)]
        for name, body in self.sections:
            out.append("")
            out.append(name)
            out.append("-" * len(name))
            if isinstance(body, pd.DataFrame):
                out.append(body.to_string(index=False, float_format=_fmt))
            else:
                out.append(str(body))
        return "\n".join(out)

    def as_html(self) -> str:
        parts = [f"<h3>{html.escape(self.title)}</h3>"]
        for name, body in self.sections:
            parts.append(f"<h4>{html.escape(name)}</h4>")
            if isinstance(body, pd.DataFrame):
                parts.append(
                    body.to_html(index=False, float_format=_fmt, border=0, classes="tbl", na_rep="")
                )
            else:
                parts.append(f"<p>{html.escape(str(body))}</p>")
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.as_text()

    def _repr_html_(self) -> str:
        return self.as_html()


def _fmt(x: float) -> str:
    if x == 0 or (1e-3 <= abs(x) < 1e6):
        return f"{x:.4g}"
    return f"{x:.3e}"


@dataclass
class AnalysisResults:
    """What an analysis found, with everything needed to judge and reuse it.

    ``tables`` maps output table names (``effects``, ``anomalies``, ``forecasts``,
    ``backtest_scores``, and analysis-specific extras such as ``metrics`` or ``profile``) to
    frames whose columns follow :mod:`analysis_py.analyses.store`'s schemas, minus the run
    columns the store adds (run_id, spec_name).
    """

    analysis: str
    title: str
    finding: str
    method: str
    assumptions: list[str]
    limitations: list[str]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    #: Named headline numbers, intrinsic (fit, accuracy) and extrinsic (business) ones.
    measures: list[dict[str, Any]] = field(default_factory=list)
    #: Free-form extra objects (fitted statsmodels results etc.) for interactive use.
    extra: dict[str, Any] = field(default_factory=dict)
    #: Callables returning matplotlib figures; drawn lazily so batch runs stay fast.
    plot_fns: dict[str, Any] = field(default_factory=dict)
    #: Files saved beside the plots (name with extension -> bytes), e.g. a model artefact.
    files: dict[str, bytes] = field(default_factory=dict)
    #: Things the reader must know before acting on the finding: given to the constructor,
    #: they are also appended to ``finding``.
    warnings: list[str] = field(default_factory=list)
    #: The finding in one plain sentence for people who decide (no method figures).
    headline: str = ""
    #: What the numbers suggest doing, with its size and certainty.
    recommendation: str = ""

    def __post_init__(self) -> None:
        if self.warnings:
            self.finding += " Warning: " + " ".join(self.warnings)

    def to_frame(self) -> pd.DataFrame:
        """The main table: effects if any, else the first non-empty output table."""
        for name in (*CONTRACT_TABLES, *self.tables):
            df = self.tables.get(name)
            if df is not None and len(df):
                return df
        return pd.DataFrame()

    def measures_frame(self) -> pd.DataFrame:
        cols = ["measure", "value", "kind", "unit", "note"]
        return (
            pd.DataFrame(self.measures, columns=cols)
            if self.measures
            else pd.DataFrame(columns=cols)
        )

    def summary(self) -> Summary:
        sections: list[tuple[str, pd.DataFrame | str]] = [("Finding", self.finding)]
        if self.measures:
            sections.append(("Measures", self.measures_frame()))
        main = self.to_frame()
        if len(main):
            sections.append(("Results", main.head(40)))
        sections.append(("Method", self.method))
        sections.append(("Assumptions", "\n".join(f"- {a}" for a in self.assumptions)))
        sections.append(("Limitations", "\n".join(f"- {a}" for a in self.limitations)))
        return Summary(self.title, sections)

    def plots(self) -> dict[str, Any]:
        """Draw every plot (matplotlib figures, Agg backend)."""
        import matplotlib

        matplotlib.use("Agg")
        return {name: fn() for name, fn in self.plot_fns.items()}

    def add_measure(
        self, measure: str, value: float, kind: str, unit: str = "", note: str = ""
    ) -> None:
        """``kind`` is ``intrinsic`` (fit, accuracy) or ``extrinsic`` (business)."""
        self.measures.append(
            {"measure": measure, "value": float(value), "kind": kind, "unit": unit, "note": note}
        )
