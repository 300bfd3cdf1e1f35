"""DuckDB ↔ PostgreSQL types: OIDs for RowDescription, value encoders, parameter decoders.

Results travel two ways. Small results (the common BI case: a handful of rows) are
encoded value by value from Python objects. Large results are encoded a record batch at a
time with Arrow compute kernels, so streaming a wide mart costs no Python work per row:
each column becomes a binary array of PostgreSQL text (or binary) representations and the
DataRow messages are assembled column-wise (:func:`datarows_from_columns`).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import re
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class PgType:
    oid: int
    name: str
    size: int  # typlen; -1 for varlena
    typmod: int = -1


BOOL = PgType(16, "bool", 1)
BYTEA = PgType(17, "bytea", -1)
CHAR = PgType(18, "char", 1)
NAME = PgType(19, "name", 64)
INT8 = PgType(20, "int8", 8)
INT2 = PgType(21, "int2", 2)
INT4 = PgType(23, "int4", 4)
TEXT = PgType(25, "text", -1)
OID = PgType(26, "oid", 4)
JSON = PgType(114, "json", -1)
FLOAT4 = PgType(700, "float4", 4)
FLOAT8 = PgType(701, "float8", 8)
UNKNOWN = PgType(705, "unknown", -2)
VARCHAR = PgType(1043, "varchar", -1)
DATE = PgType(1082, "date", 4)
TIME = PgType(1083, "time", 8)
TIMESTAMP = PgType(1114, "timestamp", 8)
TIMESTAMPTZ = PgType(1184, "timestamptz", 8)
INTERVAL = PgType(1186, "interval", 16)
NUMERIC = PgType(1700, "numeric", -1)
UUID = PgType(2950, "uuid", 16)
INT4_ARRAY = PgType(1007, "_int4", -1)
INT8_ARRAY = PgType(1016, "_int8", -1)
TEXT_ARRAY = PgType(1009, "_text", -1)
FLOAT8_ARRAY = PgType(1022, "_float8", -1)
BOOL_ARRAY = PgType(1000, "_bool", -1)
INT2_ARRAY = PgType(1005, "_int2", -1)
FLOAT4_ARRAY = PgType(1021, "_float4", -1)
VARCHAR_ARRAY = PgType(1015, "_varchar", -1)
NUMERIC_ARRAY = PgType(1231, "_numeric", -1)
DATE_ARRAY = PgType(1182, "_date", -1)
TIME_ARRAY = PgType(1183, "_time", -1)
TIMESTAMP_ARRAY = PgType(1115, "_timestamp", -1)
TIMESTAMPTZ_ARRAY = PgType(1185, "_timestamptz", -1)
INTERVAL_ARRAY = PgType(1187, "_interval", -1)
UUID_ARRAY = PgType(2951, "_uuid", -1)
OID_ARRAY = PgType(1028, "_oid", -1)

#: Every type the emulated pg_type lists: (oid, name, len, category, array oid, elem oid).
PG_TYPE_ROWS: list[tuple[int, str, int, str, int, int]] = [
    (16, "bool", 1, "B", 1000, 0),
    (17, "bytea", -1, "U", 1001, 0),
    (18, "char", 1, "Z", 1002, 0),
    (19, "name", 64, "S", 1003, 0),
    (20, "int8", 8, "N", 1016, 0),
    (21, "int2", 2, "N", 1005, 0),
    (22, "int2vector", -1, "A", 1006, 21),
    (23, "int4", 4, "N", 1007, 0),
    (24, "regproc", 4, "N", 1008, 0),
    (25, "text", -1, "S", 1009, 0),
    (26, "oid", 4, "N", 1028, 0),
    (30, "oidvector", -1, "A", 1013, 26),
    (114, "json", -1, "U", 199, 0),
    (700, "float4", 4, "N", 1021, 0),
    (701, "float8", 8, "N", 1022, 0),
    (705, "unknown", -2, "X", 0, 0),
    (1000, "_bool", -1, "A", 0, 16),
    (1005, "_int2", -1, "A", 0, 21),
    (1007, "_int4", -1, "A", 0, 23),
    (1009, "_text", -1, "A", 0, 25),
    (1015, "_varchar", -1, "A", 0, 1043),
    (1016, "_int8", -1, "A", 0, 20),
    (1021, "_float4", -1, "A", 0, 700),
    (1022, "_float8", -1, "A", 0, 701),
    (1028, "_oid", -1, "A", 0, 26),
    (1115, "_timestamp", -1, "A", 0, 1114),
    (1182, "_date", -1, "A", 0, 1082),
    (1183, "_time", -1, "A", 0, 1083),
    (1185, "_timestamptz", -1, "A", 0, 1184),
    (1187, "_interval", -1, "A", 0, 1186),
    (1231, "_numeric", -1, "A", 0, 1700),
    (2951, "_uuid", -1, "A", 0, 2950),
    (1042, "bpchar", -1, "S", 1014, 0),
    (1043, "varchar", -1, "S", 1015, 0),
    (1082, "date", 4, "D", 1182, 0),
    (1083, "time", 8, "D", 1183, 0),
    (1114, "timestamp", 8, "D", 1115, 0),
    (1184, "timestamptz", 8, "D", 1185, 0),
    (1186, "interval", 16, "T", 1187, 0),
    (1700, "numeric", -1, "N", 1231, 0),
    (2205, "regclass", 4, "N", 2210, 0),
    (2206, "regtype", 4, "N", 2211, 0),
    (2950, "uuid", 16, "U", 2951, 0),
    (3802, "jsonb", -1, "U", 3807, 0),
    # pseudo-types (category P), which function signatures name
    (2249, "record", -1, "P", 2287, 0),
    (2275, "cstring", -2, "P", 1263, 0),
    (2276, "any", 4, "P", 0, 0),
    (2277, "anyarray", -1, "P", 0, 0),
    (2278, "void", 4, "P", 0, 0),
    (2279, "trigger", 4, "P", 0, 0),
    (2281, "internal", 8, "P", 0, 0),
    (2283, "anyelement", 4, "P", 0, 0),
    (3838, "event_trigger", 4, "P", 0, 0),
]
PG_TYPE_NAMES = {oid: name for oid, name, *_ in PG_TYPE_ROWS}
_BY_TYPNAME = {name: PgType(oid, name, size) for oid, name, size, *_ in PG_TYPE_ROWS}
_ELEM = {oid: elem for oid, name, _l, _c, _a, elem in PG_TYPE_ROWS if name.startswith("_")}
#: the SQL names format_type() prints where they differ from typname
_SQL_NAMES = {
    16: "boolean",
    18: '"char"',
    20: "bigint",
    21: "smallint",
    23: "integer",
    700: "real",
    701: "double precision",
    1042: "character",
    1043: "character varying",
    1083: "time without time zone",
    1114: "timestamp without time zone",
    1184: "timestamp with time zone",
}


def pg_type_named(name: str) -> PgType | None:
    """A type pg_type lists, by its typname (``oid``, ``regtype``, ``_int4``) or as the
    rewrite spells an array of it (``oid_array``), for casts DuckDB has no type for."""
    name = name.lower().strip('"')
    if name.endswith("_array"):
        name = "_" + name[: -len("_array")]
    return _BY_TYPNAME.get(name)


def sql_type_name(oid: int) -> str | None:
    """A type's name as ``format_type(oid, NULL)`` prints it (``integer``, ``text[]``), or
    None for an OID pg_type does not list."""
    if oid in _ELEM:
        elem = sql_type_name(_ELEM[oid])
        return None if elem is None else f"{elem}[]"
    if oid not in PG_TYPE_NAMES:
        return None
    return _SQL_NAMES.get(oid, PG_TYPE_NAMES[oid])


_SIMPLE: dict[str, PgType] = {
    "boolean": BOOL,
    "tinyint": INT2,
    "smallint": INT2,
    "utinyint": INT2,
    "integer": INT4,
    "usmallint": INT4,
    "bigint": INT8,
    "uinteger": OID,  # PostgreSQL's oid is the unsigned 32-bit integer
    "ubigint": NUMERIC,
    "hugeint": NUMERIC,
    "uhugeint": NUMERIC,
    "varint": NUMERIC,
    "bignum": NUMERIC,
    "float": FLOAT4,
    "double": FLOAT8,
    "varchar": TEXT,
    "blob": BYTEA,
    "date": DATE,
    "time": TIME,
    "timestamp": TIMESTAMP,
    "timestamp_s": TIMESTAMP,
    "timestamp_ms": TIMESTAMP,
    "timestamp_ns": TIMESTAMP,
    "timestamp with time zone": TIMESTAMPTZ,
    "interval": INTERVAL,
    "uuid": UUID,
    "enum": TEXT,
    "json": JSON,
    "struct": JSON,
    "map": JSON,
    "union": TEXT,
    "bit": TEXT,
    "time with time zone": TIME,
}
#: (element type, its array type): a DuckDB list of the element is that array, and an array
#: parameter of that type is read as a list of the element (the one table of array types)
_ARRAYS = (
    (INT2, INT2_ARRAY),
    (FLOAT4, FLOAT4_ARRAY),
    (INT4, INT4_ARRAY),
    (INT8, INT8_ARRAY),
    (FLOAT8, FLOAT8_ARRAY),
    (BOOL, BOOL_ARRAY),
    (TEXT, TEXT_ARRAY),
    (VARCHAR, VARCHAR_ARRAY),
    (NUMERIC, NUMERIC_ARRAY),
    (DATE, DATE_ARRAY),
    (TIME, TIME_ARRAY),
    (TIMESTAMP, TIMESTAMP_ARRAY),
    (TIMESTAMPTZ, TIMESTAMPTZ_ARRAY),
    (INTERVAL, INTERVAL_ARRAY),
    (UUID, UUID_ARRAY),
    (OID, OID_ARRAY),
)
_LIST_OF = {elem.oid: arr for elem, arr in _ARRAYS}
#: array oid → element type, for the binary array format
_ARRAY_ELEMENT = {arr.oid: elem for elem, arr in _ARRAYS}


def _list_type(inner: PgType) -> PgType:
    """The PostgreSQL type of a DuckDB list of ``inner``: a list of lists is one array of more
    dimensions (``INTEGER[][]`` is ``int4[]``); anything unknown is ``text[]``."""
    if inner.oid in _ARRAY_ELEMENT:
        return inner
    if inner.oid == NUMERIC.oid:
        return NUMERIC_ARRAY  # whatever the element's precision
    return _LIST_OF.get(inner.oid, TEXT_ARRAY)


_DEC = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")


def pg_type_of(duck_type: Any) -> PgType:
    """Map a DuckDB type (``DuckDBPyType`` or its string) to the PostgreSQL type a client sees."""
    text = str(duck_type)
    tid = getattr(duck_type, "id", None)
    if tid is None:
        up = text.upper()
        if up.endswith("]"):
            return _list_type(pg_type_of(up[: up.rfind("[")]))
        tid = re.split(r"[(\[]", text, maxsplit=1)[0].strip().lower()
    if tid == "decimal":
        m = _DEC.match(text)
        if m:
            return PgType(NUMERIC.oid, "numeric", -1, ((int(m[1]) << 16) | int(m[2])) + 4)
        return NUMERIC
    if tid in ("list", "array"):
        child = getattr(duck_type, "child", None)
        return _list_type(pg_type_of(child) if child is not None else TEXT)
    if text == "JSON":
        return JSON
    return _SIMPLE.get(tid, TEXT)


# ---------------------------------------------------------------- Python value → text
_PG_EPOCH_DATE = dt.date(2000, 1, 1)
_PG_EPOCH = dt.datetime(2000, 1, 1)
_PG_EPOCH_TZ = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def _float_text(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    r = repr(v)
    if 1e15 <= abs(v) < 1e16:  # PostgreSQL switches to exponent notation at 1e15, Python at 1e16
        mant, _, exp = f"{decimal.Decimal(r).normalize():E}".partition("E")
        return f"{mant}e+{int(exp):02d}".lower()
    return r[:-2] if r.endswith(".0") else r


def _frac_trim(text: str) -> str:
    """PostgreSQL prints no trailing zeros in fractional seconds (Python pads to six)."""
    return text.rstrip("0") if "." in text else text


def _ts_text(v: dt.datetime) -> str:
    if v.tzinfo is not None:
        v = v.astimezone(dt.UTC)
        return _frac_trim(v.replace(tzinfo=None).isoformat(sep=" ")) + "+00"
    return _frac_trim(v.isoformat(sep=" "))


def _interval_text(v: dt.timedelta) -> str:
    days, secs = v.days, v.seconds
    h, rem = divmod(secs, 3600)
    m, s = divmod(rem, 60)
    frac = f".{v.microseconds:06d}".rstrip("0") if v.microseconds else ""
    clock = f"{h:02d}:{m:02d}:{s:02d}{frac}"
    if days:
        return f"{days} day{'s' if abs(days) != 1 else ''} {clock}"
    return clock


def _array_item(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, list | tuple):  # an inner dimension: {{1,2},{3,4}}, not quoted
        return text_value(list(v))
    s = text_value(v)
    if s == "" or any(c in s for c in ',{}" \\') or s.upper() == "NULL":
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return s


def text_value(v: Any) -> str:
    """PostgreSQL's text output for a Python value fetched from DuckDB."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "t" if v else "f"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _float_text(v)
    if isinstance(v, decimal.Decimal):
        return str(v) if v.is_finite() else "NaN"
    if isinstance(v, dt.datetime):
        return _ts_text(v)
    if isinstance(v, dt.time):
        return _frac_trim(v.isoformat())
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, dt.timedelta):
        return _interval_text(v)
    if isinstance(v, bytes | bytearray | memoryview):
        return "\\x" + bytes(v).hex()
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, list | tuple):
        return "{" + ",".join(_array_item(x) for x in v) + "}"
    if isinstance(v, dict):
        return json.dumps(v, default=str)
    return str(v)


def text_row(row: tuple) -> list[bytes | None]:
    return [None if v is None else text_value(v).encode() for v in row]


# ---------------------------------------------------------------- Python value → binary
def _numeric_binary(v: decimal.Decimal) -> bytes:
    if not v.is_finite():
        return struct.pack("!hhHh", 0, 0, 0xC000, 0)
    sign, digits, exp = v.as_tuple()
    dscale = max(0, -exp)
    frac_groups = -(-dscale // 4)
    n = int("".join(map(str, digits)) or "0") * 10 ** (exp + 4 * frac_groups)
    groups: list[int] = []
    while n:
        n, d = divmod(n, 10000)
        groups.append(d)
    groups.reverse()
    weight = len(groups) - 1 - frac_groups
    while groups and groups[-1] == 0:
        groups.pop()
    if not groups:
        weight = 0
    return struct.pack(
        f"!hhHh{len(groups)}H", len(groups), weight, 0x4000 if sign else 0, dscale, *groups
    )


def binary_value(v: Any, pgtype: PgType) -> bytes:
    """PostgreSQL's binary send format for the types clients ask binary for."""
    oid = pgtype.oid
    if oid == BOOL.oid:
        return b"\x01" if v else b"\x00"
    if oid == INT2.oid:
        return struct.pack("!h", v)
    if oid == INT4.oid:
        return struct.pack("!i", v)
    if oid == INT8.oid:
        return struct.pack("!q", v)
    if oid == OID.oid:
        return struct.pack("!I", v)
    if oid == FLOAT4.oid:
        return struct.pack("!f", v)
    if oid == FLOAT8.oid:
        return struct.pack("!d", v)
    if oid == NUMERIC.oid:
        return _numeric_binary(decimal.Decimal(v) if not isinstance(v, decimal.Decimal) else v)
    if oid == DATE.oid:
        return struct.pack("!i", (v - _PG_EPOCH_DATE).days)
    if oid in (TIMESTAMP.oid, TIMESTAMPTZ.oid):
        base = _PG_EPOCH_TZ if v.tzinfo is not None else _PG_EPOCH
        d = v - base
        return struct.pack("!q", (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds)
    if oid == TIME.oid:
        return struct.pack(
            "!q", ((v.hour * 60 + v.minute) * 60 + v.second) * 1_000_000 + v.microsecond
        )
    if oid == INTERVAL.oid:
        return struct.pack("!qii", v.seconds * 1_000_000 + v.microseconds, v.days, 0)
    if oid == UUID.oid:
        return v.bytes if isinstance(v, uuid.UUID) else uuid.UUID(str(v)).bytes
    if oid == BYTEA.oid:
        return bytes(v)
    elem = _ARRAY_ELEMENT.get(oid)
    if elem is not None and isinstance(v, list | tuple):
        return _array_binary(v, elem)
    return text_value(v).encode()


def _array_binary(values, elem: PgType) -> bytes:
    """PostgreSQL's binary array (array_send): dimensions, a has-NULL flag, the element type,
    each dimension's length and lower bound 1, then each element as length + binary value
    (-1 for NULL). Lists of lists are one dimension more, as PostgreSQL reads a rectangular
    nested array; a ragged one is refused, as PostgreSQL refuses it."""
    dims: list[int] = []
    level = values
    while isinstance(level, list | tuple):
        dims.append(len(level))
        if not level:
            break
        level = level[0]
    flat: list = []

    def walk(x, depth: int) -> None:
        if depth == len(dims):
            flat.append(x)
            return
        if not isinstance(x, list | tuple) or len(x) != dims[depth]:
            raise ValueError("multidimensional arrays must have sub-arrays of the same size")
        for y in x:
            walk(y, depth + 1)

    if dims and dims[-1] == 0:
        dims = []  # an empty array has no dimensions
    else:
        walk(values, 0)
    has_null = any(x is None for x in flat)
    out = [struct.pack("!iii", len(dims), 1 if has_null else 0, elem.oid)]
    out += [struct.pack("!ii", n, 1) for n in dims]
    for x in flat:
        if x is None:
            out.append(b"\xff\xff\xff\xff")
        else:
            b = binary_value(x, elem)
            out.append(struct.pack("!i", len(b)) + b)
    return b"".join(out)


# ---------------------------------------------------------------- Arrow column → bytes
# A column encoder returns either a binary Arrow array (values of varying width, NULLs kept)
# or, when every value is non-null and equally wide, an ``(n, width)`` uint8 numpy block:
# blocks are laid side by side with plain strided copies, so only the varying-width columns
# cost Arrow's per-value join (:func:`datarows_from_columns`).
Piece = pa.Array | np.ndarray


def _binary_from_block(block: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """An ``(n, w)`` block as a binary array; rows where ``valid`` is False become NULL."""
    n, w = block.shape
    if valid is None or valid.all():
        offsets = np.arange(0, (n + 1) * w, w, dtype=np.int32) if w else np.zeros(n + 1, np.int32)
        data = np.ascontiguousarray(block).reshape(-1)
        return pa.BinaryArray.from_buffers(
            pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
        )
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(valid * w, out=offsets[1:])
    data = np.ascontiguousarray(block[valid]).reshape(-1)
    validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.BinaryArray.from_buffers(
        pa.binary(), n, [validity, pa.py_buffer(offsets), pa.py_buffer(data)], int(n - valid.sum())
    )


def _as_arrow(piece: Piece) -> pa.Array:
    return _binary_from_block(piece) if isinstance(piece, np.ndarray) else piece


def _valid(col: pa.Array) -> np.ndarray | None:
    """Validity as a bool array, or None when the column has no NULLs."""
    if not col.null_count:
        return None
    return col.is_valid().to_numpy(zero_copy_only=False)


def _bool_piece(col: pa.Array, false: int, true: int) -> Piece:
    vals = col.fill_null(False).to_numpy(zero_copy_only=False)
    out = np.where(vals, np.uint8(true), np.uint8(false)).astype(np.uint8).reshape(-1, 1)
    valid = _valid(col)
    return out if valid is None else _binary_from_block(out, valid)


def _ts_string(col: pa.Array) -> pa.Array:
    """Timestamps as PostgreSQL prints them: no fractional part unless there is one."""
    t = col.type
    if t.unit != "s":
        try:  # one pass: a safe cast fails as soon as any value has a fraction
            return col.cast(pa.timestamp("s", t.tz), safe=True).cast(pa.string())
        except pa.ArrowInvalid:
            pass
    return _strip_frac_zeros(col.cast(pa.string()))


def _strip_frac_zeros(s: pa.Array) -> pa.Array:
    s = pc.replace_substring_regex(s, r"\.0+$", "")
    return pc.replace_substring_regex(s, r"(\.\d*[1-9])0+$", r"\1")


def _python_column(col: pa.Array, encode: Callable[[Any], bytes]) -> pa.Array:
    values = [None if v is None else encode(v) for v in col.to_pylist()]
    offsets = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum([0 if v is None else len(v) for v in values], out=offsets[1:])
    valid = np.array([v is not None for v in values], dtype=bool)
    data = b"".join(v for v in values if v is not None)
    # from_buffers, not pa.array(): pa.array() imports pandas (2 s) on first use
    return pa.LargeBinaryArray.from_buffers(
        pa.large_binary(),
        len(values),
        [
            pa.py_buffer(np.packbits(valid, bitorder="little")),
            pa.py_buffer(offsets),
            pa.py_buffer(data),
        ],
        int((~valid).sum()),
    ).cast(pa.binary())


def _mdn_timedelta(v: Any) -> dt.timedelta:
    """Arrow's MonthDayNano as the timedelta DuckDB's Python API gives (a month is 30 days)."""
    return dt.timedelta(days=v.months * 30 + v.days, microseconds=v.nanoseconds // 1000)


def text_piece(col: pa.Array) -> Piece:
    """A column's PostgreSQL text representations: a fixed-width block or a binary array."""
    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return col.cast(pa.binary())
    if pa.types.is_boolean(t):
        return _bool_piece(col, ord("f"), ord("t"))
    if pa.types.is_integer(t) or pa.types.is_decimal(t) or pa.types.is_date(t):
        return col.cast(pa.string()).cast(pa.binary())
    if pa.types.is_floating(t):
        s = col.cast(pa.string())
        if pc.any(pc.invert(pc.is_finite(col))).as_py():
            s = pc.replace_substring(s, "inf", "Infinity")
            s = pc.replace_substring(s, "nan", "NaN")
        tiny = pc.and_(pc.less(pc.abs(col), 1e-4), pc.not_equal(col, 0))
        if pc.any(tiny).as_py():  # Arrow prints 0.000099 and 2.5e-7; PostgreSQL 9.9e-05, 2.5e-07
            fixed = _python_column(col.filter(tiny), lambda v: _float_text(v).encode())
            s = pc.replace_with_mask(s, tiny.fill_null(False), fixed.cast(pa.string()))
        return s.cast(pa.binary())
    if pa.types.is_timestamp(t):
        if t.tz is not None:
            naive = col.cast(pa.timestamp(t.unit, "UTC")).cast(pa.timestamp(t.unit))
            s = _ts_string(naive)
            return pc.binary_join_element_wise(s.cast(pa.binary()), b"+00", b"")
        return _ts_string(col).cast(pa.binary())
    if pa.types.is_time(t):
        return _strip_frac_zeros(col.cast(pa.string())).cast(pa.binary())
    if pa.types.is_interval(t):
        return _python_column(col, lambda v: _interval_text(_mdn_timedelta(v)).encode())
    return _python_column(col, lambda v: text_value(v).encode())


def arrow_text(col: pa.Array) -> pa.Array:
    """A column as a binary array of PostgreSQL text representations (nulls kept)."""
    return _as_arrow(text_piece(col))


_NP_BIN = {
    INT2.oid: ">i2",
    INT4.oid: ">i4",
    INT8.oid: ">i8",
    FLOAT4.oid: ">f4",
    FLOAT8.oid: ">f8",
    OID.oid: ">u4",
}


def _numeric_binary_column(col: pa.Array) -> pa.Array | None:
    """``numeric`` binary values of a decimal column, vectorised: None when a value could
    overflow int64 arithmetic (then the per-value encoder runs).

    Each value is ``ndigits weight sign dscale digit*``, the digits in base 10000 with the
    decimal point on a group boundary, leading and trailing zero groups left out (as
    :func:`_numeric_binary` and PostgreSQL's ``numeric_send`` write them).
    """
    t = col.type
    scale = t.scale
    frac_groups = -(-scale // 4)
    pad = 4 * frac_groups - scale
    if t.precision > 18 or scale + pad > 18 or scale < 0 or t.byte_width != 16:
        return None
    n = len(col)
    words = np.frombuffer(col.buffers()[1], dtype="<i8", count=2 * (col.offset + n))
    unscaled = words[2 * col.offset :: 2].copy()  # the low word holds the value when p <= 18
    valid = _valid(col)
    if valid is not None:
        unscaled[~valid] = 0
    neg = unscaled < 0
    whole, frac = np.divmod(np.abs(unscaled), 10**scale)
    k_int = -(-(t.precision - scale) // 4)
    k = max(1, k_int + frac_groups)
    groups = np.zeros((n, k), dtype=np.int64)
    rest = whole
    for j in range(k_int - 1, -1, -1):
        rest, groups[:, j] = np.divmod(rest, 10000)
    rest = frac * 10**pad
    for j in range(k_int + frac_groups - 1, k_int - 1, -1):
        rest, groups[:, j] = np.divmod(rest, 10000)
    nonzero = groups != 0
    anyz = nonzero.any(axis=1)
    first = np.where(anyz, nonzero.argmax(axis=1), 0)
    last = np.where(anyz, k - 1 - nonzero[:, ::-1].argmax(axis=1), -1)
    ndigits = np.where(anyz, last - first + 1, 0)
    weight = np.where(anyz, k_int - 1 - first, 0)
    sign = np.where(neg & anyz, 0x4000, 0)
    idx = np.minimum(first[:, None] + np.arange(k), k - 1)
    digits = np.take_along_axis(groups, idx, axis=1)
    head = np.empty(n, dtype=[("nd", ">i2"), ("w", ">i2"), ("s", ">u2"), ("ds", ">i2")])
    head["nd"], head["w"], head["s"], head["ds"] = ndigits, weight, sign, scale
    block = np.concatenate(
        [head.view(np.uint8).reshape(n, 8), digits.astype(">i2").view(np.uint8).reshape(n, 2 * k)],
        axis=1,
    )
    lengths = 8 + 2 * ndigits
    keep = np.arange(8 + 2 * k) < lengths[:, None]
    if valid is not None:
        keep &= valid[:, None]
        lengths = np.where(valid, lengths, 0)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    data = block[keep]
    bufs = [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    if valid is not None:
        bufs[0] = pa.py_buffer(np.packbits(valid, bitorder="little"))
    nulls = 0 if valid is None else int(n - valid.sum())
    return pa.BinaryArray.from_buffers(pa.binary(), n, bufs, nulls)


def binary_piece(col: pa.Array, pgtype: PgType) -> Piece:
    """A column's PostgreSQL binary representations: a fixed-width block or a binary array."""
    t = col.type
    if pgtype.oid in (TEXT.oid, VARCHAR.oid) and (
        pa.types.is_string(t) or pa.types.is_large_string(t)
    ):
        return col.cast(pa.binary())
    if pgtype.oid == BOOL.oid and pa.types.is_boolean(t):
        return _bool_piece(col, 0, 1)
    if pgtype.oid == DATE.oid and pa.types.is_date32(t):
        days = pc.subtract(col.cast(pa.int32()), 10957)  # days since 2000-01-01
        return binary_piece(days, INT4)
    if pgtype.oid in (TIMESTAMP.oid, TIMESTAMPTZ.oid) and pa.types.is_timestamp(t):
        us = col.cast(pa.timestamp("us", t.tz)).cast(pa.int64())
        return binary_piece(pc.subtract(us, 946_684_800_000_000), INT8)
    if pgtype.oid == NUMERIC.oid and pa.types.is_decimal(t):
        fast = _numeric_binary_column(col)
        if fast is not None:
            return fast
    npfmt = _NP_BIN.get(pgtype.oid)
    if npfmt is not None:
        width = int(npfmt[-1])
        filled = col.fill_null(0).to_numpy(zero_copy_only=False).astype(npfmt)
        block = filled.view(np.uint8).reshape(-1, width)
        valid = _valid(col)
        return block if valid is None else _binary_from_block(block, valid)
    if pa.types.is_interval(t):
        return _python_column(col, lambda v: binary_value(_mdn_timedelta(v), pgtype))
    return _python_column(col, lambda v: binary_value(v, pgtype))


def arrow_binary(col: pa.Array, pgtype: PgType) -> pa.Array:
    """A column as a binary array of PostgreSQL binary representations (nulls kept)."""
    return _as_arrow(binary_piece(col, pgtype))


def _offsets(arr: pa.Array) -> np.ndarray:
    wide = pa.types.is_large_binary(arr.type)
    return np.frombuffer(
        arr.buffers()[1],
        dtype=np.int64 if wide else np.int32,
        count=len(arr) + 1,
        offset=arr.offset * (8 if wide else 4),
    )


def _fixed_block(col: pa.Array) -> np.ndarray | None:
    """A binary column as an ``(n, w)`` view when every value is non-null and ``w`` bytes."""
    n = len(col)
    if col.null_count or n == 0:
        return None
    off = _offsets(col)
    span = int(off[-1] - off[0])
    w = span // n
    if w * n != span or not (np.diff(off) == w).all():
        return None
    if w == 0:
        return np.empty((n, 0), dtype=np.uint8)
    data = np.frombuffer(col.buffers()[2], dtype=np.uint8, count=span, offset=int(off[0]))
    return data.reshape(n, w)


def _be_i32_block(values: np.ndarray) -> np.ndarray:
    return values.astype(">i4").view(np.uint8).reshape(-1, 4)


class _Run:
    """Consecutive fixed-width parts of every row, laid out in one ``(n, width)`` block.

    Constant parts (the length word of a fixed-width column, the column count) go into a
    one-row template that is broadcast once; per-row parts are copied column by column.
    """

    def __init__(self) -> None:
        self.template = bytearray()
        self.blocks: list[tuple[int, np.ndarray]] = []

    def const(self, data: bytes) -> None:
        self.template += data

    def block(self, block: np.ndarray) -> None:
        self.blocks.append((len(self.template), block))
        self.template += bytes(block.shape[1])

    def build(self, n: int) -> pa.Array | None:
        if not self.template:
            return None
        out = np.empty((n, len(self.template)), dtype=np.uint8)
        out[:] = np.frombuffer(bytes(self.template), dtype=np.uint8)
        for at, block in self.blocks:
            out[:, at : at + block.shape[1]] = block
        return _binary_from_block(out)


#: Bytes of DataRows built in one piece: Arrow binary arrays have 32-bit offsets.
MAX_JOIN_BYTES = 2**31 - 1


def datarows_from_columns(cols: list[Piece], tag: bytes = b"D") -> memoryview:
    """Concatenated DataRow messages for encoded columns of equal length.

    ``tag=b"d"`` makes them binary-format COPY rows instead: a CopyData message carries
    exactly a DataRow's body (``ncols (collen colbytes)*``).

    The message for row i is ``'D' len ncols (collen colbytes)*``. Runs of fixed-width
    parts (the header, every length word, every fixed-width column) are built as one
    ``(n, width)`` numpy block each; only varying-width columns go through Arrow's
    element-wise join, which then sees about two arguments per varying column instead of
    two per column. The data buffer of the joined array is exactly the bytes to send
    (returned without a copy).
    """
    n = len(cols[0]) if cols else 0
    if n == 0:
        return memoryview(b"")
    total = np.full(n, 4 + 2, dtype=np.int64)
    header = np.empty(n, dtype=[("t", "S1"), ("len", ">i4")])
    run = _Run()
    run.block(header.view(np.uint8).reshape(n, 5))
    run.const(struct.pack("!h", len(cols)))
    plan: list[_Run | pa.Array] = []
    for piece in cols:
        block = piece if isinstance(piece, np.ndarray) else _fixed_block(piece)
        if block is not None:
            total += 4 + block.shape[1]
            run.const(struct.pack("!i", block.shape[1]))
            run.block(block)
            continue
        lens = np.diff(_offsets(piece)).astype(np.int64)
        valid = _valid(piece)
        if valid is not None:
            lens[~valid] = 0
        total += 4 + lens
        run.block(_be_i32_block(lens if valid is None else np.where(valid, lens, -1)))
        plan += [run, piece.fill_null(b"") if valid is not None else piece]
        run = _Run()
    plan.append(run)
    if int(total.sum()) + n > MAX_JOIN_BYTES and n > 1:  # 32-bit Arrow offsets: split
        half = n // 2
        first = datarows_from_columns([p[:half] for p in cols], tag)
        rest = datarows_from_columns([p[half:] for p in cols], tag)
        return memoryview(b"".join((first, rest)))
    header["t"] = tag
    header["len"] = total  # known only now: the runs are built after this
    parts = [p.build(n) if isinstance(p, _Run) else p for p in plan]
    parts = [p for p in parts if p is not None]
    joined = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, b"")
    off = _offsets(joined)
    return memoryview(joined.buffers()[2])[off[0] : off[-1]]


# ---------------------------------------------------------------- parameters (Bind)
def _parse_bool(s: str) -> bool:
    v = s.strip().lower()
    if v in ("t", "true", "yes", "y", "on", "1"):
        return True
    if v in ("f", "false", "no", "n", "off", "0"):
        return False
    raise ValueError(f"invalid input syntax for type boolean: {s!r}")


#: PostgreSQL's ISO date/time input: a date, an optional time (after a space or T), an optional
#: zone (Z, UTC, GMT, ±HH, ±HHMM, ±HH:MM, with or without a space before it) — PgJDBC's setDate
#: sends '2025-06-01 +00', setTimestamp '2025-06-01 10:00:00+00'
_PG_DATETIME = re.compile(
    r"^(\d{4,})-(\d{1,2})-(\d{1,2})"
    r"(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6})\d*)?)?)?"
    r"\s*(Z|UTC|GMT|[+-]\d{1,2}(?::?\d{2})?)?$",
    re.IGNORECASE,
)


def _parse_pg_datetime(s: str) -> tuple[dt.datetime, dt.timezone | None]:
    """A PostgreSQL ISO date/time literal: (naive local value, its zone or None)."""
    text = s.strip()
    if text.lower() == "epoch":
        return dt.datetime(1970, 1, 1), dt.UTC
    m = _PG_DATETIME.match(text)
    if m is None:
        raise ValueError(f"invalid date/time {s!r}")
    y, mo, d, hh, mi, ss, frac, zone = m.groups()
    value = dt.datetime(
        int(y),
        int(mo),
        int(d),
        int(hh or 0),
        int(mi or 0),
        int(ss or 0),
        int((frac or "0").ljust(6, "0")),
    )
    if zone is None:
        return value, None
    if zone.upper() in ("Z", "UTC", "GMT"):
        return value, dt.UTC
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    hours, minutes = (int(digits[:-2]), int(digits[-2:])) if len(digits) > 2 else (int(digits), 0)
    return value, dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))


def looks_like_datetime(raw: bytes | None) -> bool:
    """Whether a text parameter is a PostgreSQL date/time literal."""
    if raw is None or not 8 <= len(raw) <= 40:
        return False
    try:
        return _PG_DATETIME.match(raw.decode().strip()) is not None
    except UnicodeDecodeError:
        return False


def _parse_ts(s: str) -> dt.datetime:
    """timestamptz input: an offset given applies; none means the session's zone (UTC)."""
    value, zone = _parse_pg_datetime(s)
    return value.replace(tzinfo=zone or dt.UTC)


def _parse_timestamp(s: str) -> dt.datetime:
    """timestamp (without time zone) input: PostgreSQL ignores a zone written after it."""
    return _parse_pg_datetime(s)[0]


def _parse_date(s: str) -> dt.date:
    """date input: the date part of any date/time literal (a time or zone after it is read and
    dropped, as PostgreSQL does)."""
    return _parse_pg_datetime(s)[0].date()


_TEXT_DECODERS: dict[int, Callable[[str], Any]] = {
    BOOL.oid: _parse_bool,
    INT2.oid: int,
    INT4.oid: int,
    INT8.oid: int,
    OID.oid: int,
    FLOAT4.oid: float,
    FLOAT8.oid: float,
    NUMERIC.oid: decimal.Decimal,
    DATE.oid: _parse_date,
    TIMESTAMP.oid: _parse_timestamp,
    TIMESTAMPTZ.oid: _parse_ts,
    TIME.oid: lambda s: dt.time.fromisoformat(s.strip()),
    UUID.oid: uuid.UUID,
    BYTEA.oid: lambda s: bytes.fromhex(s[2:]) if s.startswith("\\x") else s.encode(),
    JSON.oid: str,
}


#: array oid → element oid, for array parameters (psycopg sends a list as one of these)
_PARAM_ARRAYS = {arr.oid: elem.oid for elem, arr in _ARRAYS}


def array_of(elem: PgType) -> PgType:
    """The array type of an element type (``text`` → ``_text``), for parameters like
    ``= ANY($1)``."""
    for arr, e in _PARAM_ARRAYS.items():
        if e == elem.oid:
            return PgType(arr, PG_TYPE_NAMES.get(arr, f"_{elem.name}"), -1)
    return TEXT_ARRAY


def looks_like_array(raw: bytes | None) -> bool:
    """Whether a text parameter is a PostgreSQL array literal (``{a,b}``)."""
    return raw is not None and raw.startswith(b"{") and raw.rstrip().endswith(b"}")


def _array_from_text(text: str, elem_oid: int) -> list:
    """PostgreSQL's array literal (``{1,2}``, ``{"a b",NULL}``, ``{{1,2},{3,4}}``) as a list."""
    dec = _TEXT_DECODERS.get(elem_oid, str)
    pos = 0
    if "=" in text and text.lstrip().startswith("["):  # explicit bounds: [1:2]={…}
        text = text[text.index("=") + 1 :]

    def parse() -> list:
        nonlocal pos
        out: list = []
        if text[pos] != "{":
            raise ValueError('array value must start with "{"')
        pos += 1
        while True:
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if text[pos] == "}":
                pos += 1
                return out
            if text[pos] == "{":
                out.append(parse())
            elif text[pos] == '"':
                pos += 1
                buf = []
                while text[pos] != '"':
                    if text[pos] == "\\":
                        pos += 1
                    buf.append(text[pos])
                    pos += 1
                pos += 1
                out.append(dec("".join(buf)))
            else:
                start = pos
                while text[pos] not in ",}":
                    pos += 1
                item = text[start:pos].strip()
                out.append(None if item.upper() == "NULL" else dec(item))
            while text[pos].isspace():
                pos += 1
            if text[pos] == ",":
                pos += 1

    try:
        value = parse()
    except IndexError:
        raise ValueError("malformed array literal") from None
    if text[pos:].strip():
        raise ValueError("junk after closing right brace")
    return value


def _array_from_binary(b: bytes) -> list:
    """PostgreSQL's array_recv: dimensions, NULL flag, element type, bounds, elements."""
    ndim, _flags, elem_oid = struct.unpack_from("!iii", b)
    if not 0 <= ndim <= 6:
        raise ValueError("invalid number of array dimensions")
    dims = [struct.unpack_from("!ii", b, 12 + 8 * i)[0] for i in range(ndim)]
    pos = 12 + 8 * ndim
    dec = _BINARY_DECODERS.get(elem_oid)
    if dec is None:
        raise ValueError(f"binary arrays of type oid {elem_oid} are not supported")
    flat = []
    for _ in range(math.prod(dims) if dims else 0):
        (n,) = struct.unpack_from("!i", b, pos)
        pos += 4
        flat.append(None if n < 0 else dec(b[pos : pos + n]))
        pos += max(n, 0)

    def shape(items: list, ds: list[int]) -> list:
        if len(ds) <= 1:
            return items
        step = len(items) // ds[0]
        return [shape(items[i * step : (i + 1) * step], ds[1:]) for i in range(ds[0])]

    return shape(flat, dims)


def _numeric_from_binary(b: bytes) -> decimal.Decimal:
    ndigits, weight, sign, dscale = struct.unpack_from("!hhHh", b)
    if sign == 0xC000:
        return decimal.Decimal("NaN")
    digits = struct.unpack_from(f"!{ndigits}H", b, 8)
    value = decimal.Decimal(0)
    for i, d in enumerate(digits):
        value += decimal.Decimal(d).scaleb(4 * (weight - i))
    value = value.quantize(decimal.Decimal(1).scaleb(-dscale)) if dscale else value
    return -value if sign == 0x4000 else value


_BINARY_DECODERS: dict[int, Callable[[bytes], Any]] = {
    BOOL.oid: lambda b: b != b"\x00",
    INT2.oid: lambda b: struct.unpack("!h", b)[0],
    INT4.oid: lambda b: struct.unpack("!i", b)[0],
    OID.oid: lambda b: struct.unpack("!I", b)[0],
    INT8.oid: lambda b: struct.unpack("!q", b)[0],
    FLOAT4.oid: lambda b: struct.unpack("!f", b)[0],
    FLOAT8.oid: lambda b: struct.unpack("!d", b)[0],
    NUMERIC.oid: _numeric_from_binary,
    DATE.oid: lambda b: _PG_EPOCH_DATE + dt.timedelta(days=struct.unpack("!i", b)[0]),
    TIMESTAMP.oid: lambda b: _PG_EPOCH + dt.timedelta(microseconds=struct.unpack("!q", b)[0]),
    TIMESTAMPTZ.oid: lambda b: _PG_EPOCH_TZ + dt.timedelta(microseconds=struct.unpack("!q", b)[0]),
    TIME.oid: lambda b: (
        dt.datetime.min + dt.timedelta(microseconds=struct.unpack("!q", b)[0])
    ).time(),
    UUID.oid: lambda b: uuid.UUID(bytes=b),
    BYTEA.oid: bytes,
    TEXT.oid: lambda b: b.decode(),
    VARCHAR.oid: lambda b: b.decode(),
    NAME.oid: lambda b: b.decode(),
    UNKNOWN.oid: lambda b: b.decode(),
    JSON.oid: lambda b: b.decode(),
    3802: lambda b: b[1:].decode(),  # jsonb: version byte + text
}


def decode_param(raw: bytes | None, oid: int, fmt: int) -> Any:
    """A Bind parameter as the Python value DuckDB binds (``ValueError`` when invalid)."""
    if raw is None:
        return None
    if oid in _PARAM_ARRAYS:
        try:
            if fmt == 1:
                return _array_from_binary(raw)
            return _array_from_text(raw.decode(), _PARAM_ARRAYS[oid])
        except (struct.error, UnicodeDecodeError, ValueError, decimal.InvalidOperation) as exc:
            raise ValueError(
                f"malformed array literal for type {PG_TYPE_NAMES.get(oid, oid)}: {exc}"
            ) from None
    if fmt == 1:
        dec = _BINARY_DECODERS.get(oid)
        if dec is None:
            raise ValueError(f"binary format is not supported for parameter type oid {oid}")
        try:
            return dec(raw)
        except (struct.error, UnicodeDecodeError, OverflowError, ValueError) as exc:
            raise ValueError(
                f"invalid binary value for parameter type {PG_TYPE_NAMES.get(oid, oid)}"
            ) from exc
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise ValueError("invalid byte sequence for encoding UTF8 in a parameter") from None
    dec = _TEXT_DECODERS.get(oid)
    if dec is None:
        return text
    try:
        return dec(text)
    except (ValueError, OverflowError, decimal.InvalidOperation) as exc:
        raise ValueError(
            f"invalid input syntax for type {PG_TYPE_NAMES.get(oid, oid)}: {text!r}"
        ) from exc
