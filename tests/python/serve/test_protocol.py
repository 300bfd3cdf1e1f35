"""The extended protocol at the message level: portals with row limits (PortalSuspended),
Describe of statements and portals, Flush, Close, binary parameters and results, errors
that skip to Sync."""

from __future__ import annotations

import struct

import psycopg
import pytest

from tests.python.serve.conftest import PASSWORDS, dsn
from tests.python.serve.pgclient import RawClient, data_rows


@pytest.fixture
def raw(server):
    c = RawClient(server.port, "alice", PASSWORDS["alice"])
    yield c
    c.close_socket()


def test_startup_parameter_status(raw):
    for key in (
        "server_version",
        "client_encoding",
        "DateStyle",
        "TimeZone",
        "integer_datetimes",
        "standard_conforming_strings",
        "server_encoding",
        "IntervalStyle",
        "is_superuser",
        "session_authorization",
        "application_name",
    ):
        assert key in raw.params
    assert raw.params["integer_datetimes"] == "on" and raw.params["client_encoding"] == "UTF8"


def test_portal_row_limit_suspends_and_resumes(raw):
    raw.send(
        raw.parse("", "select payment_id from fct_payments order by 1"),
        raw.bind("p1", ""),
        raw.describe(b"P", "p1"),
        raw.execute("p1", 3),
        raw.FLUSH,
    )
    msgs = raw.until(b"s")
    assert [t for t, _ in msgs] == [b"1", b"2", b"T", b"D", b"D", b"D", b"s"]
    assert [r[0] for r in data_rows(msgs)] == [b"0", b"1", b"2"]
    raw.send(raw.execute("p1", 2), raw.FLUSH)
    msgs = raw.until(b"s")
    assert [r[0] for r in data_rows(msgs)] == [b"3", b"4"]
    raw.send(raw.execute("p1", 0), raw.SYNC)
    msgs = raw.until_ready()
    rows = data_rows(msgs)
    assert len(rows) == 4995 and rows[-1][0] == b"4999"
    assert (b"C", b"SELECT 5000\x00") in msgs


def test_describe_statement_reports_parameters_and_columns(raw):
    raw.send(
        raw.parse("s1", "select client_id, segment from dim_clients where client_id = $1", [23]),
        raw.describe(b"S", "s1"),
        raw.SYNC,
    )
    msgs = raw.until_ready()
    tags = [t for t, _ in msgs]
    assert tags == [b"1", b"t", b"T", b"Z"]
    t_payload = dict(msgs)[b"t"]
    assert struct.unpack("!hi", t_payload) == (1, 23)
    raw.send(
        raw.bind("", "s1", [struct.pack("!i", 3)], pformats=[1], rformats=[1]),
        raw.execute(""),
        raw.close(b"S", "s1"),
        raw.SYNC,
    )
    msgs = raw.until_ready()
    rows = data_rows(msgs)
    assert rows == [[struct.pack("!i", 3), b"Corporate"]]
    assert b"3" in [t for t, _ in msgs]  # CloseComplete


def test_error_skips_to_sync_then_recovers(raw):
    raw.send(raw.parse("", "select * from nope"), raw.bind("", ""), raw.execute(""), raw.SYNC)
    msgs = raw.until_ready()
    tags = [t for t, _ in msgs]
    assert tags == [b"1", b"E", b"Z"]
    assert b"42P01" in msgs[1][1]
    raw.send(raw.parse("", "select 7"), raw.bind("", ""), raw.execute(""), raw.SYNC)
    assert data_rows(raw.until_ready()) == [[b"7"]]


def test_simple_query_empty_and_multi(raw):
    raw.send(b"Q" + struct.pack("!i", 4 + 3) + b";;\x00")
    assert [t for t, _ in raw.until_ready()] == [b"I", b"Z"]
    sql = b"select 1; select 'a', null; show timezone\x00"
    raw.send(b"Q" + struct.pack("!i", 4 + len(sql)) + sql)
    msgs = raw.until_ready()
    assert data_rows(msgs) == [[b"1"], [b"a", None], [b"UTC"]]
    assert [p for t, p in msgs if t == b"C"] == [b"SELECT 1\x00", b"SELECT 1\x00", b"SHOW\x00"]


def test_wrong_password_at_protocol_level(server):
    with pytest.raises(PermissionError, match="28P01"):
        RawClient(server.port, "alice", "nope")


@pytest.mark.parametrize(
    "value", ["2025-06-01 +00", "2025-06-01", "2025-06-01 00:00:00+00", "2025-06-01T00:00:00Z"]
)
def test_untyped_date_in_postgresqls_input_forms(raw, server, value):
    """PgJDBC's setDate sends '2025-06-01 +00' with type 0 and binds without describing: the
    parameter takes the type PostgreSQL infers (the date column it is compared with) and the
    value is read in any of PostgreSQL's date/time input forms."""
    sql = "select count(*) from fct_payments where created_date = $1"
    raw.send(
        raw.parse("", sql, [0]),
        raw.bind("", "", [value.encode()]),
        raw.execute(""),
        raw.SYNC,
    )
    msgs = raw.until_ready()
    assert not [m for t, m in msgs if t == b"E"], msgs
    (got,) = data_rows(msgs)
    with psycopg.connect(dsn(server), autocommit=True) as c:
        ((want,),) = c.execute(
            "select count(*) from fct_payments where created_date = date '2025-06-01'"
        ).fetchall()
    assert int(got[0]) == want > 0


def test_inferred_parameter_types_reveal_nothing_ungranted(server):
    """Type inference describes a probe of the statement through the same guard and grants:
    for a mart the role may not read, the parameter stays text (no column type leaks) and the
    statement itself is refused."""
    carol = RawClient(server.port, "carol", PASSWORDS["carol"])  # granted dim_clients only
    try:
        carol.send(
            carol.parse("s", "select count(*) from fct_payments where amount > $1", [0]),
            carol.describe(b"S", "s"),
            carol.SYNC,
        )
        msgs = carol.until_ready()
        params = [m for t, m in msgs if t == b"t"]
        assert not params or struct.unpack("!hi", params[0]) == (1, 25)
        # the mart does not exist for this role (42P01), as for any statement of hers
        assert any(t == b"E" and (b"C42P01" in m or b"C42501" in m) for t, m in msgs)
    finally:
        carol.close_socket()


def test_set_config_changes_no_setting(raw):
    """set_config is answered (asyncpg calls it) but changes nothing: no lock setting can be
    lifted through it."""
    raw.send(
        raw.parse(
            "",
            "select set_config('enable_external_access', 'true', false), "
            "current_setting('enable_external_access')",
        ),
        raw.bind("", ""),
        raw.execute(""),
        raw.SYNC,
    )
    msgs = raw.until_ready()
    assert not [m for t, m in msgs if t == b"E"], msgs
    ((new, current),) = data_rows(msgs)
    assert new == b"true" and current != b"true"
    raw.send(
        raw.parse("", "select * from read_csv('/etc/passwd')"),
        raw.bind("", ""),
        raw.execute(""),
        raw.SYNC,
    )
    assert any(t == b"E" for t, _m in raw.until_ready())


def _simple(raw, sql: str):
    body = sql.encode() + b"\x00"
    raw.send(b"Q" + struct.pack("!i", 4 + len(body)) + body)
    return raw.until_ready()


def test_cursors_and_bound_portals_share_one_namespace(raw):
    """As in PostgreSQL: a cursor DECLAREd in SQL is a portal the protocol can Execute and
    Describe (continuing where FETCH stopped), and Bind cannot take its name."""
    _simple(raw, "begin")
    _simple(raw, "declare c cursor for select payment_id from fct_payments order by 1")
    assert [r[0] for r in data_rows(_simple(raw, "fetch 2 from c"))] == [b"0", b"1"]
    raw.send(raw.describe(b"P", "c"), raw.execute("c", 2), raw.SYNC)
    msgs = raw.until_ready()
    assert [t for t, _ in msgs][:1] == [b"T"]
    assert [r[0] for r in data_rows(msgs)] == [b"2", b"3"]
    assert [r[0] for r in data_rows(_simple(raw, "fetch 1 from c"))] == [b"4"]
    raw.send(raw.parse("", "select 1"), raw.bind("c", ""), raw.SYNC)
    msgs = raw.until_ready()
    err = next(m for t, m in msgs if t == b"E")
    assert b"42P03" in err and b'cursor "c" already exists' in err
    _simple(raw, "rollback")  # the error aborted the block; the cursor ends with it
    raw.send(raw.execute("c"), raw.SYNC)
    assert b"34000" in next(m for t, m in raw.until_ready() if t == b"E")
