"""Run dbt as a subprocess and show its progress.

dbt is run in a child process (never imported) so that a crash or a hang in dbt cannot take
the caller down, and so that the environment variables that point the profile at a fresh
build file apply to exactly one run. Progress is read from dbt's JSON log lines.
"""

from __future__ import annotations

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

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def failures(self) -> list[NodeResult]:
        return [r for r in self.results if r.status in {"error", "fail", "runtime error"}]


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
    done = 0
    total = 0
    with open(log_path, "w") as log, subprocess.Popen(
        args,
        cwd=project_dir,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            event = _parse(line)
            if event is None:
                continue
            info = event.get("info", {})
            name = info.get("name", "")
            data = event.get("data", {})
            if name == "ConcurrencyLine":
                total = int(data.get("node_count", 0) or 0)
            elif (name.startswith("Log") and name.endswith("Result")) or name == "SkippingDetails":
                node = data.get("node_info", {})
                uid = str(node.get("unique_id", "") or data.get("unique_id", ""))
                status = str(data.get("status") or "").lower()
                if not status:
                    status = "skipped" if name == "SkippingDetails" else "noop"
                total = max(total, int(data.get("total") or 0))
                done += 1
                run.results.append(
                    NodeResult(
                        unique_id=uid,
                        resource_type=uid.split(".", 1)[0],
                        status=status,
                        message=str(data.get("description", "") or node.get("node_name", "")),
                    )
                )
                if on_progress:
                    label = node.get("node_name") or data.get("name") or uid
                    on_progress(done, max(total, done), f"{status:<6} {label}")
            elif info.get("level") == "error" and info.get("msg"):
                run.errors.append(str(info["msg"]))
        run.returncode = proc.wait()
    return run


def _parse(line: str) -> dict | None:
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return None
