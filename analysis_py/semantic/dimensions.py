"""What a metric can be grouped by: the dimensions, time dimensions and entities reachable
from its measures (``opsmetrics list dimensions``)."""

from __future__ import annotations

import contextlib

from analysis_py.errors import QueryError
from analysis_py.semantic.manifest import GRAIN_RANK


def _reachable(m, model_name: str, max_hops: int = 2):
    """Yield (qualified name, dimension, model) for dimensions reachable from a model."""
    sm = m.semantic_models[model_name]
    own = sm.own_entity
    for d in sm.dimensions:
        if own:
            yield f"{own}__{d.name}", d, sm
    owners: dict[str, list] = {}
    for other in m.semantic_models.values():
        for e in other.entities:
            if e.is_unique:
                owners.setdefault(e.name, []).append(other)

    def walk(cur, path, depth):
        if depth >= max_hops:
            return
        for e in cur.entities:
            for tgt in owners.get(e.name, []):
                if tgt.name == cur.name or tgt.name == model_name:
                    continue
                p = (*path, e.name)
                for d in tgt.dimensions:
                    yield "__".join((*p, d.name)), d, tgt
                yield from walk(tgt, p, depth + 1)

    yield from walk(sm, (), 0)


def dimensions_for(layer, metrics=None) -> list[dict]:
    """Group-by items valid for all of ``metrics``; with no metrics, every item any metric
    can be grouped by."""
    comp = layer._compiler
    names = list(metrics) if metrics else list(layer.manifest.metrics)
    if isinstance(metrics, str):
        names = [x.strip() for x in metrics.split(",") if x.strip()]
    common: dict[str, dict] | None = None
    for name in names:
        metric = comp.metric(name)
        found: dict[str, dict] = {}
        for _m, ms in comp._leaf_measures([metric]):
            atd_grain = "day"
            with contextlib.suppress(QueryError):
                _sm, _d, atd_grain = comp.atd(ms)
            found["metric_time"] = {
                "name": "metric_time",
                "type": "time",
                "grains": [g for g in GRAIN_RANK if GRAIN_RANK[g] >= GRAIN_RANK.get(atd_grain, 6)]
                + sorted(comp.custom_grains),
                "description": "The aggregation time of each metric",
                "label": "Metric time",
            }
            for qn, d, sm in _reachable(layer.manifest, ms.model):
                found.setdefault(
                    qn,
                    {
                        "name": qn,
                        "type": d.type,
                        "grains": [
                            g
                            for g in GRAIN_RANK
                            if GRAIN_RANK[g] >= GRAIN_RANK.get(d.grain or "day", 6)
                        ]
                        if d.type == "time"
                        else [],
                        "description": d.description,
                        "label": d.label,
                        "semantic_model": sm.name,
                    },
                )
        if common is None:
            common = found
        elif metrics:  # valid for all the named metrics
            common = {k: v for k, v in common.items() if k in found}
        else:  # no metrics named: everything any metric can be grouped by
            common.update({k: v for k, v in found.items() if k not in common})
    return sorted((common or {}).values(), key=lambda d: (d["name"] != "metric_time", d["name"]))
