"""Bad files and odd paths at the CLI: a clear error and exit code, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.python.serve.tiny import make_warehouse

OPSMETRICS = str(Path(sys.executable).with_name("opsmetrics"))


def _run(*args, env_extra):
    return subprocess.run(
        [OPSMETRICS, *args],
        env={**os.environ, "OPSMETRICS_PASSWORD": "x", **env_extra},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("content", [b"not a database\n", b"", os.urandom(4096)])
@pytest.mark.parametrize("command", [["sql", "select 1"], ["serve", "--demo", "--port", "0"]])
def test_a_published_file_that_is_not_duckdb(tmp_path, content, command):
    wh = tmp_path / "wh"
    (wh / "builds").mkdir(parents=True)
    (wh / "builds" / "b1.duckdb").write_bytes(content)
    (wh / "opsmetrics.duckdb").symlink_to("builds/b1.duckdb")
    p = _run(*command, env_extra={"OPSMETRICS_WAREHOUSE_DIR": str(wh)})
    assert p.returncode != 0
    assert "Traceback" not in p.stderr + p.stdout
    assert "cannot be opened as a DuckDB database" in p.stderr, p.stderr


def test_a_warehouse_folder_with_a_quote_in_its_name(tmp_path):
    wh = make_warehouse(tmp_path / "o'brien's")
    p = _run(
        "sql",
        "select count(*) as n from dim_clients",
        env_extra={"OPSMETRICS_WAREHOUSE_DIR": str(wh)},
    )
    assert p.returncode == 0, p.stderr
    assert "4" in p.stdout.split(), p.stdout


@pytest.mark.parametrize(
    "content,message",
    [
        (("a: " + "[" * 5000 + "]" * 5000).encode(), "nested too deeply"),
        (b"case_volume:\n  weekend_factor: \xff\xfe\n", "not UTF-8"),
    ],
    ids=["5000-deep YAML", "non-UTF-8 bytes"],
)
def test_generate_with_a_hostile_effects_file(tmp_path, content, message):
    effects = tmp_path / "effects.yml"
    effects.write_bytes(content)
    out = tmp_path / "raw"
    p = _run(
        "generate", "--scale", "0.01", "--effects", str(effects), "--out", str(out), env_extra={}
    )
    assert p.returncode != 0
    assert message in p.stderr and "Traceback" not in p.stderr + p.stdout
    assert not out.exists() or not any(out.rglob("*.parquet"))  # nothing half-written


def test_a_dangling_published_link_is_named(tmp_path):
    wh = tmp_path / "wh"
    wh.mkdir()
    (wh / "opsmetrics.duckdb").symlink_to("builds/gone.duckdb")
    for command in (["query", "--metrics", "cases_opened"], ["sql", "select 1"]):
        p = _run(*command, env_extra={"OPSMETRICS_WAREHOUSE_DIR": str(wh)})
        assert p.returncode != 0 and "Traceback" not in p.stderr
        assert "dev.duckdb" not in p.stderr
        assert "gone.duckdb" in p.stderr or "no published warehouse" in p.stderr, p.stderr


def _fixture_project(tmp_path) -> Path:
    import shutil

    src = Path(__file__).resolve().parents[2] / "fixtures" / "semantic" / "sl_project"
    dest = tmp_path / "project"
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb*"))
    return dest


def _validate(project: Path):
    return _run(
        "validate",
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        env_extra={"SL_FIXTURE_DUCKDB": str(project / "x.duckdb")},
    )


def test_validate_checks_the_project_and_names_a_metric_cycle(tmp_path):
    project = _fixture_project(tmp_path)
    assert _validate(project).returncode == 0
    yml = project / "models" / "_semantic.yml"
    text = yml.read_text()
    cycle = (
        "  - name: cyc_a\n    label: a\n    type: derived\n    type_params:\n"
        "      expr: cyc_b + 1\n      metrics: [cyc_b]\n"
        "  - name: cyc_b\n    label: b\n    type: derived\n    type_params:\n"
        "      expr: cyc_a + 1\n      metrics: [cyc_a]\n"
    )
    yml.write_text(text.replace("\nmetrics:\n", "\nmetrics:\n" + cycle, 1))
    p = _validate(project)  # the stale target/ of the first run is not what is checked
    assert p.returncode != 0 and "Traceback" not in p.stderr + p.stdout
    assert "cyc_a → cyc_b → cyc_a" in p.stderr and "_semantic.yml" in p.stderr, p.stderr
    assert len(p.stderr.splitlines()) <= 4


def test_validate_names_the_file_of_a_yaml_error(tmp_path):
    project = _fixture_project(tmp_path)
    (project / "models" / "broken.yml").write_text(
        "version: 2\nmodels:\n  - name: x\n    columns: [\n"
    )
    p = _validate(project)
    assert p.returncode != 0 and "Traceback" not in p.stderr
    assert "broken.yml" in p.stderr, p.stderr
