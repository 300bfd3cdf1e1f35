"""Results as a person or a file receives them: atomic files (CSV and any text) and one text
table."""

from __future__ import annotations

import contextlib
import csv
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence

import click

from analysis_py.errors import ConfigError


@contextlib.contextmanager
def atomic_file(path: str, newline: str | None = None):
    """A text file opened for writing at ``path`` that appears whole or not at all: written to
    a temporary file beside it and renamed when the block ends without an error."""
    target = os.path.abspath(path)
    folder = os.path.dirname(target) or "."
    if not os.path.isdir(folder):
        raise ConfigError(
            f"cannot write {path}: folder {folder} does not exist",
            hint="create the folder first or choose another path",
        )
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline=newline) as f:
            yield f
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise


def write_csv(path: str, columns: Sequence[str], rows: Iterable[Sequence], cell: Callable) -> int:
    """Write ``rows`` (each value through ``cell``) to ``path`` atomically: a failed run leaves
    no half-written file. Returns the number of rows written."""
    n = 0
    with atomic_file(path, newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for r in rows:
            w.writerow([cell(v) for v in r])
            n += 1
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
