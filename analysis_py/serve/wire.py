"""Postgres frontend/backend protocol v3: message framing, nothing else.

Pure functions that build backend messages as ``bytes`` and a reader that pulls one
frontend message at a time from an asyncio stream with a size limit, so a malformed or
hostile client can cost at most one bounded buffer. Reference: PostgreSQL docs,
"Frontend/Backend Protocol — Message Formats".
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterable, Sequence

PROTOCOL_V3 = 196608  # 3.0
SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102

#: Largest frontend message accepted by default (``server.max_message_bytes``): a 16 MiB
#: query is already absurd for a BI tool, and a longer one is refused before it is read.
MAX_MESSAGE = 16 * 1024 * 1024
MAX_STARTUP = 10_000

_I32 = struct.Struct("!i")
_I16 = struct.Struct("!h")


class ProtocolError(Exception):
    """The client broke the protocol; the connection is closed after an 08P01 error."""


def msg(tag: bytes, payload: bytes = b"") -> bytes:
    return tag + _I32.pack(len(payload) + 4) + payload


def cstr(s: str) -> bytes:
    return s.encode() + b"\x00"


# ---------------------------------------------------------------- backend messages
def auth_ok() -> bytes:
    return msg(b"R", _I32.pack(0))


def auth_sasl(mechanisms: Sequence[str]) -> bytes:
    return msg(b"R", _I32.pack(10) + b"".join(cstr(m) for m in mechanisms) + b"\x00")


def auth_sasl_continue(data: bytes) -> bytes:
    return msg(b"R", _I32.pack(11) + data)


def auth_sasl_final(data: bytes) -> bytes:
    return msg(b"R", _I32.pack(12) + data)


def parameter_status(name: str, value: str) -> bytes:
    return msg(b"S", cstr(name) + cstr(value))


def backend_key_data(pid: int, secret: int) -> bytes:
    return msg(b"K", struct.pack("!ii", pid, secret))


def ready_for_query(status: str) -> bytes:
    return msg(b"Z", status.encode())


def command_complete(tag: str) -> bytes:
    return msg(b"C", cstr(tag))


def empty_query() -> bytes:
    return msg(b"I")


def parse_complete() -> bytes:
    return msg(b"1")


def bind_complete() -> bytes:
    return msg(b"2")


def close_complete() -> bytes:
    return msg(b"3")


def no_data() -> bytes:
    return msg(b"n")


def portal_suspended() -> bytes:
    return msg(b"s")


def parameter_description(oids: Sequence[int]) -> bytes:
    return msg(b"t", _I16.pack(len(oids)) + b"".join(_I32.pack(o) for o in oids))


def row_description(fields: Iterable[tuple[str, int, int, int, int, int, int]]) -> bytes:
    """``fields``: (name, table OID, column number, type OID, type size, type modifier,
    format code); the table and column are 0 where the column is not read from a table."""
    fields = list(fields)
    out = [_I16.pack(len(fields))]
    for name, table, attnum, oid, size, typmod, fmt in fields:
        out.append(cstr(name) + struct.pack("!ihihih", table, attnum, oid, size, typmod, fmt))
    return msg(b"T", b"".join(out))


def data_row(values: Sequence[bytes | None]) -> bytes:
    out = [_I16.pack(len(values))]
    for v in values:
        if v is None:
            out.append(b"\xff\xff\xff\xff")
        else:
            out.append(_I32.pack(len(v)) + v)
    return msg(b"D", b"".join(out))


def _fields(severity: str, code: str, message: str, detail: str | None, hint: str | None):
    parts = [b"S" + cstr(severity), b"V" + cstr(severity), b"C" + cstr(code), b"M" + cstr(message)]
    if detail:
        parts.append(b"D" + cstr(detail))
    if hint:
        parts.append(b"H" + cstr(hint))
    return b"".join(parts) + b"\x00"


def error_response(
    code: str,
    message: str,
    *,
    detail: str | None = None,
    hint: str | None = None,
    severity: str = "ERROR",
) -> bytes:
    return msg(b"E", _fields(severity, code, message, detail, hint))


def notice_response(message: str, *, code: str = "01000", severity: str = "NOTICE") -> bytes:
    return msg(b"N", _fields(severity, code, message, None, None))


# ---------------------------------------------------------------- frontend messages
async def read_startup(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The untagged first message: (code, rest of payload)."""
    head = await reader.readexactly(8)
    length, code = struct.unpack("!ii", head)
    if length < 8 or length > MAX_STARTUP:
        raise ProtocolError(f"invalid startup packet length {length}")
    return code, await reader.readexactly(length - 8)


async def read_message(
    reader: asyncio.StreamReader, limit: int = MAX_MESSAGE
) -> tuple[bytes, bytes]:
    """One tagged message: (type byte, payload)."""
    head = await reader.readexactly(5)
    tag = head[:1]
    (length,) = _I32.unpack_from(head, 1)
    if length > limit:
        raise ProtocolError(
            f"message of {length} bytes exceeds this server's limit of {limit} bytes "
            "(server.max_message_bytes)"
        )
    if length < 4:
        raise ProtocolError(f"invalid message length {length} for message type {tag!r}")
    return tag, await reader.readexactly(length - 4) if length > 4 else b""


class Buffer:
    """Cursor over a frontend message payload; every read is bounds-checked."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def _take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ProtocolError("message is shorter than its contents claim")
        b = self.data[self.pos : self.pos + n]
        self.pos += n
        return b

    def int16(self) -> int:
        return _I16.unpack(self._take(2))[0]

    def uint16(self) -> int:
        return struct.unpack("!H", self._take(2))[0]

    def int32(self) -> int:
        return _I32.unpack(self._take(4))[0]

    def bytes(self, n: int) -> bytes:
        return self._take(n)

    def cstr(self) -> str:
        end = self.data.find(b"\x00", self.pos)
        if end < 0:
            raise ProtocolError("unterminated string in message")
        s = self.data[self.pos : end]
        self.pos = end + 1
        try:
            return s.decode()
        except UnicodeDecodeError as exc:
            raise ProtocolError("invalid UTF-8 in message") from exc

    def rest(self) -> bytes:
        b = self.data[self.pos :]
        self.pos = len(self.data)
        return b


def parse_startup_params(payload: bytes) -> dict[str, str]:
    buf = Buffer(payload)
    params: dict[str, str] = {}
    while buf.pos < len(payload):
        key = buf.cstr()
        if not key:
            break
        params[key] = buf.cstr()
    return params
