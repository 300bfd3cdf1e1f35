"""Real clients: the psql binary, SQLAlchemy 2 inspection and reflection, pandas.read_sql."""

from __future__ import annotations

import os
import shutil
import subprocess

import pandas as pd
import pytest
import sqlalchemy as sa

from tests.python.serve.conftest import PASSWORDS, require_driver

PSQL = shutil.which("psql") or "/usr/bin/psql"


def psql(server, *args, user="alice"):
    env = {**os.environ, "PGPASSWORD": PASSWORDS[user], "PGSSLMODE": "disable"}
    return subprocess.run(
        [
            PSQL,
            "-h",
            "127.0.0.1",
            "-p",
            str(server.port),
            "-U",
            user,
            "-d",
            "opsmetrics",
            "-X",
            "-v",
            "ON_ERROR_STOP=1",
            *args,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@require_driver(os.path.exists(PSQL), "psql")
class TestPsql:
    def test_query(self, server):
        p = psql(
            server,
            "-A",
            "-t",
            "-c",
            "select rail, count(*) from fct_payments group by 1 order by 1",
        )
        assert p.returncode == 0, p.stderr
        assert p.stdout.split() == ["ACH|1250", "RTP|1250", "SEPA|1250", "SWIFT|1250"]

    def test_dt_lists_granted_marts_only(self, server):
        p = psql(server, "-c", r"\dt")
        assert p.returncode == 0, p.stderr
        assert "dim_clients" in p.stdout and "fct_payments" in p.stdout
        assert "stg_hidden" not in p.stdout  # not a public mart
        p = psql(server, "-c", r"\dt", user="carol")
        assert "dim_clients" in p.stdout and "fct_payments" not in p.stdout

    def test_describe_table(self, server):
        p = psql(server, "-c", r"\d fct_payments")
        assert p.returncode == 0, p.stderr
        for text in (
            "payment_id",
            "bigint",
            "numeric(18,2)",
            "timestamp without time zone",
            "boolean",
            '"fct_payments_pkey" PRIMARY KEY, btree (payment_id)',
        ):
            assert text in p.stdout, text

    def test_list_databases_and_schemas(self, server):
        p = psql(server, "-c", r"\l")
        assert p.returncode == 0 and "opsmetrics" in p.stdout, p.stderr
        p = psql(server, "-c", r"\dn")
        assert p.returncode == 0 and "main" in p.stdout, p.stderr

    def test_wrong_password_fails(self, server):
        env = {**os.environ, "PGPASSWORD": "wrong", "PGSSLMODE": "disable"}
        p = subprocess.run(
            [
                PSQL,
                "-h",
                "127.0.0.1",
                "-p",
                str(server.port),
                "-U",
                "alice",
                "-d",
                "opsmetrics",
                "-c",
                "select 1",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert p.returncode != 0
        assert 'password authentication failed for user "alice"' in p.stderr


@pytest.fixture(scope="module")
def engine(server):
    eng = sa.create_engine(
        f"postgresql+psycopg://alice:{PASSWORDS['alice']}@127.0.0.1:{server.port}/opsmetrics"
    )
    yield eng
    eng.dispose()


def test_sqlalchemy_inspect(engine):
    insp = sa.inspect(engine)
    assert "main" in insp.get_schema_names()
    assert insp.default_schema_name == "main"
    assert set(insp.get_table_names()) == {"dim_clients", "fct_payments"}
    cols = {c["name"]: c for c in insp.get_columns("fct_payments")}
    assert isinstance(cols["amount"]["type"], sa.Numeric)
    assert (cols["amount"]["type"].precision, cols["amount"]["type"].scale) == (18, 2)
    assert isinstance(cols["created_at"]["type"], sa.DateTime)
    assert cols["payment_id"]["comment"] == "payment_id of fct_payments"
    assert insp.get_pk_constraint("dim_clients")["constrained_columns"] == ["client_id"]
    assert insp.get_foreign_keys("dim_clients") == []
    assert insp.get_table_comment("dim_clients")["text"] == "The dim_clients mart."


def test_sqlalchemy_reflection_and_core_query(engine):
    md = sa.MetaData()
    t = sa.Table("fct_payments", md, autoload_with=engine)
    with engine.connect() as c:
        q = sa.select(t.c.rail, sa.func.count()).group_by(t.c.rail).order_by(t.c.rail)
        assert c.execute(q).all() == [("ACH", 1250), ("RTP", 1250), ("SEPA", 1250), ("SWIFT", 1250)]
        q = sa.select(t.c.payment_id).where(t.c.rail == "RTP", t.c.amount > 100).limit(3)
        assert len(c.execute(q).all()) == 3


def test_pandas_read_sql(engine):
    with engine.connect() as c:
        df = pd.read_sql("select client_id, segment, region from dim_clients order by 1", c)
        assert list(df.columns) == ["client_id", "segment", "region"] and len(df) == 4
        df = pd.read_sql_table("fct_payments", c)
        assert len(df) == 5000 and str(df["created_at"].dtype).startswith("datetime64")
        df = pd.read_sql(
            sa.text("select count(*) as n from fct_payments where rail = :r"),
            c,
            params={"r": "ACH"},
        )
        assert df["n"].iloc[0] == 1250


def test_analysis_results_are_served(server):
    """Analysis result tables (Parquet under <warehouse>/analysis) appear as schema analysis."""
    import psycopg

    from tests.python.serve.conftest import dsn

    with psycopg.connect(dsn(server), autocommit=True) as c:
        names = {
            r[0]
            for r in c.execute(
                "select table_name from information_schema.tables where table_schema = 'analysis'"
            )
        }
        assert "runs" in names
        assert c.execute("select count(*) from analysis.runs").fetchone()[0] >= 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("select * from read_parquet('analysis/runs/*.parquet')")
