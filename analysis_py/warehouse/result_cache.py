"""A bounded cache of query results (Arrow tables), shared by the server's sessions and the
Python API.

A key says everything a result depends on: the published build it was computed on (a new
build is a new key, so a reader never gets the previous build's answer after a publish), the
SQL that ran (which is the metric request compiled for one role, its row policies and masking
included), the role itself and the row limit. The cache holds at most ``max_bytes`` of Arrow
data, dropping the least recently used entries first; one entry may take at most a quarter of
it. ``retain(build)`` drops every entry of other builds when a new one is published.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

#: default size of a server's result cache
DEFAULT_BYTES = 256 << 20


@dataclass(frozen=True)
class CachedResult:
    build: str
    columns: tuple  # whatever the caller describes its columns with
    table: object  # pyarrow.Table

    @property
    def nbytes(self) -> int:
        return int(self.table.nbytes) + 256


class ResultCache:
    """LRU of results keyed by ``(build, key)``; thread-safe; ``max_bytes=0`` disables it."""

    def __init__(self, max_bytes: int = DEFAULT_BYTES):
        self.max_bytes = max(0, int(max_bytes))
        self._entries: OrderedDict[tuple[str, Hashable], CachedResult] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, build: str, key: Hashable) -> CachedResult | None:
        if not self.enabled:
            return None
        with self._lock:
            hit = self._entries.get((build, key))
            if hit is None:
                self.misses += 1
                return None
            self._entries.move_to_end((build, key))
            self.hits += 1
            return hit

    def put(self, build: str, key: Hashable, columns, table) -> bool:
        """Keep ``table`` for ``(build, key)``; False when it is too large to keep."""
        entry = CachedResult(build, tuple(columns), table)
        if not self.enabled or entry.nbytes > self.max_bytes // 4:
            return False
        with self._lock:
            old = self._entries.pop((build, key), None)
            if old is not None:
                self._bytes -= old.nbytes
            self._entries[(build, key)] = entry
            self._bytes += entry.nbytes
            while self._bytes > self.max_bytes and self._entries:
                _k, dropped = self._entries.popitem(last=False)
                self._bytes -= dropped.nbytes
        return True

    def retain(self, build: str) -> int:
        """Drop every entry not computed on ``build``; how many were dropped."""
        with self._lock:
            stale = [k for k in self._entries if k[0] != build]
            for k in stale:
                self._bytes -= self._entries.pop(k).nbytes
        return len(stale)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0
