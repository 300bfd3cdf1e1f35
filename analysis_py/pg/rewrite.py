"""PostgreSQL-dialect client SQL → DuckDB SQL over one role's objects and catalog.

sqlglot transpiles the dialect (``::`` casts, ``~`` regex, ``E''`` strings, ...); this
module adds what a Postgres *server* would resolve: ``pg_catalog``/``information_schema``
names point at the role's materialised catalog (``_pg``/``_is``), catalog functions at
its macros, ``regclass``/``regtype`` casts at name↔OID lookups, and session functions
(``current_user``, ``version()``, ``current_setting``) at the session's values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp

from analysis_py.errors import SyntaxErr, Unsupported
from analysis_py.pg.catalog import CATALOG_TABLES, IS_TABLE_NAMES, MACROS
from analysis_py.sql.guard import cte_in_scope, function_name

_PRE = [
    (re.compile(r"OPERATOR\s*\(\s*(?:pg_catalog\s*\.\s*)?([~!<>=*+\-/|&^#@%]+)\s*\)", re.I), r"\1"),
    (re.compile(r"::\s*pg_catalog\s*\.\s*", re.I), "::"),
    # ``::regtype[]`` and ``::oid[]`` (which sqlglot cannot parse): a type name _rewrite_cast
    # knows, and the integer array an oid[] is here
    (re.compile(r"::\s*(reg[a-z]+|oid)\s*\[\s*\]", re.I), r"::\1_array"),
    (re.compile(r"\bAS\s+pg_catalog\s*\.\s*(?=\w)", re.I), "AS "),
    (re.compile(r"\s+COLLATE\s+(?:pg_catalog\s*\.\s*)?\"?(?:default|C|POSIX)\"?", re.I), ""),
]


@dataclass
class SessionContext:
    user: str
    database: str
    pid: int = 0
    settings: dict[str, str] = field(default_factory=dict)
    server_version: str = "15.0"
    search_path: tuple[str, ...] = ("main",)
    #: the role database every relation is qualified with, so that no name can fall
    #: through to DuckDB's own catalogs (``system``, ``temp``) on its search path
    catalog: str | None = None

    def version(self) -> str:
        import duckdb

        return (
            f"PostgreSQL {self.server_version} (opsmetrics; DuckDB {duckdb.__version__}) "
            "on x86_64-pc-linux-gnu, compiled by gcc, 64-bit"
        )


def preprocess(sql: str) -> str:
    for pattern, repl in _PRE:
        sql = pattern.sub(repl, sql)
    if "interval" in sql.lower():
        sql = _interval_literals(sql)
    return sql


_UNITS = frozenset(
    f"{u}{s}"
    for u in ("year", "month", "week", "day", "hour", "minute", "second", "millisecond")
    for s in ("", "s")
)


def _interval_literals(sql: str) -> str:
    """``interval '1 day 02:00:00'`` as ``CAST('1 day 02:00:00' AS INTERVAL)``: sqlglot reads
    the first as ``INTERVAL '1' DAY`` and drops the rest. Found by tokens, not text, so a
    string that merely contains the word is left alone; ``interval '2' day`` is kept."""
    from sqlglot.tokens import TokenType

    try:
        tokens = sqlglot.Dialect.get_or_raise("postgres").tokenize(sql)
    except sqlglot.errors.TokenError:
        return sql  # the parser reports it
    spans = []
    for i, tok in enumerate(tokens[:-1]):
        nxt = tokens[i + 1]
        if tok.token_type != TokenType.INTERVAL or nxt.token_type != TokenType.STRING:
            continue
        after = tokens[i + 2] if i + 2 < len(tokens) else None
        if after is not None and after.text.lower() in _UNITS:
            continue
        spans.append((tok.start, nxt.end, nxt.text))
    for start, end, text in reversed(spans):
        literal = "'" + text.replace("'", "''") + "'"
        sql = f"{sql[:start]}CAST({literal} AS INTERVAL){sql[end + 1 :]}"
    return sql


def parse(sql: str) -> exp.Expression:
    """One statement in the Postgres dialect (raises :class:`SyntaxErr`)."""
    try:
        trees = sqlglot.parse(preprocess(sql), read="postgres")
    except sqlglot.errors.ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        msg = first.get("description") or str(exc).splitlines()[0]
        raise SyntaxErr(f"syntax error: {msg}") from None
    except sqlglot.errors.TokenError as exc:
        raise SyntaxErr(f"syntax error: {exc}") from None
    trees = [t for t in trees if t is not None]
    if len(trees) != 1:
        raise SyntaxErr("expected exactly one statement")
    return trees[0]


def _lit(v: object) -> exp.Expression:
    if v is None:
        return exp.Null()
    if isinstance(v, bool):
        return exp.Boolean(this=v)
    if isinstance(v, int):
        return exp.Literal.number(v)
    return exp.Literal.string(str(v))


def _pg_call(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Dot(
        this=exp.to_identifier("_pg"), expression=exp.Anonymous(this=name, expressions=list(args))
    )


def _cast_kind(node: exp.Cast) -> str:
    to = node.args.get("to")
    if isinstance(to, exp.ObjectIdentifier):
        return to.name.lower()
    if isinstance(to, exp.DataType):
        if to.this == exp.DataType.Type.USERDEFINED:
            kind = to.args.get("kind")
            if isinstance(kind, exp.Dot):
                return kind.expression.name.lower()
            if isinstance(kind, exp.Expression):
                return kind.name.lower()
            return str(kind or "").lower().split(".")[-1].strip('"')
        return to.this.value.lower()
    return ""


_TEXTY = {"text", "varchar", "char", "name", "nvarchar", "bpchar"}
_TO_VARCHAR = {
    "name",
    '"char"',
    "char",
    "int2vector",
    "oidvector",
    "sql_identifier",
    "information_schema.sql_identifier",
    "character_data",
    "yes_or_no",
    "cardinal_number",
    "information_schema.cardinal_number",
    "regproc",
    "aclitem",
    "pg_node_tree",
}


def _literal_digits(text: str) -> tuple[int, int] | None:
    """(precision, scale) a decimal literal needs: ``'12345678901234567890.123'`` → (23, 3)."""
    m = re.fullmatch(r"\s*[+-]?(\d*)(?:\.(\d*))?\s*", str(text))
    if m is None or not (m[1] or m[2]):
        return None
    whole = len(m[1].lstrip("0"))
    scale = len(m[2] or "")
    return whole + scale, scale


def _rewrite_cast(node: exp.Cast) -> exp.Expression | None:
    kind = _cast_kind(node)
    inner = node.this
    if isinstance(inner, exp.Cast) and kind in _TEXTY | {"name"}:
        ik = _cast_kind(inner)
        fn = {
            "regclass": "regclass_name",
            "regtype": "regtype_name",
            "regnamespace": "regnamespace_name",
            "regproc": "regproc_name",
        }.get(ik)
        if fn:
            arg = inner.this
            if isinstance(arg, exp.Literal) and arg.is_string:
                arg = _pg_call(f"{ik}_oid", arg) if ik in ("regclass", "regtype") else arg
            return _pg_call(fn, arg)
    if kind == "oid_array":
        return exp.cast(inner, "BIGINT[]")
    if kind.startswith("reg") and kind.endswith("_array"):
        text = exp.cast(inner, "VARCHAR")
        return _pg_call("regtype_names" if kind == "regtype_array" else "oid_list", text)
    if kind in ("regclass", "regtype"):
        if (isinstance(inner, exp.Literal) and inner.is_string) or isinstance(
            inner, exp.Placeholder | exp.Parameter
        ):
            return _pg_call(f"{kind}_oid", inner)
        if isinstance(node.parent, exp.Select | exp.Alias) and node.parent is not None:
            return _pg_call(f"{kind}_name", inner)
        return exp.cast(inner, "BIGINT")
    if kind in ("regnamespace", "regproc", "regprocedure", "regoper", "regrole"):
        if isinstance(inner, exp.Literal):
            return exp.Null()
        return exp.cast(inner, "BIGINT")
    if kind in ("oid", "xid", "cid", "tid"):
        return exp.cast(inner, "BIGINT")
    if kind in _TO_VARCHAR:
        return exp.cast(inner, "VARCHAR")
    to = node.args.get("to")
    if (
        kind in ("numeric", "decimal")
        and isinstance(to, exp.DataType)
        and not to.expressions
        and isinstance(inner, exp.Literal)
    ):
        # PostgreSQL's numeric keeps every digit; DuckDB's plain DECIMAL is (18, 3): size the
        # literal's type from its digits (DuckDB's widest is 38)
        digits = _literal_digits(inner.this)
        if digits is not None and digits[0] <= 38:
            whole, scale = digits
            return exp.Cast(
                this=inner,
                to=exp.DataType.build(f"DECIMAL({max(whole, scale, 1)}, {scale})"),
            )
    if isinstance(to, exp.DataType) and to.this == exp.DataType.Type.USERDEFINED:
        try:
            built = exp.DataType.build(kind, dialect="postgres")
        except Exception:
            return None
        if built.this != exp.DataType.Type.USERDEFINED:
            return exp.Cast(this=inner, to=built)
    return None


def rewrite(
    tree: exp.Expression, ctx: SessionContext, *, relations: frozenset[str] = frozenset()
) -> exp.Expression:
    """Rewrite one parsed client statement in place for execution in the role database.

    ``relations`` are bare names the caller defines around the statement (left as they are,
    like a CTE in scope); every other relation ends up qualified with the role database."""

    def qualify(node: exp.Table) -> exp.Table:
        if ctx.catalog:
            if not node.db:
                node.set("db", exp.to_identifier("main"))
            node.set("catalog", exp.to_identifier(ctx.catalog, quoted=True))
        return node

    def visit(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Func):
            if (node.db or "").lower() == "pg_catalog":
                node.set("db", None)
            return _function_in_from(node)
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier):
            name = node.name.lower()
            db = (node.db or "").lower()
            if node.catalog and node.catalog.lower() == ctx.database.lower():
                node.set("catalog", None)
            if not db and not node.catalog and (name in relations or cte_in_scope(node)):
                return node
            if db == "pg_catalog" or (not db and name in CATALOG_TABLES):
                if name not in CATALOG_TABLES:
                    raise Unsupported(
                        f'relation "pg_catalog.{name}" is not emulated', sqlstate="42P01"
                    )
                node.set("db", exp.to_identifier("_pg"))
            elif db == "information_schema":
                if name not in IS_TABLE_NAMES:
                    raise Unsupported(
                        f'relation "information_schema.{name}" is not emulated', sqlstate="42P01"
                    )
                node.set("db", exp.to_identifier("_is"))
            elif db == "public":
                node.set("db", exp.to_identifier("main"))
            return qualify(node)
        if isinstance(node, exp.Column) and node.args.get("db") is not None:
            cdb = node.args["db"].name.lower()
            new = {"pg_catalog": "_pg", "information_schema": "_is", "public": "main"}.get(cdb)
            if new:
                node.set("db", exp.to_identifier(new))
            cat = node.args.get("catalog")
            if cat is not None and cat.name.lower() == ctx.database.lower():
                node.set("catalog", None)
            return node
        if (
            isinstance(node, exp.Dot)
            and isinstance(node.this, exp.Identifier)
            and node.this.name.lower() == "pg_catalog"
            and isinstance(node.expression, exp.Func)
        ):
            return visit(node.expression.copy())
        if (
            isinstance(node, exp.Dot)
            and isinstance(node.this, exp.Identifier)
            and node.this.name.lower() == "information_schema"
            and isinstance(node.expression, exp.Anonymous)
            and str(node.expression.name).lower() == "_pg_expandarray"
            and len(node.expression.expressions) == 1
        ):
            # pgjdbc's getPrimaryKeys (Metabase, Tableau): one (x, n) row per array element
            arr = _transform(node.expression.expressions[0].copy(), visit).sql(dialect="duckdb")
            return exp.Var(
                this=f"unnest(list_transform(range(1, len({arr}) + 1), "
                f"lambda _k: struct_pack(x := ({arr})[_k], n := _k)))"
            )
        if isinstance(node, exp.Any | exp.All):
            arr = _array_literal(node.this)
            if arr is not None:  # ANY('{r,p}'): PostgreSQL reads the text as an array
                node.set("this", arr)
            return node
        if isinstance(node, exp.Cast):
            out = _rewrite_cast(node)
            if out is not None:
                return out
            return node
        if isinstance(node, exp.CurrentDatabase | exp.CurrentCatalog):
            return _lit(ctx.database)
        if isinstance(node, exp.CurrentUser | exp.SessionUser):
            return _lit(ctx.user)
        if isinstance(node, exp.CurrentVersion):
            return _lit(ctx.version())
        if isinstance(node, exp.CurrentSchemas):  # DuckDB's own lists its catalogs' schemas
            return _pg_call("current_schemas", node.this or exp.Boolean(this=False))
        if isinstance(node, exp.CurrentSchema):
            return _lit(ctx.search_path[0] if ctx.search_path else "main")
        if (
            isinstance(node, exp.Column)
            and not node.table
            and not node.this.quoted
            and node.name.lower() in ("user", "current_role")
            and not isinstance(node.parent, exp.Dot)
        ):
            return _lit(ctx.user)
        if isinstance(node, exp.Func) and not isinstance(node.parent, exp.Dot):
            name = function_name(node)
            if name == "version":
                return _lit(ctx.version())
            if name == "set_config" and len(node.expressions) == 3:
                # PostgreSQL returns the new value; a session here changes nothing by it (as
                # asyncpg's type introspection calls set_config('jit', 'off', false))
                return exp.cast(node.expressions[1], "VARCHAR")
            if name == "current_setting" and node.expressions:
                arg = node.expressions[0]
                key = arg.name.lower() if isinstance(arg, exp.Literal) else None
                if key is None:  # a parameter: read the role catalog's pg_settings
                    return exp.maybe_parse(
                        f"(SELECT first(setting) FROM _pg.pg_settings "
                        f"WHERE name = lower({arg.sql(dialect='duckdb')}))",
                        dialect="duckdb",
                    )
                return _lit(ctx.settings.get(key, ""))
            if name == "pg_backend_pid":
                return _lit(ctx.pid)
            if name in ("pg_postmaster_start_time", "pg_conf_load_time"):
                return exp.cast(_lit("2025-01-01 00:00:00+00"), "TIMESTAMPTZ")
            if name in MACROS and isinstance(node, exp.Anonymous):
                return _pg_call(name, *node.expressions)
            if name in ("json_build_object", "jsonb_build_object") and isinstance(
                node, exp.Anonymous
            ):
                return exp.Anonymous(this="json_object", expressions=node.expressions)
            if name == "array_lower" and len(node.expressions) == 2:
                return exp.Literal.number(1)
            if name == "array_upper" and len(node.expressions) == 2:
                return exp.Anonymous(this="len", expressions=[node.expressions[0]])
        return node

    names = _pg_names(tree)  # before functions are replaced by their values
    out = _transform(tree, visit)
    _name_columns(out, names)
    return out


def _array_literal(e: exp.Expression) -> exp.Array | None:
    """A string literal in PostgreSQL's array form (``'{r,p,""}'``, which psycopg writes for a
    list bound client-side) as an array of its elements: numbers when every element is one."""
    while isinstance(e, exp.Paren):
        e = e.this
    if not (isinstance(e, exp.Literal) and e.is_string and e.this.lstrip().startswith("{")):
        return None
    from analysis_py.pg.types import TEXT, _array_from_text

    try:
        items = _array_from_text(e.this, TEXT.oid)
    except ValueError:
        return None
    if any(isinstance(i, list) for i in items):
        return None
    numeric = all(i is None or re.fullmatch(r"-?\d+", i) for i in items)
    return exp.Array(
        expressions=[
            exp.Null() if i is None else exp.Literal.number(i) if numeric else exp.Literal.string(i)
            for i in items
        ]
    )


_T = exp.DataType.Type
#: the name PostgreSQL gives a cast column: its type's internal name (``1::integer`` is int4)
_CAST_NAMES = {
    _T.SMALLINT: "int2",
    _T.INT: "int4",
    _T.BIGINT: "int8",
    _T.FLOAT: "float4",
    _T.DOUBLE: "float8",
    _T.BOOLEAN: "bool",
    _T.DECIMAL: "numeric",
    _T.VARCHAR: "varchar",
    _T.CHAR: "bpchar",
    _T.NCHAR: "bpchar",
    _T.TEXT: "text",
    _T.DATE: "date",
    _T.TIME: "time",
    _T.TIMESTAMP: "timestamp",
    _T.TIMESTAMPTZ: "timestamptz",
    _T.INTERVAL: "interval",
    _T.JSON: "json",
    _T.JSONB: "jsonb",
    _T.UUID: "uuid",
    _T.VARBINARY: "bytea",
}


def _pg_name(e: exp.Expression) -> str | None:
    """The column name PostgreSQL gives an unaliased select expression."""
    if isinstance(e, exp.Column | exp.Alias | exp.Star):
        return None
    if isinstance(e, exp.Cast):
        inner = _pg_name(e.this)
        if inner is None and isinstance(e.this, exp.Column):
            return None
        if inner not in (None, "?column?"):
            return inner
        to = e.args.get("to")
        if isinstance(to, exp.DataType) and to.this in _CAST_NAMES:
            return _CAST_NAMES[to.this]
        return to.sql(dialect="postgres").lower().split("(")[0] if to is not None else "?column?"
    if isinstance(e, exp.Dot) and isinstance(e.expression, exp.Func):
        return _pg_name(e.expression)
    if isinstance(e, exp.Count):
        return "count"
    if isinstance(e, exp.Interval):
        return "interval"
    if isinstance(e, exp.Anonymous):
        return str(e.name).lower()
    if isinstance(e, exp.CurrentTimestamp):
        return "now"
    if isinstance(e, exp.CurrentVersion):
        return "version"
    if isinstance(e, exp.Func):
        name = e.sql_name().lower()  # current_user, session_user, current_schema … as in PG
        return name if name.isidentifier() else "?column?"
    if isinstance(e, exp.Literal | exp.Boolean | exp.Null):
        return "?column?" if not isinstance(e, exp.Boolean) else "bool"
    return "?column?"


def _outer_select(tree: exp.Expression) -> exp.Select | None:
    sel = tree
    while isinstance(sel, exp.SetOperation):
        sel = sel.this
    return sel if isinstance(sel, exp.Select) else None


def _pg_names(tree: exp.Expression) -> list[str | None] | None:
    """The names PostgreSQL gives the outer select's expressions (None: their own name)."""
    sel = _outer_select(tree)
    return None if sel is None else [_pg_name(e) for e in sel.expressions]


def _name_columns(tree: exp.Expression, names: list[str | None] | None) -> None:
    """Alias unaliased outer select expressions the way PostgreSQL names them (``names`` read
    from the statement as the client wrote it, before functions became values)."""
    sel = _outer_select(tree)
    if sel is None or names is None or len(names) != len(sel.expressions):
        return
    sel.set(
        "expressions",
        [
            e if name is None else exp.alias_(e, name, quoted=True)
            for e, name in zip(sel.expressions, names, strict=True)
        ],
    )


#: Functions that PostgreSQL lets a query call in FROM although they return one value.
SCALAR_IN_FROM = frozenset({"string_to_array", "current_schemas", "regexp_split_to_array"})


def _function_in_from(node: exp.Table) -> exp.Expression:
    """PostgreSQL semantics for a function in FROM: a one-column relation named by its alias
    (``generate_series(1, 3) AS i`` has a column ``i``); a scalar becomes a one-row relation."""
    from analysis_py.sql.guard import function_name

    alias = node.args.get("alias")
    name = function_name(node.this)
    if name in SCALAR_IN_FROM:
        col = alias.name if alias is not None and alias.name else name
        sub = exp.select(node.this.copy().as_(col))
        return exp.Subquery(this=sub, alias=exp.TableAlias(this=exp.to_identifier(col)))
    if alias is not None and alias.name and not alias.columns:
        alias.set("columns", [exp.to_identifier(alias.name)])
    return node


def _transform(tree: exp.Expression, fn) -> exp.Expression:
    """Top-down transform that visits a replaced node's children (casts nest)."""
    new = fn(tree)
    if new is not tree:
        return _transform(new, fn) if not isinstance(new, exp.Literal | exp.Null) else new
    for key, value in list(tree.args.items()):
        if isinstance(value, exp.Expression):
            child = _transform(value, fn)
            if child is not value:
                tree.set(key, child)
        elif isinstance(value, list):
            changed = False
            out = []
            for v in value:
                if isinstance(v, exp.Expression):
                    c = _transform(v, fn)
                    changed |= c is not v
                    out.append(c)
                else:
                    out.append(v)
            if changed:
                tree.set(key, out)
    return tree


def cap_rows(tree: exp.Expression, n: int) -> exp.Expression:
    """Bound a query's result to ``n`` rows in the statement itself, so that the engine never
    produces (nor the server holds) more rows than it may send; an existing smaller LIMIT is
    kept, an expression becomes ``least(expression, n)``."""
    if not isinstance(tree, exp.Select | exp.SetOperation):
        return tree
    cap = exp.Literal.number(n)
    lim = tree.args.get("limit")
    if isinstance(lim, exp.Fetch):
        opts = lim.args.get("limit_options")
        if opts is not None and (opts.args.get("percent") or opts.args.get("with_ties")):
            return tree  # rare; the server still stops sending at the row limit
        lim = exp.Limit(expression=lim.args.get("count") or exp.Literal.number(1))
        tree.set("limit", lim)
    if lim is None:
        tree.set("limit", exp.Limit(expression=cap))
        return tree
    e = lim.expression
    if isinstance(e, exp.Literal) and not e.is_string and e.name.isdigit():
        if int(e.name) > n:
            lim.set("expression", cap)
    elif (
        e is None or isinstance(e, exp.Null) or (isinstance(e, exp.Var) and e.name.upper() == "ALL")
    ):
        lim.set("expression", cap)
    else:
        lim.set("expression", exp.func("least", e, cap))
    return tree


def to_duckdb(tree: exp.Expression) -> str:
    return tree.sql(dialect="duckdb")
