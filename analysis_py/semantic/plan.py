"""The plan of a metric request: immutable nodes between the resolved request and the SQL.

A request is compiled in three stages, each a pure function of the one before:

1. **resolve** (:meth:`Compiler.resolve_request`): metric names to manifest metrics, group-by
   names to :class:`GroupItem` (entity paths checked, grains defaulted), ``where`` texts to
   checked :class:`ParsedFilter` trees, ``start_time``/``end_time`` to a constraint at a grain;
2. **plan** (:meth:`Compiler.plan`): a tree of the frozen nodes below. Every decision about
   *what* to compute is taken here: which simple metrics share one scan, which ratios ride on
   it, which filters each node inherits, whether an offset shifts rows before aggregating or
   periods after, which nodes are joined to the time spine and which values are filled;
3. **render** (:meth:`Compiler.render`): each node to CTEs of one sqlglot tree, in the plan's
   order. How a node becomes SQL (joins to dimension models, window frames, dialect quirks) is
   decided there.

Nodes hold manifest objects (frozen too) and no SQL. A plan can be printed (``opsmetrics query
--plan``), compared and reused; rendering one never changes it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from analysis_py.semantic.manifest import Metric, Window
from analysis_py.semantic.request import GroupItem, Request
from analysis_py.semantic.where import ParsedFilter

Filters = tuple[ParsedFilter, ...]
Items = tuple[GroupItem, ...]
#: (grain, start, end) of a request's time range, truncated to that grain
Constraint = tuple[str, dt.datetime | None, dt.datetime | None] | None


@dataclass(frozen=True)
class ResolvedRequest:
    """A request with every name resolved against the manifest."""

    request: Request
    metrics: tuple[Metric, ...]
    items: Items
    filters: Filters
    constraint: Constraint


@dataclass(frozen=True)
class Aggregate:
    """Simple metrics aggregated in one scan of their semantic model (joined to the models
    holding the group-by items, filtered before aggregation), joined to the time spine when
    the first one's measure asks for it."""

    outputs: tuple[tuple[Metric, str], ...]  # (metric, output column)
    filters: Filters  # inherited filters; the metrics' own are applied with them
    items: Items
    constraint: Constraint
    cte: str | None = None
    fill: int | float | None = None  # COALESCE afterwards (a lone simple metric's fill)


@dataclass(frozen=True)
class RatiosFrom:
    """Ratios computed from numerator and denominator columns aggregated in ``source``."""

    source: Aggregate
    simple: tuple[Metric, ...]  # simple metrics passed through
    ratios: tuple[Metric, ...]
    items: Items


@dataclass(frozen=True)
class Input:
    """One input of a ratio or derived metric, with the fill its metric declares."""

    node: PlanNode
    column: str
    fill: int | float | None


@dataclass(frozen=True)
class Ratio:
    """numerator / denominator (NULL when the denominator is 0). ``parts`` when both inputs
    aggregate the same rows (one scan); otherwise two inputs combined on the group-by."""

    metric: Metric
    out: str
    items: Items
    parts: Aggregate | None = None
    numerator: Input | None = None
    denominator: Input | None = None


@dataclass(frozen=True)
class Derived:
    """An expression over input metrics, combined on the group-by."""

    metric: Metric
    out: str
    items: Items
    inputs: tuple[Input, ...]


@dataclass(frozen=True)
class Cumulative:
    """A running total, window or grain-to-date accumulation over a dense period grid."""

    metric: Metric
    out: str
    own: Filters
    inherited: Filters
    items: Items
    constraint: Constraint
    spine: GroupItem | None  # join to the time spine at this metric_time item
    fill: int | float | None  # COALESCE afterwards when not joined to the spine


@dataclass(frozen=True)
class Conversion:
    """Conversion events matched to the closest preceding base event."""

    metric: Metric
    out: str
    filters: Filters
    items: Items
    constraint: Constraint


@dataclass(frozen=True)
class ShiftRows:
    """An offset applied to metric time on the input's rows, before aggregation (MetricFlow
    does this when a period of the query does not map onto a period of the offset)."""

    node: PlanNode
    offset: Window | None
    to_grain: str | None
    grains: tuple[str, ...]  # the requested time grains the shift is truncated to


@dataclass(frozen=True)
class ShiftPeriods:
    """An offset applied to aggregated values: each spine period takes the value of the period
    ``offset`` earlier (or of the day ``trunc(period, to_grain)``)."""

    node: PlanNode
    out: str
    offset: Window | None
    to_grain: str | None
    period: GroupItem  # the request's metric_time item
    base: GroupItem | None  # offset_to_grain: the base-grain item the input is computed at
    on_time: Filters  # filters on metric time, applied to the spine periods
    items: Items
    constraint: Constraint


PlanNode = (
    Aggregate | RatiosFrom | Ratio | Derived | Cumulative | Conversion | ShiftRows | ShiftPeriods
)


@dataclass(frozen=True)
class Branch:
    """One node of the final FULL OUTER JOIN, with the fills applied after the join."""

    node: PlanNode
    fills: tuple[tuple[str, int | float], ...] = ()


@dataclass(frozen=True)
class QueryPlan:
    resolved: ResolvedRequest
    branches: tuple[Branch, ...]
    columns: tuple[str, ...]  # output metric columns, in the request's order

    def describe(self) -> str:
        """The plan as indented text, one node per line."""
        r = self.resolved
        lines = ["query"]
        if r.items:
            lines.append("  group by: " + ", ".join(i.name for i in r.items))
        if r.filters:
            lines.append("  where: " + " AND ".join(f.text for f in r.filters))
        if r.constraint is not None:
            g, start, end = r.constraint
            lines.append(f"  time range at {g}: {start or '-inf'} .. {end or '+inf'}")
        for b in self.branches:
            _describe(b.node, 1, lines)
            if b.fills:
                fills = ", ".join(f"{c} -> {v}" for c, v in b.fills)
                lines.append(f"    fill after join: {fills}")
        r0 = r.request
        if r0.order_by or r0.limit is not None:
            lines.append(
                f"  order by: {', '.join(r0.order_by) or '-'}"
                + (f"; limit {r0.limit}" if r0.limit is not None else "")
            )
        return "\n".join(lines)


def _flt(filters: Filters) -> str:
    return f" where {' AND '.join(f.text for f in filters)}" if filters else ""


def _describe(node: PlanNode, depth: int, lines: list[str]) -> None:
    pad = "  " * depth
    if isinstance(node, Aggregate):
        outs = ", ".join(m.name if m.name == c else f"{m.name} as {c}" for m, c in node.outputs)
        extra = f"; fill {node.fill}" if node.fill is not None else ""
        spine = "; joined to the time spine" if node.outputs[0][0].measure.join_to_timespine else ""
        lines.append(f"{pad}aggregate {outs}{_flt(node.filters)}{spine}{extra}")
    elif isinstance(node, RatiosFrom):
        lines.append(f"{pad}ratios {', '.join(m.name for m in node.ratios)} from one scan")
        _describe(node.source, depth + 1, lines)
    elif isinstance(node, Ratio):
        lines.append(f"{pad}ratio {node.metric.name}")
        if node.parts is not None:
            _describe(node.parts, depth + 1, lines)
        else:
            for i in (node.numerator, node.denominator):
                _describe_input(i, depth + 1, lines)
    elif isinstance(node, Derived):
        lines.append(f"{pad}derived {node.metric.name} = {node.metric.expr}")
        for i in node.inputs:
            _describe_input(i, depth + 1, lines)
    elif isinstance(node, Cumulative):
        c = node.metric.cumulative
        how = (
            f"window {c.window.count} {c.window.granularity}"
            if c and c.window
            else f"grain to date {c.grain_to_date}"
            if c and c.grain_to_date
            else "all time"
        )
        spine = "; joined to the time spine" if node.spine is not None else ""
        lines.append(
            f"{pad}cumulative {node.metric.name} ({how}){_flt(node.own + node.inherited)}{spine}"
        )
    elif isinstance(node, Conversion):
        lines.append(f"{pad}conversion {node.metric.name}{_flt(node.filters)}")
    elif isinstance(node, ShiftRows):
        by = _offset_text(node.offset, node.to_grain)
        lines.append(f"{pad}shift rows {by} before aggregating")
        _describe(node.node, depth + 1, lines)
    elif isinstance(node, ShiftPeriods):
        by = _offset_text(node.offset, node.to_grain)
        lines.append(f"{pad}shift {node.period.name} periods {by}{_flt(node.on_time)}")
        _describe(node.node, depth + 1, lines)


def _describe_input(i: Input, depth: int, lines: list[str]) -> None:
    fill = f" (fill {i.fill})" if i.fill is not None else ""
    lines.append(f"{'  ' * depth}input {i.column}{fill}")
    _describe(i.node, depth + 1, lines)


def _offset_text(offset: Window | None, to_grain: str | None) -> str:
    if offset is not None:
        return f"by {offset.count} {offset.granularity}"
    return f"to start of {to_grain}"
