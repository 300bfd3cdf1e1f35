"""Results as a person or a file receives them: one atomic CSV writer and one text table."""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence

import click


def write_csv(path: str, columns: Sequence[str], rows: Iterable[Sequence], cell: Callable) -> int:
    """Write ``rows`` (each value through ``cell``) to ``path`` atomically: a failed run leaves
    no half-written file. Returns the number of rows written."""
    target = os.path.abspath(path)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target) or ".", suffix=".tmp")
    n = 0
    try:
        with os.fdopen(fd, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(columns)
            for r in rows:
                w.writerow([cell(v) for v in r])
                n += 1
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise
    return n


def print_table(
    columns: Sequence[str],
    cells: Sequence[Sequence[str]],
    *,
    right: Sequence[bool] | None = None,
    sep: str = "  ",
    rule_sep: str = "  ",
) -> None:
    """Aligned columns of already formatted ``cells``; ``right`` justifies numbers."""
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    right = right or [False] * len(columns)

    def line(vals) -> str:
        return sep.join(
            v.rjust(w) if r else v.ljust(w) for v, w, r in zip(vals, widths, right, strict=True)
        ).rstrip()

    click.echo(line(columns))
    click.echo(rule_sep.join("-" * w for w in widths))
    for r in cells:
        click.echo(line(r))
