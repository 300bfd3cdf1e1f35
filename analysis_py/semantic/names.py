"""Names of semantic objects in requests (``customer__region__region_name``,
``metric_time__week``) and in saved queries and where templates (``Dimension('x')``,
``Metric('m', group_by=[...])``).

Templates are read with Python's :mod:`ast` — never evaluated — so a template can name objects
but cannot run anything.
"""

from __future__ import annotations

import ast
import re
import threading
from dataclasses import dataclass

from analysis_py.errors import FilterError, QueryError
from analysis_py.semantic.manifest import GRAIN_RANK

SEP = "__"
DATE_PARTS = {"year", "quarter", "month", "week", "day", "dow", "doy"}


@dataclass(frozen=True)
class Ref:
    """A reference to a linkable element (or, in filters, a metric)."""

    element: str
    entity_path: tuple[str, ...] = ()
    grain: str | None = None
    date_part: str | None = None
    kind: str = "any"  # any | dimension | time_dimension | entity | metric
    metric_group_by: tuple[str, ...] = ()
    descending: bool = False

    @property
    def is_metric_time(self) -> bool:
        return self.element == "metric_time" and not self.entity_path

    def column(self, grain: str | None = None) -> str:
        """The output column name, as MetricFlow names it."""
        parts = [*self.entity_path, self.element]
        g = grain or self.grain
        if self.date_part:
            parts.append(f"extract_{self.date_part}")
        elif g:
            parts.append(g)
        return SEP.join(parts)


def parse_name(name: str, custom_grains: frozenset[str] | set[str] = frozenset()) -> Ref:
    """Split a dunder name into entity path, element and grain.

    >>> parse_name("customer__region__region_name")
    Ref(element='region_name', entity_path=('customer', 'region'), grain=None, date_part=None, kind='any', metric_group_by=(), descending=False)
    >>> parse_name("metric_time__week").grain
    'week'
    """
    raw = name.strip()
    if not raw:
        raise QueryError("empty group-by name")
    if "(" in raw:
        return parse_object_call(raw)
    parts = raw.lower().split(SEP)
    if any(not p for p in parts) or not all(re.fullmatch(r"[a-z_][a-z0-9_]*", p) for p in parts):
        raise QueryError(
            f"'{name}' is not a valid semantic name",
            hint="names look like metric_time__month, customer__segment or order__ordered_at__week",
        )
    grain = date_part = None
    if len(parts) > 1 and (parts[-1] in GRAIN_RANK or parts[-1] in custom_grains):
        grain = parts.pop()
    elif len(parts) > 1 and parts[-1].startswith("extract_") and parts[-1][8:] in DATE_PARTS:
        date_part = parts.pop()[8:]
    return Ref(element=parts[-1], entity_path=tuple(parts[:-1]), grain=grain, date_part=date_part)


# ----------------------------------------------------------------------------------------------
# object syntax: Dimension('x').grain('month'), TimeDimension('metric_time', 'week') …

_CALLS = {"Dimension", "TimeDimension", "Entity", "Metric"}


#: CPython 3.11 keeps the AST converter's recursion depth in state shared by all threads: two
#: threads parsing at once can fail with "SystemError: AST constructor recursion depth
#: mismatch" (the server compiles on many threads). Every parse here holds this lock.
_AST_LOCK = threading.Lock()


def parse_python_expression(text: str) -> ast.expr:
    """``text`` parsed as one Python expression (never evaluated); thread-safe."""
    with _AST_LOCK:
        return ast.parse(text, mode="eval").body


def _literal(node: ast.AST, what: str):
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise FilterError(f"{what} must be a literal (a quoted name or a list of them)") from None


def parse_object_call(text: str) -> Ref:
    """Read ``Dimension('order__status')``-style text into a :class:`Ref` (never evaluated)."""
    try:
        tree = parse_python_expression(text.strip())
    except SyntaxError as exc:
        raise FilterError(
            f"malformed template object '{text.strip()}': {exc.msg}",
            hint="write e.g. {{ Dimension('customer__segment') }} or "
            "{{ TimeDimension('metric_time', 'month') }}",
        ) from None
    chain: list[tuple[str, list, dict]] = []
    node = tree
    while isinstance(node, ast.Call):
        args = [_literal(a, "an argument") for a in node.args]
        kwargs = {k.arg: _literal(k.value, f"argument {k.arg}") for k in node.keywords}
        if isinstance(node.func, ast.Attribute):
            chain.append((node.func.attr, args, kwargs))
            node = node.func.value
        elif isinstance(node.func, ast.Name):
            chain.append((node.func.id, args, kwargs))
            node = None
            break
        else:
            node = None
            break
    if node is not None or not chain or chain[-1][0] not in _CALLS:
        raise FilterError(
            f"'{text.strip()}' is not a semantic object",
            hint="allowed inside {{ }}: Dimension(...), TimeDimension(...), Entity(...), Metric(...)",
        )
    kind, args, kwargs = chain.pop()
    if not args or not isinstance(args[0], str):
        raise FilterError(f"{kind}(...) needs a name as its first argument")
    ref_name = args[0]
    grain = kwargs.get("time_granularity_name") or kwargs.get("grain")
    if kind == "TimeDimension" and len(args) > 1:
        grain = args[1]
    date_part = kwargs.get("date_part_name")
    entity_path = tuple(kwargs.get("entity_path") or ())
    descending = bool(kwargs.get("descending", False))
    for method, margs, _mk in reversed(chain):
        if method == "grain" and margs:
            grain = margs[0]
        elif method == "date_part" and margs:
            date_part = margs[0]
        elif method == "descending":
            descending = bool(margs[0]) if margs else True
        else:
            raise FilterError(f"unknown method .{method}() on {kind}(...)")
    if kind == "Metric":
        return Ref(
            element=ref_name.lower(),
            kind="metric",
            metric_group_by=tuple(kwargs.get("group_by") or (args[1] if len(args) > 1 else ())),
            descending=descending,
        )
    base = parse_name(ref_name)
    if kind == "Entity":
        return Ref(
            element=base.element,
            entity_path=tuple(p.lower() for p in entity_path) + base.entity_path,
            kind="entity",
            descending=descending,
        )
    return Ref(
        element=base.element,
        entity_path=tuple(p.lower() for p in entity_path) + base.entity_path,
        grain=(grain.lower() if isinstance(grain, str) else None) or base.grain,
        date_part=date_part.lower() if isinstance(date_part, str) else None,
        kind="time_dimension" if kind == "TimeDimension" else "dimension",
        descending=descending,
    )
