"""Compile a metric request into one sqlglot SELECT tree.

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

import datetime as dt
import difflib
import itertools
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp

from analysis_py.errors import FilterError, QueryError
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
from analysis_py.semantic.where import ParsedFilter, parse_filter

#: grains whose length is fixed in units of the finer grain (for window frames in rows)
_FIXED = {
    ("day", "day"): 1,
    ("day", "week"): 7,
    ("hour", "hour"): 1,
    ("hour", "day"): 24,
    ("hour", "week"): 168,
    ("minute", "minute"): 1,
    ("minute", "hour"): 60,
    ("minute", "day"): 1440,
    ("second", "second"): 1,
}


def suggest(name: str, options) -> str | None:
    close = difflib.get_close_matches(name, sorted(set(options)), n=3, cutoff=0.5)
    return ", ".join(close) if close else None


def _id(name: str) -> exp.Identifier:
    return exp.to_identifier(name)


_DOUBLE = exp.DataType.build("double")
_INT = exp.DataType.build("int")
_TS = exp.DataType.build("timestamp")


def _tbl(name: str) -> exp.Table:
    return exp.Table(this=_id(name))


def col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table, quoted=None)


def _trunc(e: exp.Expression, grain: str) -> exp.Expression:
    return exp.TimestampTrunc(this=e, unit=exp.Var(this=grain.upper()))


def _interval(count: int, unit: str) -> exp.Interval:
    return exp.Interval(this=exp.Literal.string(str(count)), unit=exp.Var(this=unit.upper()))


def _lit_ts(value: dt.datetime) -> exp.Expression:
    return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), _TS.copy())


def truncate_dt(value: dt.datetime, grain: str) -> dt.datetime:
    """Python-side DATE_TRUNC (Monday weeks, as DuckDB/ISO)."""
    if grain in ("second", "minute", "hour"):
        kw = {"second": dict(microsecond=0), "minute": dict(second=0, microsecond=0)}
        return value.replace(**kw.get(grain, dict(minute=0, second=0, microsecond=0)))
    d = value.replace(hour=0, minute=0, second=0, microsecond=0)
    if grain == "week":
        return d - dt.timedelta(days=d.weekday())
    if grain == "month":
        return d.replace(day=1)
    if grain == "quarter":
        return d.replace(day=1, month=(d.month - 1) // 3 * 3 + 1)
    if grain == "year":
        return d.replace(day=1, month=1)
    return d


# ----------------------------------------------------------------------------------------------
# request


@dataclass(frozen=True)
class Request:
    metrics: tuple[str, ...]
    group_by: tuple[str, ...] = ()
    where: tuple[str, ...] = ()
    order_by: tuple[str, ...] = ()
    limit: int | None = None
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None


@dataclass(frozen=True)
class GroupItem:
    ref: Ref
    name: str
    kind: str  # time | entity | dimension
    grain: str | None = None

    @property
    def is_metric_time(self) -> bool:
        return self.ref.is_metric_time


@dataclass
class Resolved:
    """Where a linkable element lives relative to a measure's semantic model."""

    hops: tuple[tuple[str, str], ...]  # (entity, model) joins from the measure model
    model: str
    column: str  # column name in the model CTE
    expr: exp.Expression  # expression over the raw relation
    spine: tuple[TimeSpine, str] | None = None  # custom grain: (spine, spine column)
    order_key: tuple = ()


@dataclass
class Node:
    """A CTE producing the group-by columns plus value columns."""

    name: str
    values: list[str]
    fill: dict[str, int] = field(default_factory=dict)


def _parse_time(value) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    try:
        return dt.datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise QueryError(
            f"'{value}' is not a date or timestamp", hint="use ISO format, e.g. 2025-01-31"
        ) from None


def make_request(
    metrics=None,
    group_by=None,
    where=None,
    order_by=None,
    limit=None,
    start_time=None,
    end_time=None,
) -> Request:
    def seq(v) -> tuple[str, ...]:
        if v is None:
            return ()
        if isinstance(v, str):
            return tuple(x.strip() for x in v.split(",") if x.strip())
        return tuple(str(x).strip() for x in v if str(x).strip())

    if isinstance(where, str):
        where = (where,)
    if limit is not None:
        try:
            limit = int(limit)
        except (TypeError, ValueError):
            raise QueryError(f"limit must be a whole number, got {limit!r}") from None
        if limit < 0:
            raise QueryError(f"limit must be ≥ 0, got {limit}")
    return Request(
        metrics=seq(metrics),
        group_by=seq(group_by),
        where=tuple(w for w in (where or ()) if w and str(w).strip()),
        order_by=seq(order_by),
        limit=limit,
        start_time=_parse_time(start_time),
        end_time=_parse_time(end_time),
    )


# ----------------------------------------------------------------------------------------------
# compiler


class Compiler:
    """Turns a :class:`Request` into a sqlglot tree for one dialect. Stateless between calls."""

    def __init__(self, manifest: Manifest, dialect: str = "duckdb", relation_resolver=None):
        self.m = manifest
        self.dialect = dialect
        self.resolver = relation_resolver
        self._expr_cache: dict[str, exp.Expression] = {}
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
            hint = suggest(name, self.m.metrics)
            raise QueryError(
                f"unknown metric '{name}'",
                hint=f"did you mean: {hint}?"
                if hint
                else "list them with `opsmetrics list metrics`",
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
        if not req.metrics:
            raise QueryError("no metrics requested", hint="pass --metrics a,b")
        metrics = [self.metric(n) for n in req.metrics]
        self._state = _State(self)
        measures = self._leaf_measures(metrics)
        refs = [parse_name(g, self.custom_grains) for g in req.group_by]
        items = self._resolve_group_by(refs, measures)
        # a request groups by each column once
        seen: dict[str, GroupItem] = {}
        for it in items:
            seen.setdefault(it.name, it)
        items = list(seen.values())
        filters = [parse_filter(w) for w in req.where]
        mt = [i for i in items if i.is_metric_time]
        constraint = None
        if req.start_time or req.end_time:
            g = min((i.grain for i in mt), key=lambda x: GRAIN_RANK.get(x, 6)) if mt else "day"
            g = g if g in GRAIN_RANK else "day"
            start = truncate_dt(req.start_time, g) if req.start_time else None
            end = truncate_dt(req.end_time, g) if req.end_time else None
            constraint = (g, start, end)
        self._state.items = items
        self._state.constraint = constraint
        nodes: list[Node] = []
        out_cols: list[str] = []
        branches: dict[tuple, list[Metric]] = {}
        order: list[tuple] = []
        for metric in metrics:
            key = self._branch_key(metric)
            if key not in branches:
                branches[key] = []
                order.append(key)
            branches[key].append(metric)
        for key in order:
            group = branches[key]
            if key[0] == "simple":
                node = self._simple_node([(m, m.name) for m in group], filters, items, constraint)
            else:
                node = self._metric_node(group[0], filters, items, constraint, group[0].name)
            for m in group:
                fill = m.measure.fill_nulls_with if m.type == "simple" and m.measure else None
                if fill is not None:
                    node.fill[m.name] = fill
            nodes.append(node)
            out_cols.extend(v for v in node.values)
        final = self._combine(nodes, items, outer_fill=True)
        final = self._order_limit(final, req, items, out_cols)
        tree = self._state.with_ctes(final)
        return tree, [i.name for i in items] + out_cols

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

    def _resolve_group_by(self, refs: list[Ref], measures) -> list[GroupItem]:
        items: list[tuple[tuple, GroupItem]] = []
        atd_grains = []
        for _m, ms in measures:
            _sm, _name, grain = self.atd(ms) if ms.agg_time_dimension else (None, None, "day")
            atd_grains.append(grain)
        default_mt = min(atd_grains, key=lambda g: GRAIN_RANK.get(g, 6)) if atd_grains else "day"
        if GRAIN_RANK.get(default_mt, 6) < GRAIN_RANK["day"]:
            default_mt = "day"
        for idx, ref in enumerate(refs):
            if ref.kind == "metric":
                raise QueryError("group by a metric is not supported")
            if ref.is_metric_time:
                grain = ref.grain or default_mt
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
                return "entity", None, Resolved((), m0.name, e.name, self.parse_expr(e.expr))
            self._unknown(ref, m0)
        cur = m0
        hops: list[tuple[str, str]] = []
        for i, ent in enumerate(path):
            last = i == len(path) - 1
            e = cur.entity(ent)
            if (
                i == 0
                and e is not None
                and e.is_unique
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
                Resolved(tuple(hops), cur.name, e.name, self.parse_expr(e.expr), order_key=order),
            )
        if dim.type == "time":
            return self._time(cur, tuple(hops), dim, ref, dim.grain or "day", order=order)
        if ref.grain:
            raise QueryError(f"'{ref.column()}' is a categorical dimension; it has no grain")
        return (
            "dimension",
            None,
            Resolved(tuple(hops), cur.name, dim.name, self.parse_expr(dim.expr), order_key=order),
        )

    def _join_rank(self, hops) -> tuple:
        st = getattr(self, "_state", None)
        if st is None or not hops:
            return ()
        key = tuple(hops)
        if key not in st.join_order:
            st.join_order[key] = len(st.join_order)
        return (st.join_order[key],)

    def _time(self, sm, hops, dim, ref: Ref, base: str, order):
        grain = ref.grain
        if ref.date_part:
            e = exp.Extract(
                this=exp.Var(this=ref.date_part.upper()), expression=self.parse_expr(dim.expr)
            )
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
        hint = suggest(ref.column(), names)
        raise QueryError(
            f"'{ref.column()}' cannot be reached from semantic model '{m0.name}'",
            hint=(f"did you mean: {hint}? " if hint else "")
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
            exp.Table(this=_id(st.cte_name(sm))).as_(base_alias, quoted=False, copy=False),
            copy=False,
        )
        joins: dict[tuple, str] = {}

        def column_for(ref: Ref, grain_hint=None) -> exp.Expression:
            try:
                _kind, _grain, res = self.resolve(sm.name, ref, for_measure=ms)
            except QueryError as exc:
                if metric_name:
                    raise QueryError(
                        f"metric '{metric_name}': {exc.message}", hint=exc.hint
                    ) from None
                raise
            alias = base_alias
            for n in range(1, len(res.hops) + 1):
                key = res.hops[:n]
                if key not in joins:
                    prev = base_alias if n == 1 else joins[res.hops[: n - 1]]
                    prev_model = sm if n == 1 else self.model(res.hops[n - 2][1])
                    ent, target = res.hops[n - 1]
                    tsm = self.model(target)
                    st.need_model(prev_model, ent, self.parse_expr(prev_model.entity(ent).expr))
                    st.need_model(tsm, ent, self.parse_expr(tsm.entity(ent).expr))
                    ja = st.alias("j")
                    joins[key] = ja
                    sel.join(
                        exp.Table(this=_id(st.cte_name(tsm))).as_(ja, quoted=False, copy=False),
                        on=exp.EQ(this=col(ent, prev), expression=col(ent, ja)),
                        join_type="left",
                        copy=False,
                    )
                alias = joins[key]
            tsm = self.model(res.model)
            st.need_model(tsm, res.column, res.expr)
            if res.spine is not None:
                spine, spine_col = res.spine
                sa = st.alias("s")
                sel.join(
                    exp.Table(this=_id(st.spine_cte(spine))).as_(sa, quoted=False, copy=False),
                    on=exp.EQ(this=col(spine.column, sa), expression=col(res.column, alias)),
                    join_type="left",
                    copy=False,
                )
                return col(spine_col, sa)
            return col(res.column, alias)

        group_exprs = [(it.name, column_for(it.ref)) for it in items]
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
        key_here = column_for(Ref(ent_ref.element, ent_ref.entity_path, kind="entity"))
        st = self._state
        alias = st.alias("mf")
        name = st.add_cte(f"{ref.element}_by_{ent_ref.column()}", tree)
        sel.join(
            exp.Table(this=_id(name)).as_(alias, quoted=False, copy=False),
            on=exp.EQ(this=key_here, expression=col(ent_ref.column(), alias)),
            join_type="left",
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

    def _measure_value(self, ms: Measure) -> tuple[str, exp.Expression]:
        return f"__{ms.name}", self.parse_expr(ms.expr)

    def _simple_node(
        self, metrics: list[tuple[Metric, str]], filters, items, constraint, out_name=None
    ) -> Node:
        """One aggregation over one model for simple metrics sharing filters/time-spine handling."""
        first = metrics[0][0]
        ms0 = self.measure(first.measure, first.name)
        all_filters = [parse_filter(t) for t in first.filters + first.measure.filters] + list(
            filters
        )
        spine_join = first.measure.join_to_timespine and any(i.is_metric_time for i in items)
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
            sel.select(
                self._agg(ms, col(cname, base)).as_(out, quoted=False, copy=False), copy=False
            )
            values.append(out)
        for name, e in reversed(group_exprs):
            sel.expressions.insert(0, e.copy().as_(name, quoted=False, copy=False))
        if group_exprs:
            sel.group_by(*[e.copy() for _n, e in group_exprs], copy=False)
        name = st.add_cte(out_name or values[0], sel)
        node = Node(name, values)
        if spine_join:
            node = self._spine_join(
                node,
                items,
                constraint,
                {m.name if out is None else out: m.measure.fill_nulls_with for m, out in metrics},
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

    def _spine_periods(self, grain: str, constraint) -> exp.Select:
        """Distinct periods of the time spine at ``grain`` (custom grains from their column)."""
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

    def _spine_join(self, node: Node, items, constraint, fills) -> Node:
        st = self._state
        mt = next(i for i in items if i.is_metric_time)
        periods = st.add_cte(f"spine_{mt.grain}", self._spine_periods(mt.grain, constraint))
        sel = exp.select(copy=False).from_(
            exp.Table(this=_id(periods)).as_("sp", quoted=False, copy=False), copy=False
        )
        sel.join(
            exp.Table(this=_id(node.name)).as_("v", quoted=False, copy=False),
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
        return Node(st.add_cte(f"{node.values[0]}_spine", sel), node.values)

    # -- other metric types ------------------------------------------------------------------

    def _metric_node(self, metric: Metric, filters, items, constraint, out: str) -> Node:
        """A node computing ``metric`` into column ``out``; ``filters`` are inherited filters."""
        t = metric.type
        if t == "simple":
            node = self._simple_node([(metric, out)], filters, items, constraint, out_name=out)
            fill = metric.measure.fill_nulls_with
            if fill is not None and not (metric.measure.join_to_timespine):
                node = self._wrap_fill(node, items, {out: fill})
            return node
        own = [parse_filter(x) for x in metric.filters]
        if t == "ratio":
            num_m, den_m = self.metric(metric.numerator.name), self.metric(metric.denominator.name)
            if self._one_scan(num_m, metric.numerator, den_m, metric.denominator):
                # both parts aggregate the same rows: one scan computes both (as MetricFlow's
                # source-scan optimizer does)
                flt = [parse_filter(x) for x in metric.numerator.filters] + own + list(filters)
                node = self._simple_node(
                    [(num_m, "__num"), (den_m, "__den")],
                    flt,
                    items,
                    constraint,
                    out_name=f"{out}_parts",
                )
                combined = exp.select(
                    *[col(i.name) for i in items], col("__num"), col("__den"), copy=False
                ).from_(_tbl(node.name), copy=False)
            else:
                parts = []
                for role, mi in (("__num", metric.numerator), ("__den", metric.denominator)):
                    inner = self.metric(mi.name)
                    parts.append(
                        self._input_node(inner, mi, own + list(filters), items, constraint, role)
                    )
                combined = self._combine(parts, items)
            sel = exp.select(*[col(i.name) for i in items], copy=False).from_(
                combined.subquery("r", copy=False)
            )
            num = exp.cast(col("__num"), _DOUBLE.copy())
            den = exp.cast(
                exp.Nullif(this=col("__den"), expression=exp.Literal.number(0)),
                _DOUBLE.copy(),
            )
            sel.select(
                exp.Div(this=num, expression=den).as_(out, quoted=False, copy=False), copy=False
            )
            return Node(self._state.add_cte(out, sel), [out])
        if t == "derived":
            parts = []
            for mi in metric.inputs:
                inner = self.metric(mi.name)
                parts.append(
                    self._input_node(inner, mi, own + list(filters), items, constraint, mi.column)
                )
            combined = self._combine(parts, items)
            expr = self.parse_expr(metric.expr)
            sel = exp.select(*[col(i.name) for i in items], copy=False).from_(
                combined.subquery("d", copy=False)
            )
            sel.select(
                exp.Paren(this=expr).as_(out, quoted=False, copy=False)
                if not isinstance(expr, exp.Column | exp.Paren)
                else expr.as_(out, quoted=False, copy=False),
                copy=False,
            )
            return Node(self._state.add_cte(out, sel), [out])
        if t == "cumulative":
            return self._cumulative_node(metric, own + list(filters), items, constraint, out)
        if t == "conversion":
            return self._conversion_node(metric, own + list(filters), items, constraint, out)
        raise QueryError(f"metric '{metric.name}' has unsupported type '{t}'")

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

    def _input_node(self, inner: Metric, mi, filters, items, constraint, out: str) -> Node:
        flt = [parse_filter(x) for x in mi.filters] + list(filters)
        offset = getattr(mi, "offset_window", None)
        to_grain = getattr(mi, "offset_to_grain", None)
        if not offset and not to_grain:
            return self._metric_node(inner, flt, items, constraint, out)
        mt = next((i for i in items if i.is_metric_time), None)
        if mt is None:
            raise QueryError(
                f"an input of this derived metric is offset ({offset or to_grain}); group by metric_time to use it",
                hint="add --group-by metric_time__day (or another grain)",
            )
        st = self._state
        if offset:
            node = self._metric_node(inner, flt, items, None, out)
            periods = st.add_cte(f"spine_{mt.grain}", self._spine_periods(mt.grain, None))
            sel = exp.select(copy=False).from_(
                exp.Table(this=_id(periods)).as_("sp", quoted=False, copy=False), copy=False
            )
            cond_left = exp.Sub(
                this=col("__period", "sp"), expression=_interval(offset.count, offset.granularity)
            )
            join_col = mt.name
        else:
            # MetricFlow: the value for a period is the input's value on the base-grain day
            # trunc(period start, offset_to_grain), for periods whose start is a spine day
            leaves = self._leaf_measures([inner])
            base = "day"
            if leaves:
                base = min(
                    (self.atd(ms)[2] for _m, ms in leaves), key=lambda g: GRAIN_RANK.get(g, 6)
                )
                base = base if GRAIN_RANK.get(base, 6) >= GRAIN_RANK["day"] else "day"
            base_item = GroupItem(
                Ref("metric_time", grain=base), f"metric_time__{base}", "time", base
            )
            inner_items = [base_item if i is mt else i for i in items]
            node = self._metric_node(inner, flt, inner_items, None, out)
            spine = self.m.spine_for(base)
            if spine is None:
                raise QueryError(f"offset_to_grain needs a time spine at '{base}' grain")
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
            periods = st.add_cte(f"spine_{mt.grain}_starts", psel)
            sel = exp.select(copy=False).from_(
                exp.Table(this=_id(periods)).as_("sp", quoted=False, copy=False), copy=False
            )
            cond_left = _trunc(col("__period", "sp"), to_grain)
            join_col = base_item.name
        sel.join(
            exp.Table(this=_id(node.name)).as_("v", quoted=False, copy=False),
            on=exp.EQ(this=cond_left, expression=col(join_col, "v")),
            join_type="inner",
            copy=False,
        )
        for it in items:
            src = col("__period", "sp") if it is mt else col(it.name, "v")
            sel.select(src.as_(it.name, quoted=False, copy=False), copy=False)
        sel.select(col(out, "v").as_(out, quoted=False, copy=False), copy=False)
        if constraint is not None:
            _g, start, end = constraint
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

    # -- cumulative --------------------------------------------------------------------------

    def _cumulative_node(self, metric: Metric, filters, items, constraint, out: str) -> Node:
        """Cumulative metrics with window functions over a dense (period x group) grid at the
        measure's base grain, then ``period_agg`` to the requested grain.

        Semantics (MetricFlow's): the value on base period d is the aggregate of rows with
        lower(d) <= time <= d (window: time > d - window; grain_to_date: time >= trunc(d));
        periods with no rows in their window are absent; a coarser requested grain takes the
        first/last/average of the present base periods inside it.
        """
        cum = metric.cumulative
        ms = self.measure(metric.measure, metric.name)
        flt = [parse_filter(x) for x in metric.measure.filters] + list(filters)
        st = self._state
        msm, atd_name, base = self.atd(ms)
        own = (msm.own_entity,) if msm.own_entity else ()

        def time_axis(i: GroupItem) -> bool:
            # the agg time dimension by its own name accumulates like metric_time (the
            # documented behaviour; MetricFlow skips the spine here, dbt-labs/metricflow#806)
            if i.is_metric_time:
                return True
            r = i.ref
            return (
                i.kind == "time"
                and not r.date_part
                and r.element == atd_name
                and tuple(r.entity_path) == own
            )

        mts = [i for i in items if time_axis(i)]
        if not mts:
            if cum.window or cum.grain_to_date:
                raise QueryError(
                    f"cumulative metric '{metric.name}' accumulates over a window; group by metric_time",
                    hint="add --group-by metric_time__day (or another grain)",
                )
            # all-time accumulation without metric_time is the plain aggregate
            return self._simple_node([(metric, out)], flt, items, constraint, out_name=out)
        base_item = GroupItem(Ref("metric_time", grain=base), f"metric_time__{base}", "time", base)
        others = [i for i in items if not time_axis(i)]
        inner_items = [base_item, *others]
        sel, group_exprs, _x, t0, _cf = self._rows(
            ms, inner_items, flt, None, metric_name=metric.name
        )
        cname, cexpr = self._measure_value(ms)
        st.need_model(self.model(ms.model), cname, cexpr)
        v = col(cname, t0)
        decomposable = ms.agg in ("sum", "count", "sum_boolean", "min", "max", "average")
        wgrain = cum.window.granularity if cum.window else None
        frame_rows = _FIXED.get((base, wgrain)) if wgrain else None
        islands = (
            ms.agg == "count_distinct"
            and not cum.grain_to_date
            and (cum.window is None or frame_rows is not None)
        )
        use_window = (decomposable and (cum.window is None or frame_rows is not None)) or islands
        if use_window and cum.window is None and not islands:
            # rows before the spine's first day still accumulate into it (MetricFlow joins
            # every earlier row to each spine day); clamp them onto the first spine day
            spine0 = self.m.spine_for(base)
            if spine0 is not None:
                s0 = (
                    col(spine0.column) if spine0.grain == base else _trunc(col(spine0.column), base)
                )
                smin = (
                    exp.select(exp.Min(this=s0), copy=False)
                    .from_(st.spine_cte(spine0), copy=False)
                    .subquery()
                )
                name0, e0 = group_exprs[0]
                clamped = exp.Greatest(this=e0.copy(), expressions=[smin])
                if cum.grain_to_date:
                    same = exp.EQ(
                        this=_trunc(e0.copy(), cum.grain_to_date),
                        expression=_trunc(smin.copy(), cum.grain_to_date),
                    )
                    clamped = exp.Case(ifs=[exp.If(this=same, true=clamped)], default=e0.copy())
                group_exprs[0] = (name0, clamped)
        for name, e in group_exprs:
            sel.select(e.copy().as_(name, quoted=False, copy=False), copy=False)
        gcols = [n for n, _e in group_exprs[1:]]
        if use_window and islands:
            daily = self._distinct_events(sel, group_exprs, v, cum, base, out)
            parts = [("__s", None)]
        elif use_window:
            parts = {
                "sum": [("__s", exp.Sum(this=v))],
                "count": [("__s", exp.Count(this=v))],
                "sum_boolean": [("__s", exp.Sum(this=exp.cast(v, _INT.copy())))],
                "min": [("__s", exp.Min(this=v))],
                "max": [("__s", exp.Max(this=v))],
                "average": [("__s", exp.Sum(this=v)), ("__c", exp.Count(this=v))],
            }[ms.agg]
            for pn, pe in parts:
                sel.select(pe.as_(pn, quoted=False, copy=False), copy=False)
            sel.select(exp.Count(this=exp.Star()).as_("__n", quoted=False, copy=False), copy=False)
            sel.group_by(*[e.copy() for _n, e in group_exprs], copy=False)
            daily = st.add_cte(f"{out}_by_{base}", sel)
        if use_window:
            # dense grid of base periods x observed groups, from the first observed period
            spine = self.m.spine_for(base)
            if spine is None:
                raise QueryError(
                    f"cumulative metric '{metric.name}' needs a time spine at '{base}' grain"
                )
            scol = col(spine.column) if spine.grain == base else _trunc(col(spine.column), base)
            first = (
                exp.select(exp.Min(this=col(base_item.name)), copy=False)
                .from_(_tbl(daily), copy=False)
                .subquery()
            )
            grid = (
                exp.select(scol.as_("__d", quoted=False, copy=False), copy=False)
                .from_(_tbl(st.spine_cte(spine)), copy=False)
                .distinct(copy=False)
            )
            grid.where(exp.GTE(this=scol.copy(), expression=first), copy=False)
            gridname = st.add_cte(f"{out}_days", grid)
            grid_sel = exp.select(
                col("__d", "sp").as_(base_item.name, quoted=False, copy=False), copy=False
            ).from_(exp.Table(this=_id(gridname)).as_("sp", quoted=False, copy=False), copy=False)
            if gcols:
                groups = (
                    exp.select(*[col(c) for c in gcols], copy=False)
                    .from_(_tbl(daily), copy=False)
                    .distinct(copy=False)
                )
                grid_sel.join(groups.subquery("grp", copy=False), join_type="cross", copy=False)
                for c in gcols:
                    grid_sel.select(col(c, "grp").as_(c, quoted=False, copy=False), copy=False)
            grid2 = st.add_cte(f"{out}_grid", grid_sel)
            g = exp.select(
                col(base_item.name, "g").as_(base_item.name, quoted=False, copy=False), copy=False
            )
            g.from_(exp.Table(this=_id(grid2)).as_("g", quoted=False, copy=False), copy=False)
            for c in gcols:
                g.select(col(c, "g").as_(c, quoted=False, copy=False), copy=False)
            on = [exp.EQ(this=col(base_item.name, "v"), expression=col(base_item.name, "g"))]
            on += [exp.NullSafeEQ(this=col(c, "v"), expression=col(c, "g")) for c in gcols]
            g.join(
                exp.Table(this=_id(daily)).as_("v", quoted=False, copy=False),
                on=exp.and_(*on, copy=False),
                join_type="left",
                copy=False,
            )
            partition = [col(c, "g") for c in gcols]
            if cum.grain_to_date:
                partition.append(_trunc(col(base_item.name, "g"), cum.grain_to_date))
            order = exp.Order(expressions=[exp.Ordered(this=col(base_item.name, "g"))])
            if frame_rows is not None and not islands:
                spec = exp.WindowSpec(
                    kind="ROWS",
                    start=exp.Literal.number(cum.window.count * frame_rows - 1),
                    start_side="PRECEDING",
                    end="CURRENT ROW",
                )
            else:
                spec = exp.WindowSpec(
                    kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end="CURRENT ROW"
                )

            def w(fn):
                return exp.Window(
                    this=fn,
                    partition_by=[p.copy() for p in partition] or None,
                    order=order.copy(),
                    spec=spec.copy(),
                )

            for pn, _pe in parts:
                wf = {"min": exp.Min, "max": exp.Max}.get(ms.agg, exp.Sum)
                g.select(w(wf(this=col(pn, "v"))).as_(pn, quoted=False, copy=False), copy=False)
            g.select(
                w(exp.Sum(this=col("__n", "v"))).as_("__n", quoted=False, copy=False), copy=False
            )
            wname = st.add_cte(f"{out}_window", g)
            value = col("__s")
            if ms.agg == "average":
                value = exp.Div(
                    this=exp.cast(col("__s"), _DOUBLE.copy()),
                    expression=exp.Nullif(this=col("__c"), expression=exp.Literal.number(0)),
                )
            present = exp.select(
                col(base_item.name),
                *[col(c) for c in gcols],
                value.as_(out, quoted=False, copy=False),
                copy=False,
            ).from_(_tbl(wname), copy=False)
            present.where(exp.GT(this=col("__n"), expression=exp.Literal.number(0)), copy=False)
        else:
            # non-decomposable (count_distinct, median, percentile) or calendar windows:
            # MetricFlow's range join, on rows pre-reduced where possible
            rows_sel = sel
            rows_sel.select(v.copy().as_("__v", quoted=False, copy=False), copy=False)
            if ms.agg == "count_distinct":
                rows_sel = rows_sel.distinct(copy=False)
            rows = st.add_cte(f"{out}_rows", rows_sel)
            spine = self.m.spine_for(base)
            if spine is None:
                raise QueryError(
                    f"cumulative metric '{metric.name}' needs a time spine at '{base}' grain"
                )
            scol = col(spine.column) if spine.grain == base else _trunc(col(spine.column), base)
            first = (
                exp.select(exp.Min(this=col(base_item.name)), copy=False)
                .from_(_tbl(rows), copy=False)
                .subquery()
            )
            grid = (
                exp.select(scol.as_("__d", quoted=False, copy=False), copy=False)
                .from_(_tbl(st.spine_cte(spine)), copy=False)
                .distinct(copy=False)
            )
            grid.where(exp.GTE(this=scol.copy(), expression=first), copy=False)
            gridname = st.add_cte(f"{out}_days", grid)
            rt = col(base_item.name, "r")
            conds = [exp.LTE(this=rt, expression=col("__d", "sp"))]
            if cum.window:
                conds.append(
                    exp.GT(
                        this=rt.copy(),
                        expression=exp.Sub(
                            this=col("__d", "sp"),
                            expression=_interval(cum.window.count, cum.window.granularity),
                        ),
                    )
                )
            if cum.grain_to_date:
                conds.append(
                    exp.GTE(this=rt.copy(), expression=_trunc(col("__d", "sp"), cum.grain_to_date))
                )
            present = exp.select(
                col("__d", "sp").as_(base_item.name, quoted=False, copy=False),
                *[col(c, "r").as_(c, quoted=False, copy=False) for c in gcols],
                copy=False,
            )
            present.from_(
                exp.Table(this=_id(gridname)).as_("sp", quoted=False, copy=False), copy=False
            )
            present.join(
                exp.Table(this=_id(rows)).as_("r", quoted=False, copy=False),
                on=exp.and_(*conds, copy=False),
                join_type="inner",
                copy=False,
            )
            present.select(
                self._agg(ms, col("__v", "r")).as_(out, quoted=False, copy=False), copy=False
            )
            present.group_by(col("__d", "sp"), *[col(c, "r") for c in gcols], copy=False)
        pres = st.add_cte(f"{out}_{base}", present)
        # constraint, then period aggregation to the requested grain(s)
        outer_where = []
        if constraint is not None:
            _g, start, end = constraint
            if start is not None:
                outer_where.append(exp.GTE(this=col(base_item.name), expression=_lit_ts(start)))
            if end is not None:
                end_excl = _next_period(end, _g)
                outer_where.append(exp.LT(this=col(base_item.name), expression=_lit_ts(end_excl)))
        coarse = [m for m in mts if m.grain != base]
        if not coarse:
            fin = exp.select(
                *[col(base_item.name).as_(m.name, quoted=False, copy=False) for m in mts],
                *[col(c) for c in gcols],
                col(out),
                copy=False,
            ).from_(_tbl(pres), copy=False)
            if outer_where:
                fin.where(exp.and_(*outer_where, copy=False), copy=False)
            return Node(st.add_cte(out, fin), [out])
        period_exprs = {}
        for m in mts:
            if m.grain in self.custom_grains:
                raise QueryError(
                    f"cumulative metric '{metric.name}' at a custom grain is not supported yet"
                )
            period_exprs[m.name] = (
                _trunc(col(base_item.name), m.grain) if m.grain != base else col(base_item.name)
            )
        keys = [*period_exprs.values(), *[col(c) for c in gcols]]
        if cum.period_agg == "average":
            fin = exp.select(
                *[e.copy().as_(n, quoted=False, copy=False) for n, e in period_exprs.items()],
                *[col(c) for c in gcols],
                copy=False,
            )
            fin.select(exp.Avg(this=col(out)).as_(out, quoted=False, copy=False), copy=False).from_(
                pres, copy=False
            )
            if outer_where:
                fin.where(exp.and_(*outer_where, copy=False), copy=False)
            fin.group_by(*[k.copy() for k in keys], copy=False)
        else:
            desc = cum.period_agg == "last"
            rn = exp.Window(
                this=exp.RowNumber(),
                partition_by=[k.copy() for k in keys],
                order=exp.Order(expressions=[exp.Ordered(this=col(base_item.name), desc=desc)]),
            )
            ranked = exp.select(
                *[e.copy().as_(n, quoted=False, copy=False) for n, e in period_exprs.items()],
                *[col(c) for c in gcols],
                col(out),
                rn.as_("__rn", quoted=False, copy=False),
                copy=False,
            ).from_(_tbl(pres), copy=False)
            if outer_where:
                ranked.where(exp.and_(*outer_where, copy=False), copy=False)
            rk = st.add_cte(f"{out}_ranked", ranked)
            fin = exp.select(
                *[col(n) for n in period_exprs], *[col(c) for c in gcols], col(out), copy=False
            ).from_(_tbl(rk), copy=False)
            fin.where(exp.EQ(this=col("__rn"), expression=exp.Literal.number(1)), copy=False)
        # restore the requested column order
        node_sel = exp.select(*[col(i.name) for i in items], col(out), copy=False).from_(
            fin.subquery("c", copy=False)
        )
        return Node(st.add_cte(out, node_sel), [out])

    def _distinct_events(self, sel, group_exprs, v, cum, base: str, out: str) -> str:
        """COUNT DISTINCT over a trailing window without a range join: each value is active on
        [first day, last day + window) of each run of days closer than the window; +1/-1 events
        at those bounds, summed in order, count the distinct values active on each day."""
        st = self._state
        day = group_exprs[0][0]
        gcols = [n for n, _e in group_exprs[1:]]
        sel.select(v.copy().as_("__v", quoted=False, copy=False), copy=False)
        dv = st.add_cte(f"{out}_distinct", sel.distinct(copy=False))
        part = [col(c) for c in gcols] + [col("__v")]
        order = exp.Order(expressions=[exp.Ordered(this=col(day))])
        prev = exp.Window(
            this=exp.Lag(this=col(day)), partition_by=[p.copy() for p in part], order=order.copy()
        )
        new_run = exp.Is(this=col("__prev"), expression=exp.Null())
        width = _interval(cum.window.count, cum.window.granularity) if cum.window else None
        if width is not None:
            new_run = exp.or_(
                new_run,
                exp.GTE(
                    this=col(day), expression=exp.Add(this=col("__prev"), expression=width.copy())
                ),
                copy=False,
            )
        s1 = exp.select(
            col(day),
            *[col(c) for c in gcols],
            col("__v"),
            prev.as_("__prev", quoted=False, copy=False),
            copy=False,
        ).from_(_tbl(dv), copy=False)
        s1n = st.add_cte(f"{out}_prev", s1)
        flag = exp.Case(
            ifs=[exp.If(this=new_run, true=exp.Literal.number(1))], default=exp.Literal.number(0)
        )
        run = exp.Window(
            this=exp.Sum(this=flag),
            partition_by=[p.copy() for p in part],
            order=order.copy(),
            spec=exp.WindowSpec(
                kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end="CURRENT ROW"
            ),
        )
        s2 = exp.select(
            col(day),
            *[col(c) for c in gcols],
            col("__v"),
            run.as_("__run", quoted=False, copy=False),
            copy=False,
        ).from_(_tbl(s1n), copy=False)
        s2n = st.add_cte(f"{out}_runs", s2)
        iv = exp.select(
            *[col(c) for c in gcols],
            col("__v"),
            exp.Min(this=col(day)).as_("__start", quoted=False, copy=False),
            copy=False,
        )
        if width is not None:
            iv.select(
                exp.Add(this=exp.Max(this=col(day)), expression=width.copy()).as_(
                    "__stop", quoted=False, copy=False
                ),
                copy=False,
            )
        iv.from_(_tbl(s2n), copy=False).group_by(
            *[col(c) for c in gcols], col("__v"), col("__run"), copy=False
        )
        ivn = st.add_cte(f"{out}_active", iv)
        spine = self.m.spine_for(base)
        scol = col(spine.column) if spine.grain == base else _trunc(col(spine.column), base)
        smin = (
            exp.select(exp.Min(this=scol), copy=False)
            .from_(_tbl(st.spine_cte(spine)), copy=False)
            .subquery()
        )
        counted = exp.Case(
            ifs=[
                exp.If(
                    this=exp.Is(this=col("__v"), expression=exp.Null()), true=exp.Literal.number(0)
                )
            ],
            default=exp.Literal.number(1),
        )

        def events(bound: str, sign: int) -> exp.Select:
            d = exp.Greatest(this=col(bound), expressions=[smin.copy()])
            c = counted.copy() if sign > 0 else exp.Neg(this=exp.Paren(this=counted.copy()))
            return exp.select(
                d.as_(day, quoted=False, copy=False),
                *[col(c_) for c_ in gcols],
                c.as_("__s", quoted=False, copy=False),
                exp.Literal.number(sign).as_("__n", quoted=False, copy=False),
                copy=False,
            ).from_(_tbl(ivn), copy=False)

        ev = events("__start", 1)
        if width is not None:
            ev = exp.union(ev, events("__stop", -1), distinct=False, copy=False)
        evn = st.add_cte(f"{out}_events", ev)
        daily = (
            exp.select(
                col(day),
                *[col(c) for c in gcols],
                exp.Sum(this=col("__s")).as_("__s", quoted=False, copy=False),
                exp.Sum(this=col("__n")).as_("__n", quoted=False, copy=False),
                copy=False,
            )
            .from_(_tbl(evn), copy=False)
            .group_by(col(day), *[col(c) for c in gcols])
        )
        return st.add_cte(f"{out}_by_{base}", daily)

    # -- conversion --------------------------------------------------------------------------

    def _conversion_node(self, metric: Metric, filters, items, constraint, out: str) -> Node:
        """MetricFlow's conversion semantics: every conversion event is matched to the closest
        preceding base event of the same entity (and equal constant properties) within the
        window; conversions are attributed to that base event's group-by values."""
        cv = metric.conversion
        st = self._state
        base_ms = self.measure(cv.base, metric.name)
        conv_ms = self.measure(cv.conversion, metric.name)
        bsm, _bdim, bgrain = self.atd(base_ms)
        csm, _cdim, cgrain = self.atd(conv_ms)
        fine = bgrain if GRAIN_RANK.get(bgrain, 6) <= GRAIN_RANK.get(cgrain, 6) else cgrain
        bflt = [parse_filter(x) for x in cv.base.filters] + list(filters)
        cflt = [parse_filter(x) for x in cv.conversion.filters]
        # base aggregate (the denominator)
        base_node = self._simple_node(
            [
                (
                    Metric(name=f"{out}__base", type="simple", measure=MeasureInput(cv.base.name)),
                    "__base",
                )
            ],
            bflt,
            items,
            constraint,
            out_name=f"{out}_base",
        )
        # base events with what the group-by needs
        ent = Ref(cv.entity, kind="entity")
        props_b = [
            (
                f"__p{i}",
                Ref(p[0], (bsm.own_entity,) if bsm.own_entity and not bsm.entity(p[0]) else ()),
            )
            for i, p in enumerate(cv.constant_properties)
        ]
        extra = [("__entity", ent), ("__time", Ref("metric_time", grain=fine)), *props_b]
        bsel, bgroup, bextra, bt0, _cf = self._rows(
            base_ms, items, bflt, constraint, extra=extra, metric_name=metric.name
        )
        for name, e in bgroup + bextra:
            bsel.select(e.copy().as_(name, quoted=False, copy=False), copy=False)
        bname, bexpr = self._measure_value(base_ms)
        st.need_model(bsm, bname, bexpr)
        bsel.select(col(bname, bt0).as_("__bv", quoted=False, copy=False), copy=False)
        base_rows = st.add_cte(f"{out}_base_events", bsel)
        props_c = [
            (
                f"__p{i}",
                Ref(p[1], (csm.own_entity,) if csm.own_entity and not csm.entity(p[1]) else ()),
            )
            for i, p in enumerate(cv.constant_properties)
        ]
        cextra = [("__entity", ent), ("__time", Ref("metric_time", grain=fine)), *props_c]
        csel, _cg, cx, ct0, _cf2 = self._rows(
            conv_ms, [], cflt, None, extra=cextra, metric_name=metric.name
        )
        for name, e in cx:
            csel.select(e.copy().as_(name, quoted=False, copy=False), copy=False)
        cname, cexpr = self._measure_value(conv_ms)
        st.need_model(csm, cname, cexpr)
        csel.select(col(cname, ct0).as_("__cv", quoted=False, copy=False), copy=False)
        csel.select(
            exp.Window(this=exp.RowNumber(), order=None).as_("__cid", quoted=False, copy=False),
            copy=False,
        )
        conv_rows = st.add_cte(f"{out}_conversion_events", csel)
        on = [exp.EQ(this=col("__entity", "b"), expression=col("__entity", "c"))]
        on += [exp.EQ(this=col(p, "b"), expression=col(p, "c")) for p, _r in props_b]
        on.append(exp.LTE(this=col("__time", "b"), expression=col("__time", "c")))
        if cv.window:
            on.append(
                exp.GT(
                    this=col("__time", "b"),
                    expression=exp.Sub(
                        this=col("__time", "c"),
                        expression=_interval(cv.window.count, cv.window.granularity),
                    ),
                )
            )
        rn = exp.Window(
            this=exp.RowNumber(),
            partition_by=[col("__cid", "c")],
            order=exp.Order(expressions=[exp.Ordered(this=col("__time", "b"), desc=True)]),
        )
        gnames = [n for n, _e in bgroup]
        matched = exp.select(
            *[col(n, "b").as_(n, quoted=False, copy=False) for n in gnames],
            col("__cv", "c").as_("__cv", quoted=False, copy=False),
            rn.as_("__rn", quoted=False, copy=False),
            copy=False,
        )
        matched.from_(exp.Table(this=_id(base_rows)).as_("b", quoted=False, copy=False), copy=False)
        matched.join(
            exp.Table(this=_id(conv_rows)).as_("c", quoted=False, copy=False),
            on=exp.and_(*on, copy=False),
            join_type="inner",
            copy=False,
        )
        mname = st.add_cte(f"{out}_matched", matched)
        cagg = exp.select(
            *[col(n) for n in gnames],
            self._agg(conv_ms, col("__cv")).as_("__conv", quoted=False, copy=False),
            copy=False,
        ).from_(_tbl(mname), copy=False)
        cagg.where(exp.EQ(this=col("__rn"), expression=exp.Literal.number(1)), copy=False)
        if gnames:
            cagg.group_by(*[col(n) for n in gnames], copy=False)
        conv_node = Node(st.add_cte(f"{out}_conversions", cagg), ["__conv"])
        combined = self._combine([base_node, conv_node], items)
        sel = exp.select(*[col(i.name) for i in items], copy=False).from_(
            combined.subquery("cv", copy=False)
        )
        if cv.calculation == "conversions":
            sel.select(col("__conv").as_(out, quoted=False, copy=False), copy=False)
        else:
            num = exp.cast(col("__conv"), _DOUBLE.copy())
            den = exp.cast(
                exp.Nullif(this=col("__base"), expression=exp.Literal.number(0)),
                _DOUBLE.copy(),
            )
            sel.select(
                exp.Div(this=num, expression=den).as_(out, quoted=False, copy=False), copy=False
            )
        return Node(st.add_cte(out, sel), [out])

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
            exp.Table(this=_id(nodes[0].name)).as_(aliases[0], quoted=False, copy=False), copy=False
        )

        def key_expr(k: str, upto: int) -> exp.Expression:
            cols = [col(k, a) for a in aliases[:upto]]
            return cols[0] if len(cols) == 1 else exp.Coalesce(this=cols[0], expressions=cols[1:])

        for i in range(1, len(nodes)):
            tbl = exp.Table(this=_id(nodes[i].name)).as_(aliases[i], quoted=False, copy=False)
            if keys:
                on = exp.and_(
                    *[exp.EQ(this=key_expr(k, i), expression=col(k, aliases[i])) for k in keys],
                    copy=False,
                )
                sel.join(tbl, on=on, join_type="full outer", copy=False)
            else:
                sel.join(tbl, join_type="cross", copy=False)
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
                hint = suggest(raw, list(names) + out_cols)
                raise QueryError(
                    f"cannot order by '{raw}': it is not a requested metric or group-by item",
                    hint=f"did you mean: {hint}?"
                    if hint
                    else "order by one of: " + ", ".join(list(names) + out_cols),
                )
            orders.append(exp.Ordered(this=col(name), desc=desc))
        outer = sel
        if orders:
            outer = exp.select(exp.Star(), copy=False).from_(sel.subquery("q", copy=False))
            outer.order_by(*orders, copy=False)
        if req.limit is not None:
            outer.limit(req.limit, copy=False)
        return outer


def _next_period(value: dt.datetime, grain: str) -> dt.datetime:
    if grain in ("second", "minute", "hour", "day", "week"):
        step = {
            "second": dt.timedelta(seconds=1),
            "minute": dt.timedelta(minutes=1),
            "hour": dt.timedelta(hours=1),
            "day": dt.timedelta(days=1),
            "week": dt.timedelta(days=7),
        }[grain]
        return value + step
    months = {"month": 1, "quarter": 3, "year": 12}.get(grain, 1)
    y, m = divmod(value.month - 1 + months, 12)
    return value.replace(year=value.year + y, month=m + 1, day=1)


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
        self.items: list[GroupItem] = []
        self.constraint = None

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
            ctes.append(exp.CTE(this=sel, alias=exp.TableAlias(this=_id(name))))
        for spine, name in self.spines.values():
            cols = [col(spine.column)] + [col(c) for _n, c in spine.custom_granularities]
            sel = exp.select(*cols, copy=False).from_(self.c.relation(spine.relation), copy=False)
            ctes.append(exp.CTE(this=sel, alias=exp.TableAlias(this=_id(name))))
        for name, sel in self.ctes:
            ctes.append(exp.CTE(this=sel, alias=exp.TableAlias(this=_id(name))))
        final.set("with_", exp.With(expressions=ctes))
        return final
