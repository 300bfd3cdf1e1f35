"""The local Spark settings: dbt's profile and the readers' sessions agree, and the JVM options
follow the size of the data (docs/spark.md, "Tuning the local session"). No JVM is started."""

from __future__ import annotations

import pytest
import yaml

from analysis_py.warehouse import spark_target as spark_wh
from tests.python.conftest import REPO


def spark_output() -> dict:
    profiles = yaml.safe_load((REPO / "profiles" / "profiles.yml").read_text())
    return next(p["outputs"]["spark"] for p in profiles.values() if "spark" in p["outputs"])


def test_profile_and_reader_sessions_use_the_same_spark_settings():
    params = spark_output()["server_side_parameters"]
    differing = {
        k: (params.get(k), v) for k, v in spark_wh.SESSION_CONF.items() if params.get(k) != v
    }
    assert not differing, differing
    # The JVM options are chosen per build (by data size) through the environment.
    assert spark_wh.JAVA_OPTS_ENV in params["spark.driver.extraJavaOptions"]
    assert spark_output()["threads"] == 2


def test_jvm_options_follow_the_data_size(monkeypatch, tmp_path):
    monkeypatch.delenv(spark_wh.JAVA_OPTS_ENV, raising=False)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "part-0.parquet").write_bytes(b"x" * 1000)
    (tmp_path / "a" / "notes.txt").write_bytes(b"x" * 5000)  # only Parquet counts
    assert spark_wh.parquet_bytes(tmp_path) == 1000
    assert spark_wh.java_opts(1000) == spark_wh.SMALL_DATA_JAVA_OPTS
    assert spark_wh.java_opts(spark_wh.SMALL_DATA_BYTES) == ""  # much data: JVM defaults
    assert spark_wh.java_opts(None) == ""  # unknown size: JVM defaults
    monkeypatch.setenv(spark_wh.JAVA_OPTS_ENV, "")
    assert spark_wh.java_opts(1000) == ""  # the user's choice wins, also an empty one
    monkeypatch.setenv(spark_wh.JAVA_OPTS_ENV, "-Xmx2g")
    assert spark_wh.java_opts(10**12) == "-Xmx2g"


def test_a_selection_build_is_refused_before_anything_runs(tmp_path):
    """The local session's catalog starts empty: a --select build could not see the published
    tables and would publish a partial warehouse, so it is refused with the reason."""
    from analysis_py.config import resolve_paths
    from analysis_py.errors import BuildError

    paths = resolve_paths(project_dir=REPO, data_dir=tmp_path / "raw", warehouse_dir=tmp_path)
    for kw in ({"select": ["fct_cases"]}, {"exclude": ["dim_dates"]}):
        with pytest.raises(BuildError, match="not supported on the local Spark target"):
            spark_wh.build(paths, target="spark", **kw)
    assert list(tmp_path.iterdir()) == []
