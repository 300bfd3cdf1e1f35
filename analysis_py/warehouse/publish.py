"""Atomic publication of warehouse builds.

Layout under the warehouse directory::

    builds/<build_id>.duckdb        one file per successful build (never modified after publish)
    builds/<build_id>.target/       the dbt artifacts of that build (manifest, semantic manifest, docs)
    opsmetrics.duckdb  -> builds/<build_id>.duckdb     stable name, a symlink swapped atomically
    target             -> builds/<build_id>.target     artifacts that match the published file
    current.json                    {"build_id", "duckdb_path", "target_path", "published_at", ...}

A reader opens ``opsmetrics.duckdb`` read-only and so always sees one complete build: DuckDB
opens the file the symlink named at that instant, and a later swap does not change an open file
(on POSIX the old file stays readable even after it is pruned). A failed build never reaches
this module, so the last good warehouse stays published.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from analysis_py.config import PUBLISHED_NAME, Paths
from analysis_py.errors import DataNotFoundError

CURRENT = "current.json"
KEEP_BUILDS = 3


@dataclass(frozen=True)
class Published:
    build_id: str
    duckdb_path: Path
    target_path: Path
    published_at: str
    info: dict

    @property
    def semantic_manifest_path(self) -> Path:
        return self.target_path / "semantic_manifest.json"

    @property
    def manifest_path(self) -> Path:
        return self.target_path / "manifest.json"


def _atomic_symlink(link: Path, target: str) -> None:
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(target)
    os.replace(tmp, link)


def atomic_write_json(path: Path, payload: dict) -> None:
    """Write ``payload`` to ``path`` so a reader sees the old file or the whole new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    with open(tmp) as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


PUBLISHED_MARK = ".published"


def publish(
    paths: Paths, build_id: str, duckdb_file: Path, target_dir: Path, info: dict
) -> Published:
    """Make ``duckdb_file`` the published warehouse (atomically) and prune old builds."""
    wh = paths.warehouse_dir
    rel_db = os.path.relpath(duckdb_file, wh)
    rel_target = os.path.relpath(target_dir, wh)
    with open(duckdb_file, "rb+") as f:  # durable before it becomes visible
        os.fsync(f.fileno())
    # the mark that this build passed and was published: prune counts only marked builds
    atomic_write_json(duckdb_file.with_suffix(PUBLISHED_MARK), {"build_id": build_id, **info})
    _atomic_symlink(wh / "target", rel_target)
    _atomic_symlink(wh / PUBLISHED_NAME, rel_db)
    payload = {
        **info,
        "build_id": build_id,
        "duckdb_path": str(duckdb_file),
        "target_path": str(target_dir),
        "published_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    atomic_write_json(wh / CURRENT, payload)
    prune(paths, keep=KEEP_BUILDS)
    return current(paths)


def read_pointer(path: Path, missing: str, hint: str) -> dict:
    """The publication record at ``path`` (a ``current.json``), or ``DataNotFoundError``
    with ``missing`` and ``hint`` when nothing has been published there."""
    if not path.is_file():
        raise DataNotFoundError(missing, hint=hint)
    return json.loads(path.read_text())


def current(paths: Paths) -> Published:
    """The published build, or a clear error if nothing has been published yet."""
    info = read_pointer(
        paths.warehouse_dir / CURRENT,
        f"no published warehouse in {paths.warehouse_dir}",
        "run `opsmetrics build` (or `make run`) first, or set OPSMETRICS_WAREHOUSE_DIR",
    )
    return Published(
        build_id=info["build_id"],
        duckdb_path=Path(info["duckdb_path"]),
        target_path=Path(info["target_path"]),
        published_at=info.get("published_at", ""),
        info=info,
    )


def published_duckdb(paths: Paths) -> Path:
    """Stable path of the published DuckDB file (checks that it exists)."""
    current(paths)
    return paths.published_path


def prune(paths: Paths, keep: int = KEEP_BUILDS) -> list[str]:
    """Delete all but the newest ``keep`` published builds (never the current one), and the
    leftovers of builds that never published (killed or failed: no publication mark).

    Only published builds count towards ``keep``, so builds that died cannot push a good one
    out. Runs under the build lock (inside :func:`publish`), so no other build is writing.
    Readers that still hold a pruned file open keep reading it (POSIX unlink semantics); the
    Postgres server moves to the new generation on its next poll.
    """
    builds = paths.builds_dir
    if not builds.is_dir():
        return []
    cur = current(paths).build_id
    ids = {p.name.split(".", 1)[0] for p in builds.iterdir() if p.name.startswith("b")}
    marked = {p.stem for p in builds.glob(f"*{PUBLISHED_MARK}")}
    if not marked - {cur}:
        # a warehouse published before marks existed: its finished builds count as published
        marked |= {
            b
            for b in ids
            if (builds / f"{b}.target" / "run_results.json").is_file()
            and (builds / f"{b}.duckdb").is_file()
        }
    published = sorted(b for b in marked if (builds / f"{b}.duckdb").is_file())
    victims = [b for b in published[:-keep] if b != cur] if keep else []
    leftovers = sorted(b for b in ids - set(published) if b != cur)
    for b in victims + leftovers:
        for suffix in (".duckdb", ".duckdb.wal", PUBLISHED_MARK, ".log"):
            (builds / f"{b}{suffix}").unlink(missing_ok=True)
        shutil.rmtree(builds / f"{b}.target", ignore_errors=True)
    return victims + leftovers
