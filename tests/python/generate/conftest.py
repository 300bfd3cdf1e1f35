"""Fixtures: one small generated dataset per test session (scale 0.05, seed 7).

Every test here reads real Parquet files written by the real generator; nothing is mocked.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from analysis_py.generate import generate

SCALE = 0.05
SEED = 7


@pytest.fixture(scope="session")
def raw_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "raw"
    generate(out, scale=SCALE, seed=SEED, progress=False)
    return out


@pytest.fixture(scope="session")
def truth(raw_dir) -> dict:
    import json

    return json.loads((raw_dir / "ground_truth.json").read_text())


@pytest.fixture(scope="session")
def con(raw_dir):
    """DuckDB views over every raw table (all landings, duplicates included)."""
    c = duckdb.connect()
    for source in raw_dir.iterdir():
        if not source.is_dir():
            continue
        for table in source.iterdir():
            c.sql(f"create view {table.name} as select * from read_parquet('{table}/*.parquet')")
    yield c
    c.close()
