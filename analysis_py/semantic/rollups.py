"""Rollups: metric results pre-aggregated in the build, and the requests they answer.

**Declared** in the dbt project as dbt's declarative cache of a saved query
(``config: {cache: {enabled: true}}``): its metrics by its group-by, without a filter. The
build computes, for every metric, what a coarser request needs (:func:`derive`):

============================================ =============================================
metric                                       stored, and how a coarser request reads it
============================================ =============================================
simple ``sum`` / ``count`` / ``sum_boolean``  the value; ``SUM`` of it
simple ``min`` / ``max``                      the value; ``MIN`` / ``MAX`` of it
simple ``average``                            its sum and its count; ``SUM(sum) / SUM(count)``
ratio of two such metrics                     both; the ratio of their re-aggregates
derived over such metrics (no offsets,        each input; the expression over their
input filters)                                re-aggregates
simple ``count_distinct``, exact percentiles   the value, read only by a request at exactly
                                             the rollup's group-by
anything else (cumulative, conversion,        not held: such requests read the marts
offsets, fills, semi-additive, approximate)
============================================ =============================================

Each simple metric also stores its row count, so that a group whose value is NULL stays a
row of the answer, as it is from the marts.

Every component is computed by this engine from the marts (the rollup is one compiled
request), into the build file before it is published: a rollup is never staler than its
marts. A request is **answered from a rollup** (:func:`match`) when it asks for metrics the
rollup holds, groups by a subset of the rollup's group-by (a time grain may be coarser:
day → week, month, quarter, year; month → quarter, year; quarter → year), filters only on
those columns, and sets no time range; otherwise from the marts. The answer is the same
either way (tested for every metric type); ``opsmetrics query --explain`` says which was used
and why.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from sqlglot import exp

from analysis_py.semantic.manifest import Manifest, Measure, MeasureInput, Metric
from analysis_py.semantic.names import SEP, parse_name
from analysis_py.semantic.where import parse_filter

SCHEMA = "rollups"
CATALOG = "_catalog"
#: re-aggregation of a simple metric's value by its measure's aggregation
_ADDITIVE = {"sum": "sum", "count": "sum", "sum_boolean": "sum", "min": "min", "max": "max"}
#: time grain → the grains its periods nest in
_COARSER = {
    "day": ("day", "week", "month", "quarter", "year"),
    "week": ("week",),
    "month": ("month", "quarter", "year"),
    "quarter": ("quarter", "year"),
    "year": ("year",),
}


@dataclass(frozen=True)
class Rollup:
    name: str
    #: the group-by columns, as the compiled request names them (metric_time__day, case__product)
    group: tuple[str, ...]
    #: metric → how its value is read from the stored columns (see :func:`derive`)
    plans: dict[str, dict]
    #: (mart, column) the rollup's values read that are tagged PII: a role that may not see
    #: one of them is answered from the marts, where masking applies
    pii: tuple[tuple[str, str], ...] = ()
    #: stored column → its DuckDB type: a re-aggregated sum is cast back to it (SUM of a
    #: BIGINT count is a HUGEINT; the marts' answer is the count's BIGINT)
    types: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def table(self) -> str:
        return f"{SCHEMA}.{self.name}"

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Rollup:
        d = json.loads(text)
        return cls(
            d["name"],
            tuple(d["group"]),
            d["plans"],
            tuple(map(tuple, d.get("pii") or ())),
            dict(d.get("types") or {}),
        )


# ------------------------------------------------------------------------------ building


class _Components:
    """The stored columns of one rollup and the synthetic metrics that compute them."""

    def __init__(self, manifest: Manifest):
        self.m = manifest
        self.columns: dict[str, str] = {}  # stored column -> metric computing it
        self.metrics: dict[str, Metric] = {}  # synthetic metrics
        self.measures: dict[str, Measure] = {}

    def column(self, metric: str) -> str:
        col = f"__c_{metric}"
        self.columns[col] = metric
        return col

    def synthetic(
        self, base: Metric, ms: Measure, agg: str, expr: str | None = None, role: str = ""
    ) -> str:
        """A stored column computed by a synthetic metric: ``base``'s filters over ``ms``
        aggregated by ``agg`` (over ``expr`` instead of the measure's, if given)."""
        name = f"__rollup_{base.name}_{role or agg}"
        measure = dataclasses.replace(
            ms, name=name, agg=agg, expr=expr or ms.expr, percentile=None, discrete=False
        )
        self.measures[name] = measure
        mi = dataclasses.replace(base.measure, name=name)
        self.metrics[name] = dataclasses.replace(base, name=name, measure=mi, label=None)
        return self.column(name)


def derive(manifest: Manifest, metric: str, comps: _Components) -> dict | None:
    """How ``metric`` is read from stored columns (see the module), or None when a rollup
    cannot hold it. A simple metric also stores its row count (``rows``): a group in which
    its measure has rows is a row of the marts' answer even when the value is NULL."""
    m = manifest.metrics[metric]
    if m.type == "simple" and m.measure is not None:
        mi: MeasureInput = m.measure
        ms = manifest.measures.get(mi.name)
        if ms is None or ms.non_additive is not None:
            return None
        if mi.join_to_timespine or mi.fill_nulls_with is not None:
            return None
        rows = comps.synthetic(m, ms, "count", expr="1", role="rows")
        if ms.agg in _ADDITIVE:
            plan = {"kind": _ADDITIVE[ms.agg], "col": comps.column(metric), "rows": rows}
            if ms.agg == "sum" and ms.expr.strip() == "1":
                # grouped, the marts count rows (a BIGINT); ungrouped they sum 1 (a HUGEINT)
                plan["ungrouped_cast"] = False
            return plan
        if ms.agg == "average":
            return {
                "kind": "avg",
                "sum": comps.synthetic(m, ms, "sum"),
                "count": comps.synthetic(m, ms, "count"),
                "rows": rows,
            }
        if ms.agg in ("count_distinct", "median", "percentile") and not ms.approximate:
            return {"kind": "exact", "col": comps.column(metric), "rows": rows}
        return None
    if m.type == "ratio" and not m.filters:
        ins = (m.numerator, m.denominator)
        if all(i and not i.filters and not i.offset_window and not i.offset_to_grain for i in ins):
            num, den = (derive(manifest, i.name, comps) for i in ins)
            if num and den and num["kind"] != "exact" and den["kind"] != "exact":
                return {"kind": "ratio", "num": num, "den": den}
    if m.type == "derived" and not m.filters and m.expr:
        ins = m.inputs
        if all(not i.filters and not i.offset_window and not i.offset_to_grain for i in ins):
            plans = {i.column: derive(manifest, i.name, comps) for i in ins}
            if all(p and p["kind"] != "exact" for p in plans.values()):
                return {"kind": "derived", "expr": m.expr, "inputs": plans}
    return None


def plan_rollup(manifest: Manifest, name: str) -> tuple[Rollup, Manifest, list[str]]:
    """The rollup of saved query ``name``: its spec (group columns filled in by the caller
    from the compiled request), the manifest with its synthetic metrics, and the metrics of
    the build request (stored column order)."""
    sq = manifest.saved_queries[name]
    comps = _Components(manifest)
    plans = {}
    for metric in sq.metrics:
        plan = derive(manifest, metric, comps)
        if plan is not None:
            plans[metric] = plan
    augmented = dataclasses.replace(
        manifest,
        metrics={**manifest.metrics, **comps.metrics},
        measures={**manifest.measures, **comps.measures},
    )
    return Rollup(name, (), plans), augmented, list(comps.columns.values())


def build_sql(layer_cls, manifest: Manifest, name: str, resolver=None) -> tuple[Rollup, str]:
    """(the rollup's spec, the SELECT that computes its table) for saved query ``name``."""
    sq = manifest.saved_queries[name]
    if sq.where or sq.limit is not None:
        from analysis_py.errors import QueryError

        raise QueryError(
            f"saved query '{name}' caches a rollup but has a "
            + ("where filter" if sq.where else "limit")
            + ": a rollup holds every row of its metrics by its group-by",
            hint="remove the filter (requests filter the rollup) or the cache config",
        )
    spec, augmented, metrics = plan_rollup(manifest, name)
    layer = layer_cls(augmented, relation_resolver=resolver)
    q = layer.compile(metrics=metrics, group_by=list(sq.group_by), use_rollups=False)
    group = tuple(q.columns[: len(q.columns) - len(metrics)])
    select = exp.select(
        *[exp.column(c, quoted=True) for c in group],
        *[exp.column(m, quoted=True).as_(f"__c_{m}", quoted=True) for m in metrics],
    ).from_(q.expression.subquery("_r"))
    return dataclasses.replace(spec, group=group), select.sql(dialect="duckdb")


def rollup_names(dbt_manifest: dict) -> list[str]:
    """Saved queries whose dbt config enables the cache (``config.cache.enabled``)."""
    out = []
    for node in (dbt_manifest.get("saved_queries") or {}).values():
        cache = (node.get("config") or {}).get("cache") or {}
        if cache.get("enabled"):
            out.append(node["name"])
    return sorted(out)


# ------------------------------------------------------------------------------ matching


@dataclass(frozen=True)
class Match:
    rollup: Rollup | None
    why: str


def _split(name: str) -> tuple[str, str | None]:
    base, sep, grain = name.rpartition(SEP)
    if sep and grain in _COARSER:
        return base, grain
    return name, None


def _column_for(item: str, group: tuple[str, ...]) -> tuple[str, str | None] | None:
    """(rollup column, grain to truncate it to or None) serving request item ``item``."""
    if item in group:
        return item, None
    base, grain = _split(item)
    if grain is None:
        return None
    for col in group:
        cbase, cgrain = _split(col)
        if cbase == base and cgrain is not None and grain in _COARSER.get(cgrain, ()):
            return col, grain
    return None


def match(rollups, req) -> Match:
    """The first rollup that answers ``req`` exactly as the marts would, or why none does."""
    if not rollups:
        return Match(None, "no rollup is declared")
    if req.start_time or req.end_time or req.min_max_only or not req.apply_group_by:
        return Match(None, "a time range or a values-only request reads the marts")
    if not req.metrics:
        return Match(None, "a request without metrics reads the marts")
    reasons = []
    for r in rollups:
        why = _why_not(r, req)
        if why is None:
            return Match(
                r, f"rollup {r.name} holds {', '.join(req.metrics)} by {', '.join(r.group)}"
            )
        reasons.append(f"{r.name}: {why}")
    return Match(None, "; ".join(reasons))


def _why_not(r: Rollup, req) -> str | None:
    missing = [m for m in req.metrics if m not in r.plans]
    if missing:
        return f"does not hold {', '.join(missing)}"
    items = [_normal(g) for g in req.group_by]
    if any(i is None for i in items):
        return "a group-by item is not a plain dimension, entity or time grain"
    mapped = [_column_for(i, r.group) for i in items]
    if any(m is None for m in mapped):
        return "groups by something it does not hold at that grain"
    exact = sorted(items) == sorted(r.group)
    for metric in req.metrics:
        if r.plans[metric]["kind"] == "exact" and not exact:
            return f"{metric} is stored only at its own group-by ({', '.join(r.group)})"
    for w in req.where:
        try:
            f = parse_filter(w)
        except Exception:
            return "a filter it cannot read"
        for ref in f.refs:
            if ref.kind == "metric" or ref.date_part:
                return "a filter on a metric or a date part"
            col = _column_for(ref.column(), r.group)
            if col is None or (col[1] is not None and exact):
                return f"a filter on {ref.column()}, which it does not hold"
    return None


def _normal(item: str) -> str | None:
    try:
        ref = parse_name(item)
    except Exception:
        return None
    if ref.date_part or ref.kind == "metric":
        return None
    return ref.column()


def render(r: Rollup, req, table: exp.Table, columns: list[str]) -> tuple[exp.Select, list[str]]:
    """The request answered from rollup ``r`` (read as ``table``), with ``columns``, the
    output columns of the marts' SQL for it (their order is the compiler's)."""
    items = [c for c in columns if c not in req.metrics]
    keys = []
    for item in items:
        col, grain = _column_for(item, r.group)
        src = exp.column(col, table="_r", quoted=True)
        if grain is not None:
            src = exp.TimestampTrunc(this=src, unit=exp.Var(this=grain.upper()))
        keys.append((item, src))
    types = (
        r.types
        if keys
        else {  # the total of a row count is the marts' SUM(1)
            c: t for c, t in r.types.items() if not _uncast(r.plans, c)
        }
    )
    values = [(m, _value(r.plans[m], types)) for m in req.metrics]
    inner = exp.select(
        *[e.as_(n, quoted=True) for n, e in keys],
        *[e.as_(n, quoted=True) for n, e in values],
    ).from_(table.as_("_r"))
    for w in req.where:
        f = parse_filter(w)
        cols = []
        for ref in f.refs:
            col, grain = _column_for(ref.column(), r.group)
            c: exp.Expression = exp.column(col, table="_r", quoted=True)
            if grain is not None:
                c = exp.TimestampTrunc(this=c, unit=exp.Var(this=grain.upper()))
            cols.append(c)
        inner = inner.where(f.substitute(cols))
    if keys:
        inner = inner.group_by(*[e for _n, e in keys])
    # a group the requested metrics have no rows in is not a row of the marts' answer
    present = [_present(r.plans[m]) for m in req.metrics]
    inner = inner.having(exp.or_(*present)) if keys else inner
    out_cols = list(columns)
    outer = exp.select(*[exp.column(c, quoted=True) for c in out_cols]).from_(inner.subquery("_a"))
    orders = []
    for o in req.order_by:
        desc = o.startswith("-")
        name = _normal(o.lstrip("-")) or o.lstrip("-")
        orders.append(exp.Ordered(this=exp.column(name, quoted=True), desc=desc))
    if orders:
        outer = outer.order_by(*orders)
    if req.limit is not None:
        outer = outer.limit(req.limit)
    return outer, out_cols


def _uncast(plans: dict, col: str) -> bool:
    """Whether stored column ``col`` is a row count whose grand total the marts sum."""

    def walk(plan: dict) -> bool:
        if plan.get("col") == col and plan.get("ungrouped_cast") is False:
            return True
        subs = [plan.get("num"), plan.get("den"), *(plan.get("inputs") or {}).values()]
        return any(walk(p) for p in subs if p)

    return any(walk(p) for p in plans.values())


def _agg(kind: str, col: str, types: dict[str, str]) -> exp.Expression:
    c = exp.column(col, table="_r", quoted=True)
    out = {"sum": exp.Sum, "min": exp.Min, "max": exp.Max}[kind](this=c)
    if kind == "sum" and col in types:
        out = exp.Cast(this=out, to=exp.DataType.build(types[col], dialect="duckdb"))
    return out


def _value(plan: dict, types: dict[str, str]) -> exp.Expression:
    kind = plan["kind"]
    if kind in ("sum", "min", "max"):
        return _agg(kind, plan["col"], types)
    if kind == "exact":
        return exp.AnyValue(this=exp.column(plan["col"], table="_r", quoted=True))
    if kind == "avg":
        return _ratio(_agg("sum", plan["sum"], {}), _agg("sum", plan["count"], {}))
    if kind == "ratio":
        return _ratio(_value(plan["num"], types), _value(plan["den"], types))
    from sqlglot import parse_one

    tree = parse_one(plan["expr"], read="duckdb")
    values = {k: _value(v, types) for k, v in plan["inputs"].items()}

    def repl(node):
        if isinstance(node, exp.Column) and not node.table and node.name in values:
            return exp.Paren(this=values[node.name].copy())
        return node

    return tree.transform(repl)


def _ratio(num: exp.Expression, den: exp.Expression) -> exp.Expression:
    double = exp.DataType.build("double")
    return exp.Div(
        this=exp.Cast(this=num, to=double.copy()),
        expression=exp.Cast(this=exp.Nullif(this=den, expression=exp.Literal.number(0)), to=double),
    )


def _present(plan: dict) -> exp.Expression:
    """Whether a group is a row of the marts' answer for the metric: its measure (or, for a
    ratio or derived metric, one of its inputs' measures) has rows in it."""
    if "rows" in plan:
        rows = exp.Sum(this=exp.column(plan["rows"], table="_r", quoted=True))
        return exp.GT(
            this=exp.Coalesce(this=rows, expressions=[exp.Literal.number(0)]),
            expression=exp.Literal.number(0),
        )
    parts = [plan["num"], plan["den"]] if plan["kind"] == "ratio" else list(plan["inputs"].values())
    return exp.or_(*[_present(p) for p in parts])


def load(conn) -> list[Rollup]:
    """The rollups a build file holds (its ``rollups._catalog``), or none."""
    try:
        rows = conn.execute(f"SELECT spec FROM {SCHEMA}.{CATALOG} ORDER BY name").fetchall()
    except Exception:
        return []
    return [Rollup.from_json(r[0]) for r in rows]


# ------------------------------------------------------------------------------ the build step


def _pii_read(sql: str, relations: dict) -> tuple[tuple[str, str], ...]:
    """(mart, column) tagged PII that ``sql`` may read: a PII column of a table it reads whose
    name appears in it (conservative: a name read from another table counts too)."""
    import sqlglot

    tree = sqlglot.parse_one(sql, read="duckdb")
    tables = {t.name for t in tree.find_all(exp.Table)}
    names = {c.name for c in tree.find_all(exp.Column)} | {
        i.name for i in tree.find_all(exp.Identifier)
    }
    out = set()
    for t in tables:
        rel = relations.get(t)
        for col in rel.pii if rel is not None else ():
            if col in names:
                out.add((t, col))
    return tuple(sorted(out))


def with_types(conn, spec: Rollup) -> Rollup:
    """``spec`` with the DuckDB types of its stored table's columns."""
    rows = conn.execute(f'DESCRIBE "{SCHEMA}"."{spec.name}"').fetchall()
    return dataclasses.replace(spec, types={r[0]: r[1] for r in rows})


def rollup_step(target_dir, db_file, step) -> None:
    """The build's post-build step: compute every declared rollup into ``db_file`` (the new
    build, before it is published), with ``rollups._catalog`` describing them."""
    from pathlib import Path

    import duckdb

    from analysis_py.semantic.exports import all_or_nothing
    from analysis_py.semantic.layer import SemanticLayer
    from analysis_py.semantic.manifest import load_manifest
    from analysis_py.warehouse.manifest import DbtManifest

    target = Path(target_dir)
    dbt = DbtManifest.read(target / "manifest.json")
    names = rollup_names(dbt.data) if dbt is not None else []
    if not names or not (target / "semantic_manifest.json").is_file():
        return
    step(f"rollups ({len(names)})")
    manifest = load_manifest(target / "semantic_manifest.json")
    built = []
    for name in names:
        spec, sql = build_sql(SemanticLayer, manifest, name)
        built.append((dataclasses.replace(spec, pii=_pii_read(sql, dbt.relations())), sql))
    conn = duckdb.connect(str(db_file))
    try:
        with all_or_nothing(
            conn, "rollups", "run the saved query with `opsmetrics query --saved-query NAME`"
        ):
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"')
            conn.execute(
                f'CREATE OR REPLACE TABLE "{SCHEMA}"."{CATALOG}" (name VARCHAR, spec VARCHAR)'
            )
            for spec, sql in built:
                conn.execute(f'CREATE OR REPLACE TABLE "{SCHEMA}"."{spec.name}" AS {sql}')
                spec = with_types(conn, spec)
                conn.execute(
                    f'INSERT INTO "{SCHEMA}"."{CATALOG}" VALUES (?, ?)', [spec.name, spec.to_json()]
                )
    finally:
        conn.close()
