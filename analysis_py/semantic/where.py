"""Where filters: rendered from MetricFlow's template syntax, parsed, checked — never pasted.

A filter is accepted only if, after each ``{{ … }}`` object is replaced by a reference to a
semantic object, it parses as ONE boolean expression whose leaves are those references,
literals, intervals and types, combined with operators and a small allow-list of scalar
functions. Everything else — a second statement, a subquery, DDL/DML, a table function such as
``read_csv``, a raw column name, an unknown function — is refused with :class:`FilterError`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from analysis_py.errors import FilterError, QueryError, did_you_mean
from analysis_py.semantic.names import SEP, Ref, parse_name, parse_object_call

_TEMPLATE = re.compile(r"\{\{(.*?)\}\}", re.S)
PLACEHOLDER = "__opsm_ref_"

#: Comparisons: a filter's conditions.
_COMPARISONS: tuple[type[exp.Expression], ...] = (
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.Is,
    exp.In,
    exp.Between,
    exp.Like,
    exp.ILike,
    exp.NullSafeEQ,
    exp.NullSafeNEQ,
)

#: Node types a filter may contain (besides the placeholders, which are Columns).
ALLOWED: tuple[type[exp.Expression], ...] = (
    exp.And,
    exp.Or,
    exp.Not,
    exp.Paren,
    *_COMPARISONS,
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Div,
    exp.Mod,
    exp.Neg,
    exp.Literal,
    exp.Boolean,
    exp.Null,
    exp.Tuple,
    exp.Interval,
    exp.Var,
    exp.Cast,
    exp.TryCast,
    exp.DataType,
    exp.DataTypeParam,
    exp.Coalesce,
    exp.Lower,
    exp.Upper,
    exp.Trim,
    exp.Length,
    exp.Substring,
    exp.Concat,
    exp.DPipe,
    exp.Abs,
    exp.Round,
    exp.Floor,
    exp.Ceil,
    exp.If,
    exp.Case,
    exp.DateTrunc,
    exp.TimestampTrunc,
    exp.CurrentDate,
    exp.CurrentTimestamp,
    exp.Extract,
    exp.Year,
    exp.Month,
    exp.Day,
    exp.DateAdd,
    exp.DateSub,
    exp.TsOrDsToDate,
    exp.Date,
    exp.StrToDate,
    exp.Column,
    exp.Identifier,
)
ALLOWED_FUNCTIONS_TEXT = (
    "comparisons (= != < <= > >= BETWEEN IN LIKE ILIKE IS [NOT] NULL), AND/OR/NOT, arithmetic, "
    "CAST, COALESCE, LOWER, UPPER, TRIM, LENGTH, SUBSTRING, CONCAT, ABS, ROUND, FLOOR, CEIL, "
    "CASE/IF, DATE_TRUNC, EXTRACT, YEAR/MONTH/DAY, CURRENT_DATE, CURRENT_TIMESTAMP, date "
    "arithmetic with INTERVAL — over {{ Dimension(...) }}, {{ TimeDimension(...) }}, "
    "{{ Entity(...) }}, {{ Metric(...) }} objects and literals"
)
_BOOLEAN_ROOTS = (exp.And, exp.Or, exp.Not, *_COMPARISONS, exp.Boolean)


@dataclass(frozen=True)
class ParsedFilter:
    """A checked filter: the tree with placeholder columns, and what each placeholder names."""

    text: str
    tree: exp.Expression
    refs: tuple[Ref, ...]

    def substitute(self, columns: list[exp.Expression]) -> exp.Expression:
        """The filter with placeholder ``i`` replaced by ``columns[i]``."""

        def repl(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Column) and node.name.startswith(PLACEHOLDER):
                return columns[int(node.name[len(PLACEHOLDER) :])].copy()
            return node

        return self.tree.copy().transform(repl)


def _one_statement(sql: str, dialect: str, refuse) -> exp.Expression:
    """The single statement ``sql`` parses to, or ``refuse(why)`` raised."""
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except (ParseError, TokenError) as exc:
        raise refuse(f"not valid SQL ({str(exc).splitlines()[0][:200]})") from None
    if len(statements) != 1:
        raise refuse("more than one statement")
    return statements[0]


def _check_nodes(tree: exp.Expression, refuse, column) -> None:
    """The allow-list walk shared by both kinds of filter: comments dropped (they never reach
    the generated SQL), each column handed to ``column`` (which checks or rewrites it), and
    every other node a member of :data:`ALLOWED` — no subquery, no unknown function."""
    for node in tree.walk():
        node.comments = None
        if isinstance(node, exp.Column):
            column(node)
            continue
        if isinstance(node, exp.Identifier) and isinstance(node.parent, exp.Column):
            continue
        if isinstance(node, exp.Subquery | exp.Select | exp.Query):
            raise refuse("subqueries are not allowed")
        if isinstance(node, exp.Anonymous):
            raise refuse(f"function {node.name}() is not allowed")
        if not isinstance(node, ALLOWED):
            raise refuse(f"{node.key.upper()} is not allowed")


def _refuse(text: str, why: str) -> FilterError:
    return FilterError(
        f"where filter refused: {why}: {text!r}",
        hint=f"a filter may contain only {ALLOWED_FUNCTIONS_TEXT}",
    )


@functools.lru_cache(maxsize=512)
def parse_filter(text: str, dialect: str = "duckdb") -> ParsedFilter:
    """Render, parse and check one where filter.

    >>> f = parse_filter("{{ Dimension('order__status') }} = 'done'")
    >>> f.refs[0].column()
    'order__status'
    """
    if not isinstance(text, str) or not text.strip():
        raise FilterError("where filter is empty")
    refs: list[Ref] = []

    def swap(m: re.Match) -> str:
        refs.append(parse_object_call(m.group(1)))
        return f" {PLACEHOLDER}{len(refs) - 1} "

    sql = _TEMPLATE.sub(swap, text)
    if "{{" in sql or "}}" in sql or "{%" in sql or "{#" in sql:
        raise FilterError(
            f"malformed template in where filter: {text!r}",
            hint="objects are written {{ Dimension('entity__name') }}; jinja statements are not allowed",
        )

    def refuse(why: str) -> FilterError:
        return _refuse(text, why)

    tree = _one_statement(sql, dialect, refuse)
    if isinstance(tree, exp.Select | exp.Create | exp.Insert | exp.Delete | exp.Update | exp.Drop):
        raise _refuse(text, f"a {tree.key.upper()} statement is not a filter")

    def named(node: exp.Expression) -> exp.Expression:
        # a bare dunder name (metric_time__day, order__status) is a semantic object, as in
        # MetricFlow's filters; it is resolved like {{ Dimension(...) }}, never as a column
        if (
            isinstance(node, exp.Column)
            and not node.table
            and not node.name.startswith(PLACEHOLDER)
            and SEP in node.name
        ):
            try:
                ref = parse_name(node.name)
            except QueryError:
                return node
            refs.append(ref)
            return exp.column(f"{PLACEHOLDER}{len(refs) - 1}")
        return node

    tree = tree.transform(named)

    def placeholder_only(node: exp.Column) -> None:
        if not node.name.startswith(PLACEHOLDER) or node.table:
            raise refuse(
                f"raw column '{node.sql()}' (name semantic objects with {{{{ Dimension('…') }}}})"
            )

    _check_nodes(tree, refuse, placeholder_only)
    root = tree.unnest() if isinstance(tree, exp.Paren) else tree
    # a bare reference is a boolean dimension used as the condition (MetricFlow allows it)
    bare = isinstance(root, exp.Column) and root.name.startswith(PLACEHOLDER)
    if not bare and not isinstance(root, _BOOLEAN_ROOTS):
        raise _refuse(text, "it is not a boolean condition")
    return ParsedFilter(text=text, tree=tree, refs=tuple(refs))


def check_predicate(text: str, columns: list[str], dialect: str = "duckdb") -> str:
    """A plain-SQL row predicate over the named ``columns`` (an analysis spec's ``where``),
    checked like a semantic filter and re-rendered from its tree — never pasted.

    The same allow-list applies: one boolean expression of those columns, literals, operators
    and the allowed scalar functions; no subquery, table, statement or other function.

    >>> check_predicate("priority in ('P1', 'P2') and not is_resolved", ["priority", "is_resolved"])
    '"priority" IN (\\'P1\\', \\'P2\\') AND NOT "is_resolved"'
    >>> check_predicate("1=1; copy fct_cases to '/tmp/x'", ["priority"])
    Traceback (most recent call last):
    ...
    analysis_py.errors.FilterError: where filter refused: more than one statement: "1=1; copy fct_cases to '/tmp/x'"
    Hint: a spec's where is one condition over the input's columns, with comparisons (= != < <= > >= BETWEEN IN LIKE ILIKE IS [NOT] NULL), AND/OR/NOT, arithmetic, CAST, COALESCE, LOWER, UPPER, TRIM, LENGTH, SUBSTRING, CONCAT, ABS, ROUND, FLOOR, CEIL, CASE/IF, DATE_TRUNC, EXTRACT, YEAR/MONTH/DAY, CURRENT_DATE, CURRENT_TIMESTAMP and date arithmetic with INTERVAL
    """
    hint = (
        "a spec's where is one condition over the input's columns, with "
        + ALLOWED_FUNCTIONS_TEXT.split(" — ")[0].replace(
            ", date arithmetic", " and date arithmetic"
        )
    )

    def refuse(why: str) -> FilterError:
        return FilterError(f"where filter refused: {why}: {text!r}", hint=hint)

    if not isinstance(text, str) or not text.strip():
        raise FilterError("where filter is empty", hint=hint)
    if "{{" in text or "{%" in text:
        raise refuse("templates are not used here (name the input's columns directly)")
    tree = _one_statement(text, dialect, refuse)
    if tree.find(exp.Query, exp.Subquery, exp.Table):
        raise refuse("subqueries are not allowed")
    known = {c.lower(): c for c in columns}

    def input_column(node: exp.Column) -> None:
        if node.table:
            raise refuse(f"qualified column '{node.sql()}' (name the input's columns only)")
        if node.name.lower() not in known:
            maybe = did_you_mean(node.name, columns, n=1)
            raise refuse(f"unknown column '{node.name}'" + (f" ({maybe})" if maybe else ""))
        node.set("this", exp.to_identifier(known[node.name.lower()], quoted=True))

    _check_nodes(tree, refuse, input_column)
    root = tree.unnest() if isinstance(tree, exp.Paren) else tree
    if not isinstance(root, (*_BOOLEAN_ROOTS, exp.Column)):
        raise refuse("it is not a boolean condition")
    return tree.sql(dialect=dialect)
