"""Result encoding: the column-wise Arrow encoder (large results) must send exactly the bytes
the per-value encoder (the first rows of every result, small results) sends, for every type
a mart can hold, NULLs and edge values included, in text and binary format."""

from __future__ import annotations

import datetime as dt
import decimal

import duckdb
import psycopg
import pyarrow as pa
import pytest

from analysis_py.pg import types as pgtypes
from analysis_py.serve import wire
from tests.python.serve.conftest import dsn

# one row per line; every column has NULLs, edge values, and values of differing widths
EVERY_TYPE = """
select * from (values
 ('a', 1::TINYINT, 1::SMALLINT, 1::INTEGER, 1::BIGINT, 1.5::DECIMAL(18,2),
  0.1::DOUBLE, true, DATE '2024-01-01', TIMESTAMP '2024-01-01 02:06:08',
  TIMESTAMPTZ '2024-01-01 02:06:08+00', TIME '01:02:03', 'x'::BLOB, 1::HUGEINT,
  INTERVAL 1 DAY, [1, 2], '0c0f63d0-6d76-4a47-8a11-03d6e1d6e2a5'::UUID, 1.25::DECIMAL(38,10)),
 ('', (-128)::TINYINT, (-32768)::SMALLINT, (-2147483648)::INTEGER,
  (-9223372036854775808)::BIGINT, -0.01::DECIMAL(18,2), 'nan'::DOUBLE, false,
  DATE '0999-12-31', TIMESTAMP '2024-01-01 02:06:08.5', TIMESTAMPTZ '2024-06-01 02:06:08.123+02',
  TIME '23:59:59.5', ''::BLOB, 170141183460469231731687303715884105727::HUGEINT,
  INTERVAL '1 day 02:03:04.5', [], NULL, -0.0000000001::DECIMAL(38,10)),
 ('ünï,"q"\\ {}', 127::TINYINT, 32767::SMALLINT, 2147483647::INTEGER,
  9223372036854775807::BIGINT, 9999999999999999.99::DECIMAL(18,2), '-inf'::DOUBLE, NULL,
  DATE '9999-12-31', TIMESTAMP '1969-12-31 23:59:59', TIMESTAMPTZ '1900-01-01 00:00:00+00',
  TIME '00:00:00', NULL, NULL, NULL, NULL, NULL, NULL),
 (NULL, NULL, NULL, NULL, NULL, NULL, 1e16::DOUBLE, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, [NULL, 3], NULL, NULL),
 (NULL, 0, 0, 0, 0, 0::DECIMAL(18,2), 1e-7, true, DATE '1970-01-01',
  TIMESTAMP '2000-01-01 00:00:00.000001', NULL, NULL, NULL, 0, INTERVAL 0 SECOND, NULL, NULL,
  0::DECIMAL(38,10)),
 ('z', 0, 0, 0, 0, 123.40::DECIMAL(18,2), -0.0, false, DATE '2000-02-29',
  TIMESTAMP '2262-04-11 23:47:16', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 ('z', 0, 0, 0, 0, 123.40::DECIMAL(18,2), 1.7976931348623157e308, false, DATE '2000-02-29',
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 ('z', 0, 0, 0, 0, 123.40::DECIMAL(18,2), 5e-324, false, DATE '2000-02-29', NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL)
) t(s, ti, si, i, bi, dec, dbl, b, d, ts, tstz, tm, bl, hi, iv, lst, u, dec38)
"""

# the fct_payments shape: every value of a column equally wide, no NULLs (fixed-width blocks)
FIXED = """
select 'PM' || lpad(i::VARCHAR, 9, '0') as payment_id, (i % 2 = 0) as is_stp,
       DATE '2024-01-01' + (i % 300)::INTEGER as created_date,
       TIMESTAMP '2024-01-01 00:00:00' + i * INTERVAL 61 SECOND as created_at,
       ['SWIFT', 'ACH', 'RTP'][i % 3 + 1] as rail, (i * 1.25)::DECIMAL(18, 2) as amount,
       i::INTEGER as n, 'EUR' as currency
from range(3000) t(i)
"""


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    c.execute("SET TimeZone = 'UTC'")
    yield c
    c.close()


def _python_rows(rows, columns, binary: bool) -> bytes:
    out = []
    for r in rows:
        vals = [
            None
            if v is None
            else (pgtypes.binary_value(v, columns[i]) if binary else pgtypes.text_value(v).encode())
            for i, v in enumerate(r)
        ]
        out.append(wire.data_row(vals))
    return b"".join(out)


def _arrow_rows(batch: pa.RecordBatch, columns, binary: bool) -> bytes:
    pieces = [
        pgtypes.binary_piece(c, columns[i]) if binary else pgtypes.text_piece(c)
        for i, c in enumerate(batch.columns)
    ]
    return bytes(pgtypes.datarows_from_columns(pieces))


def _both(con, sql: str, binary: bool, repeat: int = 1):
    sql = f"select * from ({sql}) q, range({repeat}) r(k)" if repeat > 1 else sql
    rel = con.sql(sql)
    columns = [pgtypes.pg_type_of(t) for t in rel.types]
    rows = rel.fetchall()
    table = con.sql(sql).to_arrow_table().combine_chunks()
    batch = table.to_batches()[0]
    return rows, columns, batch


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_every_type_matches_per_value_encoder(con, binary):
    rows, columns, batch = _both(con, EVERY_TYPE, binary)
    for j, name in enumerate(batch.schema.names):
        one = batch.select([j])
        expect = _python_rows([(r[j],) for r in rows], [columns[j]], binary)
        assert _arrow_rows(one, [columns[j]], binary) == expect, name
    assert _arrow_rows(batch, columns, binary) == _python_rows(rows, columns, binary)


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_fixed_width_columns_and_slices(con, binary):
    rows, columns, batch = _both(con, FIXED, binary)
    assert _arrow_rows(batch, columns, binary) == _python_rows(rows, columns, binary)
    # the server sends slices of DuckDB's batches (portals with row limits): offsets != 0
    for start, n in [(1, 700), (1299, 1), (2000, 1000)]:
        part = batch.slice(start, n)
        assert _arrow_rows(part, columns, binary) == _python_rows(
            rows[start : start + n], columns, binary
        )


def test_fixed_width_detection_is_exact():
    same = pa.array(["ab", "cd", "ef"]).cast(pa.binary())
    assert pgtypes._fixed_block(same).tobytes() == b"abcdef"
    assert pgtypes._fixed_block(pa.array(["ab", "c", "def"]).cast(pa.binary())) is None
    assert pgtypes._fixed_block(pa.array(["ab", None, "cd"]).cast(pa.binary())) is None
    assert pgtypes._fixed_block(same.slice(1)).tobytes() == b"cdef"
    assert pgtypes._fixed_block(pa.array(["", ""]).cast(pa.binary())).shape == (2, 0)


def test_all_null_and_empty_columns(con):
    sql = "select NULL::VARCHAR as a, '' as b, NULL::BOOLEAN as c, NULL::DATE as d from range(5)"
    rows, columns, batch = _both(con, sql, False)
    assert _arrow_rows(batch, columns, False) == _python_rows(rows, columns, False)
    assert bytes(pgtypes.datarows_from_columns([])) == b""


def test_float_text_matches_postgres_and_python():
    col = pa.array([0.1, 1e-7, 2.5e-5, 1e15, 1e16, 1e20, -0.0, float("nan"), float("-inf"), None])
    got = pgtypes.arrow_text(col).to_pylist()
    expect = [
        b"0.1",
        b"1e-07",
        b"2.5e-05",
        b"1e+15",
        b"1e+16",
        b"1e+20",
        b"-0",
        b"NaN",
        b"-Infinity",
    ]
    assert got == [*expect, None]
    assert got[:-1] == [pgtypes.text_value(v).encode() for v in col.to_pylist()[:-1]]


def test_python_encoder_trims_fractional_seconds():
    assert pgtypes.text_value(dt.datetime(2024, 1, 1, 2, 6, 8, 500000)) == "2024-01-01 02:06:08.5"
    assert pgtypes.text_value(dt.datetime(2024, 1, 1, 2, 6, 8)) == "2024-01-01 02:06:08"
    assert pgtypes.text_value(dt.time(23, 59, 59, 120000)) == "23:59:59.12"
    aware = dt.datetime(2024, 1, 1, 2, 0, 0, 250000, tzinfo=dt.UTC)
    assert pgtypes.text_value(aware) == "2024-01-01 02:00:00.25+00"


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_psycopg_reads_the_same_values_before_and_after_the_first_fetch(server, binary):
    """The first rows of a result go through the per-value encoder, the rest through Arrow:
    a client must not see a difference between the two."""
    sql = (
        "select payment_id, client_id, created_date, created_at, rail, amount, amount_usd, "
        "is_stp, repair_minutes, status from fct_payments order by payment_id"
    )
    with psycopg.connect(dsn(server), autocommit=True) as c:
        rows = c.cursor(binary=binary).execute(sql).fetchall()
    con = duckdb.connect(str(server.warehouse_dir / "opsmetrics.duckdb"), read_only=True)
    expect = con.execute(sql).fetchall()
    con.close()
    assert len(rows) == 5000
    assert rows == [tuple(r) for r in expect]
    assert isinstance(rows[4000][5], decimal.Decimal)


def test_batches_over_the_offset_limit_are_split(con, monkeypatch):
    rows, columns, batch = _both(con, FIXED, False)
    monkeypatch.setattr(pgtypes, "MAX_JOIN_BYTES", 10_000)  # as if rows were 2 GiB
    assert _arrow_rows(batch, columns, False) == _python_rows(rows, columns, False)


@pytest.mark.parametrize(
    "precision,scale", [(18, 2), (10, 0), (9, 4), (15, 5), (18, 15), (3, 3), (1, 0)]
)
def test_numeric_binary_vectorised_equals_per_value(precision, scale):
    """The column-wise numeric binary encoder (decimals up to 18 digits) writes the bytes
    of the per-value one for random values of every magnitude, NULLs, zero and the limits."""
    import random

    rnd = random.Random(precision * 100 + scale)
    vals = [None, decimal.Decimal(0).scaleb(-scale)]
    top = 10**precision - 1
    vals += [decimal.Decimal(top).scaleb(-scale), decimal.Decimal(-top).scaleb(-scale)]
    for _ in range(3000):
        digits = rnd.randint(0, precision)
        u = rnd.randint(-(10**digits - 1), 10**digits - 1)
        vals.append(None if rnd.random() < 0.05 else decimal.Decimal(u).scaleb(-scale))
    arr = pa.array(vals, pa.decimal128(precision, scale))
    for a in (arr, arr.slice(5, 1000)):
        got = pgtypes.binary_piece(a, pgtypes.pg_type_of(f"DECIMAL({precision},{scale})"))
        expect = [None if v is None else pgtypes._numeric_binary(v) for v in a.to_pylist()]
        assert pgtypes._as_arrow(got).to_pylist() == expect


@pytest.mark.parametrize(
    ("text", "date", "ts", "tstz"),
    [
        ("2025-06-01 +00", "2025-06-01", "2025-06-01 00:00:00", "2025-06-01 00:00:00+00:00"),
        (
            "2025-06-01 10:00:00+02",
            "2025-06-01",
            "2025-06-01 10:00:00",
            "2025-06-01 10:00:00+02:00",
        ),
        (
            "2025-06-01T10:00:00.5Z",
            "2025-06-01",
            "2025-06-01 10:00:00.500000",
            "2025-06-01 10:00:00.500000+00:00",
        ),
        (
            "2025-06-01 10:00 -0730",
            "2025-06-01",
            "2025-06-01 10:00:00",
            "2025-06-01 10:00:00-07:30",
        ),
    ],
)
def test_date_time_parameters_in_postgresqls_input_forms(text, date, ts, tstz):
    """As PostgreSQL reads them: a date drops a time and zone, a timestamp drops the zone, a
    timestamptz applies it (none: the session's UTC)."""
    raw = text.encode()
    assert str(pgtypes.decode_param(raw, pgtypes.DATE.oid, 0)) == date
    assert str(pgtypes.decode_param(raw, pgtypes.TIMESTAMP.oid, 0)) == ts
    assert str(pgtypes.decode_param(raw, pgtypes.TIMESTAMPTZ.oid, 0)) == tstz
    with pytest.raises(ValueError, match="invalid input syntax for type date"):
        pgtypes.decode_param(b"2025-13-01", pgtypes.DATE.oid, 0)


@pytest.mark.parametrize(
    ("text", "oid", "want"),
    [
        ("{1,2,NULL}", 1007, [1, 2, None]),
        ('{"a b","x\\"y",NULL,"NULL",c}', 1009, ["a b", 'x"y', None, "NULL", "c"]),
        ("{{1,2},{3,4}}", 1007, [[1, 2], [3, 4]]),
        ("{}", 1009, []),
        ("{2025-06-01,2025-06-02}", 1182, [dt.date(2025, 6, 1), dt.date(2025, 6, 2)]),
        ("{1.50,2}", 1231, [decimal.Decimal("1.50"), decimal.Decimal("2")]),
    ],
)
def test_array_parameters_in_text(text, oid, want):
    assert pgtypes.decode_param(text.encode(), oid, 0) == want


def test_array_parameters_round_trip_binary_and_refuse_garbage():
    for value, elem in (([1, None, 3], pgtypes.INT4), ([["a"], ["b"]], pgtypes.TEXT)):
        encoded = pgtypes.binary_value(value, pgtypes.array_of(elem))
        assert pgtypes.decode_param(encoded, pgtypes.array_of(elem).oid, 1) == value
    for bad in (b"{1,2", b"1,2}", b"{1,2}x"):
        with pytest.raises(ValueError, match="malformed array literal"):
            pgtypes.decode_param(bad, 1007, 0)
