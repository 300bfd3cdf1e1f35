"""psycopg 3 against the real server: simple and extended protocol, typed parameters in text
and binary formats, server-side cursors, transactions, errors with SQLSTATEs."""

from __future__ import annotations

import datetime as dt
import decimal

import psycopg
import pytest

from tests.python.serve.conftest import dsn


@pytest.fixture
def conn(server):
    with psycopg.connect(dsn(server), autocommit=True) as c:
        yield c


def test_simple_query_and_types(conn):
    row = conn.execute(
        "select 1::int, 2::bigint, 1.5::float8, 12.34::numeric(10,2), 'x'::text, true, "
        "date '2025-03-01', timestamp '2025-03-01 10:11:12.5', null::int"
    ).fetchone()
    assert row == (
        1,
        2,
        1.5,
        decimal.Decimal("12.34"),
        "x",
        True,
        dt.date(2025, 3, 1),
        dt.datetime(2025, 3, 1, 10, 11, 12, 500000),
        None,
    )


def test_multi_statement_simple_query(conn):
    cur = conn.cursor()
    cur.execute("select 1 as a; select 2 as b, 3 as c")
    assert cur.fetchall() == [(1,)]
    assert cur.nextset()
    assert cur.fetchall() == [(2, 3)]


@pytest.mark.parametrize("binary", [False, True])
def test_parameters_of_each_type(conn, binary):
    values = (
        42,
        2**40,
        decimal.Decimal("1234.50"),
        "EMEA",
        dt.date(2025, 1, 31),
        dt.datetime(2025, 1, 31, 23, 59, 58),
        True,
        0.25,
    )
    cur = conn.cursor(binary=binary)
    cur.execute("select %s, %s, %s, %s, %s, %s, %s, %s", values)
    got = cur.fetchone()
    assert got[0] == 42 and got[1] == 2**40 and decimal.Decimal(got[2]) == values[2]
    assert got[3:] == values[3:]


def test_parameters_filter_a_mart(conn):
    n = conn.execute(
        "select count(*) from fct_payments where rail = %s and created_date >= %s",
        ("SWIFT", dt.date(2025, 6, 1)),
    ).fetchone()[0]
    direct = conn.execute(
        "select count(*) from fct_payments where rail = 'SWIFT' "
        "and created_date >= date '2025-06-01'"
    ).fetchone()[0]
    assert n == direct > 0


def test_prepared_statement_reuse(conn):
    for i in range(5):
        assert conn.execute("select %s::int + 1", (i,), prepare=True).fetchone() == (i + 1,)


def test_server_side_cursor_streams_in_batches(server):
    # not autocommit: DECLARE needs a transaction
    with psycopg.connect(dsn(server)) as c, c.cursor(name="big") as cur:
        cur.itersize = 700
        cur.execute("select payment_id, amount from fct_payments order by payment_id")
        ids = [r[0] for r in cur]
    assert ids == list(range(5000))


def test_row_limited_portal_fetch(conn):
    cur = conn.cursor()
    cur.execute("select payment_id from fct_payments order by 1")
    assert len(cur.fetchmany(10)) == 10
    assert len(cur.fetchall()) == 4990


def test_large_result_uses_arrow_path(conn):
    rows = conn.execute(
        "select payment_id, created_at, amount, is_stp, repair_minutes, rail "
        "from fct_payments order by payment_id"
    ).fetchall()
    assert len(rows) == 5000
    assert rows[4999][0] == 4999 and isinstance(rows[4999][1], dt.datetime)
    assert rows[10][4] == 10 and rows[11][4] is None and rows[11][3] is True


def test_transactions_and_savepoints(server):
    with psycopg.connect(dsn(server)) as c:
        c.execute("select 1")
        c.execute("savepoint s1")
        with pytest.raises(psycopg.errors.UndefinedTable):
            c.execute("select * from no_such_table")
        c.rollback()
        assert c.execute("select 2").fetchone() == (2,)
        c.commit()


def test_aborted_transaction_refuses_until_rollback(server):
    with psycopg.connect(dsn(server)) as c:
        with pytest.raises(psycopg.errors.UndefinedTable):
            c.execute("select * from nope")
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            c.execute("select 1")
        c.rollback()
        assert c.execute("select 1").fetchone() == (1,)


def test_set_show_and_parameter_status(conn):
    conn.execute("set application_name = 'tests'")
    assert conn.info.parameter_status("application_name") == "tests"
    assert conn.execute("show application_name").fetchone() == ("tests",)
    assert conn.execute("show server_version").fetchone()[0].startswith("15")
    assert conn.info.server_version >= 150000
    assert "PostgreSQL" in conn.execute("select version()").fetchone()[0]


def test_errors_carry_sqlstate(conn):
    with pytest.raises(psycopg.errors.SyntaxError):
        conn.execute("selec 1")
    with pytest.raises(psycopg.errors.UndefinedColumn):
        conn.execute("select nope from dim_clients")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("select * from read_csv('/etc/passwd')")
    assert conn.execute("select 1").fetchone() == (1,)


def test_cancel_interrupts_a_long_query(server):
    import threading

    with psycopg.connect(dsn(server), autocommit=True) as c:
        # cancel_safe: the blocking libpq cancel holds the GIL, and this server shares the process
        t = threading.Timer(0.5, c.cancel_safe)
        t.start()
        with pytest.raises(psycopg.errors.QueryCanceled):
            c.execute("select count(*) from range(100000000000) a")
        assert c.execute("select 1").fetchone() == (1,)


def test_large_binary_result_matches_text(conn):
    sql = (
        "select payment_id, client_id, created_date, created_at, rail, amount, amount_usd, "
        "is_stp, repair_minutes from fct_payments order by payment_id"
    )
    text = conn.execute(sql).fetchall()
    binary = conn.cursor(binary=True).execute(sql).fetchall()
    assert len(binary) == 5000 and binary == text


def test_arrays_in_binary_are_postgresqls_array_send(conn):
    """A binary result array is PostgreSQL's binary array (dimensions, NULL flag, element
    type, bounds, elements), not its text form: psycopg decodes it by that layout."""
    with conn.cursor(binary=True) as cur:
        got = cur.execute(
            "select array[1, 2, 3], array[1.5, null]::float8[], array['a', null], "
            "array[]::int[], array[true, false]"
        ).fetchone()
    assert got == ([1, 2, 3], [1.5, None], ["a", None], [], [True, False])
    for binary in (False, True):  # a list of lists: one int4[] of two dimensions
        with conn.cursor(binary=binary) as cur:
            cur.execute("select array[[1, 2], [3, null]]")
            assert cur.description[0].type_code == 1007
            assert cur.fetchone() == ([[1, 2], [3, None]],)


@pytest.mark.parametrize("binary", [False, True])
def test_list_parameters(conn, binary):
    """A Python list is an array parameter: = ANY(%s) and <> ALL(%s), strings (sent untyped,
    typed from the column as PostgreSQL does) and ints, empty included; pgcli's completion
    queries use the same form."""
    with conn.cursor(binary=binary) as cur:

        def one(sql, *params):
            return cur.execute(sql, params).fetchall()[0][0]

        total = one("select count(*) from fct_payments")
        swift_ach = one("select count(*) from fct_payments where rail in ('SWIFT', 'ACH')")
        assert one("select count(*) from fct_payments where rail = any(%s)", ["SWIFT", "ACH"]) == (
            swift_ach
        )
        assert one("select count(*) from fct_payments where rail = any(%s)", []) == 0
        assert one("select count(*) from fct_payments where rail <> all(%s)", ["SWIFT", "ACH"]) == (
            total - swift_ach
        )
        assert one("select count(*) from fct_payments where payment_id = any(%s)", [1, 2, 3]) == 3
        assert one("select %s::int[]", [1, None, 3]) == [1, None, 3]
