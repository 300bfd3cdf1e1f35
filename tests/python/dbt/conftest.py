"""Fixtures for the dbt project's tests: read-only connections to the shared test warehouse
and SQL helpers that read the raw Parquet landing directly, independently of the models."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest


def raw(raw_dir: Path, source: str, table: str) -> str:
    """A ``read_parquet`` table expression over every landing of one raw table."""
    return f"read_parquet('{raw_dir / source / table}/*.parquet')"


@pytest.fixture(scope="module")
def wh(built_warehouse):
    """Read-only connection to the published warehouse (staging views read the raw files)."""
    con = duckdb.connect(str(built_warehouse.duckdb_path), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="module")
def rawdb(built_warehouse):
    """In-memory DuckDB with one view per raw table (``raw_<table>``), straight from Parquet,
    plus ``real_clients``: latest landing of each client whose test flag is not set, computed
    here without the dbt models."""
    con = duckdb.connect()
    d = built_warehouse.raw_dir
    for source, table in [
        ("crm", "clients"),
        ("crm", "cases"),
        ("crm", "case_events"),
        ("survey_vendor", "csat_responses"),
        ("payments", "payment_instructions"),
        ("market_data", "fx_rates"),
        ("platform", "requests"),
        ("platform", "incidents"),
    ]:
        con.execute(f"create view raw_{table} as select * from {raw(d, source, table)}")
    con.execute(
        """
        create view real_clients as
        select client_id from (
            select client_id, is_test_account,
                   row_number() over (partition by client_id
                                      order by _loaded_at desc, _load_id desc) as rn
            from raw_clients)
        where rn = 1 and coalesce(upper(trim(is_test_account)) not in ('Y', 'TRUE'), true)
        """
    )
    # Client refs: canonical CL000123 or legacy digits; python-side rule, written separately
    # from the dbt macro on purpose.
    con.execute(
        """
        create macro canon_ref(r) as
            case when r like 'CL%' then r else 'CL' || printf('%06d', cast(r as integer)) end
        """
    )
    yield con
    con.close()


def scalar(con: duckdb.DuckDBPyConnection, sql: str):
    return con.execute(sql).fetchone()[0]
