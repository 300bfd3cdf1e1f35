"""``opsmetrics build``: dbt build into a fresh file, then publish it atomically.

The build never touches the published warehouse: dbt writes ``builds/<build_id>.duckdb``
(the profile reads ``OPSMETRICS_DUCKDB_PATH``) and its artifacts to
``builds/<build_id>.target``. Only when dbt build, the saved-query exports and
``dbt docs generate`` all succeed is the new file published; otherwise both are removed and
the error names the failing nodes. One build at a time per warehouse directory (a lock file).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from analysis_py.config import Paths
from analysis_py.errors import BuildError, DataNotFoundError
from analysis_py.warehouse.dbt_runner import DbtRun, ProgressCallback, run_dbt
from analysis_py.warehouse.publish import Published, publish

#: dbt artifacts copied into <project>/target after a successful build (dbt's convention,
#: so `dbt docs serve`, the semantic layer's from_dbt and other tools find them).
ARTIFACTS = ("manifest.json", "semantic_manifest.json", "catalog.json", "run_results.json", "index.html", "static_index.html")


@dataclass
class BuildResult:
    published: Published
    run: DbtRun
    seconds: float
    log_path: Path


def new_build_id() -> str:
    now = dt.datetime.now(dt.UTC)
    return f"b{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}Z-{secrets.token_hex(2)}"


@contextlib.contextmanager
def build_lock(paths: Paths) -> Iterator[None]:
    paths.warehouse_dir.mkdir(parents=True, exist_ok=True)
    with open(paths.warehouse_dir / ".build.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuildError(
                f"another build is running for {paths.warehouse_dir}",
                hint="wait for it to finish, or use another OPSMETRICS_WAREHOUSE_DIR",
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def check_raw_data(paths: Paths) -> dict:
    gt = paths.ground_truth_path
    if not paths.data_dir.is_dir() or not any(paths.data_dir.glob("*/*/*.parquet")):
        raise DataNotFoundError(
            f"no raw data in {paths.data_dir}",
            hint="run `opsmetrics generate` first (or set OPSMETRICS_DATA_DIR to a generated folder)",
        )
    if gt.is_file():
        digest = hashlib.sha256(gt.read_bytes()).hexdigest()[:16]
        meta = json.loads(gt.read_text())
        return {"raw_data_dir": str(paths.data_dir), "ground_truth_sha256": digest,
                "scale": meta.get("scale"), "seed": meta.get("seed")}
    return {"raw_data_dir": str(paths.data_dir)}


def build(
    paths: Paths,
    *,
    target: str = "dev",
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    docs: bool = True,
    on_progress: ProgressCallback | None = None,
    on_step: Callable[[str], None] | None = None,
) -> BuildResult:
    """Build the dbt project into a new DuckDB file and publish it if everything passed."""
    started = dt.datetime.now(dt.UTC)
    data_info = check_raw_data(paths)
    step = on_step or (lambda _msg: None)
    with build_lock(paths):
        build_id = new_build_id()
        paths.builds_dir.mkdir(parents=True, exist_ok=True)
        db_file = paths.builds_dir / f"{build_id}.duckdb"
        target_dir = paths.builds_dir / f"{build_id}.target"
        log_dir = paths.warehouse_dir / "logs"
        log_path = log_dir / f"{build_id}.dbt.log"
        env = {**paths.env(), "OPSMETRICS_DUCKDB_PATH": str(db_file)}
        common = ["--target", target, "--target-path", str(target_dir), "--log-path", str(log_dir / build_id)]
        try:
            args = ["build", *common]
            for s in select:
                args += ["--select", s]
            for x in exclude:
                args += ["--exclude", x]
            step(f"dbt build → {db_file.name}")
            run = run_dbt(args, project_dir=paths.project_dir, env=env, log_path=log_path, on_progress=on_progress)
            if not run.ok:
                raise BuildError(_failure_message(run), hint=f"full dbt log: {log_path}")
            _run_exports(target_dir, db_file, step)
            if docs:
                step("dbt docs generate")
                docs_run = run_dbt(
                    ["docs", "generate", "--static", *common],
                    project_dir=paths.project_dir,
                    env=env,
                    log_path=log_dir / f"{build_id}.docs.log",
                )
                if not docs_run.ok:
                    raise BuildError("dbt docs generate failed", hint=f"log: {log_dir / f'{build_id}.docs.log'}")
        except BaseException:
            _discard(db_file, target_dir)
            raise
        step("publish")
        published = publish(
            paths,
            build_id,
            db_file,
            target_dir,
            {"target": target, "select": list(select), **data_info},
        )
        _copy_artifacts(target_dir, paths.target_dir)
    seconds = (dt.datetime.now(dt.UTC) - started).total_seconds()
    return BuildResult(published=published, run=run, seconds=seconds, log_path=log_path)


def _run_exports(target_dir: Path, db_file: Path, step) -> None:
    """Materialise saved-query exports into the build file before it is published."""
    manifest = target_dir / "semantic_manifest.json"
    try:
        from analysis_py.semantic.exports import run_exports
    except ImportError:
        return
    if manifest.is_file():
        step("saved-query exports")
        run_exports(manifest, db_file)


def _failure_message(run: DbtRun) -> str:
    failed = run.failures()
    if failed:
        lines = [f"  {r.status.upper():<6} {r.unique_id or r.message}" for r in failed[:15]]
        more = f"\n  … and {len(failed) - 15} more" if len(failed) > 15 else ""
        return "dbt build failed; the published warehouse was left as it was:\n" + "\n".join(lines) + more
    detail = "\n".join(f"  {e}" for e in run.errors[-8:]) or "  (see the log)"
    return f"dbt build failed (exit code {run.returncode}); the published warehouse was left as it was:\n{detail}"


def _discard(db_file: Path, target_dir: Path) -> None:
    for p in (db_file, db_file.with_name(db_file.name + ".wal")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    shutil.rmtree(target_dir, ignore_errors=True)


def _copy_artifacts(src: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for name in ARTIFACTS:
        if (src / name).is_file():
            tmp = dest / f".{name}.{os.getpid()}.tmp"
            shutil.copyfile(src / name, tmp)
            os.replace(tmp, dest / name)
