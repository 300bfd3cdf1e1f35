"""Plots shared by several analyses (matplotlib, drawn lazily by the results object)."""

from __future__ import annotations

import pandas as pd


def interval_points(ax, x, estimate, low, high, **kw) -> None:
    """Points at ``estimate`` with error bars from ``low`` to ``high``."""
    ax.errorbar(x, estimate, yerr=[estimate - low, high - estimate], fmt="o", color="#1f4e79", **kw)


def reliability_plot(calib: pd.DataFrame, xlabel: str, ylabel: str):
    """Observed vs predicted rate per bin with 95% intervals, on the diagonal's scale."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1)
    interval_points(ax, calib["predicted"], calib["observed"], calib["ci_low"], calib["ci_high"])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    hi = float(max(calib["predicted"].max(), calib["observed"].max()) * 1.1)
    ax.set_xlim(0, hi)
    ax.set_ylim(0, hi)
    fig.tight_layout()
    return fig


def forest_plot(effects: pd.DataFrame, labels, xlabel: str, log: bool = True):
    """Estimates with their 95% intervals, one row each, top to bottom; ratios on a log axis
    (0.5× and 2× equally far from 1), differences on a linear one around 0."""
    import matplotlib.pyplot as plt
    import numpy as np

    e = effects.reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(6.5, 0.35 * len(e) + 1.2))
    ypos = np.arange(len(e))[::-1]
    ax.errorbar(
        e["estimate"],
        ypos,
        xerr=[e["estimate"] - e["ci_low"], e["ci_high"] - e["estimate"]],
        fmt="o",
        color="#1f4e79",
        capsize=3,
    )
    ax.axvline(1.0 if log else 0.0, color="grey", lw=1, ls="--")
    if log:
        from matplotlib.ticker import FormatStrFormatter, NullFormatter

        ax.set_xscale("log")
        lo, hi = float(e["ci_low"].min()), float(e["ci_high"].max())
        ticks = [
            t for t in (0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 10) if lo * 0.8 <= t <= hi * 1.25
        ]
        ax.set_xticks(sorted({*ticks, 1}))  # the reference line is always labelled
        ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks(ypos)
    ax.set_yticklabels(list(labels))
    ax.set_xlabel(xlabel)
    fig.tight_layout()
    return fig


def series_grid(keys: list[tuple[str, str]], *, one_column_up_to: int = 4):
    """A figure with one titled panel per ``(metric, slice)`` key: one column up to
    ``one_column_up_to`` panels, three beyond. Returns the figure and ``(axes, key)`` pairs."""
    import matplotlib.pyplot as plt
    import numpy as np

    cols = 1 if len(keys) <= one_column_up_to else 3
    rows = max(int(np.ceil(len(keys) / cols)), 1)
    fig, axes = plt.subplots(
        rows, cols, figsize=(7.5 if cols == 1 else 11, 2.0 * rows), squeeze=False
    )
    for ax in axes.ravel()[len(keys) :]:
        ax.set_visible(False)
    for ax, (metric, slc) in zip(axes.ravel(), keys, strict=False):
        ax.set_title(f"{metric} / {slc}", fontsize=9)
    return fig, list(zip(axes.ravel(), keys, strict=False))
