"""One client's session: statement dispatch, emulated session statements, cursors.

A statement is, in order: an emulated session statement (``SET``, ``SHOW``, ``BEGIN``,
``SAVEPOINT``, ``DECLARE``/``FETCH``/``CLOSE`` ...), a dbt Semantic Layer JDBC call
(``{{ semantic_layer.query(...) }}``), semantic SQL over ``metrics`` (compiled by the
semantic layer), or a read-only query passed through the guard and the dialect rewrite to
DuckDB. Results come back as a :class:`Result` whose rows are pulled in batches, so a
protocol layer can stream them and honour row limits.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

from analysis_py.errors import (
    FilterError,
    Forbidden,
    QueryError,
    SemanticError,
    SemanticSQLError,
    SQLStateError,
    Unsupported,
)
from analysis_py.pg import rewrite
from analysis_py.pg.engine import Engine, Generation
from analysis_py.pg.governance import Role
from analysis_py.pg.origins import column_origins
from analysis_py.pg.settings import DEFAULT_SETTINGS, REPORTED
from analysis_py.pg.types import TEXT, PgType, array_of, pg_type_named, pg_type_of
from analysis_py.sql import guard

log = logging.getLogger("opsmetrics.sql")

SMALL_FETCH = 200
ARROW_BATCH = 65536
#: The plan cache (shared by all sessions of a process) holds at most this many plans and
#: this many bytes of statement and plan text; longer statements are never cached.
PLAN_CACHE_ENTRIES = 1024
PLAN_CACHE_BYTES = 32 << 20
PLAN_CACHE_MAX_TEXT = 64 << 10


# ---------------------------------------------------------------- errors
_DUCK_STATES = [
    (duckdb.InterruptException, "57014"),
    (duckdb.PermissionException, "42501"),
    (duckdb.ParserException, "42601"),
    (duckdb.ConversionException, "22P02"),
    (duckdb.OutOfRangeException, "22003"),
    (duckdb.BinderException, "42703"),
    (duckdb.CatalogException, "42P01"),
    (duckdb.InvalidInputException, "22023"),
    (duckdb.NotImplementedException, "0A000"),
    (duckdb.OutOfMemoryException, "53200"),
    (duckdb.TransactionException, "40001"),
]


def duck_error(exc: duckdb.Error) -> SQLStateError:
    """A DuckDB exception as a client-facing error with a fitting SQLSTATE."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    first = re.sub(r"^[A-Za-z ]+ Error: ", "", first)
    state = "XX000"
    for cls, code in _DUCK_STATES:
        if isinstance(exc, cls):
            state = code
            break
    if state == "42P01" and re.search(r"Function|Macro", first):
        state = "42883"
    if state == "42703" and "does not exist" not in first and "not found" not in first:
        state = "42804" if "type" in first.lower() else "42703"
    if isinstance(exc, duckdb.InterruptException):
        first = "canceling statement due to statement timeout or user request"
    # never leak internal database aliases
    first = re.sub(r"\b(role_\w+|gen_\d+|_sem|_pg|_is)\.", "", first)
    return SQLStateError(first, sqlstate=state)


def spark_error(exc: Exception) -> SQLStateError:
    """A Spark cluster's failure to run a metric query, as a client-facing error."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    first = re.sub(r"`?_sem_gen_\d+_(\w+)`?", r"\1", first)  # never leak internal view names
    return SQLStateError(
        f"the Spark cluster could not run the metric query: {first[:300]}",
        hint="is the cluster up? `opsmetrics spark status`",
        sqlstate="58000",
    )


def semantic_error(exc: SemanticError) -> SQLStateError:
    state = "42P01" if isinstance(exc, QueryError) and "unknown" in exc.message else "42000"
    if isinstance(exc, FilterError):
        state = "42601"
    return SQLStateError(exc.message, hint=exc.hint, sqlstate=state)


# ---------------------------------------------------------------- results
class RowSource:
    columns: list[tuple[str, PgType]]
    done: bool = False

    def fetch(self, n: int) -> list[tuple] | pa.RecordBatch | None:
        raise NotImplementedError

    def close(self) -> None:
        self.done = True

    def take(self, n: int) -> tuple[list[tuple], list[pa.RecordBatch], int]:
        """Up to ``n`` more rows: (row tuples, Arrow batches, how many in all). A source gives
        its row tuples (at most a first chunk) before its batches."""
        rows: list[tuple] = []
        batches: list[pa.RecordBatch] = []
        got = 0
        while not self.done and got < n:
            chunk = self.fetch(n - got)
            if chunk is None:
                break
            if isinstance(chunk, pa.RecordBatch):
                batches.append(chunk)
            else:
                rows.extend(chunk)
            got += len(chunk)
        return rows, batches, got


class ListSource(RowSource):
    def __init__(self, columns: list[tuple[str, PgType]], rows: Sequence[tuple]):
        self.columns = columns
        self.rows = list(rows)
        self.pos = 0
        self.done = not self.rows

    def fetch(self, n: int):
        if self.done:
            return None
        out = self.rows[self.pos : self.pos + n]
        self.pos += len(out)
        self.done = self.pos >= len(self.rows)
        return out


class ArrowSource(RowSource):
    """Rows of a result already in memory (the result cache's), as Arrow batches, cut at the
    session's row limit as :class:`DuckSource` would."""

    def __init__(self, columns, table: pa.Table, max_rows: int):
        self.columns = columns
        limit = max_rows if max_rows > 0 else table.num_rows
        self.truncated = table.num_rows > limit
        self._batches = table.slice(0, limit).to_batches(ARROW_BATCH)
        self.done = not self._batches

    def fetch(self, n: int):
        if self.done:
            return None
        batch = self._batches[0]
        if len(batch) > n:
            self._batches[0] = batch.slice(n)
            return batch.slice(0, n)
        self._batches.pop(0)
        self.done = not self._batches
        return batch


class DuckSource(RowSource):
    """Rows from a DuckDB cursor: a small first fetch in Python, then Arrow batches."""

    def __init__(self, session: Session, cur, gen: Generation | None, columns, max_rows: int):
        self.session = session
        self.cur = cur
        self.gen = gen
        self.columns = columns
        self.left = max_rows if max_rows > 0 else 1 << 62
        self.truncated = False
        self._reader = None
        self._pending: pa.RecordBatch | None = None
        self._first = True
        self.done = False

    def fetch(self, n: int):
        if self.done:
            return None
        want = min(n, self.left)
        try:
            if self._first:
                self._first = False
                k = min(want, SMALL_FETCH)
                rows = self.cur.fetchmany(k)
                self.left -= len(rows)
                if len(rows) < k:
                    self.close()
                elif self.left <= 0:
                    self._limit_reached()
                return rows
            if self._pending is None or len(self._pending) == 0:
                if self._reader is None:
                    with warnings.catch_warnings():  # the copy is cheaper than re-running
                        warnings.simplefilter("ignore")
                        self._reader = self.cur.to_arrow_reader(ARROW_BATCH)
                try:
                    self._pending = self._reader.read_next_batch()
                except StopIteration:
                    self.close()
                    return None
            batch = self._pending.slice(0, want)
            self._pending = self._pending.slice(len(batch))
            self.left -= len(batch)
            if self.left <= 0:
                self._limit_reached()
            return batch
        except duckdb.Error as exc:
            self.close()
            raise duck_error(exc) from None

    def _limit_reached(self) -> None:
        try:
            more = (
                self.cur.fetchmany(1)
                if self._reader is None
                else (len(self._pending or []) > 0 or self._reader.read_next_batch() is not None)
            )
        except (StopIteration, duckdb.Error):
            more = False
        self.truncated = bool(more)
        self.close()

    def close(self) -> None:
        if self.done and self.cur is None:
            return
        self.done = True
        cur, self.cur = self.cur, None
        self._reader = None
        self._pending = None
        if cur is not None:
            self.session._give_back(cur)
        gen, self.gen = self.gen, None
        self.session.engine.release(gen)


@dataclass
class Result:
    tag: str
    columns: list[tuple[str, PgType]] | None = None
    source: RowSource | None = None
    notices: list[str] = field(default_factory=list)
    parameter_changes: dict[str, str] = field(default_factory=dict)
    kind: str = "command"  # command | query | semantic | catalog
    #: (table OID, column number) of each column read straight from a relation, else (0, 0)
    origins: list[tuple[int, int]] | None = None


@dataclass
class Portal:
    """A statement being read: a cursor DECLAREd in SQL or a portal bound by the extended
    protocol. One namespace for both, as in PostgreSQL."""

    name: str
    result: Result
    formats: list[int] = field(default_factory=list)  # result formats (0 text, 1 binary)
    holdable: bool = False  # WITH HOLD: survives the end of its transaction
    sent: int = 0  # rows sent so far
    sql_cursor: bool = False  # DECLAREd in SQL (else bound by the protocol)
    stmt_text: str = ""  # the statement, for the query log
    started: float = 0.0
    copy: Any = None  # a COPY … TO STDOUT portal: its copysql.CopySpec


_BEGIN = re.compile(r"^(begin|start\s+transaction)\b", re.I)
_COMMIT = re.compile(r"^(commit|end)(\s+(work|transaction))?\s*(and\s+no\s+chain)?$", re.I)
_ROLLBACK_TO = re.compile(r"^rollback(\s+(work|transaction))?\s+to\b", re.I)
_ROLLBACK = re.compile(r"^(rollback|abort)(\s+(work|transaction))?\s*(and\s+no\s+chain)?$", re.I)
_SAVEPOINT = re.compile(r"^savepoint\s+\S+$", re.I)
_RELEASE = re.compile(r"^release(\s+savepoint)?\s+\S+$", re.I)
_SET = re.compile(
    r"^set\s+(?:(session|local)\s+)?(?:(time\s+zone)|([\w.]+)\s*(?:to|=))\s*(.+?)\s*$", re.I | re.S
)
_SET_OTHER = re.compile(
    r"^set\s+(session\s+characteristics|transaction|names|role|session\s+authorization)\b", re.I
)
_RESET = re.compile(r"^reset\s+([\w.]+)$", re.I)
_SHOW = re.compile(r"^show\s+(.+?)$", re.I | re.S)
_DISCARD = re.compile(r"^discard\s+(all|plans|sequences|temp|temporary)$", re.I)
_DEALLOCATE = re.compile(r"^deallocate\s+(?:prepare\s+)?(\S+)$", re.I)
_LISTEN = re.compile(r"^(listen|unlisten|notify)\b", re.I)
_DECLARE = re.compile(
    r"^declare\s+(\"[^\"]+\"|\w+)\s+(binary\s+)?((?:a|in)?sensitive\s+)?(no\s+)?(scroll\s+)?"
    r"cursor\s+(?:(with|without)\s+hold\s+)?for\s+(.+)$",
    re.I | re.S,
)
_FETCH = re.compile(
    r"^(fetch|move)\s+(?:(next|prior|first|last|all|forward\s+all|forward\s+\d+|forward|"
    r"backward\s+all|backward\s+\d+|backward|absolute\s+-?\d+|relative\s+-?\d+|-?\d+)\s+)?"
    r"(?:from\s+|in\s+)?(\"[^\"]+\"|\w+)$",
    re.I,
)
_CLOSE = re.compile(r"^close\s+(\"[^\"]+\"|\w+)$", re.I)
_EXPLAIN = re.compile(
    r"^explain\s+(?:\(([^)]*)\)\s+)?((?:analy[sz]e\s+|verbose\s+)*)(.+)$", re.I | re.S
)
_JDBC = re.compile(r"\{\{\s*semantic_layer\s*\.", re.I)


def _unquote_ident(s: str) -> str:
    return s[1:-1].replace('""', '"') if s.startswith('"') else s.lower()


def _unquote_value(v: str) -> str:
    v = v.strip()
    if v.upper() == "DEFAULT":
        return ""
    parts = re.findall(r"'((?:[^']|'')*)'|([^,\s]+)", v)
    vals = [a.replace("''", "'") if a or not b else b for a, b in parts]
    return ", ".join(vals) if len(vals) > 1 else (vals[0] if vals else v)


class Session:
    """Per-client state over a shared :class:`Engine`."""

    _plan_cache: ClassVar[OrderedDict] = OrderedDict()
    _plan_lock: ClassVar[threading.Lock] = threading.Lock()
    _plan_bytes: ClassVar[int] = 0

    def __init__(
        self,
        engine: Engine,
        user: str,
        role: Role,
        *,
        pid: int = 0,
        max_rows: int = 0,
        application_name: str = "",
    ):
        self.engine = engine
        self.user = user
        self.role = role
        self.max_rows = max_rows
        self.settings = dict(DEFAULT_SETTINGS)
        self.settings["application_name"] = application_name
        self.settings["session_authorization"] = user
        self.ctx = rewrite.SessionContext(
            user, engine.options.database, pid, self.settings, catalog=role.db_name
        )
        self.status = "I"  # I idle, T in transaction, E failed transaction
        self.portals: dict[str, Portal] = {}
        self.prepared: dict[str, Any] = {}
        self._free: list = []
        self._active: set = set()
        self._active_lock = threading.Lock()
        self.savepoints: list[str] = []

    # ------------------------------------------------------------------ cursors
    def _take_cursor(self):
        cur = self._free.pop() if self._free else self.engine.cursor(self.role)
        with self._active_lock:
            self._active.add(cur)
        return cur

    def _give_back(self, cur) -> None:
        with self._active_lock:
            self._active.discard(cur)
        if len(self._free) < 4:
            self._free.append(cur)
        else:
            cur.close()

    def interrupt(self) -> None:
        """Cancel whatever this session runs (CancelRequest, statement timeout)."""
        with self._active_lock:
            active = list(self._active)
        for cur in active:
            with contextlib.suppress(duckdb.Error):
                cur.interrupt()

    def close(self) -> None:
        for p in list(self.portals.values()):
            if p.result.source:
                p.result.source.close()
        self.portals.clear()
        for cur in self._free:
            cur.close()
        self._free.clear()

    # ------------------------------------------------------------------ transactions
    def on_error(self) -> None:
        if self.status == "T":
            self.status = "E"

    def end_transaction(self) -> None:
        self.status = "I"
        self.savepoints.clear()
        for name, p in list(self.portals.items()):
            if p.sql_cursor and not p.holdable:
                if p.result.source:
                    p.result.source.close()
                del self.portals[name]

    # ------------------------------------------------------------------ dispatch
    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Result:
        """Run one statement (already split) and return its result."""
        text = sql.strip().rstrip(";").strip()
        if not text:
            return Result("EMPTY")
        if self.status == "E" and not (
            _ROLLBACK.match(text) or _ROLLBACK_TO.match(text) or _COMMIT.match(text)
        ):
            raise SQLStateError(
                "current transaction is aborted, commands ignored until end of transaction block",
                sqlstate="25P02",
            )
        word = _FIRST_WORD.match(text)
        for pattern, handler in _STATEMENTS.get(word.group(0).lower() if word else "", ()):
            if m := pattern.match(text):
                return handler(self, m, params)
        if _JDBC.search(text):
            return self._jdbc(text, params)
        guard.check_leading_keyword(text)
        return self._query(text, params)

    # each handler: (session, match of its pattern, parameters) -> Result
    def _begin(self, m, params) -> Result:
        notices = []
        if self.status != "I":
            notices.append("there is already a transaction in progress")
        self.status = "T" if self.status == "I" else self.status
        return Result("BEGIN", notices=notices)

    def _commit(self, m, params) -> Result:
        tag = "ROLLBACK" if self.status == "E" else "COMMIT"
        notices = [] if self.status != "I" else ["there is no transaction in progress"]
        self.end_transaction()
        return Result(tag, notices=notices)

    def _rollback_to(self, m, params) -> Result:
        if self.status == "I":
            raise SQLStateError(
                "ROLLBACK TO SAVEPOINT can only be used in transaction blocks", sqlstate="25P01"
            )
        self.status = "T"
        return Result("ROLLBACK")

    def _rollback(self, m, params) -> Result:
        notices = [] if self.status != "I" else ["there is no transaction in progress"]
        self.end_transaction()
        return Result("ROLLBACK", notices=notices)

    def _savepoint(self, m, params) -> Result:
        if self.status == "I":
            raise SQLStateError(
                "SAVEPOINT can only be used in transaction blocks", sqlstate="25P01"
            )
        self.savepoints.append(m.group(0).split()[-1])
        return Result("SAVEPOINT")

    def _set_statement(self, m, params) -> Result:
        name = "timezone" if m.group(2) else m.group(3).lower()
        value = _unquote_value(m.group(4))
        return self.set(name, value, local=(m.group(1) or "").lower() == "local")

    def _reset(self, m, params) -> Result:
        name = m.group(1).lower()
        if name == "all":
            self.settings.update(DEFAULT_SETTINGS)
            return Result("RESET")
        return self.set(name, DEFAULT_SETTINGS.get(name, ""), tag="RESET")

    def _discard(self, m, params) -> Result:
        if m.group(1).lower() == "all":
            self.close()
            self.prepared.clear()
            self.settings.update(DEFAULT_SETTINGS)
        return Result(f"DISCARD {m.group(1).upper()}")

    def _deallocate(self, m, params) -> Result:
        name = _unquote_ident(m.group(1))
        if name == "all":
            self.prepared.clear()
            return Result("DEALLOCATE ALL")
        self.prepared.pop(name, None)
        return Result("DEALLOCATE")

    def _declare_statement(self, m, params) -> Result:
        return self.declare(
            _unquote_ident(m.group(1)),
            m.group(7),
            params,
            holdable=(m.group(6) or "").lower() == "with",
        )

    def _fetch_statement(self, m, params) -> Result:
        return self.fetch_sql(
            m.group(1).lower(), (m.group(2) or "").lower(), _unquote_ident(m.group(3))
        )

    def _close_statement(self, m, params) -> Result:
        name = _unquote_ident(m.group(1))
        if name == "all":
            for p in [p for p in self.portals.values() if p.sql_cursor]:
                self.close_portal(p.name)
            return Result("CLOSE CURSOR ALL")
        if name not in self.portals:
            raise SQLStateError(f'cursor "{name}" does not exist', sqlstate="34000")
        self.close_portal(name)
        return Result("CLOSE CURSOR")

    def _explain_statement(self, m, params) -> Result:
        return self.explain(
            m.group(3),
            params,
            analyze="analy" in (m.group(2) or "").lower() or "analy" in (m.group(1) or "").lower(),
        )

    # ------------------------------------------------------------------ SET / SHOW
    def set(self, name: str, value: str, *, local: bool = False, tag: str = "SET") -> Result:
        if name == "client_encoding" and value.upper().replace("-", "") not in ("UTF8", "UNICODE"):
            raise SQLStateError(
                f"client_encoding {value} is not supported; use UTF8", sqlstate="22023"
            )
        if name in ("transaction_read_only", "default_transaction_read_only") and value.lower() in (
            "off",
            "false",
            "0",
        ):
            raise SQLStateError("this server is read-only", sqlstate="25006")
        if name == "search_path":
            paths = [p.strip().strip('"') for p in value.split(",")]
            paths = ["main" if p == "public" else p for p in paths if p and p != "$user"]
            self.ctx.search_path = tuple(paths) or ("main",)
        self.settings[name] = value
        changes = {REPORTED[name]: value} if name in REPORTED else {}
        return Result(tag, parameter_changes=changes)

    def show(self, what: str) -> Result:
        key = what.lower().strip().strip('"')
        key = {"transaction isolation level": "transaction_isolation", "time zone": "timezone"}.get(
            key, key
        )
        if key == "all":
            rows = [(k, v, "") for k, v in sorted(self.settings.items())]
            cols = [("name", TEXT), ("setting", TEXT), ("description", TEXT)]
            return Result("SHOW", cols, ListSource(cols, rows), kind="query")
        if key == "tables":
            return self._query(
                "select table_schema as schema, table_name as name, table_type as type "
                "from information_schema.tables where table_schema not in "
                "('pg_catalog','information_schema') order by 1, 2",
                None,
            )
        if key not in self.settings:
            raise SQLStateError(f'unrecognized configuration parameter "{what}"', sqlstate="42704")
        cols = [(key, TEXT)]
        return Result("SHOW", cols, ListSource(cols, [(self.settings[key],)]), kind="query")

    # ------------------------------------------------------------------ cursors (SQL)
    def declare(self, name: str, query: str, params, *, holdable: bool) -> Result:
        if self.status == "I" and not holdable:
            raise SQLStateError(
                "DECLARE CURSOR can only be used in transaction blocks", sqlstate="25P01"
            )
        if name in self.portals:
            raise SQLStateError(f'cursor "{name}" already exists', sqlstate="42P03")
        result = self._query(query.strip(), params)
        self.portals[name] = Portal(name, result, holdable=holdable, sql_cursor=True)
        return Result("DECLARE CURSOR")

    def fetch_sql(self, verb: str, direction: str, name: str) -> Result:
        portal = self.portals.get(name)
        if portal is None:
            raise SQLStateError(f'cursor "{name}" does not exist', sqlstate="34000")
        d = direction.split()
        if not d or d[0] in ("next",):
            n = 1
        elif d[0] in ("all",) or d[-1] == "all":
            n = 1 << 62
        elif d[0] == "forward":
            n = int(d[1]) if len(d) > 1 else 1
        elif d[0].lstrip("-").isdigit():
            n = int(d[0])
        else:
            raise Unsupported(
                f"FETCH {direction.upper()} is not supported (cursors are forward-only)"
            )
        src = portal.result.source
        rows, batches, got = src.take(n) if src is not None else ([], [], 0)
        if verb == "move":
            return Result(f"MOVE {got}")
        cols = portal.result.columns or []
        if batches:
            tail = [tuple(r.values()) for b in batches for r in b.to_pylist()]
            rows.extend(tail)
        return Result(f"FETCH {got}", cols, ListSource(cols, rows), kind="query")

    def close_portal(self, name: str) -> None:
        p = self.portals.pop(name, None)
        if p and p.result.source:
            p.result.source.close()

    # ------------------------------------------------------------------ EXPLAIN
    def explain(self, query: str, params, *, analyze: bool) -> Result:
        duck_sql, _kind, _origins = self._plan(query, params)
        cur = self._take_cursor()
        gen = self.engine.acquire()
        try:
            with self._spark_bound(cur, duck_sql, gen, schema_only=not analyze):
                rows = cur.execute(
                    ("EXPLAIN ANALYZE " if analyze else "EXPLAIN ") + duck_sql,
                    list(params) if params else None,
                ).fetchall()
        except duckdb.Error as exc:
            raise duck_error(exc) from None
        finally:
            self.engine.release(gen)
            self._give_back(cur)
        lines = [(line,) for _k, v in rows for line in str(v).splitlines()]
        cols = [("QUERY PLAN", TEXT)]
        return Result("EXPLAIN", cols, ListSource(cols, lines), kind="query")

    # ------------------------------------------------------------------ queries
    def _plan(self, text: str, params) -> tuple[str, str, tuple | None]:
        """(DuckDB SQL, kind, column origins) for a query; cached per role and user."""
        gen = self.engine.current
        # the engine's serial: the cache is shared by every engine of the process (tests run
        # several servers, each with a gen_1 and the same role names)
        key = (self.engine.serial, gen.alias if gen else "", self.role.name, self.user,
               self.max_rows, text)  # fmt: skip
        cacheable = len(text) <= PLAN_CACHE_MAX_TEXT and not re.search(
            r"current_setting|set_config|pg_backend_pid|application_name", text, re.I
        )
        if cacheable:
            with self._plan_lock:
                hit = self._plan_cache.get(key)
                if hit is not None:
                    self._plan_cache.move_to_end(key)
                    return hit
        try:
            tree = rewrite.parse(text)
        except SQLStateError:
            guard.check_unparsed(text)
            raise
        from analysis_py.sql import semantic_sql as sem

        if sem.references_metrics(tree):
            plan = (self._semantic_sql(tree, params), "semantic", None)
            cacheable = cacheable and not params
        else:
            if self.engine.spark is not None and gen is not None:
                read = {t.name.lower() for t in tree.find_all(exp.Table)}
                if read & {m.lower() for m in gen.marts}:
                    raise Unsupported(
                        "this server answers metric queries from a Spark cluster; its marts "
                        "are not readable through it",
                        hint="query metrics (select … from metrics …), or read the marts with "
                        "`opsmetrics query --target spark_cluster`",
                    )
            guard.check_query(tree, self.ctx.database)
            origins = column_origins(tree, self.engine.relations(self.role, gen))
            tree = self._cap(rewrite.rewrite(tree, self.ctx))
            kind = (
                "catalog"
                if any((t.db or "").lower() in ("_pg", "_is") for t in tree.find_all(exp.Table))
                else "query"
            )
            plan = (rewrite.to_duckdb(tree), kind, origins)
        if cacheable:
            self._remember(key, plan)
        return plan

    def _remember(self, key: tuple, plan: tuple[str, str, tuple | None]) -> None:
        """Cache a plan; the cache is bounded by entries and by the bytes of its texts."""
        size = len(key[-1]) + len(plan[0])
        cls = type(self)
        with self._plan_lock:
            if key in self._plan_cache:
                return
            self._plan_cache[key] = plan
            cls._plan_bytes += size
            while self._plan_cache and (
                len(self._plan_cache) > PLAN_CACHE_ENTRIES or cls._plan_bytes > PLAN_CACHE_BYTES
            ):
                old_key, old_plan = self._plan_cache.popitem(last=False)
                cls._plan_bytes -= len(old_key[-1]) + len(old_plan[0])

    def _cap(self, tree: exp.Expression) -> exp.Expression:
        """The server's row limit inside the statement (one row more, to tell truncation)."""
        return rewrite.cap_rows(tree, self.max_rows + 1) if self.max_rows > 0 else tree

    def _client_sql(self, outer: exp.Expression, compiled_sql: str, name: str) -> str:
        """The client-written part of a semantic or JDBC query (projection, outer SELECT)
        through the same guard and rewrite as any plain query, then put over the compiled
        metric query, which is the engine's SQL and visible to it only as ``name``."""
        from analysis_py.sql import semantic_sql as sem

        outer = outer.copy()
        guard.check_query(outer, self.ctx.database, relations=frozenset({name}))
        outer = self._cap(rewrite.rewrite(outer, self.ctx, relations=frozenset({name})))
        return sem.with_result(outer, compiled_sql, name)

    def _query(self, text: str, params) -> Result:
        from analysis_py.pg.spark_source import PlanExpired

        try:
            return self._query_once(text, params)
        except PlanExpired:
            self._forget(text)
            return self._query_once(text, params)

    def _forget(self, text: str) -> None:
        """Drop this role's cached plans of ``text``."""
        cls = type(self)
        with self._plan_lock:
            mine = (self.engine.serial, self.role.name)
            for key in [k for k in self._plan_cache if (k[0], k[2]) == mine and k[-1] == text]:
                plan = self._plan_cache.pop(key)
                cls._plan_bytes -= len(key[-1]) + len(plan[0])

    def _query_once(self, text: str, params) -> Result:
        duck_sql, kind, origins = self._plan(text, params)
        if kind == "semantic":
            params = None
        result = self.run_duckdb(duck_sql, params, kind=kind)
        if origins is not None and result.columns and len(origins) == len(result.columns):
            result.origins = list(origins)
        return result

    def run_duckdb(self, sql: str, params=None, *, kind: str = "query") -> Result:
        # a Spark cluster's answer is read whole (its placeholder lives for one execution)
        if kind == "semantic" and (self.engine.results.enabled or self.engine.spark):
            return self._cached(sql, params)
        gen = self.engine.acquire()
        cur = self._take_cursor()
        try:
            cur.execute(sql, list(params) if params else None)
            desc = cur.description
        except duckdb.Error as exc:
            self._give_back(cur)
            self.engine.release(gen)
            raise duck_error(exc) from None
        except BaseException:
            self._give_back(cur)
            self.engine.release(gen)
            raise
        if desc is None:
            self._give_back(cur)
            self.engine.release(gen)
            return Result("SELECT 0", kind=kind)
        cols = [(d[0], pg_type_of(d[1])) for d in desc]
        return Result("SELECT", cols, DuckSource(self, cur, gen, cols, self.max_rows), kind=kind)

    def _cached(self, sql: str, params) -> Result:
        """A metric query's result from the engine's result cache, or run, kept and returned.
        The key holds the generation it runs on, the role (its grants, masking and row
        policies: the SQL reads the role's own views) and the row limit."""
        cache = self.engine.results
        gen = self.engine.acquire()
        try:
            build = gen.alias if gen is not None else ""
            key = (repr(self.role), self.max_rows, sql, tuple(params or ()))
            hit = cache.get(build, key)
            if hit is None:
                cur = self._take_cursor()
                try:
                    with self._spark_bound(cur, sql, gen):
                        cur.execute(sql, list(params) if params else None)
                        if cur.description is None:
                            return Result("SELECT 0", kind="semantic")
                        with warnings.catch_warnings():  # the copy is cheaper than re-running
                            warnings.simplefilter("ignore")
                            table = cur.to_arrow_table()
                        cols = [(d[0], pg_type_of(d[1])) for d in cur.description]
                except duckdb.Error as exc:
                    raise duck_error(exc) from None
                finally:
                    self._give_back(cur)
                cache.put(build, key, cols, table)
            else:
                cols, table = list(hit.columns), hit.table
        finally:
            self.engine.release(gen)
        return Result("SELECT", cols, ArrowSource(cols, table, self.max_rows), kind="semantic")

    def describe(self, text: str, n_params: int) -> list[tuple[str, PgType]] | None:
        """Result columns of a statement without running it."""
        return self.describe_statement(text, n_params)[0]

    def describe_statement(
        self, text: str, n_params: int
    ) -> tuple[list[tuple[str, PgType]] | None, list[tuple[int, int]] | None]:
        """(result columns, their origins) of a statement without running it, for Describe's
        RowDescription: origins are (table OID, column number) per column, or None."""
        stripped = text.strip().rstrip(";").strip()
        if not stripped:
            return None, None
        low = stripped[:12].lower()
        if low.startswith("show"):
            m = _SHOW.match(stripped)
            key = m.group(1).strip().lower() if m else "setting"
            if key == "all":
                return [("name", TEXT), ("setting", TEXT), ("description", TEXT)], None
            return [(key, TEXT)], None
        if low.startswith("explain"):
            return [("QUERY PLAN", TEXT)], None
        if low.startswith(
            (
                "set",
                "begin",
                "commit",
                "rollback",
                "start",
                "end",
                "savepoint",
                "release",
                "reset",
                "discard",
                "deallocate",
                "declare",
                "close",
                "listen",
                "unlisten",
                "move",
                "abort",
            )
        ):
            return None, None
        if low.startswith("fetch"):
            m = _FETCH.match(stripped)
            p = self.portals.get(_unquote_ident(m.group(3))) if m else None
            return p.result.columns if p else None, None
        if _JDBC.search(stripped):
            r = self._jdbc(stripped, [None] * n_params if n_params else None)
            if r.source:
                r.source.close()
            return r.columns, None
        # a semantic statement is compiled with its parameters as NULL literals: its columns do
        # not depend on their values (Bind then compiles it with the values)
        duck_sql, kind, origins = self._plan(stripped, [None] * n_params if n_params else None)
        cur = self._take_cursor()
        gen = self.engine.acquire()
        try:
            with self._spark_bound(cur, duck_sql, gen, schema_only=True):
                rel = cur.sql(
                    f"SELECT * FROM ({duck_sql}) AS _describe LIMIT 0",
                    params=[None] * n_params if n_params and kind != "semantic" else None,
                )
                cols = [(c, pg_type_of(t)) for c, t in zip(rel.columns, rel.types, strict=True)]
            return cols, list(origins) if origins and len(origins) == len(cols) else None
        except duckdb.Error as exc:
            raise duck_error(exc) from None
        finally:
            self.engine.release(gen)
            self._give_back(cur)

    def param_types(self, text: str, n_params: int) -> list[PgType | None]:
        """The type PostgreSQL would infer for each ``$n`` left unspecified by the client, as
        ParameterDescription reports it: a cast's type (``$1::int``), else the type of the column
        it is compared with (``=``, ``<``…, ``IN``, ``BETWEEN``, ``LIKE``); None where neither
        tells (the caller sends text). Found by describing a probe of the statement (no rows)."""
        out: list[PgType | None] = [None] * n_params
        if not n_params:
            return out
        jdbc_call = None
        try:
            if _JDBC.search(text):
                from analysis_py.sql import jdbc

                jdbc_call = text.strip().rstrip(";")
                tree = jdbc.parse_call(jdbc_call).outer_tree
            else:
                tree = rewrite.parse(text.strip().rstrip(";"))
        except (SQLStateError, sqlglot.errors.SqlglotError, QueryError):
            return out
        from analysis_py.sql.semantic_sql import param_index

        probes: dict[int, tuple[exp.Select, exp.Expression, bool]] = {}
        for node in tree.find_all(exp.Placeholder, exp.Parameter):
            k = param_index(node)
            if k is None or not 1 <= k <= n_params or out[k - 1] is not None:
                continue
            parent = node.parent
            if isinstance(parent, exp.Cast):
                # a PostgreSQL type DuckDB has no name for (oid, oid[], regclass) is looked up
                # in pg_type; another type DuckDB does not know stays open (sent as text)
                out[k - 1] = pg_type_named(parent.to.sql("duckdb"))
                if out[k - 1] is None:
                    with contextlib.suppress(duckdb.Error, ValueError, TypeError):
                        out[k - 1] = pg_type_of(duckdb.sqltype(parent.to.sql("duckdb")))
                continue
            other = None
            as_array = False
            if isinstance(parent, exp.Paren) and isinstance(parent.parent, exp.Any | exp.All):
                node, parent = parent, parent.parent  # ANY(($1)) as sqlglot reads it
            quantified = isinstance(parent, exp.Any | exp.All) or (
                isinstance(parent, exp.Anonymous) and str(parent.name).lower() in ("any", "all")
            )  # sqlglot reads ALL($1) as a function call
            if quantified and isinstance(parent.parent, _COMPARISONS):
                # x = ANY($1): an array of x's type
                as_array, node, parent = True, parent, parent.parent
            if isinstance(parent, _COMPARISONS):
                other = parent.expression if parent.this is node else parent.this
            elif isinstance(parent, exp.In | exp.Between) and parent.this is not node:
                other = parent.this
            select = node.find_ancestor(exp.Select)
            if (
                other is not None
                and select is not None
                and not isinstance(other, exp.Literal)
                and other.find(exp.Placeholder, exp.Parameter) is None
            ):
                probes.setdefault(k, (select, other, as_array))  # a column or expression
        if jdbc_call is not None and probes:
            # the columns compared are the JDBC call's result columns: describe the statement
            try:
                cols = dict(self.describe(jdbc_call, n_params) or [])
            except (SQLStateError, duckdb.Error, QueryError):
                cols = {}
            for k, (_select, column, as_array) in probes.items():
                t = cols.get(column.name) if isinstance(column, exp.Column) else None
                out[k - 1] = array_of(t) if t is not None and as_array else t
            return out
        for k, (select, column, as_array) in probes.items():
            t = self._probe_type(select, column)
            out[k - 1] = array_of(t) if t is not None and as_array else t
        return out

    def _probe_type(self, select: exp.Select, column: exp.Expression) -> PgType | None:
        """The type of ``column`` where ``select`` reads it: the select itself, projecting the
        column (its metric columns kept for a semantic query, which needs one)."""
        from analysis_py.sql import semantic_sql as sem

        probe = select.copy()
        for arg in ("where", "having", "order", "limit", "offset", "distinct", "qualify"):
            probe.set(arg, None)
        col_ = column.copy()
        if sem.references_metrics(probe):
            probe.select(col_.as_("__probe", quoted=True), copy=False)
            group = probe.args.get("group")
            if group is not None and not group.args.get("all"):
                group.append("expressions", column.copy())
        else:
            probe.set("group", None)
            probe.set("expressions", [col_.as_("__probe", quoted=True)])
        try:
            text = probe.sql(dialect="postgres")
            cols = self.describe(text, count_params(text))
        except (SQLStateError, duckdb.Error, sqlglot.errors.SqlglotError, QueryError):
            return None
        return next((t for name, t in cols or [] if name == "__probe"), None)

    # ------------------------------------------------------------------ semantic
    def _layer(self):
        sem = self.engine.semantic
        if sem is None:
            raise Unsupported(
                "the semantic layer is not available on this server (no semantic_manifest.json "
                "in the published build)",
                sqlstate="42P01",
            )
        return sem

    def _semantic_sql(self, tree: exp.Expression, params) -> str:
        from analysis_py.sql import semantic_sql as sem

        info = self._layer()
        guard.check_functions(tree)
        if params:
            tree = sem.bind_params(tree, params)
        tree = sem.fold_constant_times(tree)
        try:
            query = sem.translate(tree, known_metrics=set(info.metrics), grains=info.grains)
        except (Unsupported, SemanticSQLError):
            view = self._metric_view(tree, info)
            if view is None:
                raise
            return view
        compiled = self._compile(info, query.metrics, **query.kwargs())
        return self._client_sql(query.outer(), self._metric_sql(compiled), sem.RESULT)

    def _metric_view(self, tree: exp.Expression, info) -> str | None:
        """A query semantic SQL cannot read as one metric request, over one metric's table
        (``metrics.<metric>``): the table is that metric by day (what ``SELECT *`` from it
        returns), and the query runs over those rows as over any table — a BI tool's
        ``count(*)`` of samples, a subquery around it, formatting of its time column."""
        from analysis_py.sql import semantic_sql as sem

        found = [sem._metric_table(t) for t in tree.find_all(exp.Table)]
        named = [m for is_metrics, m in found if is_metrics]
        if len(named) != 1 or named[0] not in info.metrics:
            return None
        metric = named[0]
        view = sem.translate(
            exp.select("*").from_(exp.to_table(f"metrics.{metric}")),
            known_metrics=set(info.metrics),
            grains=info.grains,
        )
        compiled = self._compile(info, view.metrics, **view.kwargs())
        inner = self._client_sql(view.outer(), self._metric_sql(compiled), sem.RESULT)
        outer = tree.copy()
        name = "metric_view"
        for t in outer.find_all(exp.Table):
            if sem._metric_table(t)[0]:
                alias = t.args.get("alias") or exp.TableAlias(this=exp.to_identifier(metric))
                t.replace(exp.Table(this=exp.to_identifier(name), alias=alias))
        return self._client_sql(outer, inner, name)

    def _compile(self, info, requested, **kwargs):
        """Compile a metric request for this role: every metric it reads must be granted —
        the requested ones (checked first), a saved query's, those named in filters by
        ``{{ Metric(...) }}``, and the inputs of each."""
        for m in requested or []:
            self._check_metric(m)
        gen = self.engine.current
        rollups = gen.rollups.get(self.role.name, []) if gen is not None else []
        try:
            compiled = info.layer.compile(**kwargs, rollups=rollups)
        except SemanticError as exc:
            raise semantic_error(exc) from None
        requested = set(compiled.request.metrics)
        if not requested and self.role.metrics.names is not None:
            # distinct dimension values read semantic models no granted metric may reach
            raise Forbidden(
                "a query without metrics (distinct dimension values) needs a role granted "
                "every metric",
                hint="name one of your metrics in the query",
            )
        for m in sorted(compiled.metrics_used, key=lambda n: (n not in requested, n)):
            self._check_metric(m, requested)
        return compiled

    def _metric_sql(self, compiled) -> str:
        """The compiled metric query as this session's DuckDB SQL reads it: the query itself,
        or on a Spark cluster a placeholder for its result (pg/spark_source.py)."""
        spark = self.engine.spark
        if spark is None:
            return _wire_sql(compiled)
        gen = self.engine.current
        name = spark.remember(self.role, gen.alias if gen else "", compiled.sql)
        return _wire_sql(compiled, f"SELECT * FROM {name}")

    @contextlib.contextmanager
    def _spark_bound(self, cur, sql: str, gen, *, schema_only: bool = False):
        """While the block runs, ``cur`` reads the Spark results ``sql``'s placeholders stand
        for (nothing to do on a DuckDB build)."""
        spark = self.engine.spark
        if spark is None or "__spark_" not in sql:
            yield
            return
        try:
            names = spark.bind(cur, sql, self.role, gen, schema_only=schema_only)
        except SQLStateError:
            raise
        except Exception as exc:  # pyspark's errors: analysis, connection, execution
            log.warning("Spark metric query failed: %s", str(exc).strip().splitlines()[:1])
            raise spark_error(exc) from None
        try:
            yield
        finally:
            spark.unbind(cur, names)

    def compile_metrics(self, **request):
        """A metric request (:meth:`SemanticLayer.compile`'s arguments) compiled for this
        role: its filters through the guard, every metric it reads granted."""
        where = request.get("where") or []
        for w in [where] if isinstance(where, str) else where:
            guard.check_filter_text(str(w))
        return self._compile(self._layer(), request.get("metrics"), **request)

    def query_metrics(self, **request) -> Result:
        """The rows of a metric request, as this role (see :meth:`compile_metrics`)."""
        return self.run_duckdb(self._metric_sql(self.compile_metrics(**request)), kind="semantic")

    def dimension_values(self, dimension: str, metrics, where=None) -> Result:
        """The distinct values of ``dimension`` where ``metrics`` have data, sorted."""
        compiled = self.compile_metrics(metrics=metrics, group_by=[dimension], where=where)
        col = exp.to_identifier(dimension, quoted=True).sql(dialect="duckdb")
        return self.run_duckdb(
            f"SELECT DISTINCT {col} FROM ({self._metric_sql(compiled)}) AS _v ORDER BY 1",
            kind="semantic",
        )

    def _check_metric(self, name: str, requested: set[str] | None = None) -> None:
        if self.role.metrics.allows(name):
            return
        if requested is None or name in requested:
            raise Forbidden(f'permission denied for metric "{name}"')
        raise Forbidden(
            f'permission denied for metric "{name}", which this request reads '
            f"(from {', '.join(sorted(requested))}: an input, or a filter on it)",
            hint="a metric is computed from its inputs and filters: the role must be granted "
            "each of them",
        )

    def _jdbc(self, text: str, params: Sequence[Any] | None = None) -> Result:
        """dbt's JDBC syntax; ``params`` are the ``$n`` of the client's SQL around the call."""
        from analysis_py.sql import jdbc

        info = self._layer()
        call = jdbc.parse_call(text)

        def run(inner_sql: str) -> Result:
            return self.run_duckdb(
                self._client_sql(call.outer_tree, inner_sql, jdbc.RESULT_NAME),
                list(params) if params else None,
                kind="semantic",
            )

        if call.method == "query":
            compiled = self.compile_metrics(**call.query_kwargs())
            if call.kwargs.get("compile"):  # dbt's compile=True: the SQL, not the rows
                if self.engine.spark is not None:  # the SQL the cluster runs, views unnamed
                    text = re.sub(r"`?\b_sem_gen_\d+_(\w+)`?", r"\1", compiled.sql)
                else:
                    text = compiled.expression.sql(dialect="duckdb", pretty=True)
                    text = re.sub(r"\b_sem\.", "main.", text)
                return run(_values_sql(["sql"], [(text,)]))
            return run(self._metric_sql(compiled))
        if call.method == "dimension_values":
            kw = call.query_kwargs()
            dims = kw["group_by"] or []
            if len(dims) != 1:
                raise Unsupported("dimension_values needs group_by=[one dimension]")
            compiled = self.compile_metrics(metrics=kw["metrics"], group_by=dims, where=kw["where"])
            inner = self._metric_sql(compiled)
            col = exp.to_identifier(dims[0], quoted=True).sql(dialect="duckdb")
            return run(f"SELECT DISTINCT {col} FROM ({inner}) AS _v ORDER BY 1")
        cols, rows = jdbc.metadata(call, info, self.role)
        return run(_values_sql(cols, rows))


#: grains whose periods are days or longer: over the wire such a time column is a ``date``
_DATE_GRAINS = ("day", "week", "month", "quarter", "year")


def _wire_sql(compiled, inner: str | None = None) -> str:
    """A compiled metric query as the server returns it: time columns at day grain or coarser
    (``metric_time__month``, ``case__opened_at__week``) are PostgreSQL ``date`` values, as BI
    tools expect for a day-or-longer bucket (the CLI's CSV keeps MetricFlow's timestamps).
    ``inner``: DuckDB SQL that reads the compiled query's rows (a Spark cluster's result)."""
    sql = inner or compiled.expression.sql(dialect="duckdb")
    dates = [c for c in compiled.columns if c.rsplit("__", 1)[-1] in _DATE_GRAINS and "__" in c]
    if not dates:
        return sql
    cols = ", ".join(
        f"CAST({exp.to_identifier(c, quoted=True).sql('duckdb')} AS DATE) AS "
        f"{exp.to_identifier(c, quoted=True).sql('duckdb')}"
        for c in dates
    )
    return f"SELECT * REPLACE ({cols}) FROM ({sql}) AS _wire"


def _values_sql(cols: list[str], rows: list[tuple]) -> str:
    """A SELECT over literal rows (metadata results), so the client's outer SQL applies."""
    names = ", ".join(exp.to_identifier(c, quoted=True).sql(dialect="duckdb") for c in cols)
    if not rows:
        nulls = ", ".join(
            f"CAST(NULL AS VARCHAR) AS {exp.to_identifier(c, quoted=True).sql()}" for c in cols
        )
        return f"SELECT {nulls} WHERE false"
    values = ", ".join(
        "("
        + ", ".join(
            exp.Literal.string(str(v)).sql(dialect="duckdb")
            if v is not None
            else "CAST(NULL AS VARCHAR)"
            for v in r
        )
        + ")"
        for r in rows
    )
    return f"SELECT * FROM (VALUES {values}) AS _meta({names})"


def execute_all(session: Session, sql: str) -> list[Result]:
    """Run every statement of a script (used by the CLI)."""
    from analysis_py.sql.split import split_statements

    return [session.execute(s) for s in split_statements(sql)]


def now_ms() -> float:
    return time.perf_counter() * 1000.0


_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like, exp.ILike)


def count_params(text: str) -> int:
    """The highest ``$n`` in a statement (how many parameters it takes)."""
    nums = [int(m) for m in re.findall(r"\$(\d+)", text)]
    return max(nums) if nums else 0


def jdbc_detect(text: str) -> bool:
    return bool(_JDBC.search(text))


__all__ = ["Result", "Session", "duck_error", "sqlglot"]


_FIRST_WORD = re.compile(r"[A-Za-z]+")


def _tag_only(tag: str | None = None):
    """A handler that only answers its command tag (the first word's, upper case)."""
    return lambda session, m, params: Result(tag or m.group(1).upper())


#: statements the session answers itself, by first word: (pattern, handler) tried in order;
#: a statement none matches goes on to the guard and the engine
_STATEMENTS: dict[str, tuple[tuple[re.Pattern, Callable[..., Result]], ...]] = {
    "begin": ((_BEGIN, Session._begin),),
    "start": ((_BEGIN, Session._begin),),
    "commit": ((_COMMIT, Session._commit),),
    "end": ((_COMMIT, Session._commit),),
    "rollback": ((_ROLLBACK_TO, Session._rollback_to), (_ROLLBACK, Session._rollback)),
    "abort": ((_ROLLBACK, Session._rollback),),
    "savepoint": ((_SAVEPOINT, Session._savepoint),),
    "release": ((_RELEASE, _tag_only("RELEASE")),),
    "set": ((_SET, Session._set_statement), (_SET_OTHER, _tag_only("SET"))),
    "reset": ((_RESET, Session._reset),),
    "show": ((_SHOW, lambda s, m, p: s.show(m.group(1).strip())),),
    "discard": ((_DISCARD, Session._discard),),
    "deallocate": ((_DEALLOCATE, Session._deallocate),),
    "listen": ((_LISTEN, _tag_only()),),
    "unlisten": ((_LISTEN, _tag_only()),),
    "notify": ((_LISTEN, _tag_only()),),
    "declare": ((_DECLARE, Session._declare_statement),),
    "fetch": ((_FETCH, Session._fetch_statement),),
    "move": ((_FETCH, Session._fetch_statement),),
    "close": ((_CLOSE, Session._close_statement),),
    "explain": ((_EXPLAIN, Session._explain_statement),),
}
