"""COPY (query) TO STDOUT through the real server, read by psycopg and psql.

The output is compared byte for byte, message for message, with a real PostgreSQL server
given the same query (escaping, quoting, NULLs, headers, one CopyData per row), and values
are compared with DuckDB queried directly. Refusals: COPY FROM, TO a file or program,
binary format, writes wrapped in COPY, a role's denied mart; nothing is written anywhere.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import struct
import subprocess
import time

import duckdb
import psycopg
import pytest

from tests.python.serve.conftest import PASSWORDS, dsn, require_driver
from tests.python.serve.pgclient import data_rows
from tests.python.serve.pgref import running_reference

PSQL = shutil.which("psql") or "/usr/bin/psql"

# valid in PostgreSQL and (through the server's rewrite) in DuckDB, rendered identically;
# 13 rows x 40 copies: the first 200 rows take the per-value path, the rest the Arrow path
EDGE_SQL = """
select g.n, t.k, t.s, t.i, t.d::numeric(10, 2) as d, t.b, t.dt, t.ts, t.f::float8 as f,
       date '2024-01-01' + t.k as dk, t.k % 2 = 0 as even, 'EU-R' as code
from (values
  (1, 'plain', 1, 1.50, true, date '2024-01-31', timestamp '2024-01-31 12:34:56', 0.1),
  (2, 'tab' || chr(9) || 'x', -7, -0.01, false, date '1999-12-31',
   timestamp '2000-01-01 00:00:00.5', -0.00000025),
  (3, 'nl' || chr(10) || 'cr' || chr(13) || 'end', null, null, null, null, null, null),
  (4, 'back\\slash \\N', 0, 0, true, date '2000-02-29', timestamp '1970-01-01 00:00:00', 0),
  (5, 'quote"d, comma', 2147483647, 99999999.99, false, date '0999-12-31',
   timestamp '2262-04-11 23:47:16.123456', 10000000000000000),
  (6, '', -2147483648, -99999999.99, true, date '9999-12-31', timestamp '2024-06-01 00:00:01',
   1.5),
  (7, 'ünïcödé ✓ 日本', 42, 0.05, null, date '2024-01-01', null, 123456.789),
  (8, null, null, 1, true, null, timestamp '2024-01-01 00:00:00', null),
  (9, '\\N', 5, 2, false, date '2024-01-02', timestamp '2024-01-02 03:04:05', 2),
  (10, '\\.', 6, 3, true, date '2024-01-03', timestamp '2024-01-03 03:04:05', 3),
  (11, 'semi;colon|pipe''apos', 7, 4, false, date '2024-01-04', timestamp '2024-01-04 03:04:05', 4),
  (12, chr(8) || chr(11) || chr(12) || chr(1) || 'ctl', 8, 5, true, date '2024-01-05',
   timestamp '2024-01-05 03:04:05', 5),
  (13, 'NULL', 9, 6, false, date '2024-01-06', timestamp '2024-01-06 03:04:05', 6)
) as t(k, s, i, d, b, dt, ts, f)
cross join generate_series(1, 40) as g(n)
order by g.n, t.k
"""

OPTIONS = [
    "",
    "with (format text)",
    "with (format csv, header)",
    "with csv header",
    "with (format csv, delimiter ';', null 'NULL', force_quote *)",
    "with (format csv, quote '''', escape '\\', header true)",
    "with (format text, delimiter '|', null '', header)",
    "with (format text, delimiter ',')",
    "with (format csv, header false, force_quote (s, d))",
    "with delimiter as ';' null as 'nil'",
    "(format csv, encoding 'UTF8')",
    "with (format text, delimiter '-')",
    "with (format csv, delimiter '-', header)",
    "with (format csv, null 'EU-R')",
    "with (format text, null 't')",
]


@pytest.fixture(scope="module")
def pgref():
    with running_reference() as ref:
        yield ref


@pytest.fixture
def conn(server):
    with psycopg.connect(dsn(server), autocommit=True) as c:
        yield c


def copy_messages(conn, sql: str, params=None) -> tuple[list[bytes], int]:
    """Every CopyData payload as received (one per message) and the COPY row count."""
    cur = conn.cursor()
    with cur.copy(sql, params) as cp:
        blocks = [bytes(b) for b in cp]
    return blocks, cur.rowcount


def same_messages_as_postgresql(server, pgref, sql: str) -> int:
    """Run ``sql`` on both servers; every CopyData message must be byte-identical (one per
    row, plus the header's). Returns the row count both reported."""
    with psycopg.connect(pgref.dsn, autocommit=True) as pg:
        expected, n_pg = copy_messages(pg, sql)
    with psycopg.connect(dsn(server), autocommit=True) as c:
        got, n = copy_messages(c, sql)
    assert n == n_pg
    assert len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        assert g == e, f"message {i}: {g!r} != {e!r}"
    return n


@pytest.mark.parametrize("options", OPTIONS)
def test_bytes_match_postgresql(server, pgref, options):
    n = same_messages_as_postgresql(server, pgref, f"copy ({EDGE_SQL}) to stdout {options}")
    assert n == 13 * 40


def result_types(conn, query: str) -> list[int]:
    """The type OIDs the server reports for a query (what ``set_types`` needs)."""
    return [d.type_code for d in conn.execute(f"select * from ({query}) t limit 0").description]


BINARY_QUERIES = [
    EDGE_SQL.replace("select g.n,", "select g.n::int4 as n,", 1),
    "select 1::int4 as a where false",  # header and trailer in one message
    "select 'x'::text as s, null::int8 as n, 2.5::float8 as f",
]


@pytest.mark.parametrize("query", BINARY_QUERIES, ids=["edge", "empty", "small"])
def test_binary_bytes_match_postgresql(server, pgref, query):
    same_messages_as_postgresql(server, pgref, f"copy ({query}) to stdout with (format binary)")


def test_copy_table_form_and_column_list(conn, server):
    whole, n = copy_messages(conn, "copy dim_clients to stdout")
    assert n == 4 and whole[0].startswith(b"1\tAcme Bank\tacme@example.com\tCorporate\tEMEA\tGB")
    some, _ = copy_messages(conn, 'copy main.dim_clients (client_id, "region") to stdout csv')
    assert some == [b"1,EMEA\n", b"2,AMER\n", b"3,EMEA\n", b"4,APAC\n"]


@pytest.mark.parametrize("options", ["", " (format binary)"], ids=["text", "binary"])
def test_rows_with_types_equal_duckdb(conn, server, options):
    q = "select * from fct_payments order by payment_id"
    types = result_types(conn, q)
    cur = conn.cursor()
    with cur.copy(f"copy ({q}) to stdout{options}") as cp:
        cp.set_types(types)
        rows = list(cp.rows())
    db = duckdb.connect(str(server.warehouse_dir / "opsmetrics.duckdb"), read_only=True)
    try:
        expected = db.execute(q).fetchall()
    finally:
        db.close()
    assert len(rows) == len(expected) == 5000
    assert rows == expected


def test_blocks_parse_as_csv_into_the_same_dataframe(conn, server):
    import pandas as pd

    q = "select payment_id, created_at, rail, amount, is_stp, repair_minutes from fct_payments"
    buf = io.BytesIO()
    with conn.cursor().copy(f"copy ({q} order by 1) to stdout with (format csv, header)") as cp:
        for block in cp:
            buf.write(block)
    buf.seek(0)
    df = pd.read_csv(buf, parse_dates=["created_at"])
    db = duckdb.connect(str(server.warehouse_dir / "opsmetrics.duckdb"), read_only=True)
    try:
        ref = db.execute(f"{q} order by 1").df()
    finally:
        db.close()
    assert list(df.columns) == list(ref.columns)
    assert len(df) == 5000
    assert (df["payment_id"] == ref["payment_id"]).all()
    assert (df["created_at"] == ref["created_at"]).all()
    assert (df["rail"] == ref["rail"]).all()
    assert (df["amount"] == ref["amount"].astype(float)).all()
    assert df["is_stp"].map({"t": True, "f": False}).tolist() == ref["is_stp"].tolist()
    assert df["repair_minutes"].isna().sum() == ref["repair_minutes"].isna().sum() == 4500


def test_empty_result_and_header_only(conn):
    assert copy_messages(conn, "copy (select * from dim_clients where false) to stdout") == ([], 0)
    blocks, n = copy_messages(
        conn, "copy (select client_id, region from dim_clients where false) to stdout csv header"
    )
    assert (blocks, n) == ([b"client_id,region\n"], 0)


def test_extended_protocol_with_parameters(conn):
    # psycopg sends a COPY with parameters through Parse/Bind/Execute
    blocks, n = copy_messages(
        conn,
        "copy (select payment_id, rail from fct_payments where payment_id < %s and rail = %s "
        "order by 1) to stdout (format csv)",
        (9, "ACH"),
    )
    assert (blocks, n) == ([b"1,ACH\n", b"5,ACH\n"], 2)


def test_role_restrictions_apply_inside_copy(server):
    with psycopg.connect(dsn(server, user="carol"), autocommit=True) as c:
        with pytest.raises(psycopg.errors.UndefinedTable):
            copy_messages(c, "copy fct_payments to stdout")
        with pytest.raises(psycopg.errors.UndefinedTable):
            copy_messages(c, "copy (select * from fct_payments) to stdout")
        masked, _ = copy_messages(c, "copy (select contact_email from dim_clients) to stdout")
        assert set(masked) == {b"****\n", b"\\N\n"}  # PII masked, NULL stays NULL
    with psycopg.connect(dsn(server, user="bob"), autocommit=True) as c:
        regions, n = copy_messages(c, "copy (select region from dim_clients) to stdout")
        assert set(regions) == {b"EMEA\n"} and n == 2  # the row policy holds
        _, n = copy_messages(c, "copy fct_payments (payment_id) to stdout")
        assert n == 2500


REFUSED = [
    ("copy (select 1) to program 'touch {marker}'", psycopg.errors.InsufficientPrivilege),
    ("copy dim_clients to '{marker}'", psycopg.errors.InsufficientPrivilege),
    ("copy (select 1) to '{marker}' with csv", psycopg.errors.InsufficientPrivilege),
    ("copy (select 1) to E'{marker}'", psycopg.errors.InsufficientPrivilege),
    ("copy dim_clients from stdin", psycopg.errors.ReadOnlySqlTransaction),
    ("copy dim_clients from '{marker}'", psycopg.errors.ReadOnlySqlTransaction),
    ("copy dim_clients from program 'touch {marker}'", psycopg.errors.ReadOnlySqlTransaction),
    ("copy (delete from fct_payments returning *) to stdout", psycopg.errors.ReadOnlySqlTransaction),
    ("copy (insert into dim_clients values (9) returning *) to stdout", psycopg.errors.ReadOnlySqlTransaction),
    ("copy (select 1) to stdout (format binary, header)", psycopg.errors.SyntaxError),
    ("copy (select array[1, 2] as a) to stdout binary", psycopg.errors.FeatureNotSupported),
    ("copy (select * from read_csv('/etc/passwd')) to stdout", psycopg.errors.InsufficientPrivilege),
    ("copy (attach '{marker}' as x) to stdout", psycopg.errors.InsufficientPrivilege),
    ("copy (set threads = 1) to stdout", psycopg.errors.InsufficientPrivilege),
    ("copy (copy (select 1) to '{marker}') to stdout", psycopg.errors.ReadOnlySqlTransaction),
    ("copy (select 1) to stdout (delimiter 'ab')", psycopg.errors.SyntaxError),
    ("copy (select 1) to stdout (format csv, quote ',')", psycopg.errors.SyntaxError),
    ("copy (select 1) to stdout (quote '\"')", psycopg.errors.FeatureNotSupported),
    ("copy (select 1) to stdout (bogus 1)", psycopg.errors.SyntaxError),
    ("copy (select 1) to stdout (format csv, force_quote (nope))", psycopg.errors.UndefinedColumn),
    ("copy (select 1", psycopg.errors.SyntaxError),
    ("copy (select * from _sem.dim_clients) to stdout", psycopg.errors.InsufficientPrivilege),
    ("copy duckdb_tables to stdout", psycopg.errors.InsufficientPrivilege),
    ("copy stg_hidden to stdout", psycopg.errors.UndefinedTable),
    ("copy read_csv('/etc/passwd') to stdout", psycopg.errors.SyntaxError),
    ('copy "/etc/passwd" to stdout', psycopg.errors.InsufficientPrivilege),
    ("copy gen_1.main.fct_payments to stdout", psycopg.errors.InsufficientPrivilege),
]  # fmt: skip


@pytest.mark.parametrize("template,error", REFUSED, ids=[t[:40] for t, _ in REFUSED])
def test_refused_and_nothing_written(conn, tmp_path, template, error):
    marker = tmp_path / "x"
    with pytest.raises(error) as info:
        copy_messages(conn, template.format(marker=marker))
    assert not marker.exists()
    assert conn.execute("select count(*) from fct_payments").fetchone() == (5000,)
    assert conn.execute("select count(*) from dim_clients").fetchone() == (4,)
    if "to stdout" not in template and " from " not in template:
        assert "STDOUT" in (info.value.diag.message_hint or "")


def test_refused_in_simple_protocol_too(conn, tmp_path):
    marker = tmp_path / "y"
    # pgconn.exec_ sends a simple Query message, as psql does
    res = conn.pgconn.exec_(f"copy (select 1) to program 'touch {marker}'".encode())
    assert res.error_field(psycopg.pq.DiagnosticField.SQLSTATE) == b"42501"
    res = conn.pgconn.exec_(b"copy (select 1; delete from fct_payments) to stdout")
    assert res.error_field(psycopg.pq.DiagnosticField.SQLSTATE) == b"42601"
    assert not marker.exists()
    assert conn.execute("select count(*) from fct_payments").fetchone() == (5000,)


def test_statement_timeout_applies(conn):
    conn.execute("set statement_timeout = '200ms'")
    with pytest.raises(psycopg.errors.QueryCanceled):
        copy_messages(
            conn,
            "copy (select sum(a.k * b.k) from generate_series(1, 300000) as a(k), "
            "generate_series(1, 300000) as b(k)) to stdout",
        )
    conn.execute("set statement_timeout = 0")
    assert copy_messages(conn, "copy (select 1) to stdout") == ([b"1\n"], 1)


def test_client_abandoning_a_large_copy(conn, server):
    big = "copy (select a.*, g.k from fct_payments a, generate_series(1, 20) as g(k)) to stdout"
    cur = conn.cursor()
    with pytest.raises(RuntimeError, match="enough"), cur.copy(big) as cp:
        for i, _block in enumerate(cp):
            if i == 1000:
                raise RuntimeError("enough")  # psycopg cancels and drains the rest
    assert conn.execute("select count(*) from dim_clients").fetchone() == (4,)
    logged = [json.loads(x) for x in (server.tmp / "queries.jsonl").read_text().splitlines()]
    errors = [r["error"] for r in logged if r["sql"] == big and r.get("error")]
    assert all(e.startswith("57014") for e in errors), errors  # cancelled, not an internal error

    # a client that vanishes mid-copy: its connection is cleaned up, the others are served
    before = server.server.active
    _vanish_mid_copy(server, big)
    for _ in range(100):
        if server.server.active == before:
            break
        time.sleep(0.05)
    assert server.server.active == before
    with psycopg.connect(dsn(server), autocommit=True) as other:
        assert copy_messages(other, "copy (select 2) to stdout") == ([b"2\n"], 1)
    assert conn.execute("select 1").fetchone() == (1,)


def _vanish_mid_copy(server, sql: str) -> None:
    """Log in with psycopg, send a COPY by hand on its socket, read a little, hang up."""
    c = psycopg.connect(dsn(server), autocommit=True)
    sock = socket.socket(fileno=os.dup(c.pgconn.socket))
    sock.setblocking(True)
    sock.settimeout(30)
    payload = sql.encode() + b"\x00"
    sock.sendall(b"Q" + struct.pack("!i", len(payload) + 4) + payload)
    assert sock.recv(1) == b"H"  # CopyOutResponse
    assert sock.recv(65536)
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()
    c.close()


@require_driver(os.path.exists(PSQL), "psql")
def test_psql_copy_to_stdout_and_backslash_copy(server, pgref, tmp_path):
    env = {**os.environ, "PGPASSWORD": PASSWORDS["alice"], "PGSSLMODE": "disable"}
    ours = tmp_path / "ours.csv"
    theirs = tmp_path / "theirs.csv"
    q = EDGE_SQL.replace("\n", " ")
    cmd = rf"\copy ({q}) to '{{}}' with csv header"
    conn_ours = ["-h", "127.0.0.1", "-p", str(server.port), "-U", "alice", "-d", "opsmetrics"]
    conn_ref = ["-h", str(pgref.root), "-p", str(pgref.port), "-U", "postgres", "-d", "postgres"]
    out = {}
    for name, args, path in (("ours", conn_ours, ours), ("ref", conn_ref, theirs)):
        run = [PSQL, "-X", "-v", "ON_ERROR_STOP=1", "-q", *args, "-c", cmd.format(path)]
        p = subprocess.run(
            [*run, "-c", f"copy ({q}) to stdout"], env=env, capture_output=True, timeout=60
        )
        assert p.returncode == 0, p.stderr
        out[name] = p.stdout
    assert ours.read_bytes() == theirs.read_bytes()
    assert out["ours"] == out["ref"] and out["ours"].count(b"\n") >= 13 * 40


def test_copy_is_logged(server, conn):
    copy_messages(conn, "copy (select 'logged-copy' as x) to stdout")
    lines = (server.tmp / "queries.jsonl").read_text().splitlines()
    recs = [json.loads(x) for x in lines if "logged-copy" in x]
    assert recs and recs[-1]["kind"] == "copy" and recs[-1]["rows"] == 1


def test_server_row_limit_applies_to_copy(server, tmp_path):
    from analysis_py.serve.run import start_in_thread
    from tests.python.serve.conftest import serve_config

    limited = start_in_thread(serve_config(tmp_path, max_rows=300), server.warehouse_dir)
    try:
        with psycopg.connect(dsn(limited), autocommit=True) as c:
            notices = []
            c.add_notice_handler(lambda d: notices.append(d.message_primary))
            blocks, n = copy_messages(c, "copy fct_payments to stdout with csv")
            assert n == len(blocks) == 300
            assert notices == ["result truncated to 300 rows (server row limit)"]
    finally:
        limited.stop()


def test_extended_protocol_message_sequence(server):
    """Parse/Describe/Bind/Execute of a COPY, message by message: Describe answers NoData
    (a COPY returns no row description), Execute streams CopyOutResponse, one CopyData per
    row, CopyDone and CommandComplete ``COPY n``."""
    from tests.python.serve.pgclient import RawClient, _msg

    raw = RawClient(server.port, "alice", PASSWORDS["alice"])
    try:
        sql = "copy (select client_id from dim_clients where client_id <= $1 order by 1) to stdout"
        raw.send(
            raw.parse("s1", sql, [23]),
            raw.describe(b"S", "s1"),
            raw.bind("p1", "s1", [b"2"]),
            raw.describe(b"P", "p1"),
            raw.execute("p1", 1),  # a row limit does not apply to COPY, as in PostgreSQL
            raw.SYNC,
        )
        msgs = raw.until_ready()
        tags = [t for t, _ in msgs]
        assert tags == [b"1", b"t", b"n", b"2", b"n", b"H", b"d", b"d", b"c", b"C", b"Z"]
        assert msgs[5][1] == b"\x00\x00\x01\x00\x00"  # text overall, one text column
        assert [p for t, p in msgs if t == b"d"] == [b"1\n", b"2\n"]
        assert msgs[9][1] == b"COPY 2\x00"
        # CopyData / CopyDone / CopyFail outside COPY FROM are ignored, as PostgreSQL does
        raw.send(_msg(b"d", b"junk"), _msg(b"c", b""), _msg(b"Q", b"select 7\x00"))
        assert [r[0] for r in data_rows(raw.until_ready())] == [b"7"]
    finally:
        raw.close_socket()
