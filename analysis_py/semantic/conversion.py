"""Conversion metrics: each conversion event matched to the closest preceding base event."""

from __future__ import annotations

from sqlglot import exp

from analysis_py.semantic.manifest import GRAIN_RANK, MeasureInput, Metric
from analysis_py.semantic.names import Ref
from analysis_py.semantic.request import Node
from analysis_py.semantic.sqlbuild import (
    _DOUBLE,
    _interval,
    _tbl,
    add_join,
    aliased,
    col,
)
from analysis_py.semantic.where import parse_filter


class ConversionMixin:
    """Compiler methods for conversion metrics (mixed into :class:`Compiler`)."""

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
        # base events at the same truncated time: the later one by its own timestamp is the
        # closest preceding event (a rule, so every engine attributes the same way)
        asm, adim, _ag = self.atd(base_ms)
        st.need_model(bsm, "__raw_time", self.shared_expr(asm.dimension(adim).expr))
        extra = [
            ("__entity", ent),
            ("__time", Ref("metric_time", grain=fine)),
            ("__raw", lambda alias: col("__raw_time", alias)),
            *props_b,
        ]
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
            # an id per conversion event; the order only has to exist (Spark requires one)
            exp.Window(
                this=exp.RowNumber(),
                order=exp.Order(expressions=[exp.Ordered(this=e.copy()) for _n, e in cx]),
            ).as_("__cid", quoted=False, copy=False),
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
            order=exp.Order(
                expressions=[
                    exp.Ordered(this=col("__time", "b"), desc=True),
                    exp.Ordered(this=col("__raw", "b"), desc=True),
                ]
            ),
        )
        gnames = [n for n, _e in bgroup]
        matched = exp.select(
            *[col(n, "b").as_(n, quoted=False, copy=False) for n in gnames],
            col("__cv", "c").as_("__cv", quoted=False, copy=False),
            rn.as_("__rn", quoted=False, copy=False),
            copy=False,
        )
        matched.from_(aliased(base_rows, "b"), copy=False)
        add_join(
            matched,
            aliased(conv_rows, "c"),
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
