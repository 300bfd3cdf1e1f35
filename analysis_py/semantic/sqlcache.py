"""A tiny on-disk cache of compiled SQL, keyed by the manifest's hash and the request.

``opsmetrics query`` looks here before importing the compiler (sqlglot is most of a cold
start), so a repeated query costs a hash, a file read and the DuckDB call. Any change to the
manifest changes its hash, so a cached entry is never stale.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

VERSION = 1


def cache_dir() -> Path:
    base = os.environ.get("OPSMETRICS_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "opsmetrics"
    )
    return Path(base) / "sql"


def file_digest(path: str | Path) -> str:
    with open(path, "rb") as f:
        return hashlib.blake2b(f.read(), digest_size=16).hexdigest()


def key(manifest_digest: str, dialect: str, request: dict) -> str:
    payload = json.dumps([VERSION, manifest_digest, dialect, request], sort_keys=True, default=str)
    return hashlib.blake2b(payload.encode(), digest_size=16).hexdigest()


def get(k: str) -> dict | None:
    try:
        with open(cache_dir() / f"{k}.json") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def put(k: str, sql: str, columns: list[str]) -> None:
    d = cache_dir()
    try:
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / f"{k}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps({"sql": sql, "columns": columns}))
        os.replace(tmp, d / f"{k}.json")
    except OSError:
        pass
