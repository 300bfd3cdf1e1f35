"""Governed inputs: public, contracted marts and metric series, read through Ibis.

Only two kinds of input are allowed, so every number an analysis reports traces back to a
tested, documented model:

* a **mart** that the dbt manifest declares ``access: public`` with an enforced contract
  (anything else — a private model, a staging view, a typo — is refused with a clear error);
* a **metric series** (metric × day × optional slice), taken from the semantic layer when it
  is available, else built from the mart that defines the metric. Switching between the two
  happens in :meth:`Inputs.metric_series` only.

Filters, aggregates and windows run in the engine (DuckDB, or Spark through Ibis's pyspark
backend); only aggregated series or model matrices are pulled into pandas.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from analysis_py.errors import DataNotFoundError, FilterError, InputError, did_you_mean
from analysis_py.warehouse.manifest import DbtManifest, Relation
from analysis_py.warehouse.project import GOVERNED_INPUTS_VAR, governed_patterns, matches


def _closest(name: str, options: list[str]) -> str:
    maybe = did_you_mean(name, options, n=1)
    return f" ({maybe})" if maybe else ""


@dataclass(frozen=True)
class MetricDef:
    """How to build a daily metric series from a mart when no semantic layer answers."""

    mart: str
    date_column: str
    #: ``count``, ``sum:<col>``, ``mean:<col>`` (mean of a boolean = a rate)
    value: str = "count"
    #: slice name -> mart column (``case__product`` and ``product`` both resolve)
    dimensions: dict[str, str] = field(default_factory=dict)

    @property
    def additive(self) -> bool:
        """A count or a sum: slices add up to the total, and an empty period is a zero."""
        return self.value == "count" or self.value.startswith("sum:")


def semantic_metric_definitions(path: str | Path) -> dict[str, MetricDef]:
    """Daily-series definitions of the project's metrics, read from dbt's
    ``semantic_manifest.json``, for when the semantic engine cannot answer (e.g. on Spark).

    A simple metric over a ``sum`` of ``1`` is a count, over a ``sum``/``sum_boolean`` of a
    column a sum, over an ``average`` a mean; a ratio of a ``sum_boolean`` to a count of the
    same semantic model is the mean of that boolean (a rate). Other metrics (filtered,
    derived, cumulative, conversion) are left to the semantic engine. Dimensions are the
    semantic model's own categorical dimensions.
    """
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    measures = {}
    for sm in raw.get("semantic_models") or []:
        mart = (sm.get("node_relation") or {}).get("alias")
        if not mart:
            continue
        dims = {d["name"]: d.get("expr") or d["name"] for d in sm.get("dimensions") or []}
        cats = {
            d["name"]: d.get("expr") or d["name"]
            for d in sm.get("dimensions") or []
            if d.get("type") == "categorical"
        }
        default_time = (sm.get("defaults") or {}).get("agg_time_dimension")
        for m in sm.get("measures") or []:
            time_dim = m.get("agg_time_dimension") or default_time
            if time_dim is None:
                continue
            expr = str(m.get("expr") or m["name"]).strip()
            measures[m["name"]] = (mart, dims.get(time_dim, time_dim), m.get("agg"), expr, cats)

    def value_of(measure) -> str | None:
        _, _, agg, expr, _ = measure
        if agg == "sum" and expr == "1":
            return "count"
        if agg in ("sum", "sum_boolean") and expr.isidentifier():
            return f"sum:{expr}"
        if agg == "average" and expr.isidentifier():
            return f"mean:{expr}"
        return None

    out: dict[str, MetricDef] = {}
    for metric in raw.get("metrics") or []:
        tp = metric.get("type_params") or {}
        if metric.get("filter"):
            continue
        if metric.get("type") == "simple":
            ref = tp.get("measure") or {}
            m = measures.get(ref.get("name"))
            if m is None or ref.get("filter"):
                continue
            value = value_of(m)
        elif metric.get("type") == "ratio":
            num, den = tp.get("numerator") or {}, tp.get("denominator") or {}
            mn, md = measures.get(num.get("name")), measures.get(den.get("name"))
            if mn is None or md is None or num.get("filter") or den.get("filter"):
                continue
            same_model = mn[0] == md[0] and mn[1] == md[1]
            if not (same_model and mn[2] == "sum_boolean" and value_of(md) == "count"):
                continue
            m, value = mn, f"mean:{mn[3]}"
        else:
            continue
        if value is not None:
            out[metric["name"]] = MetricDef(m[0], m[1], value, dict(m[4]))
    return out


def published_warehouse(warehouse_dir: str | Path | None = None) -> Path:
    """The published DuckDB file (``<warehouse>/opsmetrics.duckdb``)."""
    from analysis_py.config import PUBLISHED_NAME, resolve_paths

    if warehouse_dir is None:
        path = resolve_paths().published_path
    else:
        path = Path(warehouse_dir) / PUBLISHED_NAME
    if not path.exists():
        raise DataNotFoundError(
            f"no published warehouse at {path}",
            hint="run `opsmetrics build` first, or set OPSMETRICS_WAREHOUSE_DIR",
        )
    return path


def input_version(duckdb_path: str | Path) -> str:
    """The build id of the warehouse read: ``current.json``'s ``build_id``, else the file name
    the published symlink points at."""
    p = Path(duckdb_path)
    cur = p.parent / "current.json"
    if cur.is_file():
        try:
            bid = json.loads(cur.read_text()).get("build_id")
            if bid:
                return str(bid)
        except (OSError, ValueError):
            pass
    return Path(os.path.realpath(p)).name


class Manifest:
    """Which relations analyses may read: public models with an enforced contract, as the
    project's dbt manifest declares them (read by :mod:`analysis_py.warehouse.manifest`)."""

    def __init__(self, manifest: DbtManifest, governed_inputs: tuple[str, ...] = ()):
        self.models: dict[str, Relation] = manifest.models()
        self.path = manifest.path
        #: the project's own list of trusted models (``opsmetrics_governed_inputs``), for
        #: projects that do not use contracts
        self.governed_inputs = tuple(governed_inputs)
        nodes = manifest.data.get("nodes", {})
        self._listed = {
            name
            for name, rel in self.models.items()
            if governed_inputs
            and matches(
                self.governed_inputs,
                name,
                list((nodes.get(rel.unique_id) or {}).get("tags") or []),
                str((nodes.get(rel.unique_id) or {}).get("original_file_path") or ""),
            )
        }

    @classmethod
    def load(cls, project_dir: str | Path, warehouse_path: str | Path | None = None) -> Manifest:
        """The manifest of the build that produced the warehouse (``<warehouse>/target``,
        published next to it) if there is one, else the project's ``target/manifest.json``."""
        candidates = []
        if warehouse_path is not None:
            candidates.append(Path(warehouse_path).parent / "target" / "manifest.json")
        candidates.append(Path(project_dir) / "target" / "manifest.json")
        path = next((c for c in candidates if c.is_file()), candidates[-1])
        manifest = DbtManifest.read(path)
        if manifest is None:
            raise InputError(
                f"no dbt manifest at {path}: cannot check that inputs are public, contracted marts",
                hint="run `dbt parse` (or `opsmetrics build`) in the project first",
            )
        return cls(manifest, governed_patterns(project_dir))

    @functools.cached_property
    def metrics(self) -> dict[str, MetricDef]:
        """The project's metrics as daily-series definitions (from the semantic manifest beside
        the dbt manifest), used when the semantic engine cannot answer; read on first use, so
        a run on a mart never reads the semantic manifest."""
        return semantic_metric_definitions(Path(self.path).parent / "semantic_manifest.json")

    def is_governed(self, name: str) -> bool:
        rel = self.models.get(name)
        return rel is not None and (rel.governed or name in self._listed)

    def governed(self, name: str, where: str = "input") -> Relation:
        """A public, contract-enforced model, or a clear error."""
        rel = self.models.get(name)
        if rel is None:
            raise InputError(
                f"{where}: unknown model '{name}'{_closest(name, list(self.models))}",
                hint="inputs must be public, contracted marts of the dbt project",
            )
        if not self.is_governed(name):
            listed = (
                f"; the project's {GOVERNED_INPUTS_VAR} ({', '.join(self.governed_inputs)}) "
                "does not list it"
                if self.governed_inputs
                else ""
            )
            raise InputError(
                f"{where}: model '{name}' is not a governed input "
                f"(access={rel.access}, contract enforced={rel.contract_enforced}{listed})",
                hint="analyses read public models with an enforced contract, or the models a "
                f"project lists under vars: {GOVERNED_INPUTS_VAR} in dbt_project.yml",
            )
        return rel

    def public_models(self) -> list[str]:
        """The models analyses may read (named so for the date dimension lookup)."""
        return sorted(name for name in self.models if self.is_governed(name))


class Inputs:
    """Governed tables and metric series over one Ibis backend.

    >>> # inp = Inputs.open()                       # published warehouse + dbt manifest
    >>> # inp.table("fct_cases")                    # an Ibis table expression
    >>> # inp.metric_series("cases_opened", "product")
    """

    def __init__(self, con: Any, manifest: Manifest, *, version: str = "unknown", semantic=None):
        self.con = con
        self.manifest = manifest
        self.version = version
        self._semantic = semantic

    @classmethod
    def from_backend(cls, con, manifest_path: str | Path, *, version: str = "unknown") -> Inputs:
        """Inputs over any Ibis backend (e.g. ``ibis.pyspark.connect(session)`` on a Spark
        target) with the dbt manifest of that target; the governance checks are the same."""
        manifest = DbtManifest.read(manifest_path)
        if manifest is None:
            raise InputError(f"no readable dbt manifest at {manifest_path}")
        return cls(con, Manifest(manifest), version=version)

    @classmethod
    def open(
        cls,
        duckdb_path: str | Path | None = None,
        project_dir: str | Path | None = None,
        *,
        use_semantic: bool = True,
    ) -> Inputs:
        import ibis

        from analysis_py.config import find_project_dir

        path = Path(duckdb_path) if duckdb_path else published_warehouse()
        if not path.exists():
            raise DataNotFoundError(f"no warehouse at {path}", hint="run `opsmetrics build`")
        proj = Path(project_dir) if project_dir else find_project_dir()
        manifest = Manifest.load(proj, path)
        con = ibis.duckdb.connect(str(path), read_only=True)
        with contextlib.suppress(Exception):  # DuckDB's bar would interleave with ours
            con.raw_sql("SET enable_progress_bar = false")
        semantic = None
        if use_semantic and os.environ.get("OPSMETRICS_ANALYSIS_SEMANTIC", "1") != "0":
            semantic = _try_semantic(proj, path, con)
        return cls(con, manifest, version=input_version(path), semantic=semantic)

    # -- marts ---------------------------------------------------------------------------
    def table(self, name: str, where: str = "input.mart"):
        """An Ibis expression over a governed mart (refuses anything else)."""
        rel = self.manifest.governed(name, where)
        alias, schema = rel.name, rel.schema
        try:
            return self.con.table(alias, database=schema) if schema else self.con.table(alias)
        except Exception:
            try:
                return self.con.table(alias)
            except Exception as exc:
                raise InputError(
                    f"{where}: model '{name}' is governed but not in the warehouse ({exc})",
                    hint="rebuild the warehouse with `opsmetrics build`",
                ) from exc

    def spec_table(self, spec, columns: list[str], predicate: str | None = None):
        """The spec's governed mart, its needed ``columns`` checked, filtered by ``predicate``
        (the spec's ``where`` parameter) — how every table analysis starts."""
        where = f"spec '{spec.name}'"
        t = self.table(spec.input["mart"], where=f"{where}: input.mart")
        self.check_columns(t, columns, f"{where}: parameters")
        if predicate:
            t = self.filter_sql(t, predicate, f"{where}: parameters.where")
        return t

    def check_columns(self, t, columns: list[str], where: str) -> None:
        have = list(t.columns)
        for c in columns:
            if c not in have:
                raise InputError(f"{where}: unknown column '{c}'{_closest(c, have)}")

    #: sqlglot dialect of the engine, for rendering checked predicates
    sql_dialect = "duckdb"
    _VIEW = "CREATE OR REPLACE TEMP VIEW"

    def filter_sql(self, t, predicate: str, where: str):
        """Rows of ``t`` matching a SQL boolean predicate over its columns, evaluated by the
        engine. The predicate goes through the semantic layer's filter allow-list and is
        re-rendered from its parse tree: one condition over ``t``'s columns, no subquery,
        table, statement or file-reading function."""
        import ibis

        from analysis_py.semantic.where import check_predicate

        try:
            checked = check_predicate(predicate, list(t.columns), dialect=self.sql_dialect)
        except FilterError as exc:
            raise InputError(f"{where}: {exc.message}", hint=exc.hint) from None
        # A temporary view (allowed on a read-only warehouse) keeps the filter in the engine;
        # ibis's ``con.sql`` schema probe is not used because it breaks on DuckDB 2.
        self._views = getattr(self, "_views", 0) + 1
        name = f"_opsm_filtered_{self._views}"
        inner = ibis.to_sql(t, dialect=self.con.name)
        try:
            self.con.raw_sql(
                f"{self._VIEW} {name} AS SELECT * FROM ({inner}) AS _in WHERE {checked}"
            )
            out = self.con.table(name)
        except Exception as exc:
            raise InputError(f"{where}: cannot apply filter {predicate!r}: {exc}") from exc
        return out

    def calendar(self, mart: str = "dim_dates") -> pd.DataFrame | None:
        """Calendar regressors by day (public holidays per country, month-end business days)
        from the governed date dimension; ``None`` when the project has no such mart."""
        if mart not in self.manifest.public_models():
            return None
        t = self.table(mart, where="calendar")
        date_col = "date_day" if "date_day" in t.columns else None
        flags = [
            c
            for c in t.columns
            if c.startswith("is_holiday_") or c.startswith("is_month_end_business_day")
        ]
        if date_col is None or not flags:
            return None
        df = t.select(
            t[date_col].cast("date").name("date"), *[t[c].cast("float64").name(c) for c in flags]
        )
        out = df.to_pandas()
        out["date"] = pd.to_datetime(out["date"])
        return out.set_index("date").sort_index().fillna(0.0)

    def spec_marts(self, spec) -> list[str]:
        """The marts a spec reads: its own mart, or the marts its metrics are defined on."""
        out = list(spec.marts())
        if "metric" in spec.input or "series" in spec.input:
            for metric, _ in spec.series():
                d = self.manifest.metrics.get(metric)
                if d and d.mart not in out:
                    out.append(d.mart)
        return out

    # -- metric series -------------------------------------------------------------------
    def spec_series(self, spec) -> pd.DataFrame:
        """Every (metric, slice) series a spec asks for, stacked with a ``metric`` column, at
        the spec's ``input.grain`` and filtered by its ``input.where``."""
        p = spec.parameters
        where = f"spec '{spec.name}': input"
        frames = []
        for metric, slice_by in spec.series():
            definition = spec.metric_definition(metric)
            series = self.metric_series(
                metric,
                slice_by,
                where=where,
                definition=definition,
                start=p.get("start"),
                end=p.get("end"),
                grain=spec.grain,
                filters=spec.filters,
            )
            frames.append(
                series.assign(
                    metric=metric,
                    slicing=" × ".join(slice_by or ()),
                    additive=self.is_additive(metric, definition),
                )
            )
        return pd.concat(frames, ignore_index=True)

    def metric_series(
        self,
        metric: str,
        slice_by: str | tuple[str, ...] | list[str] | None = None,
        *,
        where: str = "input.metric",
        definition: MetricDef | None = None,
        start: str | None = None,
        end: str | None = None,
        grain: str = "day",
        filters: tuple[str, ...] | list[str] = (),
    ) -> pd.DataFrame:
        """Values of ``metric`` per period and slice: columns ``date`` (the period start),
        ``slice`` (the slice dimensions' values joined by `` / ``, or ``all``), ``value``, and
        when they exist ``numerator``/``denominator`` (a rate's parts) and ``volume`` (rows
        behind a percentile or average).

        The semantic layer answers when it knows the metric — any type, any of its dimensions,
        ``filters`` in its filter syntax, grain ``hour``/``day``/``week``/``month``; otherwise
        the given (inline) or manifest-derived definition is aggregated in the engine, where
        ``filters`` are plain predicates over the mart's columns. Periods with no rows are 0
        for additive metrics (a day without cases is a zero, not a gap), missing otherwise.
        """
        if grain not in SERIES_GRAINS:
            raise InputError(
                f"{where}.grain: '{grain}' is not a series grain (one of {', '.join(SERIES_GRAINS)})"
            )
        dims = _slice_dims(slice_by)
        sl = self._semantic
        if (
            definition is None
            and sl is not None
            and metric in sl.manifest.metrics
            and all("__" in d for d in dims)
        ):
            return self._semantic_series(metric, dims, grain, filters, start, end, where)
        mdef = definition or self.manifest.metrics.get(metric)
        if mdef is None:
            known = sorted(set(self.manifest.metrics) | set(sl.manifest.metrics if sl else ()))
            if sl is not None and metric in sl.manifest.metrics:
                raise InputError(
                    f"{where}.slices: {', '.join(dims)}: name slice dimensions with their "
                    "entity (e.g. case__product) for a semantic-layer metric"
                )
            raise InputError(
                f"{where}: unknown metric '{metric}'{_closest(metric, known)}",
                hint="name a metric of the semantic layer, or give input.mart/date/value",
            )
        t = self.table(mdef.mart, where=f"{where} ({metric} → {mdef.mart})")
        date_col = mdef.date_column
        self.check_columns(t, [date_col], where)
        for f in filters:
            t = self.filter_sql(t, f, f"{where}.where")
        if start:
            t = t.filter(t[date_col] >= start)
        if end:
            t = t.filter(t[date_col] <= end)
        period = t[date_col].cast("timestamp").truncate(_IBIS_UNIT[grain])
        group = [period.name("date")]
        for i, d in enumerate(dims):
            col = mdef.dimensions.get(d.split("__")[-1], d.split("__")[-1])
            self.check_columns(t, [col], f"{where}.slices")
            group.append(t[col].cast("string").name(f"_s{i}"))
        aggs = _aggregate(t, mdef.value, where)
        df = t.group_by(group).aggregate(**aggs).to_pandas()
        df["slice"] = _slice_label(df, [f"_s{i}" for i in range(len(dims))])
        return _fill(df, start, end, zero=mdef.additive, grain=grain)

    def is_additive(self, metric: str, definition: MetricDef | None = None) -> bool:
        """Whether the metric's slices add up to its total (a plain count or sum)."""
        sl = self._semantic
        if definition is None and sl is not None and metric in sl.manifest.metrics:
            return _additive(sl.manifest, metric)
        mdef = definition or self.manifest.metrics.get(metric)
        return bool(mdef and mdef.additive)

    def _semantic_series(self, metric, dims, grain, filters, start, end, where) -> pd.DataFrame:
        """The series from the semantic layer, with a rate's numerator and denominator and a
        percentile's or average's volume (its semantic model's count metric) when known."""
        from analysis_py.errors import OpsMetricsError

        sl = self._semantic
        parts = _series_parts(sl.manifest, metric)
        metrics = [metric, *[m for m in parts.values() if m != metric]]
        tcol = f"metric_time__{grain}"
        try:
            q = sl.query(
                metrics=metrics,
                group_by=[tcol, *dims],
                where=list(filters) or None,
                start_time=start,
                end_time=end,
            )
            df = q.to_pandas()
        except OpsMetricsError as exc:
            raise InputError(f"{where}: metric '{metric}': {exc.message}", hint=exc.hint) from None
        df = df.rename(columns={tcol: "date", metric: "value"})
        for role, m in parts.items():
            df[role] = df["value"] if m == metric else df[m]
        df["slice"] = _slice_label(df, list(dims))
        zero = _additive(sl.manifest, metric)
        return _fill(df, start, end, zero=zero, grain=grain)


#: series grains and their pandas period frequencies (MetricFlow's weeks start on Monday)
SERIES_GRAINS = ("hour", "day", "week", "month")
GRAIN_FREQ = {"hour": "h", "day": "D", "week": "W-MON", "month": "MS"}
_IBIS_UNIT = {"hour": "h", "day": "D", "week": "W", "month": "M"}
_EXTRA = ("numerator", "denominator", "volume")


def _slice_dims(slice_by) -> tuple[str, ...]:
    if slice_by is None:
        return ()
    if isinstance(slice_by, str):
        return (slice_by,)
    return tuple(slice_by)


def _slice_label(df: pd.DataFrame, cols: list[str]) -> pd.Series:
    if not cols:
        return pd.Series("all", index=df.index)
    vals = [df[c].astype(object).where(df[c].notna(), "null").astype(str) for c in cols]
    out = vals[0]
    for v in vals[1:]:
        out = out + " / " + v
    return out


def _measure_of(manifest, metric_name: str):
    m = manifest.metrics.get(metric_name)
    if m is None or m.type != "simple" or m.measure is None or m.filters or m.measure.filters:
        return None
    return manifest.measures.get(m.measure.name)


def _additive(manifest, metric_name: str) -> bool:
    """A simple, unfiltered-by-window sum or count: its slices add up to its total and an
    empty period is a zero."""
    m = manifest.metrics.get(metric_name)
    if m is None or m.type != "simple" or m.measure is None:
        return False
    meas = manifest.measures.get(m.measure.name)
    return bool(
        meas is not None
        and meas.agg in ("sum", "count", "sum_boolean")
        and meas.non_additive is None
        and m.measure.fill_nulls_with in (None, 0)
    )


def _series_parts(manifest, metric_name: str) -> dict[str, str]:
    """Metrics that give a series its statistical weight: a ratio's unfiltered numerator and
    denominator metrics; for a percentile, median or average, a plain count metric of the
    same semantic model (its volume)."""
    m = manifest.metrics.get(metric_name)
    if m is None:
        return {}
    if m.type == "ratio" and m.numerator and m.denominator:
        num, den = m.numerator, m.denominator
        plain = not (num.filters or den.filters or num.alias or den.alias or m.filters)
        if plain and num.name in manifest.metrics and den.name in manifest.metrics:
            return {"numerator": num.name, "denominator": den.name}
        return {}
    meas = _measure_of(manifest, metric_name)
    if meas is None or meas.agg not in ("percentile", "median", "average"):
        return {}
    for name in sorted(manifest.metrics):
        om = _measure_of(manifest, name)
        if (
            om is not None
            and om.model == meas.model
            and om.agg_time_dimension == meas.agg_time_dimension
            and (om.agg == "count" or (om.agg == "sum" and om.expr.strip() == "1"))
        ):
            return {"volume": name}
    return {}


def _aggregate(t, value: str, where: str) -> dict:
    """The engine aggregates of an inline or manifest-derived metric: its ``value`` and, for a
    mean (a rate when the column is boolean), the numerator/denominator behind it."""
    if value == "count":
        return {"value": t.count()}
    kind, _, col = value.partition(":")
    if kind not in ("sum", "mean"):
        raise InputError(f"{where}.value: '{value}' must be count, sum:<column> or mean:<column>")
    if col not in t.columns:
        raise InputError(f"{where}.value: unknown column '{col}'{_closest(col, list(t.columns))}")
    c = t[col]
    if kind == "sum":
        return {"value": c.sum()}
    x = c.cast("float64")
    return {"value": x.mean(), "numerator": x.sum(), "denominator": x.count()}


def _fill(df: pd.DataFrame, start, end, *, zero: bool, grain: str = "day") -> pd.DataFrame:
    """Complete every slice to a full index of periods (missing additive periods are zeros;
    missing counts behind a rate are zeros too, its value stays missing)."""
    extra = [c for c in _EXTRA if c in df.columns]
    cols = ["date", "slice", "value", *extra]
    if df.empty:
        return df.reindex(columns=cols).assign(date=pd.to_datetime(df.get("date", [])))
    df = df.copy()
    df["date"] = pd.to_datetime(df["date"])
    freq = GRAIN_FREQ[grain]
    if grain == "week":
        df["date"] = df["date"] - pd.to_timedelta(df["date"].dt.day_of_week, unit="D")
    lo = _period_start(pd.Timestamp(start), grain) if start else df["date"].min()
    hi = _period_start(pd.Timestamp(end), grain) if end else df["date"].max()
    periods = pd.date_range(lo, hi, freq=freq)
    slices = sorted(df["slice"].astype(str).unique())
    idx = pd.MultiIndex.from_product([slices, periods], names=["slice", "date"])
    out = df.groupby(["slice", "date"])[["value", *extra]].sum(min_count=1).reindex(idx)
    if zero:
        out["value"] = out["value"].fillna(0.0)
    out[extra] = out[extra].fillna(0.0)
    return out.reset_index()[cols]


def _period_start(ts: pd.Timestamp, grain: str) -> pd.Timestamp:
    if grain == "hour":
        return ts.floor("h")
    if grain == "day":
        return ts.normalize()
    if grain == "week":
        return (ts - pd.Timedelta(days=ts.day_of_week)).normalize()
    return ts.normalize().replace(day=1)


def _try_semantic(project_dir: Path, duckdb_path: Path, con):
    """The semantic layer over the same connection, from the semantic manifest of the build
    that produced the warehouse (else the project's); ``None`` if unavailable."""
    try:
        from analysis_py.semantic import SemanticLayer  # type: ignore[attr-defined]
    except Exception:
        return None
    for cand in (
        Path(duckdb_path).parent / "target" / "semantic_manifest.json",
        Path(project_dir) / "target" / "semantic_manifest.json",
    ):
        if cand.is_file():
            try:
                return SemanticLayer.from_manifest(str(cand), connection=con.con)
            except Exception:
                return None
    return None
