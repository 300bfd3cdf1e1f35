"""``opsmetrics build``: dbt build into a fresh file, then publish it atomically.

The build never touches the published warehouse: dbt writes ``builds/<build_id>.duckdb``
(the profile reads ``OPSMETRICS_DUCKDB_PATH``) and its artifacts to
``builds/<build_id>.target``. Only when dbt build, the saved-query exports and
``dbt docs generate`` all succeed is the new file published; otherwise both are removed and
the error names the failing nodes. One build at a time per warehouse directory (a lock file).

A selection build (``--select``/``--exclude``) does what ``dbt build --select`` does on a
dbt user's dev database: it rebuilds only the selected nodes and leaves the rest as they
were. Here "as they were" is the published build: the new file starts as a copy of it, so
the published file itself is still never written. A selector that matches no node is an
error (dbt only warns and exits 0), so a typo never publishes a build that did nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
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
from analysis_py.errors import BuildError, DataNotFoundError, OpsMetricsError, did_you_mean
from analysis_py.warehouse.dbt_runner import DbtRun, ProgressCallback, run_dbt
from analysis_py.warehouse.publish import Published, current, prune, publish

#: dbt artifacts copied into <project>/target after a successful build (dbt's convention,
#: so `dbt docs serve`, the semantic layer's from_dbt and other tools find them).
ARTIFACTS = (
    "manifest.json",
    "semantic_manifest.json",
    "catalog.json",
    "run_results.json",
    "index.html",
    "static_index.html",
)


@dataclass
class BuildResult:
    published: Published
    run: DbtRun
    seconds: float
    log_path: Path


def new_build_id() -> str:
    now = dt.datetime.now(dt.UTC)
    return f"b{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}Z-{secrets.token_hex(2)}"


#: a step run on a passed build before publication: (dbt target dir, build file, report step)
PostBuildStep = Callable[[Path, Path, Callable[[str], None]], None]


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
        return {
            "raw_data_dir": str(paths.data_dir),
            "ground_truth_sha256": digest,
            "scale": meta.get("scale"),
            "seed": meta.get("seed"),
        }
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
    after_build: Sequence[PostBuildStep] = (),
) -> BuildResult:
    """Build the dbt project into a new DuckDB file and publish it if everything passed.

    ``after_build`` steps run on the build file once dbt passed and before it is published
    (the saved-query exports, :func:`analysis_py.semantic.exports.export_step`); one that
    fails stops the publication as a failed dbt build does."""
    started = dt.datetime.now(dt.UTC)
    data_info = check_raw_data(paths)
    step = on_step or (lambda _msg: None)
    with build_lock(paths):
        # what builds killed since the last publish left behind (this one is not started yet)
        with contextlib.suppress(DataNotFoundError):
            prune(paths)
        build_id = new_build_id()
        paths.builds_dir.mkdir(parents=True, exist_ok=True)
        db_file = paths.builds_dir / f"{build_id}.duckdb"
        target_dir = paths.builds_dir / f"{build_id}.target"
        log_dir = paths.warehouse_dir / "logs"
        log_path = log_dir / f"{build_id}.dbt.log"
        env = {**paths.env(), "OPSMETRICS_DUCKDB_PATH": str(db_file)}
        common = [
            "--target",
            target,
            "--target-path",
            str(target_dir),
            "--log-path",
            str(log_dir / build_id),
        ]
        partial = bool(select or exclude)
        base = _selection_base(paths, data_info) if partial else None
        try:
            if base is not None:
                step(f"copy published build {base.build_id} as the base of the selection")
                _copy_build_file(base.duckdb_path, db_file)
            args = ["build", *common, *selection_args(select, exclude)]
            step(f"dbt build → {db_file.name}")
            run = run_dbt(
                args,
                project_dir=paths.project_dir,
                env=env,
                log_path=log_path,
                on_progress=on_progress,
            )
            check_selection(run, paths, target_dir)
            empty_base = (
                f"no warehouse is published in {paths.warehouse_dir}, so the selection was "
                "built into an empty database: run a full `opsmetrics build` first (a --select "
                "build then rebuilds the selected nodes on top of it)"
                if partial and base is None
                else ""
            )
            if not run.ok:
                hint = f"full dbt log: {log_path}"
                raise BuildError(
                    _failure_message(run, paths.project_dir),
                    hint=f"{empty_base}; {hint}" if empty_base else hint,
                )
            try:
                for after in after_build:
                    after(target_dir, db_file, step)
            except OpsMetricsError as exc:
                if not empty_base:
                    raise
                raise BuildError(
                    f"post-build step failed: {exc.message}", hint=empty_base
                ) from None
            if docs:
                step("dbt docs generate")
                docs_run = run_dbt(
                    ["docs", "generate", "--static", *common],
                    project_dir=paths.project_dir,
                    env=env,
                    log_path=log_dir / f"{build_id}.docs.log",
                )
                if not docs_run.ok:
                    raise BuildError(
                        "dbt docs generate failed", hint=f"log: {log_dir / f'{build_id}.docs.log'}"
                    )
        except OSError as exc:
            _discard(db_file, target_dir)
            if exc.errno == errno.ENOSPC:
                raise BuildError(
                    f"the disk holding {paths.warehouse_dir} is full; the build was discarded "
                    "and the published warehouse was left as it was",
                    hint="free some space (old logs in warehouse/logs, data you no longer need) "
                    "and build again",
                ) from None
            raise BuildError(
                f"the build could not write its files: {exc.strerror or exc}",
                hint=f"check {paths.builds_dir} and its permissions",
            ) from None
        except BaseException:
            _discard(db_file, target_dir)
            raise
        finally:
            _prune_logs(log_dir, keep=KEEP_LOGS)
        step("publish")
        try:
            published = publish(
                paths,
                build_id,
                db_file,
                target_dir,
                {
                    "target": target,
                    "select": list(select),
                    "exclude": list(exclude),
                    "base_build_id": base.build_id if base else None,
                    **data_info,
                },
            )
        except OSError as exc:  # nothing is removed: the build file stays for another try
            raise BuildError(
                f"the build {build_id} passed but could not be published: {exc.strerror or exc}",
                hint="free disk space or fix permissions in the warehouse folder and build again",
            ) from None
        _copy_artifacts(target_dir, paths.target_dir)
    seconds = (dt.datetime.now(dt.UTC) - started).total_seconds()
    return BuildResult(published=published, run=run, seconds=seconds, log_path=log_path)


def _selection_base(paths: Paths, data_info: dict) -> Published | None:
    """The published build a selection build starts from (None when nothing is published).

    Refuses a base built from other raw data: the unselected tables would still hold the old
    data, and the warehouse would silently mix two datasets.
    """
    try:
        pub = current(paths)
    except DataNotFoundError:
        return None
    if not pub.duckdb_path.is_file():
        return None
    for key in ("raw_data_dir", "ground_truth_sha256"):
        was, now = pub.info.get(key), data_info.get(key)
        if was and now and was != now:
            raise BuildError(
                f"the published build {pub.build_id} was built from other raw data "
                f"({key}: {was} → now {now}); a --select/--exclude build would mix the two",
                hint="run a full `opsmetrics build` (without --select/--exclude)",
            )
    return pub


def _copy_build_file(src: Path, dest: Path) -> None:
    shutil.copyfile(src, dest)
    wal = src.with_name(src.name + ".wal")
    if wal.is_file():
        shutil.copyfile(wal, dest.with_name(dest.name + ".wal"))


def selection_args(select: Sequence[str], exclude: Sequence[str]) -> list[str]:
    """dbt's ``--select``/``--exclude`` options, one pair per criterion."""
    return [a for s in select for a in ("--select", s)] + [
        a for x in exclude for a in ("--exclude", x)
    ]


def check_selection(run: DbtRun, paths: Paths, target_dir: Path) -> None:
    """Turn dbt's "matches no node" / "nothing to do" warnings into an error."""
    if run.unmatched_selectors:
        names = _node_names(target_dir / "manifest.json")
        specs = list(dict.fromkeys(run.unmatched_selectors))
        lines = []
        for spec in specs:
            maybe = did_you_mean(spec.strip("+@ ").split(":")[-1], names, cutoff=0.6)
            lines.append(f"  {spec!r} ({maybe})" if maybe else f"  {spec!r}")
        raise BuildError(
            "no node of the dbt project matches these --select/--exclude criteria, so nothing was "
            "built or published:\n" + "\n".join(lines),
            hint=_ls_hint(paths),
        )
    if run.nothing_to_do:
        raise BuildError(
            "the --select/--exclude options leave no node to build, so nothing was built or published",
            hint=_ls_hint(paths),
        )


def _ls_hint(paths: Paths) -> str:
    return (
        "list what a selection matches with `dbt ls --select <selector>` and the valid model "
        f"names with `dbt ls --resource-type model` (run in {paths.project_dir} with "
        "`--profiles-dir profiles`)"
    )


def _node_names(manifest: Path) -> list[str]:
    """Names of the selectable nodes (models, seeds, snapshots, tests, sources) in a manifest."""
    try:
        data = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return []
    names = {n.get("name", "") for n in data.get("nodes", {}).values()}
    names |= {
        f"source:{s.get('source_name')}.{s.get('name')}" for s in data.get("sources", {}).values()
    }
    return sorted(n for n in names if n)


#: dbt logs of this many builds are kept in <warehouse>/logs (a failed build's log is how
#: one finds out why; older ones only fill the disk)
KEEP_LOGS = 10


def _prune_logs(log_dir: Path, keep: int) -> None:
    """Keep the logs of the newest ``keep`` builds (``<build_id>.*`` files and folders)."""
    if not log_dir.is_dir():
        return
    ids = sorted({p.name.split(".", 1)[0] for p in log_dir.iterdir() if p.name.startswith("b")})
    for old in ids[:-keep] if keep else ids:
        for p in log_dir.glob(f"{old}*"):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


def _failure_message(run: DbtRun, project_dir: Path | None = None) -> str:
    if project_dir is not None and any("recursion" in e.lower() for e in run.errors):
        from analysis_py.warehouse.dbt_parse import explain_parse_failure

        return "dbt could not parse the project; the published warehouse was left as it was:\n" + (
            explain_parse_failure(project_dir, "RecursionError")
        )
    failed = run.failures()
    if failed:
        lines = [f"  {r.status.upper():<6} {r.unique_id or r.message}" for r in failed[:15]]
        more = f"\n  … and {len(failed) - 15} more" if len(failed) > 15 else ""
        return (
            "dbt build failed; the published warehouse was left as it was:\n"
            + "\n".join(lines)
            + more
            + _error_details(run.errors)
        )
    detail = "\n".join(f"  {e}" for e in run.errors[-8:]) or "  (see the log)"
    return f"dbt build failed (exit code {run.returncode}); the published warehouse was left as it was:\n{detail}"


def _error_details(errors: list[str], limit: int = 5) -> str:
    """Why each node failed, from dbt's run summary.

    dbt logs ``Failure in <node> (<path>)`` followed by the cause: a data test's
    ``Got 1 result, configured to fail if != 0``, or a ``Runtime Error in <node>`` header
    and the database's message (``Catalog Error: Table … does not exist``).
    """
    details = []
    for i, msg in enumerate(errors):
        head = msg.strip()
        if not head.startswith("Failure in "):
            continue
        nxt = errors[i + 1].strip() if i + 1 < len(errors) else ""
        lines = [] if nxt.startswith("Failure in ") else [ln.strip() for ln in nxt.splitlines()]
        lines = [ln for ln in lines if ln]
        if lines and " Error in " in f" {lines[0]}":
            lines = lines[1:]
        cause = f": {lines[0]}" if lines else ""
        details.append(f"  {head.removeprefix('Failure in ')}{cause}")
    if not details:
        return ""
    more = f"\n  … and {len(details) - limit} more" if len(details) > limit else ""
    return "\nWhy:\n" + "\n".join(details[:limit]) + more


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
