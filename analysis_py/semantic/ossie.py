"""Apache Ossie (Open Semantic Interchange) documents from and to dbt's semantic layer.

**Export** (:func:`export_document`): one Ossie ``semantic_model`` for the project. Each dbt
semantic model is a dataset (its relation as ``source``); its entities, dimensions and
measures are fields (an entity's field carries the entity's name, a dimension's field has
``dimension.is_time``, a measure's field is the row-level expression it aggregates);
foreign entities become relationships to the dataset whose primary (or unique) entity they
name; a dataset's ``source`` is ``schema.table``. A metric goes into Ossie's ``metrics`` when an ANSI SQL aggregate expression over one
dataset's fields gives exactly its answer:

- a simple metric: ``SUM(ds.f)``, ``COUNT(DISTINCT ds.f)``, ``AVG``, ``MIN``, ``MAX``,
  ``PERCENTILE_CONT(p) WITHIN GROUP (ORDER BY ds.f)`` (median: 0.5; discrete:
  ``PERCENTILE_DISC``); a filter on the dataset's own dimensions becomes
  ``AGG(CASE WHEN <filter> THEN ds.f END)``;
- a ratio of two such metrics on the same dataset: ``CAST(num AS DOUBLE PRECISION) /
  NULLIF(den, 0)``;
- a derived metric over such metrics on the same dataset, without offsets or input filters:
  its expression with each input's expression put in.

What Ossie cannot carry stays in the document as a ``DBT`` custom extension, so that
opsmetrics (or MetricFlow) can restore it, while no other tool computes a wrong number from
it: cumulative windows and grain-to-date, conversion metrics, offsets, metrics joining
another dataset (a filter through an entity, inputs from two datasets), semi-additive
measures, approximate percentiles, zero-filled and time-spine-joined measures, saved queries,
time grains of dimensions, entity types beyond primary and foreign, and which time dimension a
measure aggregates on.

**Import** (:func:`import_document`): an Ossie document as dbt ``semantic_models`` and
``metrics`` YAML. Datasets become semantic models on ``ref('<the source's last part>')``;
metric expressions are parsed (sqlglot) into measures and simple, ratio and derived metrics;
the ``DBT`` extensions, when present, restore what Ossie cannot carry.
"""

from __future__ import annotations

import json
import re
from typing import Any

import sqlglot
from sqlglot import exp

from analysis_py.errors import ConfigError
from analysis_py.semantic.manifest import Manifest, Measure, Metric, SemanticModel, parse_manifest

#: the spec version the schema of Apache Ossie's core-spec requires (``version.const``)
VERSION = "0.2.0.dev0"
DIALECT = "ANSI_SQL"
VENDOR = "DBT"

_AGG_SQL = {"sum": "SUM", "count": "COUNT", "average": "AVG", "min": "MIN", "max": "MAX"}
#: the aggregate nodes a metric expression is made of
_AGG_NODES = (exp.WithinGroup, exp.Sum, exp.Count, exp.Avg, exp.Min, exp.Max)
_OWN_DIMENSION = re.compile(r"\{\{\s*Dimension\(\s*'([^']+)'\s*\)\s*\}\}")
_ANY_TEMPLATE = re.compile(r"\{\{.*?\}\}", re.S)


class OssieError(ConfigError):
    """An Ossie document opsmetrics cannot read or turn into dbt YAML."""


def _ext(data: dict) -> list[dict]:
    return [{"vendor_name": VENDOR, "data": json.dumps(data, sort_keys=True)}]


def _expr(sql: str) -> dict:
    return {"dialects": [{"dialect": DIALECT, "expression": sql}]}


# ------------------------------------------------------------------------------ export


class _Exporter:
    def __init__(self, manifest: Manifest, raw: dict):
        self.m = manifest
        self.raw = raw
        self.raw_metrics = {r["name"]: r for r in raw.get("metrics", [])}
        self.raw_measures = {
            ms["name"]: (sm["name"], ms)
            for sm in raw.get("semantic_models", [])
            for ms in sm.get("measures", [])
        }
        self.core: dict[str, tuple[str, str]] = {}  # metric -> (dataset, SQL)
        #: measure -> the field holding its row-level expression
        self.measure_field: dict[str, str] = {}

    # -- metrics as aggregate SQL over one dataset
    def measure_sql(self, ms: Measure, filters: tuple[str, ...]) -> tuple[str, str] | None:
        if ms.non_additive is not None or ms.approximate:
            return None
        ds = ms.model
        model = self.m.semantic_models[ds]
        field = f"{ds}.{self.measure_field.get(ms.name, ms.name)}"
        cond = None
        if filters:
            conds = [self.filter_sql(f, model) for f in filters]
            if any(c is None for c in conds):
                return None
            cond = " AND ".join(f"({c})" for c in conds)
        if ms.agg == "sum_boolean":
            value = f"CASE WHEN {field} THEN 1 ELSE 0 END"
            agg = "SUM"
        else:
            value, agg = field, _AGG_SQL.get(ms.agg)
        if cond:
            value = f"CASE WHEN {cond} THEN {value} END"
        if ms.agg == "count_distinct":
            return ds, f"COUNT(DISTINCT {value})"
        if ms.agg in ("median", "percentile"):
            p = 0.5 if ms.agg == "median" else ms.percentile
            fn = "PERCENTILE_DISC" if ms.discrete else "PERCENTILE_CONT"
            return ds, f"{fn}({p}) WITHIN GROUP (ORDER BY {value})"
        return (ds, f"{agg}({value})") if agg else None

    def filter_sql(self, template: str, model: SemanticModel) -> str | None:
        """A filter over the model's own dimensions as SQL over ``model.<field>``, else None."""
        own = model.own_entity

        def sub(match: re.Match) -> str:
            entity, _, dim = match.group(1).rpartition("__")
            if entity != own or model.dimension(dim) is None:
                raise LookupError
            return f"{model.name}.{dim}"

        try:
            text = _OWN_DIMENSION.sub(sub, template)
        except LookupError:
            return None
        if _ANY_TEMPLATE.search(text):
            return None
        try:
            sqlglot.parse_one(text)
        except sqlglot.errors.ParseError:
            return None
        return text

    def metric_sql(self, name: str, seen: frozenset[str] = frozenset()) -> tuple[str, str] | None:
        if name in self.core:
            return self.core[name]
        m: Metric | None = self.m.metrics.get(name)
        if m is None or name in seen:
            return None
        raw = self.raw_metrics.get(name, {})
        out = None
        if m.type == "simple" and m.measure is not None:
            mi = m.measure
            ms = self.m.measures.get(mi.name)
            if ms is not None and not mi.join_to_timespine and mi.fill_nulls_with is None:
                out = self.measure_sql(ms, tuple(mi.filters) + tuple(m.filters))
        elif m.type == "ratio" and not m.filters:
            num = self._input(m.numerator, seen | {name})
            den = self._input(m.denominator, seen | {name})
            if num and den and num[0] == den[0]:
                out = (
                    num[0],
                    f"CAST({num[1]} AS DOUBLE PRECISION) / NULLIF({den[1]}, 0)",
                )
        elif m.type == "derived" and not m.filters and m.expr:
            ins = {i.column: self._input(i, seen | {name}) for i in m.inputs}
            datasets = {v[0] for v in ins.values() if v}
            if all(ins.values()) and len(datasets) == 1:
                tree = sqlglot.parse_one(m.expr)
                for col in list(tree.find_all(exp.Column)):
                    if not col.table and col.name in ins:
                        col.replace(exp.Paren(this=sqlglot.parse_one(ins[col.name][1])))
                out = (datasets.pop(), tree.sql())
        if out is not None and _agg_times(self, out[1]) > 1:
            out = None
        if out is not None and raw.get("time_granularity"):
            out = None  # a metric's default grain is a MetricFlow notion
        if out is not None:
            self.core[name] = out
        return out

    def _input(self, mi, seen) -> tuple[str, str] | None:
        if mi is None or mi.filters or mi.offset_window or mi.offset_to_grain:
            return None
        return self.metric_sql(mi.name, seen)


def _agg_times(ex: _Exporter, sql: str) -> int:
    """How many distinct aggregation time dimensions the measures of ``sql`` use."""
    tree = sqlglot.parse_one(sql)
    times = set()
    for col in tree.find_all(exp.Column):
        ms = ex.m.measures.get(col.name)
        if ms is not None and col.table == ms.model:
            times.add(ms.agg_time_dimension or "")
    return len(times)


def _dataset(ex: _Exporter, sm: SemanticModel, raw: dict) -> dict:
    rel = sm.relation
    # schema.table: an embedded DuckDB build's database is its file name, not an identity
    source = ".".join(str(p) for p in (rel.get("schema_name"), rel.get("alias")) if p)
    fields = []
    for e in sm.entities:
        fields.append({"name": e.name, "expression": _expr(e.expr), **_doc(e.description, e.label)})
    for d in sm.dimensions:
        f = {
            "name": d.name,
            "expression": _expr(d.expr),
            "dimension": {"is_time": d.type == "time"},
            **_doc(d.description, d.label),
        }
        extra = {}
        if d.type == "time":
            extra["time_granularity"] = d.grain or "day"
        if d.is_partition:
            extra["is_partition"] = True
        if d.validity:
            extra["validity"] = d.validity
        if extra:
            f["custom_extensions"] = _ext(extra)
        fields.append(f)
    for ms in sm.measures:
        taken = {f["name"]: f for f in fields}
        name = ms.name
        if name in taken:
            if _one_expression(taken[name], name) == ms.expr:
                continue  # a measure named like a dimension that reads the same expression
            name = f"{ms.name}_value"
        ex.measure_field[ms.name] = name
        fields.append(
            {"name": name, "expression": _expr(ms.expr), **_doc(ms.description, ms.label)}
        )
    primary = next((e for e in sm.entities if e.type == "primary"), None)
    out: dict[str, Any] = {"name": sm.name, "source": source}
    if primary is not None:
        out["primary_key"] = [primary.name]
    uniques = [[e.name] for e in sm.entities if e.type in ("unique", "natural")]
    if uniques:
        out["unique_keys"] = uniques
    out.update(_doc(sm.description, sm.label))
    out["fields"] = fields
    out["custom_extensions"] = _ext(
        {
            "entities": [{"name": e.name, "type": e.type} for e in sm.entities],
            "primary_entity": sm.primary_entity,
            "agg_time_dimension": sm.default_agg_time_dimension,
            "measures_agg_time_dimension": {
                ex.measure_field.get(ms["name"], ms["name"]): ms["agg_time_dimension"]
                for ms in raw.get("measures", [])
                if ms.get("agg_time_dimension")
            },
        }
    )
    return out


def _doc(description: str | None, label: str | None) -> dict:
    out = {}
    if description:
        out["description"] = description
    if label:
        out["ai_context"] = {"synonyms": [label]}
    return out


def export_document(manifest_json: dict, name: str, description: str | None = None) -> dict:
    """The Ossie document of a dbt ``semantic_manifest.json`` (parsed JSON)."""
    manifest = parse_manifest(manifest_json)
    ex = _Exporter(manifest, manifest_json)
    raw_models = {sm["name"]: sm for sm in manifest_json.get("semantic_models", [])}
    datasets = [
        _dataset(ex, sm, raw_models.get(sm.name, {})) for sm in manifest.semantic_models.values()
    ]
    relationships = []
    for sm in manifest.semantic_models.values():
        for e in sm.entities:
            if e.type != "foreign":
                continue
            for other in manifest.semantic_models.values():
                target = other.entity(e.name)
                if other.name == sm.name or target is None or not target.is_unique:
                    continue
                relationships.append(
                    {
                        "name": f"{sm.name}_to_{other.name}",
                        "from": sm.name,
                        "to": other.name,
                        "from_columns": [e.name],
                        "to_columns": [target.name],
                    }
                )
    metrics, carried = [], []
    for m in manifest.metrics.values():
        core = ex.metric_sql(m.name)
        raw = ex.raw_metrics[m.name]
        if core is None:
            carried.append(raw)
            continue
        entry: dict[str, Any] = {"name": m.name, "expression": _expr(core[1])}
        entry.update(_doc(m.description, m.label))
        meta = (raw.get("config") or {}).get("meta") or {}
        entry["custom_extensions"] = _ext({"type": m.type, "dataset": core[0], "meta": meta})
        metrics.append(entry)
    model: dict[str, Any] = {"name": name}
    if description:
        model["description"] = description
    model["ai_context"] = {
        "instructions": "Metrics are aggregate expressions over one dataset's fields; group by "
        "a dataset's dimension fields, joining along the relationships."
    }
    model["datasets"] = datasets
    if relationships:
        model["relationships"] = relationships
    model["metrics"] = metrics
    model["custom_extensions"] = _ext(
        {
            "metricflow_metrics": carried,
            "metricflow_measures": _measures_of(carried, ex),
            "saved_queries": manifest_json.get("saved_queries", []),
            "time_spines": (manifest_json.get("project_configuration") or {}).get(
                "time_spines", []
            ),
        }
    )
    return {"version": VERSION, "semantic_model": [model]}


def _measures_of(raw_metrics: list[dict], ex: _Exporter) -> dict[str, list[dict]]:
    """The measures (raw, by semantic model) the carried metrics read, recursively."""
    need: set[str] = set()
    todo = list(raw_metrics)
    seen = set()
    while todo:
        r = todo.pop()
        if r["name"] in seen:
            continue
        seen.add(r["name"])
        tp = r.get("type_params") or {}
        for mi in tp.get("input_measures") or []:
            need.add(mi["name"])
        conv = tp.get("conversion_type_params") or {}
        for k in ("base_measure", "conversion_measure"):
            if conv.get(k):
                need.add(conv[k]["name"])
        for mi in (tp.get("metrics") or []) + [tp.get("numerator"), tp.get("denominator")]:
            if mi and mi["name"] in ex.raw_metrics:
                todo.append(ex.raw_metrics[mi["name"]])
    out: dict[str, list[dict]] = {}
    for name in sorted(need):
        if name in ex.raw_measures:
            model, raw = ex.raw_measures[name]
            out.setdefault(model, []).append(raw)
    return out


# ------------------------------------------------------------------------------ import


def _one_expression(obj: dict, what: str) -> str:
    dialects = (obj.get("expression") or {}).get("dialects") or []
    for pref in (DIALECT, None):
        for d in dialects:
            if pref is None or d.get("dialect") == pref:
                return str(d["expression"])
    raise OssieError(f"{what} has no expression", hint="give expression.dialects[].expression")


def _extension(obj: dict) -> dict:
    for e in obj.get("custom_extensions") or []:
        if str(e.get("vendor_name", "")).upper() == VENDOR:
            try:
                data = json.loads(e.get("data") or "{}")
            except ValueError:
                return {}
            return data if isinstance(data, dict) else {}
    return {}


class _Importer:
    def __init__(self, model: dict):
        self.model = model
        self.datasets = {d["name"]: d for d in model.get("datasets") or []}
        self.fields = {
            ds: {f["name"]: f for f in d.get("fields") or []} for ds, d in self.datasets.items()
        }
        self.extensions = {ds: _extension(d) for ds, d in self.datasets.items()}
        self.measures: dict[str, list[dict]] = {ds: [] for ds in self.datasets}
        self.signatures: dict[tuple, str] = {}  # measure signature -> measure name
        self.metrics: list[dict] = []
        self.simple_of: dict[tuple, str] = {}  # (measure, filter) -> simple metric name
        self.metric_names: set[str] = set()
        self.declared: set[str] = set()  # metric names the document declares

    def field_sql(self, ds: str, name: str, what: str) -> str:
        f = self.fields.get(ds, {}).get(name)
        if f is None:
            raise OssieError(
                f"{what} reads {ds}.{name}, which is not a field of dataset {ds!r}",
                hint="metric expressions name fields as <dataset>.<field>",
            )
        return _one_expression(f, f"field {ds}.{name}")

    def agg_time(self, ds: str, measure: str | None = None) -> str | None:
        ext = self.extensions[ds]
        if measure and (ext.get("measures_agg_time_dimension") or {}).get(measure):
            return ext["measures_agg_time_dimension"][measure]
        if ext.get("agg_time_dimension"):
            return ext["agg_time_dimension"]
        return next(
            (
                f["name"]
                for f in self.fields[ds].values()
                if (f.get("dimension") or {}).get("is_time")
            ),
            None,
        )

    def measure(self, node: exp.Expression, what: str) -> tuple[str, str, str | None]:
        """(dataset, measure name, metric filter) for one aggregate node, the measure made
        once per signature. ``AGG(CASE WHEN <condition> THEN <value> END)`` with a condition
        on the dataset's dimensions is a measure of ``<value>`` and a filter: MetricFlow then
        drops the rows, as the exported metric's filter did, instead of aggregating NULLs."""
        percentile = None
        discrete = False
        if isinstance(node, exp.WithinGroup):
            fn = node.this
            discrete = isinstance(fn, exp.PercentileDisc)
            percentile = float(fn.this.name)
            inner = node.expression.expressions[0].this
            agg = "percentile"
        else:
            inner = node.this
            agg = {exp.Sum: "sum", exp.Avg: "average", exp.Min: "min", exp.Max: "max"}.get(
                type(node), "count"
            )
            if isinstance(inner, exp.Distinct):
                agg = "count_distinct"
                inner = inner.expressions[0]
        datasets = {c.table for c in inner.find_all(exp.Column)}
        if len(datasets) != 1 or "" in datasets:
            raise OssieError(
                f"{what}: an aggregate must read fields of one dataset as <dataset>.<field>, "
                f"got {node.sql()}",
                hint="opsmetrics imports metrics over one dataset (join through relationships "
                "in the dbt project instead)",
            )
        ds = datasets.pop()
        if ds not in self.datasets:
            raise OssieError(f"{what} reads dataset {ds!r}, which the document does not define")
        flt = None
        ifs = inner.args.get("ifs") or [] if isinstance(inner, exp.Case) else []
        if len(ifs) == 1 and inner.args.get("default") is None:
            flt = self.filter_template(ds, ifs[0].this, what)
            if flt is not None:
                inner = ifs[0].args["true"]
        expr = self.row_sql(ds, inner, what)
        field = _value_field(inner)
        atd = self.agg_time(ds, field)
        sig = (ds, agg, percentile, discrete, expr, atd)
        if sig in self.signatures:
            return ds, self.signatures[sig], flt
        name = self._unique((field or f"{agg}_{len(self.measures[ds]) + 1}") + (
            "" if agg == "sum" else f"_{agg}"
        ))  # fmt: skip
        measure: dict[str, Any] = {"name": name, "agg": agg, "expr": expr}
        if percentile is not None:
            measure["agg_params"] = {"percentile": percentile, "use_discrete_percentile": discrete}
        if atd and atd != self.agg_time(ds):
            measure["agg_time_dimension"] = atd
        self.measures[ds].append(measure)
        self.signatures[sig] = name
        return ds, name, flt

    def row_sql(self, ds: str, node: exp.Expression, what: str) -> str:
        """A row-level expression over ``ds.<field>`` as SQL over the table's columns."""
        holder = exp.Paren(this=node.copy())  # so that the root can be replaced too
        for col in list(holder.find_all(exp.Column)):
            sql = self.field_sql(ds, col.name, what)
            col.replace(exp.column(sql) if _plain(sql) else exp.Paren(this=sqlglot.parse_one(sql)))
        body = holder.this
        return (body.this if isinstance(body, exp.Paren) else body).sql()

    def filter_template(self, ds: str, cond: exp.Expression, what: str) -> str | None:
        """A condition on ``ds``'s dimension fields as a MetricFlow filter, or None when it
        reads anything else (or the dataset has no primary key to qualify them by)."""
        keys = self.datasets[ds].get("primary_key") or []
        if len(keys) != 1:
            return None
        entity = keys[0]
        tree = cond.copy()
        names = []
        for i, col in enumerate(list(tree.find_all(exp.Column))):
            f = self.fields[ds].get(col.name)
            if f is None or f.get("dimension") is None:
                return None
            names.append(col.name)
            col.replace(exp.column(f"__dim_{i}__"))
        text = tree.sql()
        for i, name in enumerate(names):
            text = text.replace(f"__dim_{i}__", f"{{{{ Dimension('{entity}__{name}') }}}}")
        return text

    def _unique(self, base: str) -> str:
        taken = {m["name"] for ms in self.measures.values() for m in ms}
        name, i = base, 2
        while name in taken:
            name, i = f"{base}_{i}", i + 1
        return name

    def simple(self, node: exp.Expression, what: str, name: str | None = None, **doc) -> str:
        """The simple metric of one aggregate: ``name`` if given, else a hidden one."""
        _ds, measure, flt = self.measure(node, what)
        key = (measure, flt)
        if name is None and key in self.simple_of:
            return self.simple_of[key]
        metric = name or self._metric_name(f"{measure}__agg")
        entry: dict[str, Any] = {"name": metric, "type": "simple", **doc}
        if flt:
            entry["filter"] = flt
        entry["type_params"] = {"measure": measure}
        self.metrics.append(entry)
        self.metric_names.add(metric)
        self.simple_of.setdefault(key, metric)
        return metric

    def _metric_name(self, base: str) -> str:
        name, i = base, 2
        while name in self.metric_names or name in self.declared:
            name, i = f"{base}_{i}", i + 1
        return name

    def metric(self, m: dict) -> None:
        name = m["name"]
        what = f"metric {name!r}"
        sql = _one_expression(m, what)
        try:
            tree = sqlglot.parse_one(sql)
        except sqlglot.errors.ParseError as exc:
            raise OssieError(f"{what}: expression does not parse: {exc}") from None
        doc = {}
        if m.get("description"):
            doc["description"] = m["description"]
        ctx = m.get("ai_context")
        if isinstance(ctx, dict) and ctx.get("synonyms"):
            doc["label"] = ctx["synonyms"][0]
        meta = _extension(m).get("meta")
        if meta:
            doc["config"] = {"meta": meta}
        aggs = _aggregates(tree)
        if not aggs:
            raise OssieError(f"{what}: the expression has no aggregate", hint="e.g. SUM(ds.field)")
        if aggs[0] is tree:
            self.simple(tree, what, name, **doc)
            return
        ratio = _ratio(tree)
        if ratio is not None:
            num, den = (self.simple(n, what) for n in ratio)
            self.metrics.append(
                {"name": name, "type": "ratio", **doc,
                 "type_params": {"numerator": num, "denominator": den}}
            )  # fmt: skip
            self.metric_names.add(name)
            return
        inputs = []
        body = tree.copy()
        for node in _aggregates(body):
            metric = self.simple(node, what)
            node.replace(exp.column(metric))
            if metric not in inputs:
                inputs.append(metric)
        self.metrics.append(
            {"name": name, "type": "derived", **doc,
             "type_params": {"expr": body.sql(), "metrics": [{"name": i} for i in inputs]}}
        )  # fmt: skip
        self.metric_names.add(name)


def _is_single_aggregate(m: dict) -> bool:
    try:
        tree = sqlglot.parse_one(_one_expression(m, m.get("name", "metric")))
    except (sqlglot.errors.ParseError, OssieError):
        return False
    aggs = _aggregates(tree)
    return bool(aggs) and aggs[0] is tree


def _plain(sql: str) -> bool:
    return re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", sql) is not None


def _value_field(node: exp.Expression) -> str | None:
    """The field an aggregate's value reads: ``ds.f``, or ``CASE WHEN ds.f THEN 1 ELSE 0 END``
    (a boolean counted)."""
    if isinstance(node, exp.Column):
        return node.name
    ifs = node.args.get("ifs") if isinstance(node, exp.Case) else None
    if ifs and len(ifs) == 1 and isinstance(ifs[0].this, exp.Column):
        return ifs[0].this.name
    return None


def _aggregates(tree: exp.Expression) -> list[exp.Expression]:
    """The outermost aggregate nodes of ``tree`` (a percentile with its WITHIN GROUP)."""
    out = []

    def walk(node):
        if isinstance(node, _AGG_NODES):
            out.append(node)
            return
        for child in node.iter_expressions():
            walk(child)

    walk(tree)
    return out


def _ratio(tree: exp.Expression) -> tuple[exp.Expression, exp.Expression] | None:
    """(numerator, denominator) aggregates of ``CAST(a AS …) / NULLIF(b, 0)`` or ``a / b``."""
    if not isinstance(tree, exp.Div):
        return None
    num, den = tree.this, tree.expression
    while isinstance(num, exp.Cast | exp.Paren):
        num = num.this
    while isinstance(den, exp.Paren):
        den = den.this
    if isinstance(den, exp.Nullif):
        den = den.this
    aggs = (num, den)
    if all(isinstance(a, _AGG_NODES) for a in aggs):
        return aggs
    return None


def _dimension_yaml(f: dict, ext: dict) -> dict:
    d: dict[str, Any] = {"name": f["name"]}
    expr = _one_expression(f, f"field {f['name']}")
    if expr != f["name"]:
        d["expr"] = expr
    if f.get("description"):
        d["description"] = f["description"]
    ctx = f.get("ai_context")
    if isinstance(ctx, dict) and ctx.get("synonyms"):
        d["label"] = ctx["synonyms"][0]
    if (f.get("dimension") or {}).get("is_time"):
        d["type"] = "time"
        params: dict[str, Any] = {"time_granularity": ext.get("time_granularity", "day")}
        if ext.get("validity"):
            params["validity_params"] = {f"is_{ext['validity']}": True}
        d["type_params"] = params
    else:
        d["type"] = "categorical"
    if ext.get("is_partition"):
        d["is_partition"] = True
    return d


def import_document(doc: dict) -> dict:
    """dbt YAML (``{"semantic_models": [...], "metrics": [...], "saved_queries": [...]}``)
    for an Ossie document."""
    if not isinstance(doc, dict) or not isinstance(doc.get("semantic_model"), list):
        raise OssieError(
            "not an Ossie document: expected a mapping with version and semantic_model",
            hint="see docs/agents.md, 'Ossie interchange'",
        )
    if len(doc["semantic_model"]) != 1:
        raise OssieError(
            f"the document holds {len(doc['semantic_model'])} semantic models; opsmetrics "
            "imports one at a time into a dbt project",
        )
    model = doc["semantic_model"][0]
    imp = _Importer(model)
    ext = _extension(model)
    carried = ext.get("metricflow_metrics") or []
    imp.declared = {m["name"] for m in model.get("metrics") or []} | {m["name"] for m in carried}
    # single-aggregate metrics first: ratios and derived metrics then reuse them as inputs
    for m in sorted(model.get("metrics") or [], key=lambda m: not _is_single_aggregate(m)):
        imp.metric(m)
    rels = model.get("relationships") or []
    semantic_models = []
    carried_measures = ext.get("metricflow_measures") or {}
    for ds, d in imp.datasets.items():
        dext = imp.extensions[ds]
        types = {e["name"]: e["type"] for e in dext.get("entities") or []}
        entities = []
        keys = set(d.get("primary_key") or []) if len(d.get("primary_key") or []) == 1 else set()
        for k in keys:
            types.setdefault(k, "primary")
        for uk in d.get("unique_keys") or []:
            if len(uk) == 1:
                types.setdefault(uk[0], "unique")
        for r in rels:
            if r["from"] == ds and len(r["from_columns"]) == 1:
                target = imp.fields.get(r["to"], {})
                to = r["to_columns"][0]
                name = to if to in target else r["from_columns"][0]
                types.setdefault(r["from_columns"][0], "foreign")
                if name != r["from_columns"][0]:
                    types.setdefault(name, "foreign")
        dims = []
        for fname, f in imp.fields[ds].items():
            fext = _extension(f)
            if fname in types:
                e = {"name": fname, "type": types[fname]}
                expr = _one_expression(f, f"field {ds}.{fname}")
                if expr != fname:
                    e["expr"] = expr
                entities.append(e)
            elif f.get("dimension") is not None:
                dims.append(_dimension_yaml(f, fext))
        sm: dict[str, Any] = {"name": ds}
        if d.get("description"):
            sm["description"] = d["description"]
        sm["model"] = f"ref('{str(d['source']).split('.')[-1]}')"
        atd = imp.agg_time(ds)
        if atd:
            sm["defaults"] = {"agg_time_dimension": atd}
        if dext.get("primary_entity"):
            sm["primary_entity"] = dext["primary_entity"]
        sm["entities"] = entities
        sm["dimensions"] = dims
        measures = imp.measures[ds] + [
            _measure_yaml(raw) for raw in carried_measures.get(ds, [])
            if raw["name"] not in {m["name"] for m in imp.measures[ds]}
        ]  # fmt: skip
        if measures:
            sm["measures"] = measures
        semantic_models.append(sm)
    metrics = imp.metrics + [_metric_yaml(r) for r in carried]
    out: dict[str, Any] = {"semantic_models": semantic_models, "metrics": metrics}
    sqs = [_saved_query_yaml(s) for s in ext.get("saved_queries") or []]
    if sqs:
        out["saved_queries"] = sqs
    return out


# -- MetricFlow's manifest JSON back to its YAML


def _window(w: dict | None) -> str | None:
    return f"{w['count']} {w['granularity']}" if w else None


def _filter(f: dict | None) -> str | list[str] | None:
    wheres = [w["where_sql_template"] for w in (f or {}).get("where_filters") or []]
    if not wheres:
        return None
    return wheres[0] if len(wheres) == 1 else wheres


def _measure_yaml(raw: dict) -> dict:
    out = {"name": raw["name"], "agg": raw["agg"]}
    for k in ("description", "label", "expr", "agg_time_dimension"):
        if raw.get(k):
            out[k] = raw[k]
    params = {k: v for k, v in (raw.get("agg_params") or {}).items() if v not in (None, False)}
    if params:
        out["agg_params"] = params
    nad = raw.get("non_additive_dimension")
    if nad:
        out["non_additive_dimension"] = {k: v for k, v in nad.items() if v not in (None, [], "")}
    return out


def _input_yaml(raw: dict) -> dict | str:
    out: dict[str, Any] = {"name": raw["name"]}
    if _filter(raw.get("filter")):
        out["filter"] = _filter(raw["filter"])
    for k in ("alias", "offset_to_grain", "fill_nulls_with"):
        if raw.get(k) is not None:
            out[k] = raw[k]
    if raw.get("join_to_timespine"):
        out["join_to_timespine"] = True
    if raw.get("offset_window"):
        out["offset_window"] = _window(raw["offset_window"])
    return out


def _metric_yaml(raw: dict) -> dict:
    tp = raw.get("type_params") or {}
    out: dict[str, Any] = {"name": raw["name"], "type": raw["type"]}
    for k in ("description", "label"):
        if raw.get(k):
            out[k] = raw[k]
    if _filter(raw.get("filter")):
        out["filter"] = _filter(raw["filter"])
    if raw.get("time_granularity"):
        out["time_granularity"] = raw["time_granularity"]
    meta = (raw.get("config") or {}).get("meta")
    if meta:
        out["config"] = {"meta": meta}
    params: dict[str, Any] = {}
    if tp.get("measure"):
        params["measure"] = _input_yaml(tp["measure"])
    for k in ("numerator", "denominator"):
        if tp.get(k):
            params[k] = _input_yaml(tp[k])
    if tp.get("expr"):
        params["expr"] = tp["expr"]
    if tp.get("metrics"):
        params["metrics"] = [_input_yaml(i) for i in tp["metrics"]]
    cum = tp.get("cumulative_type_params")
    if cum:
        c = {}
        if cum.get("window"):
            c["window"] = _window(cum["window"])
        if cum.get("grain_to_date"):
            c["grain_to_date"] = cum["grain_to_date"]
        if cum.get("period_agg"):
            c["period_agg"] = cum["period_agg"]
        params["cumulative_type_params"] = c
    conv = tp.get("conversion_type_params")
    if conv:
        c = {
            "base_measure": _input_yaml(conv["base_measure"]),
            "conversion_measure": _input_yaml(conv["conversion_measure"]),
            "entity": conv["entity"],
        }
        if conv.get("calculation"):
            c["calculation"] = conv["calculation"]
        if conv.get("window"):
            c["window"] = _window(conv["window"])
        if conv.get("constant_properties"):
            c["constant_properties"] = conv["constant_properties"]
        params["conversion_type_params"] = c
    out["type_params"] = params
    return out


def _saved_query_yaml(raw: dict) -> dict:
    qp = raw.get("query_params") or {}
    out: dict[str, Any] = {"name": raw["name"]}
    for k in ("description", "label"):
        if raw.get(k):
            out[k] = raw[k]
    params: dict[str, Any] = {"metrics": list(qp.get("metrics") or [])}
    if qp.get("group_by"):
        params["group_by"] = list(qp["group_by"])
    where = _filter(qp.get("where"))
    if where:
        params["where"] = [where] if isinstance(where, str) else where
    if qp.get("order_by"):
        params["order_by"] = list(qp["order_by"])
    if qp.get("limit") is not None:
        params["limit"] = qp["limit"]
    out["query_params"] = params
    return out
