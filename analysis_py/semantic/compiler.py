"""Render a metric request's plan into one sqlglot SELECT: model CTEs, entity joins, the
time spine join (``_spine_join``), offsets, fills and the final FULL OUTER join.

Shape of the generated SQL (readable, one named CTE per semantic model used)::

    WITH orders AS (SELECT <only the columns the query needs, named semantically> FROM main.fct_orders),
         customers AS (...),
         order_total__1 AS (<one aggregation per measure source, joined to dimensions>),
         completion_rate__2 AS (<inputs combined, then the ratio>)
    SELECT <group-by columns>, <metrics> FROM <metric nodes FULL OUTER JOINed on the group-by>

Semantics follow MetricFlow: every measure is aggregated at the requested grain in its own node
before nodes are joined (so joins cannot fan out), dimensions are reached through entities with
LEFT JOINs to the model where the entity is unique, filters are applied to rows before
aggregation, metric nodes are combined with FULL OUTER JOIN + MAX, as MetricFlow does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import threading

import sqlglot
from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB

from analysis_py.errors import FilterError, QueryError, did_you_mean
from analysis_py.semantic import plan as P
from analysis_py.semantic.conversion import ConversionMixin
from analysis_py.semantic.cumulative import CumulativeMixin
from analysis_py.semantic.manifest import (
    GRAIN_RANK,
    Manifest,
    Measure,
    MeasureInput,
    Metric,
    SemanticModel,
    TimeSpine,
)
from analysis_py.semantic.names import Ref, parse_name
from analysis_py.semantic.request import (
    GroupItem,
    Node,
    Request,
    Resolved,
    make_request,
)
from analysis_py.semantic.sqlbuild import (
    _DOUBLE,
    _INT,
    _TS,
    _interval,
    _lit_ts,
    _tbl,
    _trunc,
    add_join,
    aliased,
    col,
    ident,
    truncate_dt,
)
from analysis_py.semantic.where import ParsedFilter, parse_filter

#: ISO day of week as an EXTRACT field, per dialect (sqlglot's DayOfWeekIso is wrong for
#: Spark and names no Postgres function; right for BigQuery and Trino, which are left out here)
ISO_DOW_FIELD = {
    "duckdb": "ISODOW",
    "postgres": "ISODOW",
    "snowflake": "DAYOFWEEKISO",
    "spark": "DAYOFWEEK_ISO",
}


class Compiler(CumulativeMixin, ConversionMixin):
    """Turns a :class:`Request` into a sqlglot tree for one dialect. Stateless between calls
    and safe to share between threads: each call's working state is its own."""

    def __init__(self, manifest: Manifest, dialect: str = "duckdb", relation_resolver=None):
        self.m = manifest
        self.dialect = dialect
        self.resolver = relation_resolver
        self._expr_cache: dict[str, exp.Expression] = {}  # read-mostly; entries are copied out
        self._local = threading.local()
        self.custom_grains = frozenset(manifest.custom_granularities)
        # entity -> models where it is unique (join targets)
        self._unique_owner: dict[str, list[str]] = {}
        for sm in manifest.semantic_models.values():
            for e in sm.entities:
                if e.is_unique:
                    self._unique_owner.setdefault(e.name, []).append(sm.name)

    # -- helpers ---------------------------------------------------------------------------

    def parse_expr(self, text: str) -> exp.Expression:
        cached = self._expr_cache.get(text)
        if cached is None:
            try:
                cached = sqlglot.parse_one(text, read="duckdb")
            except sqlglot.errors.ParseError as exc:
                raise QueryError(
                    f"cannot parse expression {text!r} from the manifest: {exc}"
                ) from None
            self._expr_cache[text] = cached
        return cached.copy()

    def shared_expr(self, text: str) -> exp.Expression:
        """The parsed expression itself, not a copy: only for values stored and copied later
        (a model CTE's columns are copied when the CTE is built); never modify or wrap it."""
        cached = self._expr_cache.get(text)
        if cached is None:
            self.parse_expr(text)
            cached = self._expr_cache[text]
        return cached

    def relation(self, rel: dict) -> exp.Expression:
        if self.resolver is not None:
            out = self.resolver(rel)
            if isinstance(out, str):
                return exp.to_table(out)
            return out.copy()
        return exp.Table(
            this=exp.to_identifier(rel.get("alias")),
            db=exp.to_identifier(rel.get("schema_name")) if rel.get("schema_name") else None,
        )

    def metric(self, name: str) -> Metric:
        m = self.m.metrics.get(name)
        if m is None:
            raise QueryError(
                f"unknown metric '{name}'",
                hint=did_you_mean(name, self.m.metrics)
                or "list them with `opsmetrics list metrics`",
            )
        return m

    def measure(self, mi: MeasureInput, metric: str) -> Measure:
        ms = self.m.measures.get(mi.name)
        if ms is None:
            raise QueryError(f"metric '{metric}' uses measure '{mi.name}', which does not exist")
        return ms

    def model(self, name: str) -> SemanticModel:
        return self.m.semantic_models[name]

    def atd(self, measure: Measure) -> tuple[SemanticModel, str, str]:
        """(model, agg time dimension name, its grain)."""
        sm = self.model(measure.model)
        name = measure.agg_time_dimension
        dim = sm.dimension(name) if name else None
        if dim is None or dim.type != "time":
            raise QueryError(
                f"measure '{measure.name}' has no valid agg_time_dimension "
                f"({name!r} is not a time dimension of '{sm.name}')"
            )
        return sm, dim.name, dim.grain or "day"

    # -- entry point -------------------------------------------------------------------------

    def compile(self, req: Request) -> tuple[exp.Select, list[str]]:
        """Request → resolved request → plan → SQL tree and output column names."""
        if not req.metrics and not req.group_by:
            raise QueryError(
                "no metrics requested",
                hint="pass --metrics a,b, or --group-by dimensions alone for their distinct values",
            )
        if (req.min_max_only or not req.apply_group_by) and req.metrics:
            raise QueryError(
                "min_max_only and apply_group_by=False are for queries without metrics",
                hint="drop the metrics, or the option",
            )
        with self._working_state():
            if req.metrics:
                tree, cols = self.render(self._plan(req))
            else:
                tree, cols = self._distinct_values(req)
        if self.dialect == "postgres":
            tree = _timestamps_for_postgres(tree)
        if self.dialect != "duckdb":  # DuckDB's generator quotes its reserved words itself
            tree = _quote_reserved(tree)
        if req.min_max_only:
            return _min_max(tree, cols)
        return tree, cols

    @property
    def _state(self) -> _State | None:
        return getattr(self._local, "state", None)

    @contextlib.contextmanager
    def _working_state(self):
        """One working state per call, visible only to the thread running it: a Compiler (and
        the SemanticLayer holding it) is shared by every thread of a server."""
        outer = getattr(self._local, "state", None)
        self._local.state = _State(self)
        try:
            yield
        finally:
            self._local.state = outer

    # -- stage 1: resolve --------------------------------------------------------------------

    def resolve_request(self, req: Request) -> P.ResolvedRequest:
        """Every name of a request (with metrics) checked and resolved against the manifest."""
        metrics = [self.metric(n) for n in req.metrics]
        measures = self._leaf_measures(metrics)
        refs = [parse_name(g, self.custom_grains) for g in req.group_by]
        items = self._resolve_group_by(refs, measures, self.default_grain(metrics))
        # a request groups by each column once
        seen: dict[str, GroupItem] = {}
        for it in items:
            seen.setdefault(it.name, it)
        items = list(seen.values())
        filters = tuple(parse_filter(w) for w in req.where)
        mt = [i for i in items if i.is_metric_time]
        constraint = None
        if req.start_time or req.end_time:
            # without metric_time, the constraint is at metric_time's default grain for these
            # metrics (month when one is monthly), as MetricFlow widens it
            g = (
                min((i.grain for i in mt), key=lambda x: GRAIN_RANK.get(x, 6))
                if mt
                else self.default_grain(metrics)
            )
            g = g if g in GRAIN_RANK else "day"
            start = truncate_dt(req.start_time, g) if req.start_time else None
            end = truncate_dt(req.end_time, g) if req.end_time else None
            constraint = (g, start, end)
        return P.ResolvedRequest(req, tuple(metrics), tuple(items), filters, constraint)

    # -- stage 2: plan -----------------------------------------------------------------------

    def plan(self, req: Request) -> P.QueryPlan:
        """The immutable plan of a request with metrics (see :mod:`analysis_py.semantic.plan`)."""
        if not req.metrics:
            raise QueryError(
                "a plan needs metrics; a request without metrics lists distinct values",
                hint="pass --metrics a,b",
            )
        with self._working_state():
            return self._plan(req)

    def _plan(self, req: Request) -> P.QueryPlan:
        r = self.resolve_request(req)
        items, filters, constraint = r.items, r.filters, r.constraint
        branches: dict[tuple, list[Metric]] = {}
        order: list[tuple] = []
        for metric in r.metrics:
            rk = self._ratio_scan_key(metric)
            # MetricFlow merges compatible simple metrics into one branch and ratios over the
            # same rows into another; its output columns follow those branches
            key = ("ratio", rk) if rk is not None else self._branch_key(metric)
            if key not in branches:
                branches[key] = []
                order.append(key)
            branches[key].append(metric)
        expected = tuple(m.name for key in order for m in branches[key])
        # ratios whose parts read the same rows as a simple branch ride on its scan
        attached: dict[tuple, list[Metric]] = {}
        for key in list(order):
            if key[0] == "ratio" and key[1] in branches:
                attached.setdefault(key[1], []).extend(branches[key])
                order.remove(key)
        out: list[P.Branch] = []
        for key in order:
            group = branches[key]
            if key[0] in ("simple", "ratio"):
                simple = group if key[0] == "simple" else []
                ratios = attached.get(key, []) if key[0] == "simple" else group
                pairs = [(m, m.name) for m in simple]
                for rm in ratios:
                    pairs.append((self.metric(rm.numerator.name), f"{rm.name}__num"))
                    pairs.append((self.metric(rm.denominator.name), f"{rm.name}__den"))
                node: P.PlanNode = P.Aggregate(tuple(pairs), filters, items, constraint)
                if ratios:
                    node = P.RatiosFrom(node, tuple(simple), tuple(ratios), items)
            else:
                node = self._plan_metric(group[0], filters, items, constraint, group[0].name)
            fills = tuple(
                (m.name, m.measure.fill_nulls_with)
                for m in group
                if m.type in ("simple", "cumulative")
                and m.measure
                and m.measure.fill_nulls_with is not None
            )
            out.append(P.Branch(node, fills))
        return P.QueryPlan(r, tuple(out), expected)

    def _plan_metric(self, metric: Metric, filters, items, constraint, out: str) -> P.PlanNode:
        """The node computing ``metric`` into column ``out``; ``filters`` are inherited."""
        filters = tuple(filters)
        t = metric.type
        if t == "simple":
            fill = metric.measure.fill_nulls_with
            if metric.measure.join_to_timespine:
                fill = None  # the spine join fills
            return P.Aggregate(((metric, out),), filters, items, constraint, cte=out, fill=fill)
        own = tuple(parse_filter(x) for x in metric.filters)
        if t == "ratio":
            num_m, den_m = self.metric(metric.numerator.name), self.metric(metric.denominator.name)
            if self._one_scan(num_m, metric.numerator, den_m, metric.denominator):
                # both parts aggregate the same rows: one scan computes both (as MetricFlow's
                # source-scan optimizer does)
                flt = tuple(parse_filter(x) for x in metric.numerator.filters) + own + filters
                parts = P.Aggregate(
                    ((num_m, "__num"), (den_m, "__den")),
                    flt,
                    items,
                    constraint,
                    cte=f"{out}_parts",
                )
                return P.Ratio(metric, out, items, parts=parts)
            num, den = (
                self._plan_input(self.metric(mi.name), mi, own + filters, items, constraint, role)
                for role, mi in (("__num", metric.numerator), ("__den", metric.denominator))
            )
            return P.Ratio(metric, out, items, numerator=num, denominator=den)
        if t == "derived":
            inputs = tuple(
                self._plan_input(
                    self.metric(mi.name), mi, own + filters, items, constraint, mi.column
                )
                for mi in metric.inputs
            )
            return P.Derived(metric, out, items, inputs)
        if t == "cumulative":
            mt = next((i for i in items if i.is_metric_time), None)
            spine = mt if metric.measure.join_to_timespine else None
            fill = metric.measure.fill_nulls_with if spine is None else None
            return P.Cumulative(metric, out, own, filters, items, constraint, spine, fill)
        if t == "conversion":
            return P.Conversion(metric, out, own + filters, items, constraint)
        raise QueryError(f"metric '{metric.name}' has unsupported type '{t}'")

    def _plan_input(self, inner: Metric, mi, filters, items, constraint, out: str) -> P.Input:
        """An input of a ratio or derived metric, offset when ``mi`` says so."""
        measure = inner.measure if inner.type in ("simple", "cumulative") else None
        # an input's fill_nulls_with also covers periods only the other inputs have
        # (MetricFlow coalesces after joining the inputs)
        fill = measure.fill_nulls_with if measure is not None else None
        flt = tuple(parse_filter(x) for x in mi.filters) + tuple(filters)
        offset = getattr(mi, "offset_window", None)
        to_grain = getattr(mi, "offset_to_grain", None)
        if not offset and not to_grain:
            return P.Input(self._plan_metric(inner, flt, items, constraint, out), out, fill)
        mt = next((i for i in items if i.is_metric_time), None) or self._atd_item(inner, items)
        time_items = [i for i in items if i.kind == "time" and self._agg_time_ref(i.ref, inner)]
        if mt is None and not time_items:
            raise QueryError(
                f"an input of this derived metric is offset ({offset or to_grain}); group by "
                "metric_time (or the metric's agg time dimension) to use it",
                hint="add --group-by metric_time__day (or another grain)",
            )
        # MetricFlow shifts the aggregated values when the query's time grain is no coarser
        # than the offset's (a period maps onto a period), and shifts the rows before
        # aggregating otherwise (and for date parts, several time items, offset_to_grain at
        # week); both are one spine join, ``a - offset = b`` or ``trunc(a, grain) = b``.
        og = offset.granularity if offset else to_grain
        after = (
            mt is not None
            and len(time_items) == 1
            and not mt.ref.date_part
            and mt.grain in GRAIN_RANK
            and og in GRAIN_RANK
            and GRAIN_RANK[mt.grain] <= GRAIN_RANK[og]
            and not (mt.grain == "week" and to_grain)
        )
        if not after:
            grains = tuple(
                dict.fromkeys(
                    i.grain for i in time_items if i.grain in GRAIN_RANK and not i.ref.date_part
                )
            )
            node = self._plan_metric(inner, flt, items, constraint, out)
            return P.Input(P.ShiftRows(node, offset, to_grain, grains), out, fill)
        # filters on metric time alone keep spine periods (the output's time), as in MetricFlow
        on_time = tuple(
            f for f in flt if f.refs and all(self._agg_time_ref(r, inner) for r in f.refs)
        )
        flt = tuple(f for f in flt if f not in on_time)
        base_item = None
        if offset:
            # a cumulative input is accumulated over the constrained days only (MetricFlow
            # constrains the cumulative's own output, then the shifted periods)
            inner_constraint = constraint if inner.type == "cumulative" else None
            node = self._plan_metric(inner, flt, items, inner_constraint, out)
        else:
            # MetricFlow: the value for a period is the input's value on the base-grain day
            # trunc(period start, offset_to_grain), for periods whose start is a spine day
            leaves = self._leaf_measures([inner])
            base = "day"
            if leaves:
                base = min(
                    (self.atd(ms)[2] for _m, ms in leaves), key=lambda g: GRAIN_RANK.get(g, 6)
                )
                # sub-daily data keeps its grain when the query asks a sub-daily grain
                if GRAIN_RANK.get(base, 6) < GRAIN_RANK["day"] <= GRAIN_RANK.get(mt.grain, 6):
                    base = "day"
            if self.m.spine_for(base) is None:
                raise QueryError(f"offset_to_grain needs a time spine at '{base}' grain")
            base_item = GroupItem(
                Ref("metric_time", grain=base), f"metric_time__{base}", "time", base
            )
            inner_items = tuple(base_item if i is mt else i for i in items)
            node = self._plan_metric(inner, flt, inner_items, None, out)
        shifted = P.ShiftPeriods(
            node, out, offset, to_grain, mt, base_item, on_time, items, constraint
        )
        return P.Input(shifted, out, fill)

    # -- stage 3: render ---------------------------------------------------------------------

    def render(self, plan: P.QueryPlan) -> tuple[exp.Select, list[str]]:
        """The plan's SQL tree and output columns (inside :meth:`compile`'s working state)."""
        req, items = plan.resolved.request, list(plan.resolved.items)
        nodes: list[Node] = []
        out_cols: list[str] = []
        for b in plan.branches:
            node = self._render(b.node)
            node.fill.update(dict(b.fills))
            nodes.append(node)
            out_cols.extend(node.values)
        expected = list(plan.columns)
        final = self._combine(nodes, items, outer_fill=True)
        if out_cols != expected:
            by_name = {e.alias_or_name: e for e in final.expressions}
            final.set("expressions", [by_name[n] for n in [i.name for i in items] + expected])
            out_cols = expected
        final = self._order_limit(final, req, items, out_cols)
        tree = self._state.with_ctes(final)
        return tree, [i.name for i in items] + out_cols

    def _render(self, node: P.PlanNode) -> Node:
        st = self._state
        if isinstance(node, P.Aggregate):
            items = list(node.items)
            out = self._simple_node(
                list(node.outputs), list(node.filters), items, node.constraint, node.cte
            )
            if node.fill is not None:
                out = self._wrap_fill(out, items, {node.outputs[0][1]: node.fill})
            return out
        if isinstance(node, P.RatiosFrom):
            return self._ratios_on(
                self._render(node.source), list(node.simple), list(node.ratios), list(node.items)
            )
        if isinstance(node, P.Ratio):
            items = list(node.items)
            if node.parts is not None:
                parts = self._render(node.parts)
                combined = exp.select(
                    *[col(i.name) for i in items], col("__num"), col("__den"), copy=False
                ).from_(_tbl(parts.name), copy=False)
            else:
                inputs = [self._render_input(i) for i in (node.numerator, node.denominator)]
                combined = self._combine(inputs, items, outer_fill=True)
            sel = exp.select(*[col(i.name) for i in items], copy=False).from_(
                combined.subquery("r", copy=False)
            )
            num = exp.cast(col("__num"), _DOUBLE.copy())
            den = exp.cast(
                exp.Nullif(this=col("__den"), expression=exp.Literal.number(0)),
                _DOUBLE.copy(),
            )
            sel.select(
                exp.Div(this=num, expression=den).as_(node.out, quoted=False, copy=False),
                copy=False,
            )
            return Node(st.add_cte(node.out, sel), [node.out])
        if isinstance(node, P.Derived):
            items = list(node.items)
            combined = self._combine(
                [self._render_input(i) for i in node.inputs], items, outer_fill=True
            )
            expr = self.parse_expr(node.metric.expr)
            sel = exp.select(*[col(i.name) for i in items], copy=False).from_(
                combined.subquery("d", copy=False)
            )
            sel.select(
                exp.Paren(this=expr).as_(node.out, quoted=False, copy=False)
                if not isinstance(expr, exp.Column | exp.Paren)
                else expr.as_(node.out, quoted=False, copy=False),
                copy=False,
            )
            return Node(st.add_cte(node.out, sel), [node.out])
        if isinstance(node, P.Cumulative):
            metric, items = node.metric, list(node.items)
            flt = list(node.own + node.inherited)
            out = self._cumulative_node(metric, flt, items, node.constraint, node.out)
            if node.spine is not None:
                all_filters = (
                    list(node.own)
                    + [parse_filter(x) for x in metric.measure.filters]
                    + list(node.inherited)
                )
                return self._spine_join(
                    out,
                    items,
                    node.constraint,
                    {node.out: metric.measure.fill_nulls_with},
                    node.spine,
                    metric=metric,
                    all_filters=all_filters,
                    query_filters=list(node.inherited),
                )
            if node.fill is not None:
                return self._wrap_fill(out, items, {node.out: node.fill})
            return out
        if isinstance(node, P.Conversion):
            return self._conversion_node(
                node.metric, list(node.filters), list(node.items), node.constraint, node.out
            )
        if isinstance(node, P.ShiftRows):
            outer_shifts = st.time_shifts
            st.time_shifts = (*outer_shifts, (node.offset, node.to_grain, node.grains))
            try:
                return self._render(node.node)
            finally:
                st.time_shifts = outer_shifts
        if isinstance(node, P.ShiftPeriods):
            return self._shift_periods(node)
        raise TypeError(f"not a plan node: {node!r}")

    def _render_input(self, i: P.Input) -> Node:
        node = self._render(i.node)
        if i.fill is not None:
            node.fill[i.column] = i.fill
        return node

    # -- no metrics: distinct values ---------------------------------------------------------

    def _distinct_values(self, req: Request) -> tuple[exp.Select, list[str]]:
        """Group-by items without metrics: their distinct values, as MetricFlow answers them.

        ``metric_time`` reads the time spine at its grains; other items are read from the one
        semantic model that reaches all of them (and the filters' items) with the fewest
        joins, preferring a model whose own entity they are, its dimension sources FULL OUTER
        joined; with both, the two are CROSS joined."""
        refs = [parse_name(g, self.custom_grains) for g in req.group_by]
        filters = [parse_filter(w) for w in req.where]
        st = self._state
        mt_refs = [r for r in refs if r.is_metric_time]
        other = [r for r in refs if not r.is_metric_time]
        mt_filters = [f for f in filters if f.refs and all(r.is_metric_time for r in f.refs)]
        dim_filters = [f for f in filters if f not in mt_filters]
        if not other and not dim_filters:
            spine, alias, column_for = self._spine_source(mt_refs, filters)
            sel = exp.select(copy=False).from_(
                _tbl(st.spine_cte(spine)).as_(alias, quoted=False, copy=False), copy=False
            )
            return self._spine_select(sel, mt_refs, filters, column_for, req, [])
        if (req.start_time or req.end_time) and not mt_refs:
            raise QueryError(
                "--start-time/--end-time constrain metric_time: without metrics, group by "
                "metric_time to use them",
                hint="or filter a time dimension with --where",
            )
        needed = other + [r for f in dim_filters for r in f.refs if r.kind != "metric"]
        # MetricFlow's choice: of the models that hold one of the items themselves, the one
        # needing the fewest joins; on a tie the one with the fewest linkable elements (its
        # "suitability"), then the first in the manifest
        best = None
        for pos, sm in enumerate(self.m.semantic_models.values()):
            try:
                paths = {self.resolve(sm.name, r)[2].hops for r in needed}
            except QueryError:
                continue
            if () not in paths:
                continue  # holds none of the items itself
            joins = sum(
                1 for p in paths if p and not any(q != p and q[: len(p)] == p for q in paths)
            )
            rank = (joins, _linkable_count(sm), pos)
            if best is None or rank < best[0]:
                best = (rank, sm)
        if best is None:
            names = ", ".join(r.column() for r in other)
            raise QueryError(
                f"no semantic model reaches all of {names}",
                hint="see `opsmetrics list dimensions` for the names a query can group by",
            )
        pseudo = Measure(
            name="__distinct_values",
            agg="count",
            expr="1",
            model=best[1].name,
            agg_time_dimension=None,
        )
        items = self._resolve_group_by(other, [(None, pseudo)])
        seen: dict[str, GroupItem] = {}
        for it in items:
            seen.setdefault(it.name, it)
        items = list(seen.values())
        st.dimension_join = "full"
        sel, group_exprs, _extra, _base, _cf = self._rows(pseudo, items, dim_filters, None)
        if mt_refs:
            spine, alias, column_for = self._spine_source(mt_refs, mt_filters)
            # MetricFlow crosses the spine with the first model before the FULL OUTER joins
            # of the other dimension sources, so their unmatched rows have no metric_time
            dims_joins = sel.args.pop("joins", None) or []
            add_join(
                sel,
                _tbl(st.spine_cte(spine)).as_(alias, quoted=False, copy=False),
                join_type="cross",
                copy=False,
            )
            sel.set("joins", sel.args["joins"] + dims_joins)
            return self._spine_select(sel, mt_refs, mt_filters, column_for, req, group_exprs, items)
        for name, e in group_exprs:
            sel.select(e.copy().as_(name, quoted=False, copy=False), copy=False)
        if req.apply_group_by:
            sel.group_by(*[e.copy() for _n, e in group_exprs], copy=False)
        cte = st.add_cte("distinct_values", sel)
        final = exp.select(*[col(i.name) for i in items], copy=False).from_(_tbl(cte), copy=False)
        final = self._order_limit(final, req, items, [])
        return st.with_ctes(final), [i.name for i in items]

    def _spine_source(self, refs: list[Ref], filters):
        """(time spine, alias, column_for) for ``metric_time`` items and filters without
        metrics: the spine at the finest grain asked (custom grains from their spine)."""
        st = self._state
        grains = [r.grain for r in refs if r.grain]
        grains += [r.grain for f in filters for r in f.refs if r.grain]
        grains = grains or ["day"]
        finest = min(grains, key=lambda g: GRAIN_RANK.get(g, 6) if g in GRAIN_RANK else 6)
        base = finest if finest in GRAIN_RANK else self.m.custom_granularities[finest][0].grain
        spine = self.m.spine_for(base)
        if spine is None:
            raise QueryError(
                f"metric_time at '{base}' needs a time spine at that grain or finer",
                hint="declare a time spine model (time_spine: in the model YAML) and re-run "
                "dbt parse",
            )
        alias = st.alias("s")

        def column_for(ref: Ref, grain_hint=None) -> exp.Expression:
            if not ref.is_metric_time:
                raise QueryError(
                    f"'{ref.column()}' cannot be used here without a metric (a filter of a "
                    "query without metrics names metric_time or the dimensions it groups by)"
                )
            value = col(spine.column, alias)
            if ref.date_part:
                return self._date_part(ref.date_part, value)
            g = ref.grain or "day"
            if g in self.custom_grains:
                cspine, ccol = self.m.custom_granularities[g]
                if cspine.relation != spine.relation:
                    raise QueryError(f"custom grain '{g}' lives on another time spine")
                return col(ccol, alias)
            return value if g == spine.grain else _trunc(value, g)

        column_for.raw = col(spine.column, alias)  # the spine's own column, and its grain
        column_for.base = base
        return spine, alias, column_for

    def _spine_select(self, sel, mt_refs, filters, column_for, req, group_exprs, items=()):
        """Select the metric_time items, then ``group_exprs``, over ``sel`` (which reads the
        spine), with metric_time filters and the time constraint."""
        st = self._state
        mt_items: list[GroupItem] = []
        mt_exprs: list[exp.Expression] = []
        for ref in mt_refs:
            name = ref.column(ref.grain or (None if ref.date_part else "day"))
            if any(i.name == name for i in mt_items):
                continue
            mt_items.append(GroupItem(ref, name, "time", ref.grain))
            mt_exprs.append(column_for(ref))
        items = mt_items + list(items)
        exprs = mt_exprs + [e for _n, e in group_exprs]
        conds = [f.substitute([column_for(r) for r in f.refs]) for f in filters]
        if req.start_time or req.end_time:
            tcol = column_for.raw
            if req.start_time:
                start = _lit_ts(truncate_dt(req.start_time, column_for.base))
                conds.append(exp.GTE(this=tcol.copy(), expression=start))
            if req.end_time:
                conds.append(exp.LTE(this=tcol.copy(), expression=_lit_ts(req.end_time)))
        for i, e in zip(items, exprs, strict=True):
            sel.select(e.copy().as_(i.name, quoted=False, copy=False), copy=False)
        if conds:
            sel.where(exp.and_(*conds, copy=False), copy=False)
        if req.apply_group_by:
            sel.group_by(*[e.copy() for e in exprs], copy=False)
        final = self._order_limit(sel, req, items, [])
        return st.with_ctes(final), [i.name for i in items]

    # -- metrics -> leaf measures ------------------------------------------------------------

    def _leaf_measures(self, metrics: list[Metric], depth: int = 0) -> list[tuple[Metric, Measure]]:
        if depth > 20:
            raise QueryError("metric definitions are nested more than 20 deep (a cycle?)")
        out: list[tuple[Metric, Measure]] = []
        for m in metrics:
            if m.type in ("simple", "cumulative"):
                out.append((m, self.measure(m.measure, m.name)))
            elif m.type == "conversion":
                out.append((m, self.measure(m.conversion.base, m.name)))
            elif m.type == "ratio":
                out += self._leaf_measures(
                    [self.metric(m.numerator.name), self.metric(m.denominator.name)], depth + 1
                )
            else:
                out += self._leaf_measures([self.metric(i.name) for i in m.inputs], depth + 1)
        return out

    def _branch_key(self, m: Metric) -> tuple:
        if m.type == "simple" and m.measure is not None:
            ms = self.measure(m.measure, m.name)
            return (
                "simple",
                ms.model,
                ms.agg_time_dimension,
                m.measure.join_to_timespine,
                tuple(sorted(set(m.filters + m.measure.filters))),
                ms.non_additive,
            )
        return ("metric", m.name)

    # -- group-by resolution -----------------------------------------------------------------

    def default_grain(self, metrics: list[Metric]) -> str:
        """The grain of ``metric_time`` asked without one: each metric's own default (its
        ``time_granularity``, else its agg time dimension's grain, at least day), and of those
        the coarsest, the finest grain every metric supports (MetricFlow's rule)."""
        grains = []
        for m in metrics:
            if m.time_granularity:
                grains.append(m.time_granularity)
                continue
            own = [
                self.atd(ms)[2] if ms.agg_time_dimension else "day"
                for _m, ms in self._leaf_measures([m])
            ]
            g = max(own, key=lambda x: GRAIN_RANK.get(x, 6)) if own else "day"
            grains.append(g if GRAIN_RANK.get(g, 6) >= GRAIN_RANK["day"] else "day")
        return max(grains, key=lambda x: GRAIN_RANK.get(x, 6)) if grains else "day"

    def _resolve_group_by(
        self, refs: list[Ref], measures, default_mt: str = "day"
    ) -> list[GroupItem]:
        items: list[tuple[tuple, GroupItem]] = []
        atd_grains = []
        for _m, ms in measures:
            _sm, _name, grain = self.atd(ms) if ms.agg_time_dimension else (None, None, "day")
            atd_grains.append(grain)
        for idx, ref in enumerate(refs):
            if ref.kind == "metric":
                raise QueryError("group by a metric is not supported")
            if ref.is_metric_time:
                grain = ref.grain or default_mt
                if ref.grain is None and not ref.date_part:
                    ref = dataclasses.replace(ref, grain=grain)  # the default, made explicit
                self._check_grain(grain, "metric_time", atd_grains)
                items.append(
                    (
                        (0, 0, (), GRAIN_RANK.get(grain, 6.5), idx),
                        GroupItem(ref, ref.column(grain), "time", grain),
                    )
                )
                continue
            # find it from the first measure that can reach it (all must; checked at node build)
            res = None
            errors = []
            for _m, ms in measures:
                try:
                    res = self.resolve(ms.model, ref, for_measure=ms)
                    break
                except QueryError as exc:
                    errors.append(exc)
            if res is None:
                # MetricFlow also accepts the end of a path (user__last_login_ts for
                # listing__user__last_login_ts) when exactly one entity of the model leads there
                for _m, ms in measures:
                    longer = self._longer_path(ms.model, ref, ms)
                    if longer is not None:
                        ref, res = longer
                        break
            if res is None:
                raise errors[0]
            kind, grain, resolved = res
            if kind == "time":
                items.append(
                    (
                        (0, 1, resolved.order_key, GRAIN_RANK.get(grain, 6.5), idx),
                        GroupItem(ref, ref.column(grain), "time", grain),
                    )
                )
            elif kind == "entity":
                items.append(
                    ((1, len(ref.entity_path), idx), GroupItem(ref, ref.column(), "entity"))
                )
            else:
                items.append(
                    ((2, *resolved.order_key, idx), GroupItem(ref, ref.column(), "dimension"))
                )
        items.sort(key=lambda t: t[0])
        return [i for _k, i in items]

    def _check_grain(self, grain: str, what: str, base_grains) -> None:
        if grain in self.custom_grains:
            return
        if grain not in GRAIN_RANK:
            raise QueryError(f"unknown grain '{grain}' for {what}")
        finest = (
            min(GRAIN_RANK.get(g, 6) for g in base_grains) if base_grains else GRAIN_RANK["day"]
        )
        if GRAIN_RANK[grain] < finest:
            allowed = [g for g in GRAIN_RANK if GRAIN_RANK[g] >= finest][:6]
            raise QueryError(
                f"{what} cannot be grouped by '{grain}': its data is at '{next(g for g in GRAIN_RANK if GRAIN_RANK[g] == finest)}' grain",
                hint=f"use one of: {', '.join(allowed)}"
                + (
                    f", or a custom grain: {', '.join(sorted(self.custom_grains))}"
                    if self.custom_grains
                    else ""
                ),
            )

    def resolve(self, model_name: str, ref: Ref, for_measure: Measure | None = None):
        """Resolve ``ref`` from ``model_name``: returns (kind, grain, Resolved)."""
        m0 = self.model(model_name)
        if ref.is_metric_time:
            if for_measure is None:
                raise QueryError("metric_time needs a measure")
            sm, dname, base = self.atd(for_measure)
            return self._time(sm, (), sm.dimension(dname), ref, base, order=(0,))
        path = list(ref.entity_path)
        if not path:
            if m0.entity(ref.element):
                e = m0.entity(ref.element)
                return "entity", None, Resolved((), m0.name, e.name, self.shared_expr(e.expr))
            self._unknown(ref, m0)
        cur = m0
        hops: list[tuple[str, str]] = []
        for i, ent in enumerate(path):
            last = i == len(path) - 1
            e = cur.entity(ent)
            # the model's own entity: a unique entity of it, or the primary_entity it declares
            # without listing it among its entities (MetricFlow qualifies its dimensions so)
            own = (e is not None and e.is_unique) or (e is None and ent == cur.primary_entity)
            if (
                i == 0
                and own
                and last
                and (
                    cur.dimension(ref.element)
                    or (cur.entity(ref.element) and ref.kind != "dimension")
                )
            ):
                break  # a local dimension, qualified by the model's own entity
            if e is None:
                self._unknown(ref, m0)
            nxt = None
            for cand in self._unique_owner.get(ent, []):
                if cand == cur.name:
                    continue
                csm = self.model(cand)
                if last and (csm.dimension(ref.element) or csm.entity(ref.element)):
                    nxt = csm
                    break
                if not last and csm.entity(path[i + 1]):
                    nxt = csm
                    break
            if nxt is None:
                self._unknown(ref, m0)
            hops.append((ent, nxt.name))
            cur = nxt
        dim = cur.dimension(ref.element)
        order = (
            len(hops),
            self._join_rank(hops),
            [d.name for d in cur.dimensions].index(dim.name) if dim else 0,
        )
        if dim is None:
            e = cur.entity(ref.element)
            if e is None or ref.kind in ("dimension", "time_dimension"):
                self._unknown(ref, m0)
            return (
                "entity",
                None,
                Resolved(tuple(hops), cur.name, e.name, self.shared_expr(e.expr), order_key=order),
            )
        if dim.type == "time":
            return self._time(cur, tuple(hops), dim, ref, dim.grain or "day", order=order)
        if ref.grain:
            raise QueryError(f"'{ref.column()}' is a categorical dimension; it has no grain")
        return (
            "dimension",
            None,
            Resolved(tuple(hops), cur.name, dim.name, self.shared_expr(dim.expr), order_key=order),
        )

    def _longer_path(self, model_name: str, ref: Ref, ms: Measure):
        """``ref`` reached through one more entity of the model, if exactly one leads there:
        (the longer Ref, its resolution), else None."""
        if not ref.entity_path or ref.is_metric_time:
            return None
        found = []
        for e in self.model(model_name).entities:
            if e.name == ref.entity_path[0]:
                continue
            longer = dataclasses.replace(ref, entity_path=(e.name, *ref.entity_path))
            try:
                found.append((longer, self.resolve(model_name, longer, for_measure=ms)))
            except QueryError:
                continue
        return found[0] if len(found) == 1 else None

    def _join_rank(self, hops) -> tuple:
        st = self._state
        if st is None or not hops:
            return ()
        key = tuple(hops)
        if key not in st.join_order:
            st.join_order[key] = len(st.join_order)
        return (st.join_order[key],)

    def _date_part(self, part: str, value: exp.Expression) -> exp.Expression:
        """``extract(part)`` as MetricFlow means it: day of week is ISO (Monday 1 … Sunday 7)."""
        if part.lower() == "dow":
            field = ISO_DOW_FIELD.get(self.dialect)
            if field is None:  # BigQuery, Trino: sqlglot renders ISO day of week correctly
                return exp.DayOfWeekIso(this=value)
            return exp.Extract(this=exp.Var(this=field), expression=value)
        return exp.Extract(this=exp.Var(this=part.upper()), expression=value)

    def _time(self, sm, hops, dim, ref: Ref, base: str, order):
        grain = ref.grain
        if ref.date_part:
            e = self._date_part(ref.date_part, self.parse_expr(dim.expr))
            return (
                "time",
                None,
                Resolved(hops, sm.name, f"{dim.name}__extract_{ref.date_part}", e, order_key=order),
            )
        if grain is None:
            grain = base if GRAIN_RANK.get(base, 6) >= GRAIN_RANK["day"] else "day"
        if grain in self.custom_grains:
            spine, spine_col = self.m.custom_granularities[grain]
            e = _trunc(self.parse_expr(dim.expr), spine.grain)
            return (
                "time",
                grain,
                Resolved(
                    hops,
                    sm.name,
                    f"{dim.name}__{spine.grain}",
                    e,
                    spine=(spine, spine_col),
                    order_key=order,
                ),
            )
        if grain not in GRAIN_RANK:
            raise QueryError(f"unknown grain '{grain}' in '{ref.column()}'")
        if GRAIN_RANK[grain] < GRAIN_RANK.get(base, 6):
            raise QueryError(
                f"'{ref.column(grain)}' asks for grain '{grain}', but '{dim.name}' is defined at '{base}'",
                hint=f"use '{base}' or coarser: {', '.join(g for g in GRAIN_RANK if GRAIN_RANK[g] >= GRAIN_RANK[base])}",
            )
        e = _trunc(self.parse_expr(dim.expr), grain)
        return "time", grain, Resolved(hops, sm.name, f"{dim.name}__{grain}", e, order_key=order)

    def _unknown(self, ref: Ref, m0: SemanticModel):
        names = set()
        for sm in self.m.semantic_models.values():
            own = sm.own_entity
            for d in sm.dimensions:
                if own:
                    names.add(f"{own}__{d.name}")
            for e in sm.entities:
                names.add(e.name)
        names.add("metric_time")
        full = ref.column()
        if full in names:  # it exists, but no join leads there from this model
            raise QueryError(
                f"'{full}' cannot be reached from semantic model '{m0.name}': no entity of it "
                "leads there",
                hint="query it with metrics whose models reach it; see `opsmetrics list "
                "dimensions --metrics …` for what a metric can be grouped by",
            )
        raise QueryError(
            f"'{full}' cannot be reached from semantic model '{m0.name}'",
            hint=(did_you_mean(full, names) + " ").lstrip()
            + "see `opsmetrics list dimensions --metrics …` for what a metric can be grouped by",
        )

    # -- measure nodes -----------------------------------------------------------------------

    def _rows(
        self,
        ms: Measure,
        items: list[GroupItem],
        filters: list[ParsedFilter],
        constraint,
        extra: list[tuple[str, exp.Expression]] = (),
        metric_name: str = "",
    ):
        """FROM/JOIN/WHERE over a measure's model; returns (select-without-columns, group exprs, src alias).

        ``extra`` adds (name, Ref-or-raw) columns the caller needs (entity keys, times)."""
        st = self._state
        sm = self.model(ms.model)
        base_alias = st.alias("t")
        st.need_model(sm)
        sel = exp.select(copy=False).from_(
            aliased(st.cte_name(sm), base_alias),
            copy=False,
        )
        # Join paths, as MetricFlow joins them: each dimension source reached through a
        # different path is joined on its own (two 2-hop paths through one bridge model join
        # that bridge twice), and a path that is the start of a longer one is read from the
        # longer one's joins. The paths are planned up front from the items and filters.
        chains = self._plan_chains(sm, ms, items, filters)
        chain_aliases: dict[tuple, list[str]] = {}

        def join_path(hops: tuple) -> str:
            chain = next((c for c in chains if c[: len(hops)] == hops), None)
            if chain is None:
                chain = hops
                chains.append(chain)
            aliases = chain_aliases.setdefault(chain, [])
            while len(aliases) < len(hops):
                n = len(aliases)
                prev = base_alias if n == 0 else aliases[n - 1]
                prev_model = sm if n == 0 else self.model(chain[n - 1][1])
                ent, target = chain[n]
                tsm = self.model(target)
                st.need_model(prev_model, ent, self.shared_expr(prev_model.entity(ent).expr))
                st.need_model(tsm, ent, self.shared_expr(tsm.entity(ent).expr))
                ja = st.alias("j")
                aliases.append(ja)
                conds = [exp.EQ(this=col(ent, prev), expression=col(ent, ja))]
                conds += self._partition_on(prev_model, prev, tsm, ja)
                if n > 0:
                    # the measure's partitions meet the first model of the path that has them
                    # (MetricFlow joins the pre-joined path on its simplest partition spec)
                    seen = {
                        d.name
                        for _e, m in chain[:n]
                        for d in self.model(m).dimensions
                        if d.is_partition
                    }
                    conds += self._partition_on(sm, base_alias, tsm, ja, skip=seen)
                window = self._validity_on(tsm, ja, ms, sm, base_alias)
                if window is not None:
                    conds.append(window)
                add_join(
                    sel,
                    aliased(st.cte_name(tsm), ja),
                    on=exp.and_(*conds, copy=False),
                    join_type=st.dimension_join,
                    copy=False,
                )
            return aliases[len(hops) - 1] if hops else base_alias

        shifted: dict[str, exp.Expression] = {}

        def shifted_time(ref: Ref) -> exp.Expression:
            """Metric time of a row moved by the active offsets: each spine day ``a`` takes
            the rows at ``a - offset`` (or at ``trunc(a, offset_to_grain)``)."""
            _s, _d, agrain = self.atd(ms)
            base = agrain if GRAIN_RANK.get(agrain, 6) < GRAIN_RANK["day"] else "day"
            if "t" not in shifted:
                res = self.resolve(sm.name, Ref("metric_time", grain=base), for_measure=ms)[2]
                st.need_model(sm, res.column, res.expr)
                cur = col(res.column, base_alias)
                for offset, to_grain, grains in reversed(st.time_shifts):
                    if offset is not None and offset.granularity in self.custom_grains:
                        mapping = st.add_cte(
                            f"offset_{offset.granularity}", self._custom_offset_map(offset)
                        )
                        ma = st.alias("o")
                        add_join(
                            sel,
                            aliased(mapping, ma),
                            on=exp.EQ(this=col("__from", ma), expression=cur),
                            join_type="inner",
                            copy=False,
                        )
                        cur = col("__to", ma)
                        continue
                    psel = self._spine_periods(base, None)
                    if to_grain is not None and grains:
                        # only days that start one of the requested periods (MetricFlow)
                        p = psel.expressions[0].this  # the period expression (no alias in WHERE)
                        psel.where(
                            exp.or_(
                                *[
                                    exp.EQ(this=_trunc(p.copy(), g), expression=p.copy())
                                    for g in grains
                                ],
                                copy=False,
                            ),
                            copy=False,
                        )
                    periods = st.add_cte(f"spine_{base}", psel)
                    sa = st.alias("s")
                    stime = col("__period", sa)
                    if offset is not None:
                        left = exp.Sub(
                            this=stime.copy(),
                            expression=_interval(offset.count, offset.granularity),
                        )
                    else:
                        left = _trunc(stime.copy(), to_grain)
                    add_join(
                        sel,
                        aliased(periods, sa),
                        on=exp.EQ(this=left, expression=cur),
                        join_type="inner",
                        copy=False,
                    )
                    cur = stime
                shifted["t"] = cur
            cur = shifted["t"].copy()
            if ref.date_part:
                return self._date_part(ref.date_part, cur)
            g = ref.grain or base
            if g in self.custom_grains:
                return self._custom_grain_join(sel, *self.m.custom_granularities[g], cur)
            return cur if g == base else _trunc(cur, g)

        def column_for(ref: Ref, grain_hint=None, *, exact: bool = False) -> exp.Expression:
            if st.time_shifts and ms.agg_time_dimension and self._measure_time_ref(ref, ms):
                return shifted_time(ref)
            try:
                _kind, _grain, res = self.resolve(sm.name, ref, for_measure=ms)
            except QueryError as exc:
                # a filter may name the end of a path, as in MetricFlow; a group-by item was
                # resolved once for all metrics and must be reached by that name
                longer = self._longer_path(sm.name, ref, ms)
                if longer is not None and not exact:
                    _kind, _grain, res = longer[1]
                elif metric_name:
                    hint = exc.hint
                    if longer is not None:
                        hint = (
                            f"from '{metric_name}' it is {longer[0].column(ref.grain)}, a "
                            "different item: group by items every metric reaches by one name, "
                            "or query the metrics apart"
                        )
                    raise QueryError(f"metric '{metric_name}': {exc.message}", hint=hint) from None
                else:
                    raise
            alias = join_path(res.hops)
            tsm = self.model(res.model)
            st.need_model(tsm, res.column, res.expr)
            if res.spine is not None:
                return self._custom_grain_join(sel, *res.spine, col(res.column, alias))
            return col(res.column, alias)

        group_exprs = [(it.name, column_for(it.ref, exact=True)) for it in items]
        conds = []
        for f in filters:
            conds.append(self._filter_expr(f, column_for, ms, sel, base_alias, metric_name))
        if constraint is not None:
            g, start, end = constraint
            tcol = column_for(Ref("metric_time", grain=g))
            if start is not None and end is not None:
                conds.append(exp.Between(this=tcol, low=_lit_ts(start), high=_lit_ts(end)))
            elif start is not None:
                conds.append(exp.GTE(this=tcol, expression=_lit_ts(start)))
            else:
                conds.append(exp.LTE(this=tcol, expression=_lit_ts(end)))
        extra_exprs = []
        for name, what in extra:
            if isinstance(what, Ref):
                extra_exprs.append((name, column_for(what)))
            else:
                extra_exprs.append((name, what(base_alias)))
        if conds:
            sel.where(exp.and_(*conds, copy=False), copy=False)
        return sel, group_exprs, extra_exprs, base_alias, column_for

    def _custom_grain_join(
        self, sel: exp.Select, spine: TimeSpine, column: str, day: exp.Expression
    ) -> exp.Column:
        """LEFT JOIN the time spine on ``day`` to ``sel``; the custom-grain ``column`` read
        from it (the period each day belongs to)."""
        alias = self._state.alias("s")
        add_join(
            sel,
            aliased(self._state.spine_cte(spine), alias),
            on=exp.EQ(this=col(spine.column, alias), expression=day),
            join_type="left",
            copy=False,
        )
        return col(column, alias)

    def _plan_chains(self, sm: SemanticModel, ms: Measure, items, filters) -> list[tuple]:
        """The join paths a measure's rows need, longest first; a path that is the start of
        a longer one is not listed (it is read from the longer one's joins)."""
        refs = [it.ref for it in items] + [r for f in filters for r in f.refs if r.kind != "metric"]
        paths: list[tuple] = []
        for ref in refs:
            try:
                hops = self.resolve(sm.name, ref, for_measure=ms)[2].hops
            except QueryError:
                continue  # reported where the column is built
            if hops and hops not in paths:
                paths.append(hops)
        chains: list[tuple] = []
        for hops in sorted(paths, key=len, reverse=True):
            if not any(c[: len(hops)] == hops for c in chains):
                chains.append(hops)
        return chains

    def _partition_on(
        self, left: SemanticModel, la: str, right: SemanticModel, ra: str, skip=frozenset()
    ) -> list[exp.Expression]:
        """Equalities on the partition dimensions two joined models share by name (at each
        one's own grain for time partitions), as MetricFlow adds them to every join."""
        st = self._state
        conds = []
        for d in left.dimensions:
            other = right.dimension(d.name)
            if not d.is_partition or other is None or not other.is_partition or d.name in skip:
                continue
            le, re_ = self.parse_expr(d.expr), self.parse_expr(other.expr)
            if d.type == "time":
                le, re_ = _trunc(le, d.grain or "day"), _trunc(re_, other.grain or "day")
            name = f"__partition_{d.name}"
            st.need_model(left, name, le)
            st.need_model(right, name, re_)
            conds.append(exp.EQ(this=col(name, la), expression=col(name, ra)))
        return conds

    def _validity_on(self, tsm: SemanticModel, alias: str, ms: Measure, sm, base_alias):
        """For a join to an SCD type II model: the measure's time (at day) inside the row's
        validity window, ``start <= t AND (t < end OR end IS NULL)`` (MetricFlow's join)."""
        window = tsm.validity_window
        if window is None or not ms.agg_time_dimension:
            return None
        st = self._state
        _kind, _grain, res = self.resolve(sm.name, Ref("metric_time", grain="day"), for_measure=ms)
        st.need_model(sm, res.column, res.expr)
        t = col(res.column, base_alias)
        start, end = window
        for d in window:
            st.need_model(tsm, d.name, self.shared_expr(d.expr))
        return exp.and_(
            exp.GTE(this=t.copy(), expression=col(start.name, alias)),
            exp.paren(
                exp.or_(
                    exp.LT(this=t.copy(), expression=col(end.name, alias)),
                    exp.Is(this=col(end.name, alias), expression=exp.Null()),
                ),
                copy=False,
            ),
        )

    def _filter_expr(self, f: ParsedFilter, column_for, ms, sel, base_alias, metric_name):
        cols = []
        for ref in f.refs:
            if ref.kind == "metric":
                cols.append(self._metric_filter_column(ref, ms, sel, base_alias, column_for))
            else:
                cols.append(column_for(ref))
        return f.substitute(cols)

    def _metric_filter_column(
        self, ref: Ref, ms: Measure, sel, base_alias, column_for
    ) -> exp.Expression:
        """``{{ Metric('m', group_by=['entity']) }}``: the metric per entity, joined on that entity."""
        if len(ref.metric_group_by) != 1:
            raise FilterError("Metric(...) in a filter needs group_by=[one entity]")
        ent_ref = parse_name(ref.metric_group_by[0])
        sub = Compiler(self.m, self.dialect, self.resolver)
        tree, _cols = sub.compile(
            make_request(metrics=[ref.element], group_by=[ref.metric_group_by[0]])
        )
        try:
            key_here = column_for(Ref(ent_ref.element, ent_ref.entity_path, kind="entity"))
        except QueryError:
            # the path names where the entity is reached from the metric's model
            # (view__listing, account_id__customer_id__x): join on the entity itself
            key_here = column_for(Ref(ent_ref.element, kind="entity"))
        st = self._state
        alias = st.alias("mf")
        name = st.add_cte(f"{ref.element}_by_{ent_ref.column()}", tree)
        add_join(
            sel,
            aliased(name, alias),
            on=exp.EQ(this=key_here, expression=col(ent_ref.column(), alias)),
            join_type=st.dimension_join,  # FULL OUTER in a query without metrics (MetricFlow)
            copy=False,
        )
        return col(ref.element, alias)

    def _agg(self, ms: Measure, value: exp.Expression) -> exp.Expression:
        a = ms.agg
        if a == "sum":
            return exp.Sum(this=value)
        if a == "sum_boolean":
            return exp.Sum(this=exp.cast(value, _INT.copy()))
        if a == "count":
            return exp.Count(this=value)
        if a == "count_distinct":
            return exp.Count(this=exp.Distinct(expressions=[value]))
        if a == "average":
            return exp.Avg(this=value)
        if a == "min":
            return exp.Min(this=value)
        if a == "max":
            return exp.Max(this=value)
        if a in ("median", "percentile"):
            p = exp.Literal.number(ms.percentile if ms.percentile is not None else 0.5)
            if ms.approximate and not ms.discrete and self.dialect != "postgres":
                # PostgreSQL has no approximate quantile: it gets the exact one below
                return exp.ApproxQuantile(this=value, quantile=p)
            if self.dialect == "spark" and not ms.discrete:
                return exp.Anonymous(this="PERCENTILE", expressions=[value, p])
            fn = exp.PercentileDisc(this=p) if ms.discrete else exp.PercentileCont(this=p)
            if self.dialect == "duckdb":
                q = "QUANTILE_DISC" if ms.discrete else "QUANTILE_CONT"
                return exp.Anonymous(this=q, expressions=[value, p])
            return exp.WithinGroup(
                this=fn, expression=exp.Order(expressions=[exp.Ordered(this=value)])
            )
        raise QueryError(f"measure '{ms.name}' has unsupported agg '{a}'")

    def _is_row_count(self, ms: Measure, value: exp.Expression) -> bool:
        """``agg: sum, expr: 1`` (the usual row count) may be ``COUNT(*)`` in a grouped DuckDB
        aggregation: every group has at least one row, so the values are equal, and DuckDB sums
        an INTEGER into a HUGEINT (128-bit) accumulator, ≈20% slower than ``COUNT(*)``. Not
        without GROUP BY, where no rows give SUM NULL but COUNT 0."""
        return (
            self.dialect == "duckdb"
            and ms.agg == "sum"
            and isinstance(value, exp.Literal)
            and not value.is_string
            and value.this == "1"
        )

    def _measure_value(self, ms: Measure) -> tuple[str, exp.Expression]:
        return f"__{ms.name}", self.shared_expr(ms.expr)  # stored, copied with the CTE

    def _simple_node(
        self, metrics: list[tuple[Metric, str]], filters, items, constraint, out_name=None
    ) -> Node:
        """One aggregation over one model for simple metrics sharing filters/time-spine handling."""
        first = metrics[0][0]
        ms0 = self.measure(first.measure, first.name)
        all_filters = [parse_filter(t) for t in first.filters + first.measure.filters] + list(
            filters
        )
        spine_item = None
        if first.measure.join_to_timespine:
            spine_item = next((i for i in items if i.is_metric_time), None) or self._atd_item(
                first, items
            )
        st = self._state
        sm = self.model(ms0.model)
        if ms0.non_additive is not None:
            return self._nad_node(metrics, all_filters, items, constraint)
        sel, group_exprs, _extra, base, _cf = self._rows(
            ms0, items, all_filters, constraint, metric_name=first.name
        )
        values = []
        for metric, out in metrics:
            ms = self.measure(metric.measure, metric.name)
            cname, cexpr = self._measure_value(ms)
            st.need_model(sm, cname, cexpr)
            agg = self._agg(ms, col(cname, base))
            if group_exprs and self._is_row_count(ms, cexpr):
                agg = exp.Count(this=exp.Star())
            sel.select(agg.as_(out, quoted=False, copy=False), copy=False)
            values.append(out)
        for name, e in reversed(group_exprs):
            sel.expressions.insert(0, e.copy().as_(name, quoted=False, copy=False))
        if group_exprs:
            sel.group_by(*[e.copy() for _n, e in group_exprs], copy=False)
        name = st.add_cte(out_name or values[0], sel)
        node = Node(name, values)
        if spine_item is not None:
            node = self._spine_join(
                node,
                items,
                constraint,
                {m.name if out is None else out: m.measure.fill_nulls_with for m, out in metrics},
                spine_item,
                metric=first,
                all_filters=all_filters,
                query_filters=filters,
            )
        return node

    def _nad_node(self, metrics, all_filters, items, constraint) -> Node:
        """Non-additive dimension: keep only rows at the window_choice time of the dimension,
        per requested metric_time period (and window_groupings), then aggregate."""
        first = metrics[0][0]
        ms0 = self.measure(first.measure, first.name)
        nad = ms0.non_additive
        sm = self.model(ms0.model)
        st = self._state
        nad_dim = sm.dimension(nad.name)
        if nad_dim is None:
            raise QueryError(
                f"measure '{ms0.name}': non_additive_dimension '{nad.name}' is not a dimension of '{sm.name}'"
            )
        nad_ref = Ref(
            nad.name, (sm.own_entity,) if sm.own_entity else (), grain=nad_dim.grain or "day"
        )
        extra = [("__nad_time", nad_ref)] + [
            (f"__nad_g_{g}", Ref(g, kind="entity")) for g in nad.window_groupings
        ]
        sel, group_exprs, extra_exprs, base, _cf = self._rows(
            ms0, items, all_filters, constraint, extra=extra, metric_name=first.name
        )
        time_parts = [e for (n, e), it in zip(group_exprs, items, strict=True) if it.is_metric_time]
        parts = time_parts + [e for n, e in extra_exprs[1:]]
        nad_time = extra_exprs[0][1]
        agg = exp.Max if nad.window_choice == "max" else exp.Min
        win = exp.Window(
            this=agg(this=nad_time.copy()), partition_by=[p.copy() for p in parts] or None
        )
        inner = sel
        for name, e in group_exprs:
            inner.select(e.copy().as_(name, quoted=False, copy=False), copy=False)
        inner.select(nad_time.copy().as_("__nad_time", quoted=False, copy=False), copy=False)
        inner.select(win.as_("__nad_pick", quoted=False, copy=False), copy=False)
        for metric, _out in metrics:
            ms = self.measure(metric.measure, metric.name)
            cname, cexpr = self._measure_value(ms)
            st.need_model(sm, cname, cexpr)
            inner.select(col(cname, base).as_(cname, quoted=False, copy=False), copy=False)
        rows = st.add_cte(f"{first.name}_rows", inner)
        outer = exp.select(
            *[col(n).as_(n, quoted=False, copy=False) for n, _e in group_exprs], copy=False
        ).from_(_tbl(rows), copy=False)
        outer.where(exp.EQ(this=col("__nad_time"), expression=col("__nad_pick")), copy=False)
        values = []
        for metric, out in metrics:
            ms = self.measure(metric.measure, metric.name)
            outer.select(
                self._agg(ms, col(f"__{ms.name}")).as_(out, quoted=False, copy=False), copy=False
            )
            values.append(out)
        if group_exprs:
            outer.group_by(*[col(n) for n, _e in group_exprs], copy=False)
        return Node(st.add_cte(values[0], outer), values)

    def _spine_periods(self, grain: str, constraint, filters=()) -> exp.Select:
        """Distinct periods of the time spine at ``grain`` (custom grains from their column),
        keeping the spine days that pass ``filters`` (filters on metric time only)."""
        st = self._state
        if grain in self.custom_grains:
            spine, c = self.m.custom_granularities[grain]
            e = col(c)
        else:
            spine = self.m.spine_for(grain)
            if spine is None:
                raise QueryError(
                    f"this query needs a time spine at '{grain}' grain or finer, and the manifest has none",
                    hint="declare a time spine model (time_spine: in the model YAML) and re-run dbt parse",
                )
            e = col(spine.column) if spine.grain == grain else _trunc(col(spine.column), grain)
        sel = (
            exp.select(e.as_("__period", quoted=False, copy=False), copy=False)
            .from_(_tbl(st.spine_cte(spine)), copy=False)
            .distinct(copy=False)
        )
        for f in filters:
            sel.where(f.substitute([self._spine_column(spine, r) for r in f.refs]), copy=False)
        if constraint is not None and grain not in self.custom_grains:
            _g, start, end = constraint
            conds = []
            if start is not None:
                conds.append(exp.GTE(this=e.copy(), expression=_lit_ts(truncate_dt(start, grain))))
            if end is not None:
                conds.append(exp.LTE(this=e.copy(), expression=_lit_ts(truncate_dt(end, grain))))
            if conds:
                sel.where(exp.and_(*conds, copy=False), copy=False)
        return sel

    def _spine_column(self, spine: TimeSpine, ref: Ref) -> exp.Expression:
        """A metric-time reference read from a time spine's own column."""
        value = col(spine.column)
        if ref.date_part:
            return self._date_part(ref.date_part, value)
        g = ref.grain or spine.grain
        if g in self.custom_grains:
            cspine, ccol = self.m.custom_granularities[g]
            if cspine.relation != spine.relation:
                raise QueryError(f"custom grain '{g}' lives on another time spine")
            return col(ccol)
        return value if g == spine.grain else _trunc(value, g)

    def _custom_offset_map(self, offset) -> exp.Expression:
        """Spine days moved by ``offset.count`` periods of a custom grain, as MetricFlow moves
        them: a day goes to the day at the same position in the period ``count`` later, or to
        NULL when that period is shorter (MetricFlow's engine; its own test query clamps to
        the period's last day instead). Columns ``__from``, ``__to``."""
        spine, ccol = self.m.custom_granularities[offset.granularity]
        st = self._state
        d = exp.to_identifier(spine.column).sql("duckdb")
        p = exp.to_identifier(ccol).sql("duckdb")
        lead = "LEAD" if offset.count >= 0 else "LAG"
        n = abs(int(offset.count))
        whole = "ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING"
        days = st.add_cte(
            f"{offset.granularity}_days",
            sqlglot.parse_one(
                f"SELECT {d} AS __d, {p} AS __p, "
                f"FIRST_VALUE({d}) OVER (PARTITION BY {p} ORDER BY {d} {whole}) AS __first, "
                f"LAST_VALUE({d}) OVER (PARTITION BY {p} ORDER BY {d} {whole}) AS __last, "
                f"ROW_NUMBER() OVER (PARTITION BY {p} ORDER BY {d}) AS __pos "
                f"FROM {exp.to_identifier(st.spine_cte(spine)).sql('duckdb')}",
                read="duckdb",
            ),
        )
        periods = st.add_cte(
            f"{offset.granularity}_periods",
            sqlglot.parse_one(
                f"SELECT __p, {lead}(__first, {n}) OVER (ORDER BY __p) AS __first_to, "
                f"{lead}(__last, {n}) OVER (ORDER BY __p) AS __last_to "
                f"FROM (SELECT DISTINCT __p, __first, __last FROM {days}) AS x",
                read="duckdb",
            ),
        )
        # day + (position - 1) days, as a DateAdd node so every dialect renders it
        moved = exp.DateAdd(
            this=col("__first_to", "o"),
            expression=exp.cast(
                exp.Sub(this=col("__pos", "d"), expression=exp.Literal.number(1)), _INT.copy()
            ),
            unit=exp.Var(this="DAY"),
        )
        to = exp.Case(
            ifs=[
                exp.If(
                    this=exp.LTE(this=moved, expression=col("__last_to", "o")), true=moved.copy()
                )
            ]
        )
        sel = exp.select(
            col("__d", "d").as_("__from", quoted=False, copy=False),
            to.as_("__to", quoted=False, copy=False),
            copy=False,
        ).from_(aliased(days, "d"), copy=False)
        return add_join(
            sel,
            aliased(periods, "o"),
            on=exp.EQ(this=col("__p", "d"), expression=col("__p", "o")),
            join_type="inner",
        )

    def _measure_time_ref(self, ref: Ref, ms: Measure) -> bool:
        """Whether ``ref`` is metric time for measure ``ms``: metric_time or its agg time
        dimension by its own name."""
        if ref.is_metric_time:
            return True
        if ref.kind in ("metric", "entity") or not ms.agg_time_dimension:
            return False
        sm, dname, _g = self.atd(ms)
        return ref.element == dname and tuple(ref.entity_path) == (sm.own_entity,)

    def _agg_time_ref(self, ref: Ref, metric: Metric) -> bool:
        """Whether ``ref`` is metric time for ``metric``: metric_time or its agg time dimension."""
        return ref.is_metric_time or any(
            self._measure_time_ref(ref, ms) for _m, ms in self._leaf_measures([metric])
        )

    def _spine_join(
        self,
        node: Node,
        items,
        constraint,
        fills,
        mt=None,
        metric: Metric | None = None,
        all_filters=(),
        query_filters=(),
    ) -> Node:
        """Every spine period at the requested grain, LEFT joined to the node (MetricFlow's
        ``join_to_timespine``). As MetricFlow does, filters on metric time only (the metric's
        and the query's) keep spine days; the query's other filters whose items are all grouped
        by are applied again after the join, since the spine's new rows have NULL there."""
        st = self._state
        mt = mt or next(i for i in items if i.is_metric_time)
        spine_filters, deferred = [], []
        if metric is not None:
            for f in all_filters:
                if f.refs and all(self._agg_time_ref(r, metric) for r in f.refs):
                    spine_filters.append(f)
            by_name = {}
            for it in items:
                by_name[it.name] = it
                by_name.setdefault(it.ref.column(), it)
            for f in query_filters:
                if f in spine_filters or not f.refs:
                    continue
                if all(r.kind != "metric" and _filter_item(r, by_name) for r in f.refs):
                    deferred.append(f)
        periods = st.add_cte(
            f"spine_{mt.grain}", self._spine_periods(mt.grain, constraint, spine_filters)
        )
        sel = exp.select(copy=False).from_(aliased(periods, "sp"), copy=False)
        add_join(
            sel,
            aliased(node.name, "v"),
            on=exp.EQ(this=col("__period", "sp"), expression=col(mt.name, "v")),
            join_type="left",
            copy=False,
        )
        for it in items:
            if it is mt:
                sel.select(col("__period", "sp").as_(it.name, quoted=False, copy=False), copy=False)
            else:
                sel.select(col(it.name, "v").as_(it.name, quoted=False, copy=False), copy=False)
        for v in node.values:
            e = col(v, "v")
            if fills.get(v) is not None:
                e = exp.Coalesce(this=e, expressions=[exp.Literal.number(fills[v])])
            sel.select(e.as_(v, quoted=False, copy=False), copy=False)
        for f in deferred:
            cols = []
            for r in f.refs:
                it = _filter_item(r, by_name)
                cols.append(col("__period", "sp") if it is mt else col(it.name, "v"))
            sel.where(f.substitute(cols), copy=False)
        return Node(st.add_cte(f"{node.values[0]}_spine", sel), node.values)

    # -- other metric types ------------------------------------------------------------------

    def _ratio_scan_key(self, m: Metric) -> tuple | None:
        """The simple-branch key a ratio's parts share, if they can be read in that scan."""
        if m.type != "ratio" or m.filters or m.numerator.filters or m.denominator.filters:
            return None  # filtered ratios take the general path, which applies input filters
        num, den = self.metric(m.numerator.name), self.metric(m.denominator.name)
        if not self._one_scan(num, m.numerator, den, m.denominator):
            return None
        ms = self.measure(num.measure, num.name)
        flt = tuple(sorted(set(num.filters + num.measure.filters + m.numerator.filters)))
        return ("simple", ms.model, ms.agg_time_dimension, False, flt, ms.non_additive)

    def _ratios_on(self, node: Node, group: list[Metric], ratios: list[Metric], items) -> Node:
        """Compute ratios from their parts aggregated in a simple branch's node."""
        sel = exp.select(*[col(i.name) for i in items], *[col(m.name) for m in group], copy=False)
        for r in ratios:
            num = exp.cast(col(f"{r.name}__num"), _DOUBLE.copy())
            den = exp.cast(
                exp.Nullif(this=col(f"{r.name}__den"), expression=exp.Literal.number(0)),
                _DOUBLE.copy(),
            )
            sel.select(
                exp.Div(this=num, expression=den).as_(r.name, quoted=False, copy=False), copy=False
            )
        sel.from_(_tbl(node.name), copy=False)
        return Node(
            self._state.add_cte(f"{(group or ratios)[0].name}_ratios", sel),
            [m.name for m in group] + [r.name for r in ratios],
        )

    def _one_scan(self, a: Metric, ai, b: Metric, bi) -> bool:
        """Whether two ratio inputs are plain simple metrics over the same rows."""
        for m, mi in ((a, ai), (b, bi)):
            if m.type != "simple" or m.measure is None or mi.offset_window or mi.offset_to_grain:
                return False
            if m.measure.fill_nulls_with is not None or m.measure.join_to_timespine:
                return False
            if self.measure(m.measure, m.name).non_additive is not None:
                return False
        ma, mb = self.measure(a.measure, a.name), self.measure(b.measure, b.name)
        fa = set(a.filters + a.measure.filters + ai.filters)
        fb = set(b.filters + b.measure.filters + bi.filters)
        return ma.model == mb.model and ma.agg_time_dimension == mb.agg_time_dimension and fa == fb

    def _atd_item(self, metric: Metric, items: list[GroupItem]) -> GroupItem | None:
        """The group-by item that is ``metric``'s agg time dimension (``booking__ds__day``),
        which an offset may shift as it shifts metric_time (MetricFlow allows both)."""
        atds = set()
        for _m, ms in self._leaf_measures([metric]):
            if ms.agg_time_dimension:
                sm, dname, _g = self.atd(ms)
                atds.add((sm.own_entity, dname))
        if len(atds) != 1:
            return None
        ((entity, dname),) = atds
        for it in items:
            r = it.ref
            if it.kind == "time" and r.element == dname and r.entity_path == (entity,) and it.grain:
                return it
        return None

    def _wrap_fill(self, node: Node, items, fills) -> Node:
        sel = exp.select(*[col(i.name) for i in items], copy=False).from_(
            _tbl(node.name), copy=False
        )
        for v in node.values:
            e = col(v)
            if v in fills:
                e = exp.Coalesce(this=e, expressions=[exp.Literal.number(fills[v])])
            sel.select(e.as_(v, quoted=False, copy=False), copy=False)
        return Node(self._state.add_cte(f"{node.values[0]}_filled", sel), node.values)

    def _shift_periods(self, node: P.ShiftPeriods) -> Node:
        """Spine periods joined to the input's values ``offset`` earlier (``a - offset = b``)
        or on the day their period starts at ``to_grain`` (``trunc(a, grain) = b``)."""
        st = self._state
        mt, out, items = node.period, node.out, node.items
        inner = self._render(node.node)
        if node.offset:
            periods = st.add_cte(
                f"spine_{mt.grain}", self._spine_periods(mt.grain, None, list(node.on_time))
            )
            cond_left = exp.Sub(
                this=col("__period", "sp"),
                expression=_interval(node.offset.count, node.offset.granularity),
            )
            join_col = mt.name
        else:
            base = node.base.grain
            spine = self.m.spine_for(base)
            scol = col(spine.column) if spine.grain == base else _trunc(col(spine.column), base)
            psel = (
                exp.select(scol.as_("__period", quoted=False, copy=False), copy=False)
                .from_(_tbl(st.spine_cte(spine)), copy=False)
                .distinct(copy=False)
            )
            if mt.grain != base:
                psel.where(
                    exp.EQ(this=_trunc(scol.copy(), mt.grain), expression=scol.copy()), copy=False
                )
            for f in node.on_time:
                psel.where(f.substitute([self._spine_column(spine, r) for r in f.refs]), copy=False)
            periods = st.add_cte(f"spine_{mt.grain}_starts", psel)
            cond_left = _trunc(col("__period", "sp"), node.to_grain)
            join_col = node.base.name
        sel = exp.select(copy=False).from_(aliased(periods, "sp"), copy=False)
        add_join(
            sel,
            aliased(inner.name, "v"),
            on=exp.EQ(this=cond_left, expression=col(join_col, "v")),
            join_type="inner",
            copy=False,
        )
        for it in items:
            src = col("__period", "sp") if it is mt else col(it.name, "v")
            sel.select(src.as_(it.name, quoted=False, copy=False), copy=False)
        sel.select(col(out, "v").as_(out, quoted=False, copy=False), copy=False)
        if node.constraint is not None:
            _g, start, end = node.constraint
            pc = col("__period", "sp")
            if start is not None:
                sel.where(
                    exp.GTE(this=pc.copy(), expression=_lit_ts(truncate_dt(start, mt.grain))),
                    copy=False,
                )
            if end is not None:
                sel.where(
                    exp.LTE(this=pc.copy(), expression=_lit_ts(truncate_dt(end, mt.grain))),
                    copy=False,
                )
        return Node(st.add_cte(f"{out}_offset", sel), [out])

    # -- combining ---------------------------------------------------------------------------

    def _combine(
        self, nodes: list[Node], items: list[GroupItem], outer_fill: bool = False
    ) -> exp.Select:
        """Nodes joined on the group-by columns: FULL OUTER JOIN, then GROUP BY the coalesced
        keys with MAX (as MetricFlow), so rows with NULL keys merge the same way."""
        keys = [i.name for i in items]
        if len(nodes) == 1:
            n = nodes[0]
            sel = exp.select(*[col(k) for k in keys], copy=False).from_(_tbl(n.name), copy=False)
            for v in n.values:
                e = col(v)
                if outer_fill and v in n.fill:
                    e = exp.Coalesce(this=e, expressions=[exp.Literal.number(n.fill[v])])
                sel.select(e.as_(v, quoted=False, copy=False) if e is not None else e, copy=False)
            return sel
        aliases = [f"n{i}" for i in range(len(nodes))]
        sel = exp.select(copy=False).from_(
            aliased(nodes[0].name, aliases[0]),
            copy=False,
        )

        def key_expr(k: str, upto: int) -> exp.Expression:
            cols = [col(k, a) for a in aliases[:upto]]
            return cols[0] if len(cols) == 1 else exp.Coalesce(this=cols[0], expressions=cols[1:])

        for i in range(1, len(nodes)):
            tbl = aliased(nodes[i].name, aliases[i])
            if keys:
                on = exp.and_(
                    *[exp.EQ(this=key_expr(k, i), expression=col(k, aliases[i])) for k in keys],
                    copy=False,
                )
                add_join(sel, tbl, on=on, join_type="full outer", copy=False)
            else:
                add_join(sel, tbl, join_type="cross", copy=False)
        kexprs = [key_expr(k, len(nodes)) for k in keys]
        for k, e in zip(keys, kexprs, strict=True):
            sel.select(e.copy().as_(k, quoted=False, copy=False), copy=False)
        for a, n in zip(aliases, nodes, strict=True):
            for v in n.values:
                e = exp.Max(this=col(v, a))
                if outer_fill and v in n.fill:
                    e = exp.Coalesce(this=e, expressions=[exp.Literal.number(n.fill[v])])
                sel.select(e.as_(v, quoted=False, copy=False), copy=False)
        if keys:
            sel.group_by(*[e.copy() for e in kexprs], copy=False)
        return sel

    def _order_limit(self, sel: exp.Select, req: Request, items, out_cols) -> exp.Select:
        if not req.order_by and req.limit is None:
            return sel
        names = {i.name: i for i in items}
        by_ref = {}
        for i in items:
            by_ref[i.ref.column()] = i.name
            if i.is_metric_time:
                by_ref.setdefault("metric_time", i.name)
        orders = []
        for o in req.order_by:
            desc = o.startswith("-")
            raw = o[1:] if desc else o
            if "(" in raw:
                r = parse_name(raw)
                desc = desc or r.descending
                raw = r.element if r.kind == "metric" else r.column()
            raw = raw.strip().lower()
            if raw in out_cols or raw in names:
                name = raw
            elif raw in by_ref:
                name = by_ref[raw]
            else:
                raise QueryError(
                    f"cannot order by '{raw}': it is not a requested metric or group-by item",
                    hint=did_you_mean(raw, list(names) + out_cols)
                    or "order by one of: " + ", ".join(list(names) + out_cols),
                )
            orders.append(exp.Ordered(this=col(name), desc=desc))
        outer = sel
        if orders:
            outer = exp.select(exp.Star(), copy=False).from_(sel.subquery("q", copy=False))
            outer.order_by(*orders, copy=False)
        if req.limit is not None:
            outer.limit(req.limit, copy=False)
        return outer


#: SQL's reserved words (PostgreSQL's list, which DuckDB's grammar shares): a semantic name
#: such as the entity ``order`` must be quoted wherever it is an identifier
RESERVED = frozenset(DuckDB.Generator.RESERVED_KEYWORDS)


def _quote_reserved(tree: exp.Expression) -> exp.Expression:
    for ident_ in tree.find_all(exp.Identifier):
        if not ident_.quoted and ident_.name.lower() in RESERVED:
            ident_.set("quoted", True)
    return tree


def _timestamps_for_postgres(tree: exp.Expression) -> exp.Expression:
    """PostgreSQL truncates a DATE to a ``timestamp with time zone`` (in the session's zone):
    truncate a TIMESTAMP instead, as MetricFlow's PostgreSQL SQL does, so periods are the same
    wall-clock values on every engine."""
    for node in list(tree.find_all(exp.TimestampTrunc)):
        arg = node.this
        if not (isinstance(arg, exp.Cast) and arg.to.is_type("timestamp")):
            node.set("this", exp.cast(arg, _TS.copy()))
    return tree


def _linkable_count(sm: SemanticModel) -> int:
    """How many group-by items a model offers by itself: entities, categorical dimensions, and
    each time dimension at every grain from its own and every date part (MetricFlow's measure
    of a source node's size)."""
    n = len(sm.entities)
    for d in sm.dimensions:
        if d.type == "time":
            rank = GRAIN_RANK.get(d.grain or "day", GRAIN_RANK["day"])
            n += sum(1 for g in GRAIN_RANK.values() if g >= rank) + 7
        else:
            n += 1
    return n


def _filter_item(ref: Ref, by_name: dict[str, GroupItem]) -> GroupItem | None:
    """The group-by item a filter's reference names, if it is one of them."""
    if ref.grain or ref.date_part:
        return by_name.get(ref.column())
    return by_name.get(ref.column()) or next(
        (
            it
            for it in by_name.values()
            if it.kind == "time"
            and it.ref.element == ref.element
            and tuple(it.ref.entity_path) == tuple(ref.entity_path)
        ),
        None,
    )


def _min_max(tree: exp.Select, cols: list[str]) -> tuple[exp.Select, list[str]]:
    """The range of each column of a distinct-values query: ``<col>__min``, ``<col>__max``."""
    exprs, out = [], []
    for c in cols:
        for fn, suffix in ((exp.Min, "min"), (exp.Max, "max")):
            exprs.append(fn(this=col(c)).as_(f"{c}__{suffix}", quoted=False, copy=False))
            out.append(f"{c}__{suffix}")
    return exp.select(*exprs, copy=False).from_(tree.subquery("v", copy=False), copy=False), out


class _State:
    """Per-compile bookkeeping: model CTE columns, other CTEs, unique aliases."""

    def __init__(self, compiler: Compiler):
        self.c = compiler
        self.models: dict[str, tuple[SemanticModel, dict[str, exp.Expression]]] = {}
        self.spines: dict[int, tuple[TimeSpine, str]] = {}
        self.ctes: list[tuple[str, exp.Expression]] = []
        self.names: set[str] = set()
        self.counter = itertools.count(1)
        self.join_order: dict[tuple, int] = {}
        #: how dimension sources are joined: LEFT from a measure's rows; FULL OUTER between the
        #: sources of a query without metrics (MetricFlow's distinct values)
        self.dimension_join = "left"
        #: offsets applied to metric time before aggregation (outermost first): each is
        #: (offset window or None, offset_to_grain or None), MetricFlow's spine join of rows
        self.time_shifts: tuple = ()

    def alias(self, prefix: str) -> str:
        return f"{prefix}{next(self.counter)}"

    def _unique(self, base: str) -> str:
        base = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in base.lower()) or "cte"
        name = base
        n = 2
        while name in self.names:
            name = f"{base}_{n}"
            n += 1
        self.names.add(name)
        return name

    def cte_name(self, sm: SemanticModel) -> str:
        if sm.name not in self.models:
            name = sm.name
            if name == sm.relation.get("alias"):
                name = f"{name}_sm"
            self.models[sm.name] = (sm, {}, self._unique(name))
        return self.models[sm.name][2]

    def need_model(
        self, sm: SemanticModel, column: str | None = None, expr: exp.Expression | None = None
    ):
        self.cte_name(sm)
        if column is not None:
            self.models[sm.name][1].setdefault(column, expr)

    def spine_cte(self, spine: TimeSpine) -> str:
        key = id(spine)
        if key not in self.spines:
            self.spines[key] = (spine, self._unique(f"time_spine_{spine.grain}"))
        return self.spines[key][1]

    def add_cte(self, base: str, sel: exp.Expression) -> str:
        name = self._unique(base)
        self.ctes.append((name, sel))
        return name

    def with_ctes(self, final: exp.Select) -> exp.Select:
        ctes = []
        for sm, cols, name in self.models.values():
            sel = exp.select(
                *[e.copy().as_(c, quoted=False, copy=False) for c, e in cols.items()]
                or [exp.Literal.number(1).as_("__row", copy=False)],
                copy=False,
            )
            sel.from_(self.c.relation(sm.relation), copy=False)
            ctes.append(exp.CTE(this=sel, alias=exp.TableAlias(this=ident(name))))
        for spine, name in self.spines.values():
            cols = [col(spine.column)] + [col(c) for _n, c in spine.custom_granularities]
            sel = exp.select(*cols, copy=False).from_(self.c.relation(spine.relation), copy=False)
            ctes.append(exp.CTE(this=sel, alias=exp.TableAlias(this=ident(name))))
        for name, sel in self.ctes:
            ctes.append(exp.CTE(this=sel, alias=exp.TableAlias(this=ident(name))))
        final.set("with_", exp.With(expressions=ctes))
        return final
