"""Check a semantic manifest and report every problem at once, each with where it is."""

from __future__ import annotations

from dataclasses import dataclass

from analysis_py.errors import OpsMetricsError
from analysis_py.semantic.manifest import AGGS, GRAIN_RANK, Manifest


@dataclass(frozen=True)
class Problem:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def validate_manifest(manifest: Manifest, connection=None) -> list[Problem]:
    from analysis_py.semantic.compiler import Compiler, make_request

    out: list[Problem] = [Problem("manifest", p) for p in manifest.problems]
    m = manifest
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
    return out
