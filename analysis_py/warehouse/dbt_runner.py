"""Run dbt as a subprocess and show its progress.

dbt is run in a child process (never imported) so that a crash or a hang in dbt cannot take
the caller down, and so that the environment variables that point the profile at a fresh
build file apply to exactly one run. Progress is read from dbt's JSON log lines.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from analysis_py.errors import ConfigError


def dbt_executable() -> str:
    """The ``dbt`` next to this interpreter (the project's venv), else the one on PATH."""
    candidate = Path(sys.executable).with_name("dbt")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("dbt")
    if not found:
        raise ConfigError("dbt is not installed in this environment", hint="run `make install`")
    return found


@dataclass
class NodeResult:
    unique_id: str
    resource_type: str
    status: str
    message: str = ""


@dataclass
class DbtRun:
    """What one dbt invocation did."""

    args: list[str]
    returncode: int
    results: list[NodeResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    log_path: Path | None = None
    #: ``--select``/``--exclude`` criteria that matched no enabled node (dbt only warns).
    unmatched_selectors: list[str] = field(default_factory=list)
    #: dbt found nothing to run (exits 0 without touching the database).
    nothing_to_do: bool = False
    #: nodes dbt said it would run (``ConcurrencyLine``), for progress.
    node_count: int = 0

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def failures(self) -> list[NodeResult]:
        return [r for r in self.results if r.status in {"error", "fail", "runtime error"}]

    def read_log_line(self, line: str) -> tuple[int, int, str] | None:
        """Record one line of dbt's ``--log-format json`` output.

        Returns ``(done, total, label)`` when the line reports a finished node, else None.
        Event names are dbt's (stable across 1.x): ``ConcurrencyLine`` carries the node
        count, ``Log*Result``/``SkippingDetails`` a finished node, and the warnings
        ``NoNodesForSelectionCriteria``/``NothingToDo`` a selection that matched nothing
        (dbt still exits 0 for those).
        """
        event = _parse(line)
        if event is None:
            return None
        info = event.get("info", {})
        name = info.get("name", "")
        data = event.get("data", {})
        if name == "ConcurrencyLine":
            self.node_count = int(data.get("node_count", 0) or 0)
        elif (name.startswith("Log") and name.endswith("Result")) or name == "SkippingDetails":
            node = data.get("node_info", {})
            uid = str(node.get("unique_id", "") or data.get("unique_id", ""))
            status = str(data.get("status") or "").lower()
            if not status:
                status = "skipped" if name == "SkippingDetails" else "noop"
            self.node_count = max(self.node_count, int(data.get("total") or 0))
            self.results.append(
                NodeResult(
                    unique_id=uid,
                    resource_type=uid.split(".", 1)[0],
                    status=status,
                    message=str(data.get("description", "") or node.get("node_name", "")),
                )
            )
            done = len(self.results)
            label = node.get("node_name") or data.get("name") or uid
            return done, max(self.node_count, done), f"{status:<6} {label}"
        elif name == "NoNodesForSelectionCriteria":
            self.unmatched_selectors.append(str(data.get("spec_raw", "")))
        elif name == "NothingToDo":
            self.nothing_to_do = True
        elif info.get("level") == "error" and info.get("msg"):
            self.errors.append(str(info["msg"]))
        return None


ProgressCallback = Callable[[int, int, str], None]


def run_dbt(
    command: Sequence[str],
    *,
    project_dir: Path,
    env: dict[str, str],
    log_path: Path,
    on_progress: ProgressCallback | None = None,
) -> DbtRun:
    """Run ``dbt <command>`` in ``project_dir`` with ``env`` added to the environment.

    ``on_progress(done, total, label)`` is called as nodes finish. The full JSON log is
    written to ``log_path``.
    """
    args = [
        dbt_executable(),
        "--log-format",
        "json",
        "--no-use-colors",
        "--no-send-anonymous-usage-stats",
        *command,
        "--project-dir",
        str(project_dir),
    ]
    if "--profiles-dir" not in command:
        args += ["--profiles-dir", str(project_dir / "profiles")]
    full_env = {**os.environ, **env, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    run = DbtRun(args=args, returncode=-1, log_path=log_path)
    with (
        open(log_path, "w") as log,
        subprocess.Popen(
            args,
            cwd=project_dir,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            preexec_fn=_die_with_parent,
        ) as proc,
    ):
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            finished = run.read_log_line(line)
            if finished is not None and on_progress:
                on_progress(*finished)
        run.returncode = proc.wait()
    return run


def _die_with_parent() -> None:
    """In the dbt child, before exec: be killed when the parent dies (Linux), so a killed
    `opsmetrics build` never leaves dbt writing with the build lock released."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _parse(line: str) -> dict | None:
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return None
