"""The semantic manifest as an immutable model, read from dbt's ``semantic_manifest.json``.

Both manifest shapes are accepted and normalised to one model:

* the classic shape, where semantic models declare ``measures`` and simple/cumulative/conversion
  metrics point at them (``type_params.measure``, ``base_measure`` …), and
* the newer shape, where measures became simple metrics carrying their own aggregation
  (``type_params.metric_aggregation_params`` + ``type_params.expr``) and cumulative/conversion
  metrics point at metrics (``cumulative_type_params.metric``, ``base_metric`` …).

In the model every aggregation is a :class:`Measure` owned by a semantic model; a simple metric of
the newer shape gets a private measure named after the metric. Parsing is cached on disk keyed by
the file's hash (see :func:`load_manifest`), so a warm ``opsmetrics query`` skips JSON decoding.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis_py.errors import ManifestError

#: Standard grains, finest first (MetricFlow's TimeGranularity).
GRAINS: tuple[str, ...] = (
    "nanosecond",
    "microsecond",
    "millisecond",
    "second",
    "minute",
    "hour",
    "day",
    "week",
    "month",
    "quarter",
    "year",
)
GRAIN_RANK = {g: i for i, g in enumerate(GRAINS)}
AGGS = {
    "sum",
    "count",
    "count_distinct",
    "average",
    "min",
    "max",
    "median",
    "percentile",
    "sum_boolean",
}
CACHE_VERSION = 3


@dataclass(frozen=True)
class Entity:
    name: str
    type: str  # primary | unique | natural | foreign
    expr: str
    description: str | None = None
    label: str | None = None

    @property
    def is_unique(self) -> bool:
        """Whether rows are unique on this entity, so joining to it cannot fan out."""
        return self.type in ("primary", "unique", "natural")


@dataclass(frozen=True)
class Dimension:
    name: str
    type: str  # categorical | time
    expr: str
    grain: str | None = None
    description: str | None = None
    label: str | None = None
    is_partition: bool = False
    #: "start" / "end" for the validity window of a slowly changing dimension (SCD type II)
    validity: str | None = None


@dataclass(frozen=True)
class NonAdditive:
    name: str
    window_choice: str = "min"
    window_groupings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Measure:
    name: str
    agg: str
    expr: str
    model: str
    agg_time_dimension: str | None
    percentile: float | None = None
    discrete: bool = False
    #: ``use_approximate_percentile``: the engine's approximate quantile (t-digest in DuckDB)
    approximate: bool = False
    non_additive: NonAdditive | None = None
    description: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class SemanticModel:
    name: str
    relation: dict[str, Any]
    entities: tuple[Entity, ...]
    dimensions: tuple[Dimension, ...]
    measures: tuple[Measure, ...]
    default_agg_time_dimension: str | None
    primary_entity: str | None = None
    description: str | None = None
    label: str | None = None

    def entity(self, name: str) -> Entity | None:
        return next((e for e in self.entities if e.name == name), None)

    def dimension(self, name: str) -> Dimension | None:
        return next((d for d in self.dimensions if d.name == name), None)

    @property
    def validity_window(self) -> tuple[Dimension, Dimension] | None:
        """(start, end) dimensions when the model is an SCD type II table: a row holds from
        start (inclusive) to end (exclusive; NULL = still valid)."""
        start = next((d for d in self.dimensions if d.validity == "start"), None)
        end = next((d for d in self.dimensions if d.validity == "end"), None)
        return (start, end) if start and end else None

    @property
    def own_entity(self) -> str | None:
        """The entity that qualifies this model's own dimensions (``order__status``)."""
        if self.primary_entity:
            return self.primary_entity
        for e in self.entities:
            if e.is_unique:
                return e.name
        return None


@dataclass(frozen=True)
class Window:
    count: int
    granularity: str

    def __str__(self) -> str:
        return f"{self.count} {self.granularity}"


@dataclass(frozen=True)
class MeasureInput:
    name: str
    filters: tuple[str, ...] = ()
    alias: str | None = None
    join_to_timespine: bool = False
    fill_nulls_with: int | None = None


@dataclass(frozen=True)
class MetricInput:
    name: str
    filters: tuple[str, ...] = ()
    alias: str | None = None
    offset_window: Window | None = None
    offset_to_grain: str | None = None

    @property
    def column(self) -> str:
        return self.alias or self.name


@dataclass(frozen=True)
class Cumulative:
    window: Window | None = None
    grain_to_date: str | None = None
    period_agg: str = "first"


@dataclass(frozen=True)
class Conversion:
    base: MeasureInput
    conversion: MeasureInput
    entity: str
    calculation: str = "conversion_rate"
    window: Window | None = None
    constant_properties: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Metric:
    name: str
    type: str  # simple | ratio | derived | cumulative | conversion
    description: str | None = None
    label: str | None = None
    filters: tuple[str, ...] = ()
    measure: MeasureInput | None = None
    numerator: MetricInput | None = None
    denominator: MetricInput | None = None
    expr: str | None = None
    inputs: tuple[MetricInput, ...] = ()
    cumulative: Cumulative | None = None
    conversion: Conversion | None = None
    time_granularity: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class TimeSpine:
    relation: dict[str, Any]
    column: str
    grain: str
    custom_granularities: tuple[tuple[str, str], ...] = ()  # (name, column)


@dataclass(frozen=True)
class Export:
    name: str
    export_as: str  # table | view
    schema: str | None
    alias: str


@dataclass(frozen=True)
class SavedQuery:
    name: str
    metrics: tuple[str, ...]
    group_by: tuple[str, ...] = ()
    where: tuple[str, ...] = ()
    order_by: tuple[str, ...] = ()
    limit: int | None = None
    exports: tuple[Export, ...] = ()
    description: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class Manifest:
    semantic_models: dict[str, SemanticModel]
    metrics: dict[str, Metric]
    measures: dict[str, Measure]
    time_spines: tuple[TimeSpine, ...]
    saved_queries: dict[str, SavedQuery]
    #: problems found while reading (validate reports them; queries fail only if they touch them)
    problems: tuple[str, ...] = ()
    digest: str = ""

    @property
    def custom_granularities(self) -> dict[str, tuple[TimeSpine, str]]:
        out: dict[str, tuple[TimeSpine, str]] = {}
        for spine in self.time_spines:
            for name, col in spine.custom_granularities:
                out.setdefault(name.lower(), (spine, col))
        return out

    def spine_for(self, grain: str) -> TimeSpine | None:
        """The time spine to use at ``grain``: the one declared at that grain, else the coarsest
        spine finer than it (its column is truncated to ``grain``); None if only coarser ones."""
        exact = [s for s in self.time_spines if s.grain == grain]
        if exact:
            return exact[0]
        finer = [
            s for s in self.time_spines if GRAIN_RANK.get(s.grain, 99) <= GRAIN_RANK.get(grain, 0)
        ]
        if finer:
            return max(finer, key=lambda s: GRAIN_RANK[s.grain])
        return None


# ----------------------------------------------------------------------------------------------
# parsing


def _filters(obj: Any) -> tuple[str, ...]:
    if not obj:
        return ()
    if isinstance(obj, str):
        return (obj,)
    if isinstance(obj, list):
        return tuple(f if isinstance(f, str) else f.get("where_sql_template", "") for f in obj)
    wf = obj.get("where_filters") or []
    return tuple(f["where_sql_template"] for f in wf if f.get("where_sql_template"))


def _window(obj: Any) -> Window | None:
    if not obj:
        return None
    if isinstance(obj, str):
        count, gran = obj.strip().lower().split()
        obj = {"count": int(count), "granularity": gran}
    gran = str(obj["granularity"]).lower()
    if gran.endswith("s") and gran[:-1] in GRAIN_RANK:
        gran = gran[:-1]
    return Window(int(obj["count"]), gran)


def _measure_input(obj: Any) -> MeasureInput | None:
    if not obj:
        return None
    if isinstance(obj, str):
        return MeasureInput(obj)
    return MeasureInput(
        name=obj["name"],
        filters=_filters(obj.get("filter")),
        alias=obj.get("alias"),
        join_to_timespine=bool(obj.get("join_to_timespine")),
        fill_nulls_with=obj.get("fill_nulls_with"),
    )


def _metric_input(obj: Any) -> MetricInput | None:
    if not obj:
        return None
    if isinstance(obj, str):
        return MetricInput(obj)
    otg = obj.get("offset_to_grain")
    return MetricInput(
        name=obj["name"],
        filters=_filters(obj.get("filter")),
        alias=obj.get("alias"),
        offset_window=_window(obj.get("offset_window")),
        offset_to_grain=otg.lower() if isinstance(otg, str) else None,
    )


def _nad(obj: Any) -> NonAdditive | None:
    if not obj:
        return None
    return NonAdditive(
        name=obj["name"],
        window_choice=str(obj.get("window_choice") or "min").lower(),
        window_groupings=tuple(obj.get("window_groupings") or ()),
    )


def _validity(d: dict) -> str | None:
    vp = (d.get("type_params") or {}).get("validity_params") or d.get("validity_params") or {}
    if vp.get("is_start"):
        return "start"
    if vp.get("is_end"):
        return "end"
    return None


def _measure(obj: dict, model: str, default_atd: str | None) -> Measure:
    params = obj.get("agg_params") or {}
    agg = str(obj["agg"]).lower()
    return Measure(
        name=obj["name"],
        agg=agg,
        expr=str(obj.get("expr") or obj["name"]),
        model=model,
        agg_time_dimension=obj.get("agg_time_dimension") or default_atd,
        percentile=0.5 if agg == "median" else params.get("percentile"),
        discrete=bool(params.get("use_discrete_percentile")),
        approximate=bool(params.get("use_approximate_percentile")),
        non_additive=_nad(obj.get("non_additive_dimension")),
        description=obj.get("description"),
        label=obj.get("label"),
    )


def parse_manifest(data: dict[str, Any], digest: str = "") -> Manifest:
    """Build the immutable model from the manifest JSON (either shape)."""
    problems: list[str] = []
    models: dict[str, SemanticModel] = {}
    measures: dict[str, Measure] = {}
    extra_measures: dict[str, list[Measure]] = {}
    for sm in data.get("semantic_models") or []:
        name = sm["name"]
        default_atd = (sm.get("defaults") or {}).get("agg_time_dimension")
        ents = tuple(
            Entity(
                name=e["name"],
                type=str(e["type"]).lower(),
                expr=str(e.get("expr") or e["name"]),
                description=e.get("description"),
                label=e.get("label"),
            )
            for e in sm.get("entities") or []
        )
        dims = tuple(
            Dimension(
                name=d["name"],
                type=str(d["type"]).lower(),
                expr=str(d.get("expr") or d["name"]),
                grain=(
                    str((d.get("type_params") or {}).get("time_granularity") or "day").lower()
                    if str(d["type"]).lower() == "time"
                    else None
                ),
                description=d.get("description"),
                label=d.get("label"),
                is_partition=bool(d.get("is_partition")),
                validity=_validity(d),
            )
            for d in sm.get("dimensions") or []
        )
        ms = tuple(_measure(m, name, default_atd) for m in sm.get("measures") or [])
        for m in ms:
            if m.name in measures:
                problems.append(
                    f"semantic model '{name}': measure '{m.name}' is also defined in "
                    f"'{measures[m.name].model}' (measure names must be unique)"
                )
            measures[m.name] = m
        models[name] = SemanticModel(
            name=name,
            relation=dict(sm.get("node_relation") or {}),
            entities=ents,
            dimensions=dims,
            measures=ms,
            default_agg_time_dimension=default_atd,
            primary_entity=sm.get("primary_entity"),
            description=sm.get("description"),
            label=sm.get("label"),
        )

    raw_metrics = {m["name"]: m for m in data.get("metrics") or []}
    metrics: dict[str, Metric] = {}

    def simple_measure_of(metric_name: str) -> tuple[MeasureInput, tuple[str, ...]] | None:
        """The measure behind a (newer-shape) simple metric input, plus that metric's filters."""
        raw = raw_metrics.get(metric_name)
        if raw is None:
            return None
        tp = raw.get("type_params") or {}
        own_filters = _filters(raw.get("filter"))
        if tp.get("measure"):
            return _measure_input(tp["measure"]), own_filters
        if tp.get("metric_aggregation_params"):
            return MeasureInput(
                name=_private_measure_name(metric_name),
                join_to_timespine=bool(tp.get("join_to_timespine")),
                fill_nulls_with=tp.get("fill_nulls_with"),
            ), own_filters
        return None

    for name, raw in raw_metrics.items():
        tp = raw.get("type_params") or {}
        mtype = str(raw["type"]).lower()
        filters = _filters(raw.get("filter"))
        kwargs: dict[str, Any] = {}
        try:
            if mtype == "simple":
                if tp.get("measure"):
                    kwargs["measure"] = _measure_input(tp["measure"])
                elif tp.get("metric_aggregation_params"):
                    map_ = tp["metric_aggregation_params"]
                    model = map_["semantic_model"]
                    sm = models.get(model)
                    m = _measure(
                        {
                            "name": _private_measure_name(name),
                            "agg": map_["agg"],
                            "expr": tp.get("expr") or name,
                            "agg_params": map_.get("agg_params"),
                            "agg_time_dimension": map_.get("agg_time_dimension"),
                            "non_additive_dimension": map_.get("non_additive_dimension"),
                            "description": raw.get("description"),
                        },
                        model,
                        sm.default_agg_time_dimension if sm else None,
                    )
                    measures[m.name] = m
                    extra_measures.setdefault(model, []).append(m)
                    kwargs["measure"] = MeasureInput(
                        name=m.name,
                        join_to_timespine=bool(tp.get("join_to_timespine")),
                        fill_nulls_with=tp.get("fill_nulls_with"),
                    )
                else:
                    raise KeyError("type_params.measure or type_params.metric_aggregation_params")
            elif mtype == "ratio":
                kwargs["numerator"] = _metric_input(tp["numerator"])
                kwargs["denominator"] = _metric_input(tp["denominator"])
            elif mtype == "derived":
                kwargs["expr"] = tp.get("expr") or ""
                kwargs["inputs"] = tuple(_metric_input(i) for i in tp.get("metrics") or [])
            elif mtype == "cumulative":
                ctp = tp.get("cumulative_type_params") or {}
                mi = _measure_input(tp.get("measure"))
                if mi is None and ctp.get("metric"):
                    inner = _metric_input(ctp["metric"])
                    got = simple_measure_of(inner.name)
                    if got is None:
                        raise KeyError(f"cumulative input metric '{inner.name}'")
                    mi, inner_filters = got
                    filters = filters + inner_filters + inner.filters
                if mi is None:
                    raise KeyError("type_params.measure")
                gtd = ctp.get("grain_to_date") or tp.get("grain_to_date")
                kwargs["measure"] = mi
                kwargs["cumulative"] = Cumulative(
                    window=_window(ctp.get("window") or tp.get("window")),
                    grain_to_date=str(gtd).lower() if gtd else None,
                    period_agg=str(ctp.get("period_agg") or "first").lower(),
                )
            elif mtype == "conversion":
                ctp = tp["conversion_type_params"]

                def side(measure_key: str, metric_key: str, ctp=ctp) -> MeasureInput:
                    if ctp.get(measure_key):
                        return _measure_input(ctp[measure_key])
                    inner = _metric_input(ctp.get(metric_key))
                    got = simple_measure_of(inner.name) if inner else None
                    if got is None:
                        raise KeyError(f"conversion_type_params.{measure_key}")
                    mi, inner_filters = got
                    return MeasureInput(
                        name=mi.name,
                        filters=mi.filters + inner_filters + inner.filters,
                        alias=mi.alias,
                    )

                kwargs["conversion"] = Conversion(
                    base=side("base_measure", "base_metric"),
                    conversion=side("conversion_measure", "conversion_metric"),
                    entity=ctp["entity"],
                    calculation=str(ctp.get("calculation") or "conversion_rate").lower(),
                    window=_window(ctp.get("window")),
                    constant_properties=tuple(
                        (c["base_property"], c["conversion_property"])
                        for c in ctp.get("constant_properties") or []
                    ),
                )
            else:
                raise KeyError(f"metric type '{mtype}'")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            problems.append(f"metric '{name}': cannot read {exc}")
            continue
        metrics[name] = Metric(
            name=name,
            type=mtype,
            description=raw.get("description"),
            label=raw.get("label"),
            filters=filters,
            time_granularity=raw.get("time_granularity"),
            meta=dict((raw.get("config") or {}).get("meta") or {}),
            **kwargs,
        )

    for model_name, extra in extra_measures.items():
        sm = models.get(model_name)
        if sm is None:
            problems.append(
                f"metric(s) {[m.name for m in extra]}: semantic model '{model_name}' does not exist"
            )
            continue
        models[model_name] = SemanticModel(
            **{**sm.__dict__, "measures": sm.measures + tuple(extra)}
        )

    pc = data.get("project_configuration") or {}
    spines = []
    for ts in pc.get("time_spines") or []:
        pcol = ts["primary_column"]
        spines.append(
            TimeSpine(
                relation=dict(ts["node_relation"]),
                column=pcol["name"],
                grain=str(pcol["time_granularity"]).lower(),
                custom_granularities=tuple(
                    (c["name"], c.get("column_name") or c["name"])
                    for c in ts.get("custom_granularities") or []
                ),
            )
        )
    for ts in pc.get("time_spine_table_configurations") or []:  # legacy configuration
        loc = str(ts["location"]).split(".")
        spines.append(
            TimeSpine(
                relation={"schema_name": loc[-2] if len(loc) > 1 else "main", "alias": loc[-1]},
                column=ts.get("column_name") or "ds",
                grain=str(ts.get("grain") or "day").lower(),
            )
        )

    saved: dict[str, SavedQuery] = {}
    for sq in data.get("saved_queries") or []:
        qp = sq.get("query_params") or {}
        saved[sq["name"]] = SavedQuery(
            name=sq["name"],
            metrics=tuple(qp.get("metrics") or ()),
            group_by=tuple(qp.get("group_by") or ()),
            where=_filters(qp.get("where")),
            order_by=tuple(qp.get("order_by") or ()),
            limit=qp.get("limit"),
            exports=tuple(
                Export(
                    name=e["name"],
                    export_as=str((e.get("config") or {}).get("export_as") or "table").lower(),
                    schema=(e.get("config") or {}).get("schema_name")
                    or (e.get("config") or {}).get("schema"),
                    alias=(e.get("config") or {}).get("alias") or e["name"],
                )
                for e in sq.get("exports") or []
            ),
            description=sq.get("description"),
            label=sq.get("label"),
        )
    return Manifest(
        semantic_models=models,
        metrics=metrics,
        measures=measures,
        time_spines=tuple(spines),
        saved_queries=saved,
        problems=tuple(problems),
        digest=digest,
    )


def _private_measure_name(metric_name: str) -> str:
    return f"{metric_name}"


def _cache_dir() -> Path:
    base = os.environ.get("OPSMETRICS_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "opsmetrics"
    )
    return Path(base)


def load_manifest(source: str | Path | dict[str, Any] | Manifest) -> Manifest:
    """Read a manifest from a path, a parsed dict or an existing :class:`Manifest`.

    A file is hashed (blake2b of its bytes) and the parsed model pickled under
    ``~/.cache/opsmetrics/`` (``$OPSMETRICS_CACHE_DIR``) keyed by that hash, so a changed file
    is never served stale and an unchanged one is not re-parsed.
    """
    if isinstance(source, Manifest):
        return source
    if isinstance(source, dict):
        return parse_manifest(source)
    path = Path(source)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ManifestError(
            f"cannot read semantic manifest {path}: {exc.strerror}",
            hint="run `dbt parse` in the project to write target/semantic_manifest.json",
        ) from None
    digest = hashlib.blake2b(raw, digest_size=16).hexdigest()
    from analysis_py.semantic.sqlcache import code_fingerprint

    cache = _cache_dir() / f"manifest-{CACHE_VERSION}-{code_fingerprint()}-{digest}.pickle"
    try:
        with open(cache, "rb") as f:
            cached = pickle.load(f)
        if isinstance(cached, Manifest) and cached.digest == digest:
            return cached
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        pass
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or "semantic_models" not in data:
        raise ManifestError(
            f"{path} is not a dbt semantic manifest (no 'semantic_models' key)",
            hint="pass target/semantic_manifest.json, not target/manifest.json",
        )
    manifest = parse_manifest(data, digest)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            pickle.dump(manifest, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, cache)
    except OSError:
        pass  # a read-only home is not an error; we just parse every time
    return manifest
