"""Plots shared by several analyses (matplotlib, drawn lazily by the results object)."""

from __future__ import annotations

import pandas as pd


def reliability_plot(calib: pd.DataFrame, xlabel: str, ylabel: str):
    """Observed vs predicted rate per bin with 95% intervals, on the diagonal's scale."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1)
    ax.errorbar(
        calib["predicted"],
        calib["observed"],
        yerr=[calib["observed"] - calib["ci_low"], calib["ci_high"] - calib["observed"]],
        fmt="o",
        color="#1f4e79",
    )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    hi = float(max(calib["predicted"].max(), calib["observed"].max()) * 1.1)
    ax.set_xlim(0, hi)
    ax.set_ylim(0, hi)
    fig.tight_layout()
    return fig
