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


def test_psycopg2_parameters_cursors_and_copy(server):
    """psycopg 2 (libpq, client-side parameter quoting): parameters of each type, a named
    (server-side) cursor fetched in batches, COPY TO STDOUT, and a list parameter."""
    import datetime as dt
    import decimal
    import io

    psycopg2 = pytest.importorskip("psycopg2")
    conn = psycopg2.connect(
        host="127.0.0.1",
        port=server.port,
        user="alice",
        password=PASSWORDS["alice"],
        dbname="opsmetrics",
        sslmode="disable",
    )
    try:
        cur = conn.cursor()
        cur.execute(
            "select count(*) from fct_payments where rail = %s and amount > %s "
            "and created_at >= %s",
            ("ACH", decimal.Decimal("100.5"), dt.datetime(2025, 1, 1)),
        )
        (n,) = cur.fetchone()
        cur.execute(
            "select count(*) from fct_payments where rail = 'ACH' and amount > 100.5 "
            "and created_at >= timestamp '2025-01-01'"
        )
        assert (n,) == cur.fetchone() and n > 0
        cur.execute("select count(*) from fct_payments where rail = any(%s)", (["ACH", "RTP"],))
        assert cur.fetchone() == (2500,)
        named = conn.cursor(name="batches")  # DECLARE … CURSOR, then FETCH FORWARD n
        named.itersize = 700
        named.execute("select payment_id from fct_payments order by 1")
        assert sum(1 for _ in named) == 5000
        named.close()
        buf = io.StringIO()
        cur.copy_expert(
            "copy (select rail, count(*) from fct_payments group by 1 order by 1) to stdout with csv",
            buf,
        )
        assert buf.getvalue().splitlines() == ["ACH,1250", "RTP,1250", "SEPA,1250", "SWIFT,1250"]
        with pytest.raises(psycopg2.errors.UndefinedTable):
            cur.execute("select * from nope")
        conn.rollback()
        cur.execute("select 1")
        assert cur.fetchone() == (1,)
    finally:
        conn.close()


def test_polars_read_database(server, engine):
    """polars through a SQLAlchemy engine and through a psycopg connection, typed columns."""
    pl = pytest.importorskip("polars")
    import psycopg

    from tests.python.serve.conftest import dsn

    q = "select rail, count(*) as n, sum(amount) as total from fct_payments group by 1 order by 1"
    with engine.connect() as c:
        df = pl.read_database(q, c)
    assert df["rail"].to_list() == ["ACH", "RTP", "SEPA", "SWIFT"]
    assert df["n"].to_list() == [1250] * 4 and df.schema["n"] == pl.Int64
    with psycopg.connect(dsn(server)) as c:
        df2 = pl.read_database(q, c)
        ts = pl.read_database("select created_at from fct_payments limit 3", c)
    assert df2.equals(df)
    assert ts.schema["created_at"] == pl.Datetime("us")
