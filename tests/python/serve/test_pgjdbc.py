"""PgJDBC (Debian's libpostgresql-jdbc-java, as DBeaver, Metabase and Tableau load it) against
the server over the project's warehouse: prepared statements with every common setter and
prepareThreshold=1, metadata before execution, DatabaseMetaData, and the simple query mode.
``.ci/run`` installs the driver; elsewhere the test skips unless ``OPSMETRICS_REQUIRE_DRIVERS=1``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.python.serve.conftest import (
    probe_rows,
    require_driver,
    run_probe,
    warehouse_rows,
)

JAR = Path("/usr/share/java/postgresql.jar")
PROBE = Path(__file__).with_name("jdbc") / "PgJdbcProbe.java"
pytestmark = require_driver(
    JAR.is_file() and shutil.which("java") is not None,
    "PgJDBC (libpostgresql-jdbc-java) with Java",
)


@pytest.fixture(scope="module")
def probe(built_warehouse):
    return run_probe(built_warehouse, ["java", "-cp", str(JAR), str(PROBE)])


_ok = probe_rows


def test_semantic_sql_prepared_on_the_server(probe):
    rows = _ok(probe, "semantic_prepared_threshold_1")
    assert [r[0] for r in rows] == ["EMEA"] and 0.5 < rows[0][1] <= 1
    assert _ok(probe, "simple_mode_execute") == rows


def test_metadata_before_execution(probe):
    assert _ok(probe, "semantic_metadata_before_execute") == [[2, "client__region", 1, "text"]]


def test_setters_give_duckdbs_counts(probe, built_warehouse):
    ((n,),) = warehouse_rows(
        built_warehouse,
        "select count(*) from main.fct_payments where repair_minutes > 5 and amount_usd > 10.5 "
        "and amount_usd < 1000000000",
    )
    assert _ok(probe, "set_int_long_decimal") == [[n]]
    ((n,),) = warehouse_rows(
        built_warehouse,
        "select count(*) from main.fct_payments where cast(created_at as date) = date '2025-06-02'",
    )
    assert _ok(probe, "set_date") == [[n]]
    ((n,),) = warehouse_rows(
        built_warehouse,
        "select count(*) from main.fct_payments where created_at >= timestamp '2025-06-01'",
    )
    assert _ok(probe, "set_timestamp") == [[n]]


def test_database_metadata(probe):
    rows = _ok(probe, "database_metadata_tables_columns")
    assert ["table", "fct_payments"] in rows
    assert any(r[0] == "column" and r[1] == "payment_id" for r in rows)


def test_simple_mode_metadata_before_execute_fails_as_in_postgresql(probe):
    """PostgreSQL 15 answers this with a syntax error too (PgJDBC sends the '?' as written);
    what matters is a syntax-class SQLSTATE and a connection that keeps working."""
    ((state, one),) = _ok(probe, "simple_mode_metadata_before_execute")
    assert state.startswith("42") and one == 1


def test_index_info_names_the_key_column(probe):
    """getIndexInfo's COLUMN_NAME is the column (pg_get_indexdef(index, n, pretty)), not the
    whole CREATE INDEX; getPrimaryKeys agrees."""
    rows = _ok(probe, "index_info_and_keys")
    assert ["index", "fct_cases_pkey", "case_id", 1] in rows
    assert ["pk", "case_id"] in rows
    # foreign keys from the project's relationships tests: DBeaver draws them, Metabase and
    # Tableau suggest the joins
    assert ["imported", "client_id", "dim_clients", "client_id", "fct_cases_client_id_fkey"] in rows
    exported = {tuple(r[1:]) for r in rows if r[0] == "exported"}
    assert {("fct_cases", "client_id"), ("fct_payments", "client_id")} <= exported


def test_result_columns_know_their_table_and_nullability(probe):
    """RowDescription carries the table OID and column number, so PgJDBC names the table and
    reads NOT NULL from pg_attribute: case_id is the primary key (never NULL), closed_at is
    nullable, a computed column has no table (isNullable unknown = 2)."""
    assert _ok(probe, "result_metadata_origins") == [
        ["case_id", "fct_cases", 0],
        ["closed_at", "fct_cases", 1],
        ["one", "", 2],
    ]
