"""The asyncio Postgres wire-protocol server (protocol 3.0).

One coroutine per connection speaks the protocol; every DuckDB call (and the encoding of
large batches) runs in a thread pool, so one slow query never stalls other clients.
Startup: SSLRequest (TLS if configured, else 'N'), GSSENCRequest ('N'), CancelRequest,
SCRAM-SHA-256; then the simple query protocol (multi-statement) and the extended one
(Parse/Bind/Describe/Execute/Sync/Close/Flush, portals with row limits). Errors carry
SQLSTATEs; a protocol violation closes only that connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hmac
import json
import logging
import os
import re
import secrets
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pyarrow as pa

from analysis_py.errors import OpsMetricsError, SQLStateError
from analysis_py.pg import copysql, settings
from analysis_py.pg import types as pgtypes
from analysis_py.pg.engine import Engine
from analysis_py.pg.session import Portal, Result, Session, count_params
from analysis_py.serve import wire
from analysis_py.serve.config import ServeConfig
from analysis_py.serve.copyout import Encoder, copy_done, copy_out_response
from analysis_py.serve.scram import MECHANISM, ScramError, ScramExchange, parse_verifier
from analysis_py.sql.split import split_statements

log = logging.getLogger("opsmetrics.serve")

BIG = 1 << 62
#: statements longer than this are split into statements in the thread pool, not on the loop
SPLIT_IN_POOL = 64 << 10
MAX_PARAMS = 65535
MAX_AUTH_MESSAGE = 8192  # SASL messages are a few hundred bytes


@dataclass
class Prepared:
    name: str
    text: str
    param_oids: list[int]
    copy: copysql.CopySpec | None = None


class Disconnect(Exception):
    pass


class QueryLog:
    """JSON lines: one per statement (user, role, SQL, kind, rows, ms, error).

    Bounded: each SQL text is cut at :data:`LOG_SQL_CHARS`, and the file is rotated at
    ``max_bytes`` keeping ``backups`` old files (``queries.jsonl.1`` …). An entry never holds
    result values: string literals inside error messages (which DuckDB fills with the
    offending value) are replaced by ``'…'``."""

    def __init__(self, path, max_bytes: int = 64 << 20, backups: int = 3):
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._lock = threading.Lock()
        self._f = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._f = open(path, "a", buffering=1)  # noqa: SIM115 - closed in close()

    def write(self, **rec) -> None:
        if self._f is None:
            return
        if rec.get("error"):
            rec["error"] = redact(str(rec["error"]))
        rec = {"ts": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"), **rec}
        line = json.dumps(rec, default=str)
        with self._lock:
            try:
                if self.max_bytes and self._f.tell() + len(line) + 1 > self.max_bytes:
                    self._rotate()
                self._f.write(line + "\n")
            except OSError as exc:  # a full disk must not take queries down with it
                log.warning("query log not written: %s", exc.strerror or exc)

    def _rotate(self) -> None:
        self._f.close()
        for i in range(self.backups, 0, -1):
            src = self.path if i == 1 else self.path.with_name(f"{self.path.name}.{i - 1}")
            if src.exists():
                os.replace(src, self.path.with_name(f"{self.path.name}.{i}"))
        if self.backups == 0:
            self.path.unlink(missing_ok=True)
        self._f = open(self.path, "a", buffering=1)  # noqa: SIM115 - closed in close()

    def close(self) -> None:
        if self._f:
            self._f.close()


LOG_SQL_CHARS = 4000
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")


def redact(message: str) -> str:
    """An error message without the values it quotes (kept: its words and SQLSTATE)."""
    return _QUOTED.sub(lambda m: m.group(0)[0] + "…" + m.group(0)[0], message)


class PgServer:
    def __init__(self, engine: Engine, config: ServeConfig):
        self.engine = engine
        self.config = config
        self.pool = ThreadPoolExecutor(
            max_workers=max(4, min(32, config.max_connections)), thread_name_prefix="opsmetrics-sql"
        )
        self.sessions: dict[int, tuple[int, Session]] = {}
        self.active = 0
        self.qlog = QueryLog(config.query_log, config.query_log_max_bytes, config.query_log_backups)
        self.pending = 0  # connections not yet authenticated
        self._failures: dict[str, int] = {}  # consecutive failed logins per user
        self.ssl_context: ssl.SSLContext | None = None
        if config.tls_cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(str(config.tls_cert), str(config.tls_key))
            self.ssl_context = ctx
        self._server: asyncio.base_events.Server | None = None
        self._poller: asyncio.Task | None = None
        self._next_pid = 1000
        self.verifiers = {
            u.name: parse_verifier(u.verifier) for u in config.users.values() if u.verifier
        }

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> tuple[str, int]:
        try:
            self._server = await asyncio.start_server(
                self._handle, self.config.host, self.config.port, limit=wire.MAX_MESSAGE
            )
        except OSError as exc:
            from analysis_py.errors import ConfigError

            raise ConfigError(
                f"cannot listen on {self.config.host}:{self.config.port}: {exc.strerror or exc}",
                hint="choose another --port (or port 0 for any free one), or stop the process using it",
            ) from None
        self._poller = asyncio.create_task(self._poll())
        sock = self._server.sockets[0].getsockname()
        return sock[0], sock[1]

    async def serve_forever(self) -> None:
        assert self._server is not None
        async with self._server:
            await self._server.serve_forever()

    async def stop(self) -> None:
        if self._poller:
            self._poller.cancel()
        if self._server:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        for _secret, s in list(self.sessions.values()):
            s.interrupt()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.qlog.close()

    async def _poll(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.config.poll_interval)
            try:
                await loop.run_in_executor(self.pool, self.engine.refresh)
            except Exception as exc:  # keep serving the last good build
                log.error("refresh failed: %s", exc)

    # ------------------------------------------------------------------ connection
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session: Session | None = None
        conn: _Conn | None = None
        pid = 0
        counted = False
        pending = False
        try:
            # A connection takes a slot only once authenticated: clients that connect and say
            # nothing (or fail to log in) cost a bounded number of pending handshakes, each
            # for at most authentication_timeout, and never lock real users out.
            if self.pending >= self.config.max_pending:
                writer.write(
                    wire.error_response(
                        "53300",
                        "sorry, too many clients are connecting at once",
                        severity="FATAL",
                        hint="try again in a moment",
                    )
                )
                return
            self.pending += 1
            pending = True
            try:
                ready = await asyncio.wait_for(
                    self._login(reader, writer), self.config.authentication_timeout
                )
            except TimeoutError:
                writer.write(
                    wire.error_response(
                        "08P01", "canceling authentication due to timeout", severity="FATAL"
                    )
                )
                return
            self.pending -= 1
            pending = False
            if ready is None:
                return
            params, reader, writer, user = ready
            if self.active >= self.config.max_connections:
                writer.write(
                    wire.error_response(
                        "53300", "sorry, too many clients already", severity="FATAL"
                    )
                )
                return
            self.active += 1
            counted = True
            pid = self._next_pid = self._next_pid + 1
            secret = secrets.randbits(31)
            role = self.config.roles[self.config.users[user].role]
            session = Session(
                self.engine,
                user,
                role,
                pid=pid,
                max_rows=self.config.max_rows,
                application_name=params.get("application_name", ""),
            )
            self.sessions[pid] = (secret, session)
            out = [wire.auth_ok()]
            for k, v in self._parameter_status(session).items():
                out.append(wire.parameter_status(k, v))
            out.append(wire.backend_key_data(pid, secret))
            out.append(wire.ready_for_query("I"))
            writer.write(b"".join(out))
            await writer.drain()
            conn = _Conn(self, session, reader, writer)
            await conn.run()
        except (asyncio.IncompleteReadError, ConnectionError, Disconnect):
            pass
        except wire.ProtocolError as exc:
            with contextlib.suppress(Exception):
                writer.write(wire.error_response("08P01", str(exc), severity="FATAL"))
        except Exception as exc:  # never let one connection take the server down
            log.error("connection closed after an internal error: %s: %s", type(exc).__name__, exc)
            log.debug("internal error", exc_info=exc)
            with contextlib.suppress(Exception):
                writer.write(wire.error_response("XX000", "internal error", severity="FATAL"))
        finally:
            if pending:
                self.pending -= 1
            if counted:
                self.active -= 1
            if conn is not None:
                conn.close_all()  # open portals hold generation leases and cursors
            if session is not None:
                self.sessions.pop(pid, None)
                session.interrupt()
                with contextlib.suppress(Exception):
                    session.close()
            with contextlib.suppress(Exception):
                await writer.drain()
            with contextlib.suppress(Exception):
                writer.close()

    async def _login(self, reader, writer):
        """Startup and authentication: (params, reader, writer, user), or None when the
        connection ends (cancel request, refused protocol, failed login, unknown database)."""
        startup = await self._startup(reader, writer)
        if startup is None:
            return None
        params, reader, writer = startup
        user = params.get("user", "")
        if not await self._authenticate(reader, writer, user):
            return None
        db = params.get("database") or user
        if db != self.config.database:
            writer.write(
                wire.error_response(
                    "3D000",
                    f'database "{db}" does not exist',
                    severity="FATAL",
                    hint=f'this server serves the database "{self.config.database}"',
                )
            )
            return None
        return params, reader, writer, user

    def _parameter_status(self, session: Session) -> dict[str, str]:
        return settings.reported(session.settings, session.user)

    async def _startup(self, reader, writer):
        """Negotiate SSL/GSS and read the StartupMessage; None when the connection ends."""
        for _ in range(3):
            code, payload = await wire.read_startup(reader)
            if code == wire.SSL_REQUEST:
                if self.ssl_context is None:
                    writer.write(b"N")
                    await writer.drain()
                    continue
                writer.write(b"S")
                await writer.drain()
                await writer.start_tls(self.ssl_context)
                continue
            if code == wire.GSSENC_REQUEST:
                writer.write(b"N")
                await writer.drain()
                continue
            if code == wire.CANCEL_REQUEST:
                if len(payload) == 8:
                    pid, key = (
                        int.from_bytes(payload[:4], "big"),
                        int.from_bytes(payload[4:], "big"),
                    )
                    entry = self.sessions.get(pid)
                    if entry and hmac.compare_digest(
                        entry[0].to_bytes(4, "big"), key.to_bytes(4, "big")
                    ):
                        entry[1].interrupt()
                return None
            if code == wire.PROTOCOL_V3:
                return wire.parse_startup_params(payload), reader, writer
            major = code >> 16
            writer.write(
                wire.error_response(
                    "0A000",
                    f"unsupported frontend protocol {major}.{code & 0xFFFF}: server supports 3.0",
                    severity="FATAL",
                )
            )
            return None
        raise wire.ProtocolError("too many startup negotiation messages")

    async def _authenticate(self, reader, writer, user: str) -> bool:
        if not user:
            writer.write(
                wire.error_response(
                    "28000", "no PostgreSQL user name specified in startup packet", severity="FATAL"
                )
            )
            return False
        exchange = ScramExchange(self.verifiers.get(user))
        writer.write(wire.auth_sasl([MECHANISM]))
        await writer.drain()
        failed = wire.error_response(
            "28P01", f'password authentication failed for user "{user}"', severity="FATAL"
        )
        tag, payload = await wire.read_message(reader, MAX_AUTH_MESSAGE)
        if tag != b"p":
            raise wire.ProtocolError("expected SASLInitialResponse")
        buf = wire.Buffer(payload)
        mech = buf.cstr()
        n = buf.int32()
        data = buf.bytes(n) if n >= 0 else b""
        if mech != MECHANISM:
            writer.write(
                wire.error_response("28000", f"unsupported SASL mechanism {mech}", severity="FATAL")
            )
            return False
        try:
            writer.write(wire.auth_sasl_continue(exchange.first(data)))
            await writer.drain()
            tag, payload = await wire.read_message(reader, MAX_AUTH_MESSAGE)
            if tag != b"p":
                raise wire.ProtocolError("expected SASLResponse")
            final = exchange.final(payload)
        except ScramError as exc:
            n = self._failures.get(user, 0) + 1
            self._failures[user] = n
            if len(self._failures) > 10000:  # bounded however many names are tried
                self._failures.pop(next(iter(self._failures)))
            log.info("authentication failed for %r (%d in a row): %s", user[:64], n, exc)
            self.qlog.write(user=user[:64], event="auth_failed")
            # answered late, as PostgreSQL's auth_delay does, and later for each further
            # failure of the same user, so guessing passwords costs seconds, not milliseconds
            delay = min(
                self.config.auth_failure_delay * 2 ** min(n - 1, 30),
                self.config.auth_failure_max_delay,
            )
            await asyncio.sleep(delay)
            writer.write(failed)
            return False
        self._failures.pop(user, None)
        writer.write(wire.auth_sasl_final(final))
        return True

    # ------------------------------------------------------------------ execution helpers
    async def run(self, session: Session, fn, *args):
        """Run blocking work in the pool under the statement timeout."""
        loop = asyncio.get_running_loop()
        timeout = self.config.statement_timeout
        st_s = _seconds(session.settings.get("statement_timeout", "0"))
        if st_s > 0:
            timeout = min(timeout, st_s) if timeout else st_s
        handle = loop.call_later(timeout, session.interrupt) if timeout else None
        try:
            return await loop.run_in_executor(self.pool, fn, *args)
        finally:
            if handle:
                handle.cancel()


def _encode(chunk, columns, formats: list[int]) -> bytes | memoryview:
    fmts = _formats(formats, len(columns))
    if isinstance(chunk, pa.RecordBatch):
        cols = []
        for i, col in enumerate(chunk.columns):
            if fmts[i] == 1:
                cols.append(pgtypes.binary_piece(col, columns[i][1]))
            else:
                cols.append(pgtypes.text_piece(col))
        return pgtypes.datarows_from_columns(cols)
    if not any(fmts):
        return b"".join(wire.data_row(pgtypes.text_row(r)) for r in chunk)
    out = []
    for r in chunk:
        vals = []
        for i, v in enumerate(r):
            if v is None:
                vals.append(None)
            elif fmts[i] == 1:
                vals.append(pgtypes.binary_value(v, columns[i][1]))
            else:
                vals.append(pgtypes.text_value(v).encode())
        out.append(wire.data_row(vals))
    return b"".join(out)


def _formats(formats: list[int], n: int) -> list[int]:
    if not formats:
        return [0] * n
    if len(formats) == 1:
        return formats * n
    if len(formats) != n:
        raise SQLStateError(
            f"bind message has {len(formats)} result formats but query has {n} columns",
            sqlstate="08P01",
        )
    return formats


def _row_description(columns, formats: list[int], origins=None) -> bytes:
    fmts = _formats(formats, len(columns))
    origins = origins or [(0, 0)] * len(columns)
    return wire.row_description(
        (name, table, attnum, t.oid, t.size, t.typmod, fmts[i])
        for i, ((name, t), (table, attnum)) in enumerate(zip(columns, origins, strict=True))
    )


def _tag(result: Result, count: int) -> str:
    if result.tag == "SELECT":
        return f"SELECT {count}"
    if result.tag == "SHOW" or result.tag == "EXPLAIN":
        return "SHOW" if result.tag == "SHOW" else "EXPLAIN"
    return result.tag


def _error_bytes(exc: BaseException) -> tuple[bytes, str, str]:
    if isinstance(exc, SQLStateError):
        return (
            wire.error_response(exc.sqlstate, exc.message, hint=exc.hint),
            exc.sqlstate,
            exc.message,
        )
    if isinstance(exc, OpsMetricsError):
        return wire.error_response("42000", exc.message, hint=exc.hint), "42000", exc.message
    if isinstance(exc, ValueError):
        return wire.error_response("22P02", str(exc)), "22P02", str(exc)
    if isinstance(exc, OSError) and str(exc).startswith("INTERRUPT Error"):
        # DuckDB's Arrow stream reports an interrupt (cancel, timeout) as an OSError
        msg = "canceling statement due to statement timeout or user request"
        return wire.error_response("57014", msg), "57014", msg
    if isinstance(exc, RecursionError):
        msg = "statement is too deeply nested"
        hint = "simplify the statement (fewer nested parentheses, NOTs or subqueries)"
        return wire.error_response("54001", msg, hint=hint), "54001", msg
    if isinstance(exc, MemoryError):
        msg = "out of memory"
        return wire.error_response("53200", msg), "53200", msg
    # a defect of ours: one line in the server log (the traceback only at debug level)
    log.error("internal error: %s: %s", type(exc).__name__, exc)
    log.debug("internal error", exc_info=exc)
    return wire.error_response("XX000", f"internal error: {type(exc).__name__}"), "XX000", str(exc)


class _Conn:
    """Protocol state for one authenticated connection."""

    def __init__(self, server: PgServer, session: Session, reader, writer):
        self.server = server
        self.session = session
        self.reader = reader
        self.writer = writer
        self.prepared: dict[str, Prepared] = {}
        #: bound portals and SQL cursors share one namespace, as in PostgreSQL
        self.portals: dict[str, Portal] = session.portals
        self.skip_to_sync = False

    def close_all(self) -> None:
        """Close every portal of the connection (each holds a cursor and a generation lease)."""
        for name in list(self.portals):
            self.session.close_portal(name)

    async def run(self) -> None:
        limit = self.server.config.max_message_bytes
        while True:
            tag, payload = await wire.read_message(self.reader, limit)
            if self.skip_to_sync and tag not in (b"S", b"X"):
                continue
            if tag == b"Q":
                await self.simple_query(wire.Buffer(payload).cstr())
            elif tag == b"P":
                await self.guarded(self.parse, payload)
            elif tag == b"B":
                await self.guarded(self.bind, payload)
            elif tag == b"D":
                await self.guarded(self.describe, payload)
            elif tag == b"E":
                await self.guarded(self.execute, payload)
            elif tag == b"S":
                self.skip_to_sync = False
                await self.sync()
            elif tag == b"H":
                await self.writer.drain()
            elif tag == b"C":
                await self.guarded(self.close, payload)
            elif tag == b"X":
                raise Disconnect()
            elif tag in (b"d", b"c", b"f"):
                pass  # CopyData/CopyDone/CopyFail outside COPY FROM: ignored, as PostgreSQL does
            else:
                raise wire.ProtocolError(f"invalid frontend message type {tag!r}")

    async def guarded(self, fn, payload: bytes) -> None:
        try:
            await fn(wire.Buffer(payload))
        except (wire.ProtocolError, ConnectionError):
            raise
        except Exception as exc:
            self.session.on_error()
            data, _state, _msg = _error_bytes(exc)
            self.writer.write(data)
            self.skip_to_sync = True

    # ------------------------------------------------------------------ simple query
    async def split(self, sql: str) -> list[str]:
        """Statements of a message; a long one is split in the pool, off the event loop."""
        if len(sql) <= SPLIT_IN_POOL:
            return split_statements(sql)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.server.pool, split_statements, sql)

    async def simple_query(self, sql: str) -> None:
        try:
            stmts = await self.split(sql)
        except Exception as exc:
            data, state, msg = _error_bytes(exc)
            self.writer.write(data)
            self._log(sql, "error", 0, time.perf_counter(), error=f"{state} {msg}")
            self.writer.write(wire.ready_for_query(self.session.status))
            await self.writer.drain()
            return
        if not stmts:
            self.writer.write(wire.empty_query())
        for stmt in stmts:
            t0 = time.perf_counter()
            count = 0
            result = None
            try:
                if copysql.is_copy(stmt):
                    count = await self.copy_statement(stmt, None, t0)
                    continue
                result = await self.server.run(self.session, self.session.execute, stmt, None)
                self._notices(result)
                if result.columns is not None:
                    self.writer.write(_row_description(result.columns, [], result.origins))
                    count, _ = await self.send_rows(result, [], BIG)
                if result.tag == "EMPTY":
                    self.writer.write(wire.empty_query())
                else:
                    self.writer.write(wire.command_complete(_tag(result, count)))
                self._log(stmt, result.kind, count, t0)
            except ConnectionError:
                raise
            except Exception as exc:
                self.session.on_error()
                data, state, msg = _error_bytes(exc)
                self.writer.write(data)
                self._log(stmt, "error", 0, t0, error=f"{state} {msg}")
                break
            finally:
                if result is not None and result.source is not None:
                    result.source.close()  # its cursor and generation lease, even mid-stream
        self.writer.write(wire.ready_for_query(self.session.status))
        await self.writer.drain()

    def _notices(self, result: Result) -> None:
        for n in result.notices:
            self.writer.write(wire.notice_response(n, severity="WARNING", code="25001"))
        for k, v in result.parameter_changes.items():
            self.writer.write(wire.parameter_status(k, v))

    def _log(self, sql: str, kind: str, rows: int, t0: float, error: str | None = None) -> None:
        self.server.qlog.write(
            user=self.session.user,
            role=self.session.role.name,
            app=self.session.settings.get("application_name", ""),
            kind=kind,
            sql=sql[:LOG_SQL_CHARS] + ("…" if len(sql) > LOG_SQL_CHARS else ""),
            rows=rows,
            ms=round((time.perf_counter() - t0) * 1000, 3),
            **({"error": error} if error else {}),
        )

    async def send_rows(self, result: Result, formats: list[int], limit: int) -> tuple[int, bool]:
        """Send up to ``limit`` rows as DataRows; (rows sent, more rows remain)."""
        cols = result.columns or []
        sent, more = await self._stream(result, lambda c: _encode(c, cols, formats), limit)
        self._truncation_notice(result)
        return sent, more

    async def _stream(self, result: Result, encode, limit: int) -> tuple[int, bool]:
        """Fetch up to ``limit`` rows, ``encode`` each chunk (in the pool when large) and
        write it, draining whenever a megabyte is buffered; (rows sent, more rows remain)."""
        src = result.source
        sent = 0
        loop = asyncio.get_running_loop()
        while src is not None and not src.done and sent < limit:
            chunk = await self.server.run(self.session, src.fetch, limit - sent)
            if chunk is None:
                break
            n = len(chunk)
            if n == 0:
                continue
            if n > 1000:
                data = await loop.run_in_executor(self.server.pool, encode, chunk)
            else:
                data = encode(chunk)
            self.writer.write(data)
            sent += n
            if self.writer.transport.get_write_buffer_size() > (1 << 20):
                await self.writer.drain()
        more = src is not None and not src.done
        return sent, more

    def _truncation_notice(self, result: Result) -> None:
        if result.source is not None and getattr(result.source, "truncated", False):
            self.writer.write(
                wire.notice_response(
                    f"result truncated to {self.server.config.max_rows} rows (server row limit)",
                    severity="WARNING",
                    code="01000",
                )
            )

    # ------------------------------------------------------------------ COPY TO STDOUT
    async def copy_statement(self, stmt: str, params, t0: float) -> int:
        """A whole COPY in the simple protocol: run the wrapped query, stream, complete."""
        spec = copysql.parse_copy(stmt)
        assert spec is not None
        result = await self._copy_query(spec, params)
        count = await self.copy_out(result, spec)
        self.writer.write(wire.command_complete(f"COPY {count}"))
        self._log(stmt, "copy", count, t0)
        return count

    async def _copy_query(self, spec: copysql.CopySpec, params) -> Result:
        """The query a COPY wraps, run exactly as the same query sent on its own."""
        result = await self.server.run(self.session, self.session.execute, spec.query, params)
        if result.columns is None:
            if result.source is not None:
                result.source.close()
            raise SQLStateError("COPY (...) must wrap a query that returns rows", sqlstate="42601")
        self._notices(result)
        return result

    async def copy_out(self, result: Result, spec: copysql.CopySpec) -> int:
        """CopyOutResponse, one CopyData per row (written a batch at a time), CopyDone.

        An error while streaming ends the copy with an ErrorResponse and no CopyDone, as
        PostgreSQL does; the result is closed either way so its snapshot is released.
        """
        cols = result.columns or []
        try:
            enc = Encoder(spec, cols)
            self.writer.write(copy_out_response(len(cols), enc.binary) + enc.header())

            def encode(chunk):
                return enc.batch(chunk) if isinstance(chunk, pa.RecordBatch) else enc.rows(chunk)

            count, _more = await self._stream(result, encode, BIG)
            self.writer.write(enc.finish())
        finally:
            if result.source is not None:
                result.source.close()
        self.writer.write(copy_done())
        self._truncation_notice(result)
        return count

    # ------------------------------------------------------------------ extended protocol
    async def parse(self, buf: wire.Buffer) -> None:
        name = buf.cstr()
        text = buf.cstr()
        n = buf.int16()
        oids = [buf.int32() for _ in range(max(0, n))]
        if name and name in self.prepared:
            raise SQLStateError(f'prepared statement "{name}" already exists', sqlstate="42P05")
        if n > MAX_PARAMS or count_params(text) > MAX_PARAMS:
            raise SQLStateError(
                f"a statement can have at most {MAX_PARAMS} parameters", sqlstate="54023"
            )
        stmts = await self.split(text)
        if len(stmts) > 1:
            raise SQLStateError(
                "cannot insert multiple commands into a prepared statement", sqlstate="42601"
            )
        text = stmts[0] if stmts else ""
        spec = copysql.parse_copy(text) if copysql.is_copy(text) else None
        self.prepared[name] = Prepared(name, text, oids, copy=spec)
        self.writer.write(wire.parse_complete())

    async def bind(self, buf: wire.Buffer) -> None:
        portal = buf.cstr()
        stmt_name = buf.cstr()
        nf = buf.int16()
        pformats = [buf.int16() for _ in range(max(0, nf))]
        np_ = buf.int16()
        raw: list[bytes | None] = []
        for _ in range(max(0, np_)):
            ln = buf.int32()
            raw.append(None if ln < 0 else buf.bytes(ln))
        nr = buf.int16()
        rformats = [buf.int16() for _ in range(max(0, nr))]
        stmt = self.prepared.get(stmt_name)
        if stmt is None:
            raise SQLStateError(
                f'prepared statement "{stmt_name}" does not exist', sqlstate="26000"
            )
        if portal and portal in self.portals:
            raise SQLStateError(f'cursor "{portal}" already exists', sqlstate="42P03")
        if len(pformats) not in (0, 1, len(raw)):
            raise wire.ProtocolError("bind message has an invalid number of parameter formats")
        formats = [
            pformats[0] if len(pformats) == 1 else (pformats[i] if pformats else 0)
            for i in range(len(raw))
        ]
        oids = [stmt.param_oids[i] if i < len(stmt.param_oids) else 0 for i in range(len(raw))]
        if stmt.copy is None and any(
            o == 0 and f == 0 and (pgtypes.looks_like_datetime(v) or pgtypes.looks_like_array(v))
            for o, f, v in zip(oids, formats, raw, strict=True)
        ):
            # an untyped date/time or array in PostgreSQL's own input form (PgJDBC's setDate
            # sends '2025-06-01 +00' untyped, psycopg a list of str as '{a,b}'): infer the
            # parameter types as PostgreSQL does at Parse, once per statement, so the value is
            # read as a date/time or an array, not text
            oids = stmt.param_oids = await self._infer_oids(stmt, oids)
        params = [
            pgtypes.decode_param(value, oid, fmt)
            for value, oid, fmt in zip(raw, oids, formats, strict=True)
        ]
        self.session.close_portal(portal)
        t0 = time.perf_counter()
        if stmt.copy is not None:
            result = await self._copy_query(stmt.copy, params or None)
        else:
            result = await self.server.run(
                self.session, self.session.execute, stmt.text, params or None
            )
            self._notices(result)
        self.portals[portal] = Portal(
            portal, result, rformats, stmt_text=stmt.text, started=t0, copy=stmt.copy
        )
        self.writer.write(wire.bind_complete())

    async def _infer_oids(self, stmt: Prepared, oids: list[int]) -> list[int]:
        """``oids`` with each open one (0) the type the session infers (0 where it cannot)."""
        inferred = await self.server.run(
            self.session, self.session.param_types, stmt.text, len(oids)
        )
        return [o or (t.oid if t else 0) for o, t in zip(oids, inferred, strict=True)]

    async def describe(self, buf: wire.Buffer) -> None:
        kind = buf.bytes(1)
        name = buf.cstr()
        if kind == b"S":
            stmt = self.prepared.get(name)
            if stmt is None:
                raise SQLStateError(f'prepared statement "{name}" does not exist', sqlstate="26000")
            n = count_params(stmt.text)
            oids = list(stmt.param_oids) + [0] * max(0, n - len(stmt.param_oids))
            if 0 in oids and stmt.copy is None:
                # as PostgreSQL: a type the client left open is inferred from the statement, and
                # Bind then reads the value (text or binary) as that type
                oids = await self._infer_oids(stmt, oids)
            oids = [o if o else pgtypes.TEXT.oid for o in oids]
            stmt.param_oids = oids  # what the client was told, so Bind reads its values so
            self.writer.write(wire.parameter_description(oids))
            if stmt.copy is not None:  # COPY returns no rows, only copy data
                self.writer.write(wire.no_data())
                return
            cols, origins = await self.server.run(
                self.session, self.session.describe_statement, stmt.text, n
            )
            self.writer.write(
                _row_description(cols, [], origins) if cols is not None else wire.no_data()
            )
        elif kind == b"P":
            portal = self.portals.get(name)
            if portal is None:
                raise SQLStateError(f'portal "{name}" does not exist', sqlstate="34000")
            cols = None if portal.copy else portal.result.columns
            self.writer.write(
                _row_description(cols, portal.formats, portal.result.origins)
                if cols is not None
                else wire.no_data()
            )
        else:
            raise wire.ProtocolError("invalid Describe kind")

    async def execute(self, buf: wire.Buffer) -> None:
        name = buf.cstr()
        max_rows = buf.int32()
        portal = self.portals.get(name)  # bound, or a cursor DECLAREd in SQL
        if portal is None:
            raise SQLStateError(f'portal "{name}" does not exist', sqlstate="34000")
        result = portal.result
        if portal.copy is not None:  # the whole copy, whatever the row limit (as PostgreSQL)
            if portal.sent:
                raise SQLStateError("COPY portal already executed", sqlstate="55000")
            portal.sent = count = await self.copy_out(result, portal.copy)
            self.writer.write(wire.command_complete(f"COPY {count}"))
            self._log(portal.stmt_text, "copy", count, portal.started or time.perf_counter())
            return
        if result.tag == "EMPTY":
            self.writer.write(wire.empty_query())
            return
        if result.columns is None:
            self.writer.write(wire.command_complete(result.tag))
            self._log(portal.stmt_text, result.kind, 0, portal.started or time.perf_counter())
            return
        limit = max_rows if max_rows > 0 else BIG
        sent, more = await self.send_rows(result, portal.formats, limit)
        portal.sent += sent
        if more or (max_rows > 0 and sent == max_rows and result.source and not result.source.done):
            self.writer.write(wire.portal_suspended())
        else:
            self.writer.write(wire.command_complete(_tag(result, portal.sent)))
            self._log(
                portal.stmt_text, result.kind, portal.sent, portal.started or time.perf_counter()
            )

    async def close(self, buf: wire.Buffer) -> None:
        kind = buf.bytes(1)
        name = buf.cstr()
        if kind == b"S":
            self.prepared.pop(name, None)
        elif kind == b"P":
            self.session.close_portal(name)
        else:
            raise wire.ProtocolError("invalid Close kind")
        self.writer.write(wire.close_complete())

    async def sync(self) -> None:
        # the implicit transaction ends: bound portals close (SQL cursors end with their
        # transaction, or live on WITH HOLD); inside a block, only the unnamed one
        if self.session.status == "I":
            for name, p in list(self.portals.items()):
                if not p.sql_cursor:
                    self.session.close_portal(name)
        else:
            self.session.close_portal("")
        self.writer.write(wire.ready_for_query(self.session.status))
        await self.writer.drain()


def _seconds(value: str) -> float:
    """A Postgres duration setting (plain number = milliseconds) in seconds."""
    import re

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|min|h)?\s*", str(value))
    if not m:
        return 0.0
    scale = {None: 0.001, "ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0}[m.group(2)]
    return float(m.group(1)) * scale
