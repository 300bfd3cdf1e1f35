"""`COPY … TO STDOUT` statements: the query each wraps and its output options.

Only the bulk-read form is accepted: ``COPY (query) TO STDOUT`` (and ``COPY table [(cols)]
TO STDOUT``, read as ``SELECT cols FROM table``) in text, CSV or binary format, with PostgreSQL's
option syntax (``WITH (FORMAT csv, HEADER, DELIMITER ';', NULL 'x', QUOTE, ESCAPE,
FORCE_QUOTE, ENCODING 'UTF8')``) and the legacy one that ``psql``'s ``\\copy`` sends
(``WITH CSV HEADER DELIMITER AS ';'``). The wrapped query is returned as text so the server
runs it through exactly the path of an ordinary query (guard, semantic SQL, grants, row
policies, limits). Everything a read-only server must not do is refused here with the
SQLSTATE PostgreSQL uses and a hint naming what works instead: ``COPY ... FROM`` (a write),
``TO 'file'`` and ``TO PROGRAM`` (the server never touches its own filesystem or shell).

>>> spec = parse_copy("copy (select 1) to stdout with csv header")
>>> spec.query, spec.format, spec.header, spec.delimiter
('select 1', 'csv', True, ',')
>>> parse_copy("select 1") is None
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from analysis_py.errors import Forbidden, ReadOnly, SyntaxErr, Unsupported
from analysis_py.sql import guard
from analysis_py.sql.split import split_statements

_HINT = (
    "use COPY (SELECT ...) TO STDOUT [WITH (FORMAT csv, HEADER)], or psql's "
    "\\copy (SELECT ...) TO 'file' WITH CSV HEADER, which writes the file on the client"
)
_LEAD = re.compile(r"\s*(?:(?:--[^\n]*\n?|/\*.*?\*/)\s*)*", re.S)
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>[eE]'(?:[^'\\]|''|\\.)*'|'(?:[^']|'')*')
      | (?P<qid>"(?:[^"]|"")*")
      | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
      | (?P<num>[0-9]+)
      | (?P<punct>[(),.*;])
    )""",
    re.X | re.S,
)
_QUERY_WORDS = ("select", "with", "values", "table")
_BOOL = {"true": True, "on": True, "1": True, "false": False, "off": False, "0": False}
#: Characters PostgreSQL refuses as a text-format delimiter (they would read as escapes).
_TEXT_BAD_DELIM = "\\.abcdefghijklmnopqrstuvwxyz0123456789"


@dataclass(frozen=True)
class CopySpec:
    """What to run and how to write it out."""

    query: str
    format: str = "text"  # text | csv | binary
    header: bool = False
    delimiter: str = "\t"
    null: str = "\\N"
    quote: str = '"'
    escape: str = '"'
    force_quote: tuple[str, ...] | bool = ()  # column names, or True for FORCE_QUOTE *


def is_copy(sql: str) -> bool:
    head = _LEAD.match(sql)
    return bool(re.match(r"copy\b", sql[head.end() :], re.I))


def parse_copy(sql: str) -> CopySpec | None:
    """The :class:`CopySpec` of a ``COPY`` statement; None when ``sql`` is not a COPY.

    Raises :class:`~analysis_py.errors.SQLStateError` subclasses for every COPY that is
    not a read to STDOUT in a supported format.
    """
    head = _LEAD.match(sql)
    text = sql[head.end() :].rstrip().rstrip(";").rstrip()
    m = re.match(r"copy\b", text, re.I)
    if not m:
        return None
    pos = m.end()
    while pos < len(text) and text[pos].isspace():
        pos += 1
    if pos < len(text) and text[pos] == "(":
        end = _closing_paren(text, pos)
        query = text[pos + 1 : end].strip()
        _check_inner(query)
        tail = text[end + 1 :]
    else:
        query, tail = _table_query(text[pos:])
    toks = _tokens(tail)
    if not toks:
        raise SyntaxErr("syntax error at end of COPY: expected TO STDOUT", hint=_HINT)
    direction = toks.pop(0)
    if direction.lower() == "from":
        raise ReadOnly("cannot execute COPY FROM in a read-only session", hint=_HINT)
    if direction.lower() != "to":
        raise SyntaxErr(f'syntax error at or near "{direction}" in COPY', hint=_HINT)
    if not toks:
        raise SyntaxErr("syntax error at end of COPY: expected STDOUT", hint=_HINT)
    target = toks.pop(0)
    if target.lower() == "program":
        raise Forbidden(
            "COPY TO PROGRAM is not allowed: the server never runs programs", hint=_HINT
        )
    if target.startswith(("'", "e'", "E'")):
        raise Forbidden(
            "COPY to a file is not allowed: the server never writes files on its host",
            hint=_HINT,
        )
    if target.lower() != "stdout":
        raise SyntaxErr(f'syntax error at or near "{target}" in COPY: expected STDOUT', hint=_HINT)
    return _options(query, toks)


def _check_inner(query: str) -> None:
    """The wrapped statement must be one query; writes and session commands are refused
    with the error the same statement gets outside COPY."""
    if not query:
        raise SyntaxErr("COPY (...) needs a query inside the parentheses", hint=_HINT)
    if len(split_statements(query)) != 1:
        raise SyntaxErr("COPY (...) takes exactly one query", hint=_HINT)
    inner = query
    while inner.startswith("("):  # COPY ((select 1)) TO STDOUT
        inner = inner[1:].lstrip()
    head = _LEAD.match(inner)
    word = re.match(r"\w+", inner[head.end() :] if head else inner)
    w = word.group(0).lower() if word else ""
    if w in _QUERY_WORDS:
        return
    guard.check_leading_keyword(inner)  # DELETE, INSERT, ATTACH ... with their own SQLSTATE
    raise Forbidden(
        f"COPY ({w.upper() or '...'} ...) is not allowed: COPY wraps a SELECT, VALUES, "
        "TABLE or WITH query",
        hint=_HINT,
    )


def _closing_paren(text: str, start: int) -> int:
    """Index of the parenthesis closing the one at ``start`` (quotes and comments skipped)."""
    depth = 0
    i, n = start, len(text)
    while i < n:
        c = text[i]
        if c in ("'", '"'):
            j = i + 1
            escapes = c == "'" and i > 0 and text[i - 1] in "eE"
            while j < n:
                if escapes and text[j] == "\\":
                    j += 2
                    continue
                if text[j] == c:
                    if j + 1 < n and text[j + 1] == c:
                        j += 2
                        continue
                    break
                j += 1
            i = j + 1
            continue
        if text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
            continue
        if c == "$" and (m := re.match(r"\$([A-Za-z_]\w*)?\$", text[i:])):
            j = text.find(m.group(0), i + m.end())
            i = n if j < 0 else j + m.end()
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise SyntaxErr("syntax error in COPY: unbalanced parentheses", hint=_HINT)


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            bad = text[pos:].strip()[:20]
            raise SyntaxErr(f'syntax error at or near "{bad}" in COPY', hint=_HINT)
        if m.group("punct") == ";":
            raise SyntaxErr("COPY takes one statement", hint=_HINT)
        out.append(m.group(m.lastgroup))
        pos = m.end()
        if not text[pos:].strip():
            break
    return out


def _ident(tok: str) -> str:
    if tok.startswith('"'):
        return tok[1:-1].replace('""', '"')
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", tok):
        raise SyntaxErr(f'syntax error at or near "{tok}" in COPY', hint=_HINT)
    return tok.lower()


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _table_query(text: str) -> tuple[str, str]:
    """``COPY [schema.]table [(col, ...)] ...`` as ``SELECT cols FROM table`` and the tail."""
    toks = _tokens_with_pos(text)
    if not toks:
        raise SyntaxErr("syntax error at end of COPY: expected a table or (query)", hint=_HINT)
    parts = [_ident(toks[0][0])]
    i = 1
    while i + 1 < len(toks) and toks[i][0] == ".":
        parts.append(_ident(toks[i + 1][0]))
        i += 2
    cols: list[str] = []
    if i < len(toks) and toks[i][0] == "(":
        i += 1
        while i < len(toks) and toks[i][0] != ")":
            if toks[i][0] != ",":
                cols.append(_ident(toks[i][0]))
            i += 1
        if i >= len(toks):
            raise SyntaxErr("syntax error in COPY: unbalanced parentheses", hint=_HINT)
        i += 1
    select = ", ".join(_quote_ident(c) for c in cols) if cols else "*"
    name = ".".join(_quote_ident(p) for p in parts)
    tail = text[toks[i][1] :] if i < len(toks) else ""
    return f"SELECT {select} FROM {name}", tail


def _tokens_with_pos(text: str) -> list[tuple[str, int]]:
    out = []
    pos = 0
    while pos < len(text) and text[pos:].strip():
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            break
        out.append((m.group(m.lastgroup), m.start(m.lastgroup)))
        pos = m.end()
    return out


def _string(tok: str, option: str) -> str:
    if tok.startswith(("E'", "e'")):
        body = tok[2:-1].replace("''", "'")
        return body.encode("latin-1", "backslashreplace").decode("unicode_escape")
    if not tok.startswith("'"):
        raise SyntaxErr(f"COPY option {option} needs a quoted string, got {tok}", hint=_HINT)
    return tok[1:-1].replace("''", "'")


def _options(query: str, toks: list[str]) -> CopySpec:
    opts: dict[str, object] = {}
    if toks and toks[0].lower() == "with":
        toks = toks[1:]
    if toks and toks[0] == "(":
        if toks[-1] != ")":
            raise SyntaxErr("syntax error in COPY options: missing )", hint=_HINT)
        _modern(toks[1:-1], opts)
    else:
        _legacy(toks, opts)
    return _validate(query, opts)


def _set(opts: dict, name: str, value: object) -> None:
    if name in opts:
        raise SyntaxErr("conflicting or redundant options", hint=f"{name.upper()} is given twice")
    opts[name] = value


def _modern(toks: list[str], opts: dict) -> None:
    """``(name [value], ...)``; a value is a string, a word, a number or ``(col, ...)``/``*``."""
    groups: list[list[str]] = [[]]
    depth = 0
    for t in toks:
        if t == "," and depth == 0:
            groups.append([])
            continue
        depth += t == "("
        depth -= t == ")"
        groups[-1].append(t)
    for g in groups:
        if not g:
            raise SyntaxErr("syntax error in COPY options: empty option", hint=_HINT)
        name, args = g[0].lower(), g[1:]
        if name in ("format", "delimiter", "null", "quote", "escape", "encoding", "header"):
            if len(args) > 1:
                raise SyntaxErr(f"syntax error in COPY option {name.upper()}", hint=_HINT)
            _set(opts, name, args[0] if args else None)
        elif name == "force_quote":
            _set(opts, name, args)
        elif name in ("force_not_null", "force_null", "freeze", "default", "on_error"):
            raise Unsupported(f"COPY option {name.upper()} only applies to COPY FROM", hint=_HINT)
        else:
            raise SyntaxErr(f'option "{g[0]}" not recognized', hint=_HINT)


def _legacy(toks: list[str], opts: dict) -> None:
    """The pre-9.0 option list: ``BINARY | CSV | HEADER | DELIMITER [AS] 'x' | NULL [AS] 'x'
    | QUOTE [AS] 'x' | ESCAPE [AS] 'x' | FORCE QUOTE {* | col, ...}``."""
    i = 0
    while i < len(toks):
        w = toks[i].lower()
        i += 1
        if w in ("csv", "binary", "text"):
            _set(opts, "format", w)
        elif w == "header":
            _set(opts, "header", None)
        elif w in ("delimiter", "null", "quote", "escape", "encoding"):
            if i < len(toks) and toks[i].lower() == "as":
                i += 1
            if i >= len(toks):
                raise SyntaxErr(f"COPY option {w.upper()} needs a value", hint=_HINT)
            _set(opts, w, toks[i])
            i += 1
        elif w == "force" and i < len(toks) and toks[i].lower() == "quote":
            i += 1
            cols = toks[i : i + 1]
            i += 1
            while cols != ["*"] and i + 1 < len(toks) and toks[i] == ",":
                cols.append(toks[i + 1])
                i += 2
            _set(opts, "force_quote", cols)
        elif w == "force":
            raise Unsupported(
                "COPY FORCE NOT NULL / FORCE NULL only apply to COPY FROM", hint=_HINT
            )
        else:
            raise SyntaxErr(f'syntax error at or near "{toks[i - 1]}" in COPY', hint=_HINT)


def _one_char(value: str, what: str) -> str:
    if len(value) != 1 or len(value.encode()) != 1:
        raise SyntaxErr(f"COPY {what} must be a single one-byte character", hint=_HINT)
    return value


def _validate(query: str, opts: dict) -> CopySpec:
    fmt = str(opts.get("format") or "text").lower()
    if fmt.startswith("'"):
        fmt = _string(fmt, "FORMAT").lower()
    if fmt not in ("text", "csv", "binary"):
        raise SyntaxErr(f'COPY format "{fmt}" not recognized', hint="formats: text, csv, binary")
    if fmt == "binary":
        for name in ("header", "delimiter", "null", "quote", "escape", "force_quote"):
            if name in opts:
                raise SyntaxErr(f"cannot specify {name.upper()} in BINARY mode")
        return CopySpec(query, "binary")
    csv = fmt == "csv"
    header = opts.get("header", False)
    if header is None:
        header = True
    elif isinstance(header, str):
        h = header.lower().strip("'")
        if h == "match":
            raise Unsupported("HEADER MATCH only applies to COPY FROM", hint=_HINT)
        if h not in _BOOL:
            raise SyntaxErr(f"HEADER requires a Boolean value, got {header}", hint=_HINT)
        header = _BOOL[h]
    delimiter = _string(opts["delimiter"], "DELIMITER") if "delimiter" in opts else None
    delimiter = _one_char(delimiter, "delimiter") if delimiter is not None else None
    delimiter = delimiter or ("," if csv else "\t")
    null = _string(opts["null"], "NULL") if "null" in opts else ("" if csv else "\\N")
    if delimiter in "\r\n":
        raise SyntaxErr("COPY delimiter cannot be newline or carriage return", hint=_HINT)
    if "\r" in null or "\n" in null:
        raise SyntaxErr(
            "COPY null representation cannot use newline or carriage return", hint=_HINT
        )
    if not csv and delimiter in _TEXT_BAD_DELIM:
        raise SyntaxErr(f'COPY delimiter cannot be "{delimiter}"', hint=_HINT)
    if delimiter in null:
        raise SyntaxErr(
            "COPY delimiter character must not appear in the NULL specification", hint=_HINT
        )
    for name in ("quote", "escape", "force_quote"):
        if name in opts and not csv:
            raise Unsupported(f"COPY {name.upper()} requires CSV mode", hint="add FORMAT csv")
    quote = _one_char(_string(opts["quote"], "QUOTE"), "quote") if "quote" in opts else '"'
    escape = _one_char(_string(opts["escape"], "ESCAPE"), "escape") if "escape" in opts else quote
    if csv and delimiter == quote:
        raise SyntaxErr("COPY delimiter and quote must be different", hint=_HINT)
    if csv and quote in null:
        raise SyntaxErr("CSV quote character must not appear in the NULL specification")
    if "encoding" in opts:
        enc = opts["encoding"]
        enc = _string(enc, "ENCODING") if enc.startswith("'") else enc
        if enc.upper().replace("-", "").replace("_", "") not in ("UTF8", "UNICODE"):
            raise Unsupported(f"COPY ENCODING {enc} is not supported", hint="the server sends UTF8")
    force: tuple[str, ...] | bool = ()
    if "force_quote" in opts:
        args = [t for t in opts["force_quote"] if t not in ("(", ")", ",")]
        force = True if args == ["*"] else tuple(_ident(a) for a in args)
        if not args:
            raise SyntaxErr("FORCE_QUOTE needs * or a list of columns", hint=_HINT)
    return CopySpec(query, fmt, bool(header), delimiter, null, quote, escape, force)
