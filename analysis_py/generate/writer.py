"""Deterministic Parquet landing files and the atomic swap of a finished dataset.

A run writes into a temporary folder next to the target; only a complete run is renamed
into place, so a failed run never leaves a half-written or mixed dataset behind.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import tempfile
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

#: Fixed writer settings: same input table -> same bytes.
PARQUET_OPTIONS = {
    "compression": "zstd",
    "compression_level": 1,
    "use_dictionary": True,
    "write_statistics": True,
    "version": "2.6",
    "data_page_version": "1.0",
    "row_group_size": 1_000_000,
}


def write_parquet(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Drop the schema metadata (pandas/arrow extras) so files carry only the data.
    pq.write_table(table.replace_schema_metadata(None), path, **PARQUET_OPTIONS)


class BackgroundWriter:
    """Writes Parquet files on one background thread while the next table is simulated
    (pyarrow releases the GIL while encoding). At most ``max_pending`` tables wait in
    memory; a write error is raised in the caller at the next submit or on exit."""

    def __init__(self, max_pending: int = 2):
        self.max_pending = max_pending
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet")
        self.pending: deque[Future] = deque()

    def __call__(self, path: Path, table: pa.Table) -> None:
        while len(self.pending) >= self.max_pending:
            self.pending.popleft().result()
        self.pending.append(self.pool.submit(write_parquet, path, table))

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is not None:
                for f in self.pending:
                    f.cancel()
            for f in self.pending:
                if not f.cancelled():
                    f.result()
        finally:
            self.pool.shutdown(wait=True)


def write_by_load(
    folder: Path, table: pa.Table, sink: Callable[[Path, pa.Table], None] = write_parquet
) -> dict[int, int]:
    """One ``load_NNNN.parquet`` per ``_load_id``; rows keep their order within a load."""
    load = table.column("_load_id").to_numpy()
    order = np.argsort(load, kind="stable")
    table = table.take(pa.array(order))
    load = load[order]
    bounds = np.flatnonzero(np.r_[True, load[1:] != load[:-1], True])
    rows = {}
    for a, b in itertools.pairwise(bounds):
        k = int(load[a])
        sink(folder / f"load_{k:04d}.parquet", table.slice(a, b - a))
        rows[k] = int(b - a)
    return rows


def write_json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n")


def distinct_count(table: pa.Table, key: str) -> int:
    return len(pc.unique(table.column(key)))


class AtomicDir:
    """Context manager: yields a temp folder; on success it replaces ``target``.

    The previous dataset (if any) is moved aside and deleted only after the new one is in
    place, so readers see either the old or the new dataset, never a mix.
    """

    def __init__(self, target: Path):
        self.target = Path(target).resolve()
        self.tmp: Path | None = None

    def __enter__(self) -> Path:
        for parent in (self.target, *self.target.parents):
            if parent.exists() and not parent.is_dir():
                from analysis_py.errors import ConfigError

                raise ConfigError(
                    f"cannot write the dataset to {self.target}: {parent} is a file, not a folder",
                    hint="choose another --out folder",
                )
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(
            tempfile.mkdtemp(prefix=f".{self.target.name}.tmp-", dir=self.target.parent)
        )
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        assert self.tmp is not None
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        os.chmod(self.tmp, 0o755)
        old = None
        if self.target.exists():
            old = self.target.parent / f".{self.target.name}.old-{os.getpid()}"
            os.replace(self.target, old)
        os.replace(self.tmp, self.target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
