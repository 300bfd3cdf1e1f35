"""Analyses on the published Spark build through Ibis's pyspark backend (``--target spark``).

The analyses themselves are engine-agnostic Ibis code; this module only opens their inputs on
Spark: a local session with the published Spark build's tables registered, the dbt manifest of
that build for governance, and SQL filters as Spark temporary views. Metric series come from
the definitions derived from that build's semantic manifest, aggregated by Spark (the semantic
layer's DuckDB connection is not used here), so a spec on simple and rate metrics runs the
same on both engines.
"""

from __future__ import annotations

from pathlib import Path

from analysis_py.analyses.inputs import Inputs, Manifest
from analysis_py.errors import InputError


class SparkInputs(Inputs):
    """Inputs over an Ibis pyspark backend."""

    sql_dialect = "spark"
    _VIEW = "CREATE OR REPLACE TEMPORARY VIEW"


def open_inputs(paths, target: str | None = None) -> SparkInputs:
    """Governed inputs on the published Spark build of ``paths``' warehouse: a local session,
    or through Spark Connect when ``target`` is a cluster target."""
    import ibis

    from analysis_py.warehouse import spark_cluster_build
    from analysis_py.warehouse import spark_target as spark_wh

    if spark_wh.is_cluster_target(paths, target):
        published = spark_cluster_build.current(paths)
        session = spark_cluster_build.remote_session(paths)
    else:
        session, published = spark_wh.published_session(paths, app_name="opsmetrics-analyze")
    manifest_path = published.target_path / "manifest.json"
    if not manifest_path.is_file():
        raise InputError(
            f"the published Spark build has no dbt manifest at {manifest_path}",
            hint=f"rebuild with `opsmetrics build --target {target or 'spark'}`",
        )
    # Manifest.load reads <its argument's parent>/target/manifest.json
    manifest = Manifest.load(paths.project_dir, published.target_path.parent / "warehouse")
    con = ibis.pyspark.connect(session)
    return SparkInputs(con, manifest, version=f"spark:{published.build_id}", semantic=None)


def run_specs(specs, paths, *, write: bool = True, on_done=None, target: str | None = None):
    """Run specs one after another in this process on one Spark session."""
    from analysis_py.analyses import runner

    inputs = open_inputs(paths, target)
    outcomes = []
    for s in specs:
        o = runner.run_one(
            s,
            inputs=inputs,
            project_dir=str(paths.project_dir),
            warehouse_dir=str(Path(paths.warehouse_dir)),
            write=write,
        )
        outcomes.append(o)
        if on_done:
            on_done(o)
    return outcomes
