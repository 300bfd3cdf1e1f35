"""A tiny on-disk cache of compiled SQL, keyed by the manifest's hash and the request.

``opsmetrics query`` looks here before importing the compiler (sqlglot is most of a cold
start), so a repeated query costs a hash, a file read and the DuckDB call. Any change to the
manifest changes its hash, and any change to the compiler's code (an upgrade, a fix) changes
:func:`code_fingerprint`, so a cached entry is never stale.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

VERSION = 2


def cache_dir() -> Path:
    base = os.environ.get("OPSMETRICS_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "opsmetrics"
    )
    return Path(base) / "sql"


def file_digest(path: str | Path) -> str:
    with open(path, "rb") as f:
        return hashlib.blake2b(f.read(), digest_size=16).hexdigest()


_FINGERPRINT: str | None = None


def code_fingerprint() -> str:
    """Name, size and modification time of every module of the semantic package (a stat per
    file, no reads): the compiled SQL depends on this code as much as on the manifest."""
    global _FINGERPRINT
    if _FINGERPRINT is None:
        h = hashlib.blake2b(digest_size=8)
        with os.scandir(Path(__file__).parent) as it:
            for e in sorted(it, key=lambda e: e.name):
                if e.name.endswith(".py"):
                    st = e.stat()
                    h.update(f"{e.name}:{st.st_size}:{st.st_mtime_ns};".encode())
        _FINGERPRINT = h.hexdigest()
    return _FINGERPRINT


def key(manifest_digest: str, dialect: str, request: dict) -> str:
    payload = json.dumps(
        [VERSION, code_fingerprint(), manifest_digest, dialect, request],
        sort_keys=True,
        default=str,
    )
    return hashlib.blake2b(payload.encode(), digest_size=16).hexdigest()


def get(k: str) -> dict | None:
    try:
        with open(cache_dir() / f"{k}.json") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def put(k: str, sql: str, columns: list[str], extra: dict | None = None) -> None:
    d = cache_dir()
    try:
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / f"{k}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps({"sql": sql, "columns": columns, **(extra or {})}))
        os.replace(tmp, d / f"{k}.json")
    except OSError:
        pass
