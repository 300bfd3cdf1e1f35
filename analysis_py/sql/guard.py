"""The read-only allow-list for pass-through SQL.

DuckDB's lock-down (no external access outside the warehouse folder, locked
configuration) is the second wall; this is the first: a statement must be a query
(SELECT / set operation / VALUES, optionally WITH), may only name objects of the
connected database (no other catalog, no hidden ``_`` schemas, no file paths as table
names), and may not call functions that read files, list DuckDB internals or touch
settings. Everything else is refused with SQLSTATE 42501 (or 25006 for writes), before
DuckDB sees it.

>>> import sqlglot
>>> check_query(sqlglot.parse_one("select * from fct_cases", read="postgres"), "opsmetrics")
>>> check_query(sqlglot.parse_one("select * from read_csv('/etc/passwd')", read="postgres"),
...             "opsmetrics")
Traceback (most recent call last):
...
analysis_py.errors.Forbidden: function read_csv is not allowed
Hint: only read-only queries over the granted marts, metrics and catalog are allowed
"""

from __future__ import annotations

import re

from sqlglot import exp

from analysis_py.errors import Forbidden, ReadOnly

_WRITE_NODES = (
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Merge,
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.TruncateTable,
    exp.Copy,
    exp.LoadData,
)
_OTHER_FORBIDDEN = (
    exp.Command,
    exp.Pragma,
    exp.Set,
    exp.Use,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
    exp.Describe,
    exp.Cache,
    exp.Uncache,
    exp.Refresh,
)

#: Table functions a query may call in FROM.
ALLOWED_TABLE_FUNCTIONS = frozenset(
    {
        "generate_series",
        "unnest",
        "range",
        "explodinggenerateseries",
        "exploding_generate_series",
        "generate_subscripts",
        "explode",
        "string_to_array",
        "current_schemas",
        "regexp_split_to_array",
    }
)

#: Function names (or prefixes ending in ``_``) that read files, reveal DuckDB internals
#: or change state.
_DENY_PREFIXES = (
    "read_",
    "duckdb_",
    "pragma_",
    "parquet_",
    "sniff_",
    "sqlite_",
    "postgres_",
    "mysql_",
    "iceberg_",
    "delta_",
    "glob",
    "http",
    "json_execute",
    "arrow_",
    "icu_",
)
_DENY = frozenset(
    {
        "query",
        "query_table",
        "current_query",  # the statement as rewritten: role database and internal names
        "getenv",
        "getvariable",
        "current_setting_raw",
        "which_secret",
        "load",
        "install",
        "checkpoint",
        "force_checkpoint",
        "export_database",
        "import_database",
        "enable_profiling",
        "disable_profiling",
        "enable_logging",
        "disable_logging",
        "truncate_duckdb_logs",
        "test_all_types",
        "test_vector_types",
        "summary",
        "readcsv",
        "readparquet",
        "readjson",
        "sql_auto_complete",
        "from_substrait",
        "get_substrait",
        "pg_read_file",
        "pg_read_binary_file",
        "pg_ls_dir",
        "pg_stat_file",
        "lo_import",
        "lo_export",
        "dblink",
        "pg_sleep",
        "repeat_row",
        "load_extension",
        "iceberg_scan",
        "delta_scan",
        "parquet_scan",
        "csv_scan",
        "json_scan",
        "glob",
    }
)
ALLOWED_SCHEMAS = frozenset(
    {"main", "public", "metrics", "analysis", "pg_catalog", "information_schema"}
)
#: DuckDB's own catalog views (they list every attached database, role and generation).
_SYSTEM_VIEW_PREFIXES = ("duckdb_", "sqlite_", "pragma_")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


def function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return node.sql_name().lower()


def function_allowed(name: str) -> bool:
    """Whether a client may call function ``name`` (lower case)."""
    return not (name in _DENY or name.startswith(_DENY_PREFIXES))


def _check_function(name: str) -> None:
    if not function_allowed(name):
        raise Forbidden(
            f"function {name} is not allowed",
            hint="only read-only queries over the granted marts, metrics and catalog are allowed",
        )


def cte_in_scope(table: exp.Table) -> bool:
    """True when a bare table name refers to a CTE visible where it stands.

    Only the ``WITH`` clauses of the queries that enclose the reference count (as in SQL's
    scoping); a CTE defined inside another subquery does not make the same name elsewhere
    a CTE, so ``(with duckdb_databases as (...) select 1) a, duckdb_databases`` still names
    the system view and is refused."""
    if table.args.get("db") is not None or table.args.get("catalog") is not None:
        return False
    name = table.name.lower()
    node: exp.Expression | None = table.parent
    while node is not None:
        with_ = node.args.get("with_") or node.args.get("with")
        if isinstance(with_, exp.With) and any(
            c.alias_or_name.lower() == name for c in with_.expressions
        ):
            return True
        node = node.parent
    return False


def check_query(
    tree: exp.Expression, database: str, *, relations: frozenset[str] = frozenset()
) -> None:
    """Raise :class:`Forbidden`/:class:`ReadOnly` unless ``tree`` is an allowed query.

    ``relations`` are bare names that the caller puts in scope around the query (the
    compiled result a semantic or JDBC query reads); nothing else bare is special."""
    root = tree
    if isinstance(root, exp.Subquery):
        root = root.unnest()
    if isinstance(root, _WRITE_NODES):
        raise ReadOnly(f"cannot execute {root.key.upper()} in a read-only session")
    if not isinstance(root, exp.Select | exp.SetOperation | exp.Values | exp.Subquery):
        what = root.key.upper() if root.key != "alias" else "this statement"
        if isinstance(root, exp.Command):
            what = str(root.this).upper()
        raise Forbidden(
            f"{what} is not allowed: only SELECT, WITH, EXPLAIN, SHOW and session "
            "statements (SET, BEGIN, COMMIT, ...) are accepted"
        )
    for node in root.walk():
        if isinstance(node, _WRITE_NODES):
            raise ReadOnly(f"cannot execute {node.key.upper()} in a read-only session")
        if isinstance(node, _OTHER_FORBIDDEN):
            raise Forbidden(f"{node.key.upper()} is not allowed inside a query")
        if isinstance(node, exp.Select) and node.args.get("into"):
            raise ReadOnly("SELECT INTO creates a table and is not allowed in a read-only session")
        if isinstance(node, exp.Table):
            _check_table(node, database, relations)
        elif isinstance(node, exp.Dot) and isinstance(node.expression, exp.Func):
            qualifier = node.this.sql(dialect="postgres").lower()
            if qualifier not in ("pg_catalog", "information_schema"):
                raise Forbidden(f"function {node.sql(dialect='postgres')} is not allowed")
        elif isinstance(node, exp.Func):
            _check_function(function_name(node))


def _check_table(node: exp.Table, database: str, relations: frozenset[str]) -> None:
    this = node.this
    if isinstance(this, exp.Func):
        name = function_name(this)
        _check_function(name)
        if name not in ALLOWED_TABLE_FUNCTIONS:
            raise Forbidden(f"table function {name} is not allowed")
        return
    if not isinstance(this, exp.Identifier):
        raise Forbidden(f"{node.sql('postgres')} is not an allowed table reference")
    name = this.name
    if node.catalog and node.catalog.lower() != database.lower():
        raise Forbidden(
            f'database "{node.catalog}" is not accessible; this server serves "{database}"'
        )
    if not node.db and not node.catalog and (name.lower() in relations or cte_in_scope(node)):
        return
    if node.db and node.db.lower() not in ALLOWED_SCHEMAS:
        # DuckDB would read ``x.t`` as catalog ``x`` when no schema ``x`` exists, so any
        # other qualifier could name a generation or another role's database.
        raise Forbidden(
            f'schema "{node.db}" is not accessible',
            hint="schemas: main (marts), metrics, analysis, pg_catalog, information_schema",
        )
    for part in (node.db, name):
        if part and (not _IDENT.match(part) or part.startswith("_")):
            raise Forbidden(f'"{part}" is not an allowed object name')
    if name.lower().startswith(_SYSTEM_VIEW_PREFIXES):
        raise Forbidden(f'"{name}" is an engine system view and is not accessible')


_WRITE_WORDS = frozenset(
    {
        "create",
        "insert",
        "update",
        "delete",
        "drop",
        "copy",
        "truncate",
        "merge",
        "alter",
        "comment",
        "upsert",
        "replace",
    }
)
_ADMIN_WORDS = frozenset(
    {
        "attach",
        "detach",
        "install",
        "load",
        "pragma",
        "checkpoint",
        "force",
        "vacuum",
        "call",
        "export",
        "import",
        "use",
        "grant",
        "revoke",
        "reindex",
        "cluster",
        "lock",
        "refresh",
        "prepare",
        "execute",
        "do",
        "summarize",
        "describe",
        "unpivot",
        "pivot",
    }
)


def check_leading_keyword(text: str) -> None:
    """Refuse statements by their first keyword, before parsing (clear SQLSTATE even when
    the statement is DuckDB-only syntax that the Postgres parser would reject)."""
    word = re.match(r"\s*(\w+)", text)
    if not word:
        return
    w = word.group(1).lower()
    if w in _WRITE_WORDS:
        raise ReadOnly(f"cannot execute {w.upper()} in a read-only session")
    if w in _ADMIN_WORDS:
        raise Forbidden(
            f"{w.upper()} is not allowed: only SELECT, WITH, EXPLAIN, SHOW and session "
            "statements (SET, BEGIN, COMMIT, ...) are accepted"
        )


def check_unparsed(text: str) -> None:
    """For text that does not parse: refuse it as forbidden if it calls a denied function."""
    for name in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(", text):
        _check_function(name.lower())


def check_functions(tree: exp.Expression) -> None:
    """Deny-listed functions anywhere in a tree (semantic SQL, which is not passed through
    :func:`check_query` because it never reaches DuckDB as written)."""
    for node in tree.walk():
        if isinstance(node, exp.Dot) and isinstance(node.expression, exp.Func):
            raise Forbidden(f"function {node.sql(dialect='postgres')} is not allowed")
        if isinstance(node, exp.Func):
            _check_function(function_name(node))


def check_filter_text(text: str) -> None:
    """A MetricFlow-style filter (JDBC ``where=[...]``) may only be a plain expression:
    no subqueries, tables or deny-listed functions."""
    import sqlglot

    plain = re.sub(r"\{\{.*?\}\}", "NULL", text, flags=re.S)
    try:
        tree = sqlglot.parse_one(plain, read="duckdb")
    except sqlglot.errors.ParseError:
        return  # the semantic layer reports the syntax error with its own message
    if tree.find(exp.Select, exp.Subquery, exp.Table):
        raise Forbidden("subqueries are not allowed in metric filters")
    check_functions(tree)
