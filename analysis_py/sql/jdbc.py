"""dbt Semantic Layer JDBC syntax: ``select * from {{ semantic_layer.query(...) }}``.

Tools built for dbt Cloud's JDBC API send Jinja-looking calls inside SQL. The call is
parsed with Python's :mod:`ast` and interpreted by a tiny evaluator that knows only
literals, lists, keyword arguments and the ``Dimension``/``TimeDimension``/``Entity``/
``Metric`` helpers with ``.grain()``/``.descending()`` — nothing is ever ``eval``-ed.

>>> c = parse_call("select * from {{ semantic_layer.query(metrics=['stp_rate'], "
...   "group_by=[Dimension('metric_time').grain('month'), 'client__segment'], "
...   "where=[\\"{{ Dimension('client__region') }} = 'EMEA'\\"], "
...   "order_by=[Dimension('metric_time').grain('month').descending(True)], limit=5) }}")
>>> c.method, c.query_kwargs()["group_by"], c.query_kwargs()["order_by"]
('query', ['metric_time__month', 'client__segment'], ['-metric_time__month'])
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

from analysis_py.errors import JDBCSyntaxError, SQLStateError
from analysis_py.semantic.names import parse_python_expression
from analysis_py.sql.guard import check_query

METHODS = {
    "query",
    "metrics",
    "dimensions",
    "dimension_values",
    "entities",
    "saved_queries",
    "queryable_granularities",
    "metrics_for_dimensions",
    "measures",
}
RESULT_NAME = "semantic_layer_result"
_CALL_OPEN = re.compile(r"\{\{\s*semantic_layer\s*\.")


@dataclass(frozen=True)
class Ref:
    """A ``Dimension(...)``/``Entity(...)``/``Metric(...)`` object with its modifiers."""

    kind: str
    name: str
    grain: str | None = None
    descending: bool = False

    def text(self) -> str:
        return f"{self.name}__{self.grain}" if self.grain else self.name

    def order_text(self) -> str:
        return ("-" if self.descending else "") + self.text()


@dataclass
class Call:
    method: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    outer_sql: str = f"select * from {RESULT_NAME}"

    def query_kwargs(self) -> dict:
        kw = self.kwargs
        unknown = set(kw) - {
            "metrics",
            "group_by",
            "where",
            "order_by",
            "limit",
            "start_time",
            "end_time",
            "saved_query",
            "compile",
            "where_filter",
        }
        if unknown:
            raise JDBCSyntaxError(
                f"semantic_layer.query() got unknown arguments: {sorted(unknown)}"
            )
        where = kw.get("where", kw.get("where_filter"))
        if isinstance(where, str):
            where = [where]
        return {
            "metrics": _names(kw.get("metrics")),
            "group_by": _names(kw.get("group_by")) or None,
            "where": list(where) if where else None,
            "order_by": [
                o.order_text() if isinstance(o, Ref) else str(o)
                for o in _as_list(kw.get("order_by"))
            ]
            or None,
            "limit": kw.get("limit"),
            "start_time": kw.get("start_time"),
            "end_time": kw.get("end_time"),
            "saved_query": kw.get("saved_query"),
        }

    @property
    def outer_tree(self):
        """The client's SQL around the call, reading the result as :data:`RESULT_NAME`."""
        import sqlglot

        return sqlglot.parse_one(self.outer_sql, read="postgres")


def _as_list(v) -> list:
    if v is None:
        return []
    return list(v) if isinstance(v, list | tuple) else [v]


def _names(v) -> list[str]:
    out = []
    for x in _as_list(v):
        if isinstance(x, Ref):
            out.append(x.text())
        elif isinstance(x, str):
            out.append(x)
        else:
            raise JDBCSyntaxError(f"expected a name or Dimension(...), got {x!r}")
    return out


# ---------------------------------------------------------------- the safe evaluator
def _eval(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant) and isinstance(
        node.value, str | int | float | bool | type(None)
    ):
        return node.value
    if isinstance(node, ast.List | ast.Tuple):
        return [_eval(e) for e in node.elts]
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
        and isinstance(node.operand.value, int | float)
    ):
        return -node.operand.value
    if isinstance(node, ast.Call):
        if node.keywords and not isinstance(node.func, ast.Attribute):
            kw = {k.arg: _eval(k.value) for k in node.keywords}
        else:
            kw = {}
        args = [_eval(a) for a in node.args]
        if isinstance(node.func, ast.Name):
            fn = node.func.id
            if (
                fn in ("Dimension", "Entity", "Metric")
                and len(args) >= 1
                and isinstance(args[0], str)
            ):
                return Ref(fn.lower(), args[0], grain=kw.get("grain"))
            if fn == "TimeDimension" and args and isinstance(args[0], str):
                grain = (
                    args[1] if len(args) > 1 else kw.get("time_granularity_name", kw.get("grain"))
                )
                return Ref("time_dimension", args[0], grain=grain)
            raise JDBCSyntaxError(f"unknown function {fn}() in semantic_layer call")
        if isinstance(node.func, ast.Attribute):
            base = _eval(node.func.value)
            attr = node.func.attr
            if not isinstance(base, Ref):
                raise JDBCSyntaxError(f".{attr}() must follow Dimension(...) or Metric(...)")
            if attr == "grain" and args and isinstance(args[0], str):
                return Ref(base.kind, base.name, args[0], base.descending)
            if attr == "descending":
                return Ref(base.kind, base.name, base.grain, bool(args[0]) if args else True)
            if attr in ("date_part", "entity_path", "alias"):
                return base
            raise JDBCSyntaxError(f"unsupported modifier .{attr}()")
    raise JDBCSyntaxError(
        f"unsupported expression in semantic_layer call: {ast.dump(node)[:80]}",
        hint="use literals, lists, keyword arguments and Dimension/TimeDimension/Entity/Metric",
    )


def _find_call_end(text: str, start: int) -> int:
    """Index just past the closing parenthesis of the call starting at ``start``."""
    depth, i, n = 0, start, len(text)
    while i < n:
        c = text[i]
        if c in "'\"":
            q = c
            triple = text.startswith(q * 3, i)
            end_tok = q * 3 if triple else q
            i += len(end_tok)
            while i < n and not text.startswith(end_tok, i):
                i += 2 if text[i] == "\\" else 1
            i += len(end_tok)
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise JDBCSyntaxError("unterminated semantic_layer call (missing closing parenthesis)")


def parse_call(sql: str) -> Call:
    """Find the one ``{{ semantic_layer.<method>(...) }}`` in ``sql`` and parse it."""
    found = _CALL_OPEN.search(sql)
    if found is None:
        raise JDBCSyntaxError("expected {{ semantic_layer.<method>(...) }}")
    open_at = found.start()
    start = sql.find("semantic_layer", open_at)
    paren = sql.find("(", start)
    if paren < 0:
        raise JDBCSyntaxError("expected a call: semantic_layer.<method>(...)")
    end = _find_call_end(sql, paren)
    close = sql.find("}}", end)
    if close < 0 or sql[end:close].strip():
        raise JDBCSyntaxError("expected }} after the semantic_layer call")
    try:
        tree = parse_python_expression(sql[start:end])
    except SyntaxError as exc:
        raise JDBCSyntaxError(f"cannot parse semantic_layer call: {exc.msg}") from None
    if not (
        isinstance(tree, ast.Call)
        and isinstance(tree.func, ast.Attribute)
        and isinstance(tree.func.value, ast.Name)
        and tree.func.value.id == "semantic_layer"
    ):
        raise JDBCSyntaxError("expected semantic_layer.<method>(...)")
    method = tree.func.attr
    if method not in METHODS:
        raise JDBCSyntaxError(
            f"unknown method semantic_layer.{method}()",
            hint=f"one of: {', '.join(sorted(METHODS))}",
        )
    if tree.args:
        raise JDBCSyntaxError(f"semantic_layer.{method}() takes keyword arguments only")
    kwargs = {k.arg: _eval(k.value) for k in tree.keywords if k.arg}
    outer = (sql[:open_at] + RESULT_NAME + sql[close + 2 :]).strip().rstrip(";")
    import sqlglot

    try:
        outer_tree = sqlglot.parse_one(outer, read="postgres")
    except sqlglot.errors.SqlglotError:
        raise JDBCSyntaxError("the SQL around the semantic_layer call does not parse") from None
    check_query(outer_tree, "", relations=frozenset({RESULT_NAME}))
    tables = {t.name.lower() for t in outer_tree.find_all(sqlglot.exp.Table)}
    if tables - {RESULT_NAME}:
        raise JDBCSyntaxError("the SQL around a semantic_layer call may only read its result")
    return Call(method, kwargs, outer)


# ---------------------------------------------------------------- metadata calls
def granted_metrics(info, role) -> list[dict]:
    """The semantic layer's metrics (``SemanticLayer.metrics()`` rows) ``role`` may query."""
    return [m for m in info.layer.metrics() if role.metrics.allows(m["name"])]


def check_granted(info, role, metrics) -> None:
    """Refuse a metric that does not exist or is not granted, alike (a role learns nothing of
    metrics it may not query)."""
    for m in metrics:
        if not role.metrics.allows(m) or m not in info.metrics:
            raise SQLStateError(f'metric "{m}" does not exist or is not granted', sqlstate="42P01")


def scope_dimensions(info, role, metrics=()) -> list[dict]:
    """What ``metrics`` (granted, checked) can all be grouped by; without metrics, what any
    granted metric can be grouped by, so that a role learns nothing of semantic models it has
    no metric on."""
    check_granted(info, role, metrics)
    if metrics:
        return info.layer.dimensions(metrics=list(metrics))
    union: dict[str, dict] = {}
    for m in granted_metrics(info, role):
        for d in info.metrics.get(m["name"], {}).get("dimensions") or []:
            union.setdefault(d["name"], d)
    return sorted(union.values(), key=lambda d: (d["name"] != "metric_time", d["name"]))


def scope_entities(info, role, metrics=()) -> list[dict]:
    """The entities of the semantic models the dimensions in scope come from."""
    models = {d.get("semantic_model") for d in scope_dimensions(info, role, metrics)}
    return [e for e in info.layer.entities() if models & set(e.get("semantic_models") or [])]


def granted_saved_queries(info, role) -> list[dict]:
    """The saved queries every metric of which (inputs and filters included) ``role`` may read."""
    layer = info.layer
    return [
        s
        for s in layer.saved_queries()
        if all(role.metrics.allows(m) for m in _saved_query_metrics(layer, s))
    ]


def metadata(call: Call, info, role) -> tuple[list[str], list[tuple]]:
    """Rows for the metadata methods, restricted to the role's metrics."""
    granted = granted_metrics(info, role)
    want = _names(call.kwargs.get("metrics"))

    def dims_in_scope() -> list[dict]:
        return scope_dimensions(info, role, want)

    check_granted(info, role, want)

    if call.method == "metrics":
        rows = []
        for m in granted:
            dims = info.metrics.get(m["name"], {}).get("dimensions") or []
            rows.append(
                (
                    m["name"],
                    m.get("description"),
                    m.get("label"),
                    m.get("type"),
                    ", ".join(d["name"] for d in dims),
                    ", ".join(_grains(dims)),
                )
            )
        return [
            "name",
            "description",
            "label",
            "type",
            "dimensions",
            "queryable_granularities",
        ], rows
    if call.method == "dimensions":
        dims = dims_in_scope()
        return ["name", "description", "label", "type", "queryable_granularities"], [
            (
                d["name"],
                d.get("description"),
                d.get("label"),
                d.get("type"),
                ", ".join(d.get("grains") or []),
            )
            for d in dims
        ]
    if call.method == "queryable_granularities":
        dims = dims_in_scope()
        return ["name"], [(g,) for g in _grains(dims)]
    if call.method == "entities":
        return ["name", "description", "type"], [
            (e["name"], e.get("description"), e.get("type"))
            for e in scope_entities(info, role, want)
        ]
    if call.method == "saved_queries":
        return ["name", "description", "label", "metrics", "group_by", "where"], [
            (
                s["name"],
                s.get("description"),
                s.get("label"),
                ", ".join(s["metrics"]),
                ", ".join(s["group_by"]),
                " AND ".join(s["where"]),
            )
            for s in granted_saved_queries(info, role)
        ]
    if call.method == "metrics_for_dimensions":
        need = set(_names(call.kwargs.get("group_by")))
        rows = []
        for m in granted:
            dims = {d["name"] for d in info.metrics.get(m["name"], {}).get("dimensions") or []}
            grains = {
                f"metric_time__{g}"
                for g in _grains(info.metrics.get(m["name"], {}).get("dimensions") or [])
            }
            if need <= dims | grains:
                rows.append((m["name"], m.get("description"), m.get("type")))
        return ["name", "description", "type"], rows
    if call.method == "dimension_values":
        raise SQLStateError("dimension_values is answered by the query path", sqlstate="XX000")
    raise SQLStateError(f"semantic_layer.{call.method}() is not supported", sqlstate="0A000")


def _saved_query_metrics(layer, sq: dict) -> frozenset[str]:
    from analysis_py.semantic.layer import metrics_touched
    from analysis_py.semantic.request import make_request

    return metrics_touched(layer.manifest, make_request(sq["metrics"], where=sq["where"]))


def _grains(dims) -> list[str]:
    for d in dims:
        if d["name"] == "metric_time":
            return list(d.get("grains") or [])
    return []
