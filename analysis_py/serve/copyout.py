"""COPY TO STDOUT output: record batches as CopyData messages in text, CSV or binary format.

Each column is first turned into PostgreSQL's text representation by the same Arrow
encoder that builds DataRows (:func:`pgtypes.text_piece`), then escaped for the COPY
format, and the rows are assembled with one element-wise join per batch, so a copy costs
no Python work per row. Escaping follows PostgreSQL's ``copyto.c``:

* text: backslash, the delimiter and the control characters ``\\b \\f \\n \\r \\t \\v`` are
  backslash-escaped; NULL is the NULL string (``\\N``);
* CSV: a value is quoted when it contains the delimiter, the quote character, CR or LF, or
  equals the NULL string (and ``\\.`` alone in a one-column copy); inside quotes the quote
  and escape characters are preceded by the escape character; NULL is written unquoted.

Escaping only runs on columns whose bytes contain a special character (checked with one
table lookup over the column's data buffer), which for a typical mart is none of them;
number, date, time and boolean columns are not even scanned when the delimiter, quote and
NULL string cannot occur in them.

Binary format: a CopyData row is exactly a DataRow's body, so the binary DataRow encoder
builds it (``tag=b"d"``); the file header goes inside the first row's message and the
trailer in a message of its own, where PostgreSQL puts them.

Framing: PostgreSQL sends one CopyData message per row, and clients rely on it (libpq's
``PQgetCopyData`` "returns one data row at a time"; psycopg's ``Copy.rows()`` parses each
message as one row). The messages are still built per batch: the per-row message headers
are a numpy block joined in front of the rows, so the batch's bytes go out in one write.
"""

from __future__ import annotations

import struct

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analysis_py.errors import SQLStateError, Unsupported
from analysis_py.pg import types as pgtypes
from analysis_py.pg.copysql import CopySpec
from analysis_py.serve import wire

_I32 = struct.Struct("!i")
#: PostgreSQL's letter escapes for control characters in text format.
_TEXT_CONTROL = {"\b": "b", "\f": "f", "\n": "n", "\r": "r", "\t": "t", "\v": "v"}
#: Every character PostgreSQL's text output of a number, date, time or boolean can contain.
_TYPED_CHARS = frozenset("0123456789+-.:eE NaInfityBC() tf")


def copy_out_response(ncols: int, binary: bool = False) -> bytes:
    """CopyOutResponse: overall format 0 (textual) or 1 (binary), the same for each column."""
    fmt = b"\x01" if binary else b"\x00"
    return wire.msg(b"H", fmt + struct.pack("!h", ncols) + (b"\x00" + fmt) * ncols)


#: Binary COPY file header: signature, flags (no OIDs), header extension length 0.
BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_BINARY_TRAILER = struct.pack("!h", -1)


def copy_done() -> bytes:
    return wire.msg(b"c")


def _lut(chars: str) -> np.ndarray:
    lut = np.zeros(256, dtype=bool)
    for c in chars:
        lut[ord(c)] = True
    return lut


def _offsets(arr: pa.Array) -> np.ndarray:
    return pgtypes._offsets(arr)


def _data(arr: pa.Array) -> np.ndarray:
    off = _offsets(arr)
    if off[-1] == off[0]:
        return np.empty(0, dtype=np.uint8)
    return np.frombuffer(
        arr.buffers()[2], dtype=np.uint8, count=int(off[-1] - off[0]), offset=int(off[0])
    )


def _lengths(arr: pa.Array) -> np.ndarray:
    return np.diff(_offsets(arr)).astype(np.int64)


class Encoder:
    """Turns batches (or Python rows) of one result into CopyData bytes for one spec."""

    def __init__(self, spec: CopySpec, columns: list[tuple[str, pgtypes.PgType]]):
        self.spec = spec
        self.names = names = [name for name, _t in columns]
        self.types = [t for _n, t in columns]
        self.csv = spec.format == "csv"
        self.binary = spec.format == "binary"
        self._signed = False
        if self.binary:
            arrays = [n for n, t in columns if t.name.startswith("_")]
            if arrays:
                raise Unsupported(
                    f'binary COPY of the array column "{arrays[0]}" is not supported',
                    hint="use FORMAT text or csv, or select the column cast to text",
                )
        d = spec.delimiter
        if self.csv:
            self.special = _lut(d + spec.quote + "\r\n")
            self.pattern = "[" + "".join(_re_char(c) for c in d + spec.quote + "\r\n") + "]"
            force = spec.force_quote
            low = [n.lower() for n in names]
            if force is True:
                self.force = [True] * len(names)
            else:
                unknown = [c for c in force if c not in low and c not in names]
                if unknown:
                    raise SQLStateError(
                        f'FORCE_QUOTE column "{unknown[0]}" is not in the result', sqlstate="42703"
                    )
                self.force = [n in force or n.lower() in force for n in names]
        else:
            self.special = _lut("\\" + "".join(_TEXT_CONTROL) + d)
        self.delim = d.encode()
        self.null = spec.null.encode()
        used = set(d) | (set(spec.quote + spec.null) if self.csv else set())
        self._typed_plain = not (used & _TYPED_CHARS)

    # ---------------------------------------------------------------- header
    def header(self) -> bytes:
        """The header line (column names) as one CopyData message, or b''."""
        if not self.spec.header or self.binary:
            return b""
        col = _binary_array([n.encode() for n in self.names])
        cols = [self._format(col.slice(i, 1), i, header=True) for i in range(len(self.names))]
        return self._messages(cols, 1)

    # ---------------------------------------------------------------- rows
    def finish(self) -> bytes:
        """What ends the data: the binary trailer (with the file header if no row came)."""
        if not self.binary:
            return b""
        return wire.msg(b"d", (b"" if self._signed else BINARY_SIGNATURE) + _BINARY_TRAILER)

    def _sign(self, data: bytes | memoryview) -> bytes | memoryview:
        """Put the binary file header in front of the first row, inside its CopyData
        message (where PostgreSQL puts it, and where psycopg looks for it)."""
        if self._signed or not data:
            return data
        self._signed = True
        (length,) = _I32.unpack(data[1:5])
        head = b"d" + _I32.pack(length + len(BINARY_SIGNATURE)) + BINARY_SIGNATURE
        return b"".join((head, data[5:]))

    def batch(self, batch: pa.RecordBatch) -> bytes | memoryview:
        if self.binary:
            pieces = [
                pgtypes.binary_piece(c, t) for c, t in zip(batch.columns, self.types, strict=True)
            ]
            return self._sign(pgtypes.datarows_from_columns(pieces, tag=b"d"))
        cols = [
            self._piece(pgtypes.text_piece(c), i, self._plain(c.type))
            for i, c in enumerate(batch.columns)
        ]
        return self._messages(cols, len(batch))

    def _plain(self, t: pa.DataType) -> bool:
        """Whether no value of an Arrow type can need escaping or quoting in this format:
        numbers, dates, times and booleans print only characters from ``_TYPED_CHARS``,
        never an empty string and never ``\\.``, so unless the delimiter (or quote, or a
        non-empty NULL string in CSV) uses those characters, their columns skip the scan."""
        typed = (
            pa.types.is_integer(t)
            or pa.types.is_floating(t)
            or pa.types.is_decimal(t)
            or pa.types.is_date(t)
            or pa.types.is_timestamp(t)
            or pa.types.is_time(t)
            or pa.types.is_boolean(t)
        )
        return typed and self._typed_plain

    def _piece(self, piece: pgtypes.Piece, i: int, plain: bool = False) -> pgtypes.Piece:
        """A column ready to join: a fixed-width block left as it is when it needs no
        escaping or quoting (numbers, dates, codes), else a formatted binary array."""
        if plain and not (self.csv and self.force[i]):
            if isinstance(piece, np.ndarray) or not piece.null_count:
                return piece
            arr = piece.fill_null(self.null)
            block = pgtypes._fixed_block(arr)
            return arr if block is None else block
        if isinstance(piece, np.ndarray):
            w = piece.shape[1]
            plain = not self.special[piece].any()
            if self.csv:
                plain = plain and not self.force[i] and w != len(self.null)
                plain = plain and not (w == 2 and len(self.names) == 1)  # "\\." alone
            if plain:
                return piece
            piece = pgtypes._binary_from_block(piece)
        arr = self._format(piece, i)
        block = pgtypes._fixed_block(arr)
        return arr if block is None else block

    def rows(self, rows: list[tuple]) -> bytes | memoryview:
        """Python rows (the first small fetch of a result, catalog results)."""
        if not rows:
            return b""
        n = len(self.names)
        if self.binary:
            msgs = []
            for r in rows:
                vals = [
                    None if v is None else pgtypes.binary_value(v, t)
                    for v, t in zip(r, self.types, strict=True)
                ]
                msgs.append(b"d" + wire.data_row(vals)[1:])
            return self._sign(b"".join(msgs))
        cols = []
        for i in range(n):
            vals = [None if r[i] is None else pgtypes.text_value(r[i]).encode() for r in rows]
            cols.append(self._format(_binary_array(vals), i))
        return self._messages(cols, len(rows))

    def _format(self, arr: pa.Array, i: int, header: bool = False) -> pa.Array:
        """One column escaped (text) or quoted (CSV), NULLs replaced by the NULL string."""
        if pa.types.is_large_binary(arr.type):
            arr = arr.cast(pa.binary())
        if self.csv:
            arr = self._quote(arr, i, header)
        elif self.special[_data(arr)].any():
            arr = self._escape(arr)
        if arr.null_count:
            arr = arr.fill_null(self.null)
        return arr

    def _escape(self, arr: pa.Array) -> pa.Array:
        arr = pc.replace_substring(arr, b"\\", b"\\\\")
        for ch, letter in _TEXT_CONTROL.items():
            arr = pc.replace_substring(arr, ch.encode(), b"\\" + letter.encode())
        d = self.spec.delimiter
        if d not in _TEXT_CONTROL:
            arr = pc.replace_substring(arr, d.encode(), b"\\" + d.encode())
        return arr

    def _null_like(self, arr: pa.Array) -> np.ndarray:
        """Non-NULL values equal to the NULL string (as a writable bool array)."""
        if self.spec.null == "":
            eq = _lengths(arr) == 0
        else:
            eq = pc.equal(arr, pa.scalar(self.null, pa.binary())).fill_null(False)
            eq = np.array(eq.to_numpy(zero_copy_only=False), dtype=bool)
        if arr.null_count:
            eq &= arr.is_valid().to_numpy(zero_copy_only=False)
        return eq

    def _quote(self, arr: pa.Array, i: int, header: bool) -> pa.Array:
        spec = self.spec
        n = len(arr)
        if self.force[i] and not header:
            mask = np.ones(n, dtype=bool)
        else:
            mask = self._null_like(arr)  # a value equal to the NULL string is quoted
            if self.special[_data(arr)].any():
                mask |= (
                    pc.match_substring_regex(arr, self.pattern)
                    .fill_null(False)
                    .to_numpy(zero_copy_only=False)
                )
            if len(self.names) == 1:  # "\\." alone on a line would read as end of data
                dot = pc.equal(arr, pa.scalar(b"\\.", pa.binary())).fill_null(False)
                mask |= dot.to_numpy(zero_copy_only=False)
            if not mask.any():
                return arr
        q, e = spec.quote.encode(), spec.escape.encode()
        body = arr
        if e != q:
            body = pc.replace_substring(body, e, e + e)
        body = pc.replace_substring(body, q, e + q)
        quoted = pc.binary_join_element_wise(q, body, q, b"")
        return pc.if_else(_bool_array(mask), quoted, arr)

    def _messages(self, cols: list[pgtypes.Piece], n: int) -> bytes | memoryview:
        """One CopyData message per row: ``'d' len col1 delim col2 ... '\\n'``.

        As for DataRows (:func:`pgtypes.datarows_from_columns`), the message header, the
        delimiters and every fixed-width column are laid out in numpy blocks, and only the
        varying-width columns go through Arrow's element-wise join.
        """
        if n == 0:
            return b""
        total = np.full(n, 4 + len(self.delim) * (len(cols) - 1) + 1, dtype=np.int64)
        for c in cols:
            total += c.shape[1] if isinstance(c, np.ndarray) else _lengths(c)
        if int(total.sum()) + n > pgtypes.MAX_JOIN_BYTES and n > 1:  # 32-bit Arrow offsets
            half = n // 2
            first = self._messages([c[:half] for c in cols], half)
            return b"".join((first, self._messages([c[half:] for c in cols], n - half)))
        head = np.empty(n, dtype=[("t", "S1"), ("len", ">i4")])
        head["t"] = b"d"
        head["len"] = total
        run = pgtypes._Run()
        run.block(head.view(np.uint8).reshape(n, 5))
        plan: list = []
        for j, c in enumerate(cols):
            if j:
                run.const(self.delim)
            if isinstance(c, np.ndarray):
                run.block(c)
            else:
                plan += [run, c]
                run = pgtypes._Run()
        run.const(b"\n")
        plan.append(run)
        parts = [p.build(n) if isinstance(p, pgtypes._Run) else p for p in plan]
        parts = [p for p in parts if p is not None]
        joined = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, b"")
        off = _offsets(joined)
        return memoryview(joined.buffers()[2])[off[0] : off[-1]]


def _re_char(c: str) -> str:
    return "\\" + c if c in "\\^]-[" else ("\\r" if c == "\r" else "\\n" if c == "\n" else c)


def _bool_array(mask: np.ndarray) -> pa.Array:
    n = len(mask)
    return pa.BooleanArray.from_buffers(
        pa.bool_(), n, [None, pa.py_buffer(np.packbits(mask, bitorder="little"))]
    )


def _binary_array(values: list[bytes | None]) -> pa.Array:
    """A binary array from Python bytes without ``pa.array`` (which imports pandas)."""
    n = len(values)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum([0 if v is None else len(v) for v in values], out=offsets[1:])
    valid = np.array([v is not None for v in values], dtype=bool)
    data = b"".join(v for v in values if v is not None)
    return pa.BinaryArray.from_buffers(
        pa.binary(),
        n,
        [
            pa.py_buffer(np.packbits(valid, bitorder="little")),
            pa.py_buffer(offsets),
            pa.py_buffer(data),
        ],
        int(n - valid.sum()),
    )
