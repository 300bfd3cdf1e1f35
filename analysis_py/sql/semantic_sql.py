"""Semantic SQL: a SELECT over ``metrics`` becomes a metric request.

``SELECT metric_time__month, client__segment, stp_rate FROM metrics WHERE client__region =
'EMEA' GROUP BY ALL ORDER BY 1 LIMIT 100`` asks for the metric ``stp_rate`` grouped by two
dimensions, filtered on a third. The same works against the per-metric tables BI tools
see (``FROM metrics.stp_rate``), including what they generate around them: aggregate
wrappers (``SUM(stp_rate)``, ``MEASURE(stp_rate)``), ``date_trunc('month',
metric_time__day)``, aliases, HAVING, ORDER BY positions.

The translation is exact rather than clever: the semantic layer computes every metric at
exactly the grain the query asks for, so an aggregate around a metric is unwrapped, never
applied again (a ratio is never averaged); WHERE conjuncts over dimensions become
MetricFlow filter templates; HAVING, ORDER BY, LIMIT and any scalar arithmetic run on the
compiled result.

>>> import sqlglot
>>> q = translate(sqlglot.parse_one(
...     "select metric_time__month, client__segment, sum(stp_rate) as stp from metrics "
...     "where client__region = 'EMEA' group by 1, 2 order by 1 limit 10", read="postgres"),
...     known_metrics={"stp_rate"})
>>> q.kwargs()["group_by"], q.kwargs()["where"]
(['metric_time__month', 'client__segment'], ["{{ Dimension('client__region') }} = 'EMEA'"])
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from analysis_py.errors import SemanticSQLError, SQLStateError, Unsupported, close_names
from analysis_py.semantic.manifest import GRAINS

_AGGS = (exp.Sum, exp.Avg, exp.Min, exp.Max, exp.AnyValue, exp.First, exp.Last)
_WRAPPER_NAMES = {"measure", "agg", "sum", "avg", "min", "max", "any_value", "first", "last"}


def _metric_table(t: exp.Table) -> tuple[bool, str | None]:
    """(is a metrics table, metric name if it is ``metrics.<name>``)."""
    if not isinstance(t.this, exp.Identifier):
        return False, None
    name, db = t.name.lower(), (t.db or "").lower()
    if db == "metrics":
        return True, name
    if name == "metrics" and db in ("", "main", "public", "metrics"):
        return True, None
    return False, None


def references_metrics(tree: exp.Expression) -> bool:
    """True when a query reads the ``metrics`` table or a ``metrics.<name>`` table."""
    return any(_metric_table(t)[0] for t in tree.find_all(exp.Table))


def param_index(node: exp.Expression) -> int | None:
    """1 for ``$1`` (sqlglot reads it as a Parameter or a Placeholder); None for ``?``."""
    key = node.name or (node.this.name if isinstance(node.this, exp.Expression) else "")
    try:
        return int(str(key).lstrip("$"))
    except ValueError:
        return None


def bind_params(tree: exp.Expression, params: Sequence[Any]) -> exp.Expression:
    """Inline ``$n`` parameters as literals (semantic queries compile to fresh SQL)."""

    def lit(v):
        if v is None:
            return exp.Null()
        if isinstance(v, bool):
            return exp.Boolean(this=v)
        if isinstance(v, int | float | decimal.Decimal):
            return exp.Literal.number(v)
        if isinstance(v, dt.date | dt.datetime):
            return exp.Literal.string(
                v.isoformat(sep=" ") if isinstance(v, dt.datetime) else v.isoformat()
            )
        return exp.Literal.string(str(v))

    def fn(node):
        if isinstance(node, exp.Parameter | exp.Placeholder):
            k = param_index(node)
            if k is None or not 1 <= k <= len(params):
                raise SemanticSQLError(f"no value for parameter {node.sql()}")
            return lit(params[k - 1])
        return node

    return tree.transform(fn)


#: date/time parsing a BI tool writes around constants (Superset's time range:
#: ``STRPTIME('2025-01-01 00:00:00.000000', '%Y-%m-%d %H:%M:%S.%f')``, ``TO_TIMESTAMP(…)``)
_TIME_PARSERS = (exp.StrToTime, exp.StrToDate, exp.TimeStrToTime, exp.TsOrDsToDate)
_TIME_PARSER_NAMES = frozenset(
    {"strptime", "to_timestamp", "to_date", "make_date", "make_timestamp"}
)


def fold_constant_times(tree: exp.Expression) -> exp.Expression:
    """Replace a date/time parsing call whose arguments are all constants by the timestamp or
    date it gives (computed by DuckDB, on no data), so a filter holds plain literals."""
    import duckdb

    def constant(node: exp.Expression) -> bool:
        # literals only (a cast or a sign allowed): no column, parameter, subquery or other
        # function reaches the scratch database
        return all(
            n is node or isinstance(n, exp.Literal | exp.Var | exp.DataType | exp.Neg | exp.Cast)
            for n in node.walk()
        )

    def is_parser(node: exp.Expression) -> bool:
        return isinstance(node, _TIME_PARSERS) or (
            isinstance(node, exp.Anonymous) and str(node.name).lower() in _TIME_PARSER_NAMES
        )

    for node in list(tree.find_all(exp.Func)):
        if not is_parser(node) or not constant(node):
            continue
        try:
            con = duckdb.connect(config={"enable_external_access": False})
            try:
                (value,) = con.execute(f"SELECT {node.sql(dialect='duckdb')}").fetchone()
            finally:
                con.close()
        except duckdb.Error:
            continue  # left as written: the filter guard says what is wrong
        if isinstance(value, dt.datetime):
            node.replace(exp.cast(exp.Literal.string(value.isoformat(sep=" ")), "TIMESTAMP"))
        elif isinstance(value, dt.date):
            node.replace(exp.cast(exp.Literal.string(value.isoformat()), "DATE"))
    return tree


@dataclass
class SemanticQuery:
    metrics: list[str]
    group_by: list[str]
    where: list[str]
    projection: list[exp.Expression]  # over inner columns (quoted identifiers)
    names: list[str]
    having: exp.Expression | None = None
    order: list[exp.Ordered] = field(default_factory=list)
    limit: exp.Expression | None = None
    offset: exp.Expression | None = None

    def kwargs(self) -> dict:
        """Keyword arguments for ``SemanticLayer.compile``."""
        return {
            "metrics": list(self.metrics),
            "group_by": list(self.group_by) or None,
            "where": list(self.where) or None,
        }

    def outer(self) -> exp.Select:
        """The client's projection, HAVING, ORDER BY, LIMIT over the compiled result, which
        it reads as the relation :data:`RESULT` (put in scope by :func:`with_result`)."""
        sel = exp.select(
            *[
                e.copy().as_(n, quoted=True)
                for e, n in zip(self.projection, self.names, strict=True)
            ]
        ).from_(exp.to_table(RESULT).as_("_m"))
        if self.having is not None:
            sel = sel.where(self.having.copy())
        if self.order:
            sel = sel.order_by(*[o.copy() for o in self.order])
        if self.limit is not None:
            sel = sel.limit(self.limit.copy())
        if self.offset is not None:
            sel = sel.offset(self.offset.copy())
        return sel


#: The name under which the compiled metric query is visible to the client's outer SQL.
RESULT = "semantic_result"


def with_result(outer: exp.Expression, compiled_sql: str, name: str = RESULT) -> str:
    """DuckDB SQL: ``WITH <name> AS (<compiled>) <outer>``. The outer query has been
    guarded and rewritten on its own; the compiled part is the engine's, never the client's."""
    cte = exp.to_identifier(name, quoted=True).sql(dialect="duckdb")
    return f"WITH {cte} AS ({compiled_sql}) " + outer.sql(dialect="duckdb")


def _row_count(node: exp.Expression | None, what: str) -> exp.Expression | None:
    """A LIMIT/OFFSET value of semantic SQL: a whole number (or ALL/NULL = none), nothing else.

    The value is applied to the compiled result, so an expression there could only be a way to
    run SQL the translation never checked."""
    if (
        node is None
        or isinstance(node, exp.Null)
        or (isinstance(node, exp.Var) and node.name.upper() == "ALL")
    ):
        return None
    if isinstance(node, exp.Literal) and not node.is_string and node.name.isdigit():
        return exp.Literal.number(int(node.name))
    raise SemanticSQLError(
        f"{what} in semantic SQL must be a whole number, got {node.sql('postgres')[:80]}",
        hint=f"write e.g. {what} 100 (a parameter $1 bound to a number works too)",
    )


def _col(name: str) -> exp.Column:
    return exp.column(exp.to_identifier(name, quoted=True), table=exp.to_identifier("_m"))


def _split_grain(name: str, grains: Collection[str]) -> tuple[str, str | None]:
    base, sep, tail = name.rpartition("__")
    if sep and tail in grains:
        return base, tail
    return name, None


def _trunc_unit(node: exp.Expression) -> tuple[str, exp.Expression] | None:
    """(unit, column) for date_trunc('unit', col) in any of sqlglot's shapes."""
    if isinstance(node, exp.TimestampTrunc | exp.DateTrunc | exp.TimeTrunc | exp.DatetimeTrunc):
        unit = node.args.get("unit")
        return (unit.name.lower() if unit is not None else "day"), node.this
    if (
        isinstance(node, exp.Anonymous)
        and str(node.name).lower() == "date_trunc"
        and len(node.expressions) == 2
        and isinstance(node.expressions[0], exp.Literal)
    ):
        return node.expressions[0].name.lower(), node.expressions[1]
    return None


class _Translator:
    def __init__(
        self,
        known_metrics: set[str],
        table_metric: str | None,
        aliases: set[str],
        grains: Collection[str],
    ):
        self.known = known_metrics
        self.grains = grains
        self.table_metric = table_metric
        self.aliases = aliases
        self.metrics: list[str] = []
        self.group_by: list[str] = []

    def is_metric(self, name: str) -> bool:
        return name in self.known or name == self.table_metric

    def add_metric(self, name: str) -> None:
        if name not in self.metrics:
            self.metrics.append(name)

    def add_dim(self, name: str) -> None:
        if name not in self.group_by:
            self.group_by.append(name)

    def colname(self, c: exp.Column) -> str:
        if c.table and c.table.lower() not in self.aliases:
            raise SemanticSQLError(f"unknown table or alias {c.table!r} in {c.sql()}")
        return c.name if c.this.quoted else c.name.lower()

    def value_expr(self, node: exp.Expression, *, in_agg: bool = False) -> exp.Expression:
        """Rewrite a SELECT/HAVING/ORDER expression over the compiled result's columns."""
        tu = _trunc_unit(node)
        if tu is not None and isinstance(tu[1], exp.Column):
            base, _g = _split_grain(self.colname(tu[1]), self.grains)
            name = f"{base}__{tu[0]}"
            self.add_dim(name)
            return _col(name)
        if isinstance(node, exp.Column) and not isinstance(node.this, exp.Star):
            name = self.colname(node)
            if self.is_metric(name):
                self.add_metric(name)
            else:
                if name == "metric_time":
                    name = "metric_time__day"
                self.add_dim(name)
            return _col(name)
        if isinstance(node, _AGGS) or (
            isinstance(node, exp.Anonymous) and str(node.name).lower() in _WRAPPER_NAMES
        ):
            inner = (
                node.this
                if not isinstance(node, exp.Anonymous)
                else (node.expressions[0] if len(node.expressions) == 1 else None)
            )
            if isinstance(inner, exp.Column) and self.is_metric(self.colname(inner)):
                return self.value_expr(inner, in_agg=True)
            raise SemanticSQLError(
                f"{node.sql('postgres')}: aggregates are only allowed around a metric "
                "(the metric is already aggregated to the grain of the GROUP BY)"
            )
        if isinstance(node, exp.Count):
            raise SemanticSQLError(
                "COUNT over the metrics table is not supported: ask for a count metric instead"
            )
        if isinstance(node, exp.AggFunc):
            raise SemanticSQLError(f"{node.sql('postgres')} cannot be applied to a metric result")
        if isinstance(node, exp.Subquery | exp.Select):
            raise SemanticSQLError("subqueries are not supported in semantic SQL")
        new = node.copy()
        for child_key, child in list(node.args.items()):
            if isinstance(child, exp.Expression):
                new.set(child_key, self.value_expr(child, in_agg=in_agg))
            elif isinstance(child, list):
                new.set(
                    child_key,
                    [
                        self.value_expr(c, in_agg=in_agg) if isinstance(c, exp.Expression) else c
                        for c in child
                    ],
                )
        return new

    # -- WHERE → filter templates
    def template(self, name: str) -> str:
        base, grain = _split_grain(name, self.grains)
        if base == "metric_time" or grain is not None:
            return f"{{{{ TimeDimension('{base}', '{grain or 'day'}') }}}}"
        if "__" in name:
            return f"{{{{ Dimension('{name}') }}}}"
        return f"{{{{ Entity('{name}') }}}}"

    def filter_text(self, cond: exp.Expression) -> str:
        if cond.find(exp.Select, exp.Subquery):
            raise SemanticSQLError("subqueries are not supported in semantic SQL filters")

        def fn(node):
            tu = _trunc_unit(node)
            if tu is not None and isinstance(tu[1], exp.Column):
                base, _g = _split_grain(self.colname(tu[1]), self.grains)
                return exp.Var(this=self.template(f"{base}__{tu[0]}"))
            if isinstance(node, exp.Column):
                name = self.colname(node)
                if self.is_metric(name):
                    raise SemanticSQLError(
                        f"metric {name} cannot be filtered in WHERE: use HAVING "
                        "(WHERE filters the rows before they are aggregated)"
                    )
                return exp.Var(this=self.template(name))
            if isinstance(node, exp.AggFunc):
                raise SemanticSQLError("aggregates are not allowed in WHERE; use HAVING")
            return node

        return cond.copy().transform(fn).sql(dialect="duckdb")


def _conjuncts(cond: exp.Expression | None) -> list[exp.Expression]:
    if cond is None:
        return []
    if isinstance(cond, exp.And):
        return _conjuncts(cond.this) + _conjuncts(cond.expression)
    if isinstance(cond, exp.Paren):
        inner = cond.this
        return _conjuncts(inner) if isinstance(inner, exp.And) else [cond]
    return [cond]


def _default_name(e: exp.Expression) -> str:
    if isinstance(e, exp.Alias):
        return e.alias
    if isinstance(e, exp.Column):
        return e.name if e.this.quoted else e.name.lower()
    if isinstance(e, exp.Func):
        return (e.name if isinstance(e, exp.Anonymous) else e.sql_name()).lower()
    if isinstance(e, exp.Cast):
        return _default_name(e.this)
    return "?column?"


def translate(
    tree: exp.Expression, known_metrics: set[str], grains: Collection[str] = GRAINS
) -> SemanticQuery:
    """A semantic SELECT as a metric request plus the projection over its result.
    ``grains``: the time grains a ``<dimension>__<grain>`` column may name (the standard
    ones and the project's custom grains)."""
    if not isinstance(tree, exp.Select):
        raise Unsupported("semantic SQL must be a single SELECT over metrics")
    if tree.args.get("with_") or tree.args.get("with"):
        raise Unsupported("WITH is not supported around the metrics table")
    from_ = tree.args.get("from_") or tree.args.get("from")
    if from_ is None or tree.args.get("joins"):
        raise Unsupported(
            "semantic SQL reads one metrics table: FROM metrics (or metrics.<metric>), no joins",
            hint="metrics already join their dimensions; name them in the SELECT list",
        )
    table = from_.this
    if not isinstance(table, exp.Table):
        raise Unsupported("FROM must name the metrics table")
    is_m, table_metric = _metric_table(table)
    if not is_m:
        raise Unsupported("semantic SQL must read FROM metrics or metrics.<metric>")
    if table_metric is not None and table_metric not in known_metrics:
        raise SQLStateError(f'relation "metrics.{table_metric}" does not exist', sqlstate="42P01")
    aliases = {table.name.lower(), "metrics"}
    if table.alias:
        aliases.add(table.alias.lower())
    tr = _Translator(known_metrics, table_metric, aliases, grains)

    projection: list[exp.Expression] = []
    names: list[str] = []
    for e in tree.expressions:
        if isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star)):
            if table_metric is None:
                raise Unsupported(
                    "SELECT * needs a metric table (FROM metrics.<metric>); "
                    "from `metrics`, name the metrics and dimensions"
                )
            for n in ("metric_time__day", table_metric):
                projection.append(tr.value_expr(exp.column(n)))
                names.append(n)
            continue
        inner = e.this if isinstance(e, exp.Alias) else e
        projection.append(tr.value_expr(inner))
        names.append(_default_name(e))
    by_alias = {n: p for n, p in zip(names, projection, strict=True)}

    def ref(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Literal) and not node.is_string:
            i = int(node.name)
            if not 1 <= i <= len(projection):
                raise SemanticSQLError(f"position {i} is not in the select list")
            return projection[i - 1]
        if (
            isinstance(node, exp.Column)
            and not node.table
            and node.name in by_alias
            and not tr.is_metric(node.name)
        ):
            return by_alias[node.name]
        return tr.value_expr(node)

    group = tree.args.get("group")
    if group is not None:
        for g in group.expressions:
            if (isinstance(g, exp.Literal) and not g.is_string) or isinstance(
                g, exp.Column | exp.Func
            ):
                ref(g)
    where: list[str] = (
        [tr.filter_text(c) for c in _conjuncts(tree.args.get("where").this)]
        if tree.args.get("where")
        else []
    )
    having = tree.args.get("having")
    having_expr = tr.value_expr(having.this) if having is not None else None
    order = []
    if tree.args.get("order"):
        for o in tree.args["order"].expressions:
            o2 = o.copy()
            o2.set("this", ref(o.this))
            order.append(o2)
    if not tr.metrics:
        close = sorted({m for n in names for m in close_names(n, known_metrics, n=1, cutoff=0.7)})
        raise SemanticSQLError(
            "semantic SQL needs at least one metric in the SELECT list"
            + (f" ({', '.join(names)} name no metric)" if names else "")
            + (f"; did you mean {', '.join(close)}?" if close else ""),
            hint=(
                f"this table's metric is {table_metric}"
                if table_metric
                else "e.g. SELECT metric_time__month, <metric> FROM metrics GROUP BY 1; "
                "`opsmetrics list metrics` lists them"
            ),
        )
    limit = tree.args.get("limit")
    if isinstance(limit, exp.Fetch):
        opts = limit.args.get("limit_options")
        if opts is not None and (opts.args.get("percent") or opts.args.get("with_ties")):
            raise Unsupported(
                "FETCH FIRST ... PERCENT / WITH TIES is not supported in semantic SQL"
            )
        limit_value = _row_count(limit.args.get("count") or exp.Literal.number(1), "FETCH FIRST")
    else:
        limit_value = _row_count(limit.expression if limit is not None else None, "LIMIT")
    offset = tree.args.get("offset")
    return SemanticQuery(
        metrics=tr.metrics,
        group_by=tr.group_by,
        where=where,
        projection=projection,
        names=names,
        having=having_expr,
        order=order,
        limit=limit_value,
        offset=_row_count(offset.expression if offset is not None else None, "OFFSET"),
    )
