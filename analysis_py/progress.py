"""Progress display shared by long-running commands.

On a terminal: a rich progress bar on stderr. Elsewhere (CI logs, pipes): one plain line per
step and at most one line every few seconds for counters, so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager


class Progress:
    def __init__(self, description: str, *, quiet: bool = False):
        self.description = description
        self.quiet = quiet
        self._rich = None
        self._task = None
        self._last = 0.0

    def step(self, message: str) -> None:
        if self.quiet:
            return
        if self._rich is not None:
            self._rich.console.print(f"[bold]•[/] {message}")
        else:
            print(f"• {message}", file=sys.stderr, flush=True)

    def update(self, done: int, total: int, label: str = "") -> None:
        if self.quiet:
            return
        if self._rich is not None:
            self._rich.update(self._task, completed=done, total=total or None, label=label[:60])
            return
        now = time.monotonic()
        if now - self._last >= 5 or (total and done >= total):
            self._last = now
            print(
                f"  {self.description}: {done}/{total or '?'} {label}", file=sys.stderr, flush=True
            )


@contextmanager
def progress(description: str, *, quiet: bool = False) -> Iterator[Progress]:
    p = Progress(description, quiet=quiet)
    if quiet or not sys.stderr.isatty():
        yield p
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as RichProgress

    with RichProgress(
        TextColumn("[bold blue]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[label]}"),
        console=Console(stderr=True),
        transient=False,
    ) as rp:
        p._rich = rp
        p._task = rp.add_task(description, total=None, label="")
        yield p
