"""Check a semantic manifest and report every problem at once, each with where it is."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from analysis_py.errors import OpsMetricsError
from analysis_py.semantic.manifest import AGGS, GRAIN_RANK, Manifest


@dataclass(frozen=True)
class Problem:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


#: a semantic name: lower case, a letter first, no double underscore (MetricFlow's rule: the
#: double underscore separates entity paths, grains and date parts)
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _name_problems(kind: str, name: str, expr: str | None = None) -> list[str]:
    where = f"{kind} '{name}'"
    if not _NAME.match(name):
        return [f"{where}: a name is lower case letters, digits and '_', starting with a letter"]
    if "__" in name:
        return [f"{where}: a name cannot contain '__' (it separates entities, grains and parts)"]
    if name.upper() in _RESERVED and (expr is None or expr.strip().lower() == name):
        return [
            f"{where}: '{name}' is a reserved word of SQL engines; choose another name or give "
            "an expr"
        ]
    return []


#: the words MetricFlow refuses as the name of an element read by its name (no expr): those
#: reserved in every engine it renders for
_RESERVED = frozenset(
    [
        "AND",
        "AS",
        "CREATE",
        "DISTINCT",
        "FOR",
        "FROM",
        "FULL",
        "HAVING",
        "IN",
        "INNER",
        "INTO",
        "IS",
        "JOIN",
        "LEFT",
        "LIKE",
        "NATURAL",
        "NOT",
        "NULL",
        "ON",
        "OR",
        "RIGHT",
        "SELECT",
        "UNION",
        "USING",
        "WHERE",
        "WITH",
    ]
)


def _spec_problems(m: Manifest) -> list[Problem]:
    """The rules of dbt's semantic-interfaces validation that ``mf validate-configs`` runs and
    that reading the manifest does not already enforce."""
    from analysis_py.errors import FilterError
    from analysis_py.semantic.where import parse_filter

    out: list[Problem] = []
    seen_measures: dict[str, str] = {}
    dim_types: dict[str, tuple[str, str, str | None]] = {}
    for sm in m.semantic_models.values():
        loc = f"semantic_model '{sm.name}'"
        out += [Problem(loc, p) for p in _name_problems("semantic model", sm.name)]
        for e in sm.entities:
            out += [Problem(loc, p) for p in _name_problems("entity", e.name, e.expr)]
        primaries = [e.name for e in sm.entities if e.type == "primary"]
        if len(primaries) > 1:
            out.append(Problem(loc, f"has more than one primary entity: {primaries}"))
        if sm.dimensions and not (
            sm.primary_entity
            or any(e.type in ("primary", "unique", "natural") for e in sm.entities)
        ):
            out.append(
                Problem(
                    loc,
                    "has dimensions but no primary entity: declare one (an entity of type primary, "
                    "or primary_entity:) so they can be named entity__dimension",
                )
            )
        for d in sm.dimensions:
            out += [Problem(loc, p) for p in _name_problems("dimension", d.name, d.expr)]
            first = dim_types.setdefault(d.name, (sm.name, d.type, d.grain))
            if first[1] != d.type:
                out.append(
                    Problem(
                        f"{loc} dimension '{d.name}'",
                        f"is {d.type} here but {first[1]} in semantic model '{first[0]}'; a "
                        "dimension name has one type across the project",
                    )
                )
        for ms in sm.measures:
            out += [Problem(loc, p) for p in _name_problems("measure", ms.name, ms.expr)]
            if ms.name in seen_measures and seen_measures[ms.name] != sm.name:
                out.append(
                    Problem(
                        f"{loc} measure '{ms.name}'",
                        f"is also a measure of semantic model '{seen_measures[ms.name]}'; "
                        "measure names are unique across the project",
                    )
                )
            seen_measures.setdefault(ms.name, sm.name)
            if ms.agg not in ("percentile", "median") and (
                ms.percentile is not None or ms.discrete or ms.approximate
            ):
                out.append(
                    Problem(
                        f"{loc} measure '{ms.name}'",
                        f"agg '{ms.agg}' takes no percentile parameters (percentile, "
                        "use_discrete_percentile, use_approximate_percentile)",
                    )
                )
            if ms.agg == "median" and ms.discrete:
                out.append(
                    Problem(
                        f"{loc} measure '{ms.name}'",
                        "a median is continuous: remove use_discrete_percentile",
                    )
                )
    for metric in m.metrics.values():
        loc = f"metric '{metric.name}'"
        out += [Problem(loc, p) for p in _name_problems("metric", metric.name)]
        texts = list(metric.filters)
        if metric.measure:
            texts += list(metric.measure.filters)
        for mi in (metric.numerator, metric.denominator, *metric.inputs):
            if mi is None:
                continue
            texts += list(mi.filters)
            if getattr(mi, "offset_window", None) and getattr(mi, "offset_to_grain", None):
                out.append(
                    Problem(loc, f"input '{mi.name}' has both offset_window and offset_to_grain")
                )
        for text in texts:
            try:
                parse_filter(text)
            except (FilterError, OpsMetricsError) as exc:
                out.append(Problem(loc, f"filter {text!r} cannot be read: {exc.message}"))
        if metric.type == "derived":
            names = [mi.column for mi in metric.inputs]
            if len(set(names)) != len(names):
                out.append(Problem(loc, f"input names repeat (give aliases): {names}"))
    for spine in m.time_spines:
        for name, _col in spine.custom_granularities:
            if name in GRAIN_RANK:
                out.append(
                    Problem(
                        f"time spine '{spine.relation.get('alias')}'",
                        f"custom granularity '{name}' has the name of a standard grain",
                    )
                )
    return out


def _column_problems(m: Manifest, connection) -> list[Problem]:
    """Every expression of every semantic model selected from its table (no rows read), as
    ``mf validate-configs`` checks the warehouse: a missing or misspelled column is named."""
    import duckdb
    import sqlglot
    from sqlglot import exp

    out: list[Problem] = []
    for sm in m.semantic_models.values():
        rel = exp.Table(
            this=exp.to_identifier(sm.relation.get("alias")),
            db=exp.to_identifier(sm.relation.get("schema_name"))
            if sm.relation.get("schema_name")
            else None,
        ).sql("duckdb")
        elements = [("entity", e.name, e.expr) for e in sm.entities]
        elements += [("dimension", d.name, d.expr) for d in sm.dimensions]
        elements += [("measure", ms.name, ms.expr) for ms in sm.measures]
        for kind, name, text in elements:
            try:
                expr = sqlglot.parse_one(text, read="duckdb").sql("duckdb")
                connection.sql(f"select {expr} from {rel} limit 0").fetchall()
            except (duckdb.Error, sqlglot.errors.SqlglotError) as exc:
                first = str(exc).splitlines()[0]
                out.append(Problem(f"semantic_model '{sm.name}' {kind} '{name}'", first))
    return out


def validate_manifest(manifest: Manifest, connection=None) -> list[Problem]:
    from analysis_py.semantic.compiler import Compiler, make_request

    out: list[Problem] = [Problem("manifest", p) for p in manifest.problems]
    m = manifest
    out += _spec_problems(m)
    for sm in m.semantic_models.values():
        loc = f"semantic_model '{sm.name}'"
        if not sm.relation.get("alias"):
            out.append(Problem(loc, "node_relation has no alias (which table?)"))
        names = [e.name for e in sm.entities]
        if len(set(names)) != len(names):
            out.append(Problem(loc, f"entity names repeat: {names}"))
        if not sm.entities:
            out.append(Problem(loc, "has no entities, so nothing can join to it"))
        dnames = [d.name for d in sm.dimensions]
        if len(set(dnames)) != len(dnames):
            out.append(Problem(loc, f"dimension names repeat: {dnames}"))
        for d in sm.dimensions:
            if d.type not in ("categorical", "time"):
                out.append(Problem(f"{loc} dimension '{d.name}'", f"unknown type '{d.type}'"))
            if d.type == "time" and d.grain not in GRAIN_RANK:
                out.append(
                    Problem(f"{loc} dimension '{d.name}'", f"unknown time_granularity '{d.grain}'")
                )
        for ms in sm.measures:
            mloc = f"{loc} measure '{ms.name}'"
            if ms.agg not in AGGS:
                out.append(
                    Problem(mloc, f"unknown agg '{ms.agg}' (allowed: {', '.join(sorted(AGGS))})")
                )
            if ms.agg == "percentile" and not (
                ms.percentile is not None and 0 <= ms.percentile <= 1
            ):
                out.append(
                    Problem(mloc, "percentile agg needs agg_params.percentile between 0 and 1")
                )
            atd = sm.dimension(ms.agg_time_dimension) if ms.agg_time_dimension else None
            if atd is None or atd.type != "time":
                out.append(
                    Problem(
                        mloc,
                        f"agg_time_dimension {ms.agg_time_dimension!r} is not a time dimension of the model",
                    )
                )
            if ms.non_additive:
                if sm.dimension(ms.non_additive.name) is None:
                    out.append(
                        Problem(
                            mloc,
                            f"non_additive_dimension '{ms.non_additive.name}' is not a dimension of the model",
                        )
                    )
                for g in ms.non_additive.window_groupings:
                    if sm.entity(g) is None:
                        out.append(
                            Problem(mloc, f"window_grouping '{g}' is not an entity of the model")
                        )
    needs_spine = False
    comp = Compiler(m)
    for metric in m.metrics.values():
        loc = f"metric '{metric.name}'"
        refs = []
        if metric.measure:
            refs.append(("measure", metric.measure.name))
        if metric.conversion:
            refs += [
                ("measure", metric.conversion.base.name),
                ("measure", metric.conversion.conversion.name),
            ]
            if not any(
                e.name == metric.conversion.entity
                for sm in m.semantic_models.values()
                for e in sm.entities
            ):
                out.append(
                    Problem(
                        loc,
                        f"conversion entity '{metric.conversion.entity}' is not an entity of any model",
                    )
                )
        for mi in (metric.numerator, metric.denominator, *metric.inputs):
            if mi is not None:
                refs.append(("metric", mi.name))
                if mi.offset_window or mi.offset_to_grain:
                    needs_spine = True
        if metric.cumulative or (metric.measure and metric.measure.join_to_timespine):
            needs_spine = True
        for kind, name in refs:
            pool = m.measures if kind == "measure" else m.metrics
            if name not in pool:
                out.append(Problem(loc, f"refers to {kind} '{name}', which does not exist"))
        if metric.cumulative and metric.cumulative.window and metric.cumulative.grain_to_date:
            out.append(Problem(loc, "a cumulative metric takes window OR grain_to_date, not both"))
        if metric.cumulative and metric.cumulative.period_agg not in ("first", "last", "average"):
            out.append(
                Problem(
                    loc,
                    f"period_agg must be first, last or average, not '{metric.cumulative.period_agg}'",
                )
            )
        try:
            comp.compile(make_request(metrics=[metric.name], group_by=["metric_time"]))
        except OpsMetricsError as exc:
            out.append(Problem(loc, exc.message))
        except Exception as exc:  # a broken definition must be reported, not crash validate
            out.append(Problem(loc, f"cannot be compiled: {type(exc).__name__}: {exc}"))
    if needs_spine and not m.time_spines:
        out.append(
            Problem(
                "project_configuration",
                "metrics need a time spine (cumulative, offsets or join_to_timespine) but none is declared",
            )
        )
    for sq in m.saved_queries.values():
        loc = f"saved_query '{sq.name}'"
        try:
            comp.compile(
                make_request(sq.metrics, sq.group_by, list(sq.where), sq.order_by, sq.limit)
            )
        except OpsMetricsError as exc:
            out.append(Problem(loc, exc.message))
        except Exception as exc:
            out.append(Problem(loc, f"cannot be compiled: {type(exc).__name__}: {exc}"))
    if connection is not None:
        tables = set()
        try:
            for schema, name in connection.sql(
                "select table_schema, table_name from information_schema.tables"
            ).fetchall():
                tables.add((schema.lower(), name.lower()))
        except Exception:
            tables = set()
        if tables:
            rels = [(f"semantic_model '{s.name}'", s.relation) for s in m.semantic_models.values()]
            rels += [(f"time spine '{t.relation.get('alias')}'", t.relation) for t in m.time_spines]
            for loc, rel in rels:
                key = (str(rel.get("schema_name", "")).lower(), str(rel.get("alias", "")).lower())
                if key not in tables:
                    out.append(
                        Problem(loc, f"table {key[0]}.{key[1]} does not exist in the warehouse")
                    )
            missing = {p.where for p in out if "does not exist in the warehouse" in p.message}
            present = [
                sm
                for sm in m.semantic_models.values()
                if f"semantic_model '{sm.name}'" not in missing
            ]
            out += _column_problems(
                dataclasses.replace(m, semantic_models={s.name: s for s in present}), connection
            )
    return out
