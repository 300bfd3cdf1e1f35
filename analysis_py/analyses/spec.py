"""Declarative analysis specs (YAML): parse, validate, and say exactly what is wrong.

A spec names the analysis, its governed input (a mart, or metric series), the slices, the
parameters and an owner::

    name: case_volume_forecast
    analysis: forecast
    owner: ops-planning
    description: How many cases will each product get over the next four weeks?
    input:
      metric: cases_opened        # a semantic-layer metric ...
      slices: [product]           # ... one series per product (omit for the total)
    parameters:
      horizon: 28

``input`` forms: ``{mart: fct_cases}`` for table analyses (drivers, impact, survival,
compare, profile); ``{metric, slices}`` or ``{series: [{metric, slice}, …]}`` for series
analyses (forecast, anomalies). A metric that the semantic layer does not define can be
declared inline from any public mart: ``{metric: orders, mart: fct_orders, date: order_date,
value: count | sum:<col> | mean:<col>, slices: [region]}`` — that is what makes a spec work
on another dbt project.

Every unknown key is an error naming the spec, the field and the closest valid name, raised
before anything runs, so a typo never produces a silently-defaulted analysis.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from analysis_py.analyses.inputs import SERIES_GRAINS, MetricDef
from analysis_py.analyses.params import build as build_params
from analysis_py.errors import SpecError, did_you_mean

#: Entry-point group through which a package adds analysis types: each entry names a module
#: with a ``Params`` dataclass, ``run(inputs, spec) -> AnalysisResults`` and, for analyses of
#: metric series, ``INPUT = "series"`` (docs/analyses.md, "Adding an analysis type").
ENTRY_POINT_GROUP = "opsmetrics.analyses"

#: The analyses this package ships. pyproject.toml registers them in the same entry-point
#: group; this map also serves a checkout that is used without being installed.
SHIPPED = {
    "profile": "analysis_py.analyses.profile",
    "forecast": "analysis_py.analyses.forecast",
    "anomalies": "analysis_py.analyses.anomalies",
    "drivers": "analysis_py.analyses.drivers",
    "survival": "analysis_py.analyses.survival",
    "impact": "analysis_py.analyses.impact",
    "compare": "analysis_py.analyses.compare",
    "predict": "analysis_py.analyses.predict",
}
TOP_KEYS = (
    "name",
    "analysis",
    "owner",
    "description",
    "question",
    "audience",
    "decision",
    "input",
    "parameters",
    "tags",
    "exposure",
    "enabled",
)
INPUT_KEYS_TABLE = ("mart",)
INPUT_KEYS_SERIES = (
    "metric",
    "slices",
    "include_total",
    "series",
    "mart",
    "date",
    "value",
    "grain",
    "where",
)
SERIES_ITEM_KEYS = ("metric", "slice")


def _suggest(name: str, options) -> str:
    maybe = did_you_mean(name, options, n=1)
    return f"; {maybe}" if maybe else f" (valid: {', '.join(options)})"


@functools.lru_cache(maxsize=1)
def registry() -> dict[str, str]:
    """Analysis name -> module: the installed entry points, then the shipped map (a plug-in
    cannot take a shipped name)."""
    from importlib.metadata import entry_points

    found = {ep.name: ep.value.split(":")[0] for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return {**found, **SHIPPED}


def module_for(analysis: str):
    """The module of an analysis type, checked to keep the contract."""
    target = registry()[analysis]
    try:
        mod = importlib.import_module(target)
    except ImportError as exc:
        raise SpecError(
            f"analysis '{analysis}': cannot import its module {target} ({exc})",
            hint=f"install the package that provides it (entry-point group {ENTRY_POINT_GROUP})",
        ) from exc
    params = getattr(mod, "Params", None)
    if not (dataclasses.is_dataclass(params) and callable(getattr(mod, "run", None))):
        raise SpecError(
            f"analysis '{analysis}' ({target}) does not keep the analysis contract: it needs a "
            "Params dataclass and a run(inputs, spec) function",
            hint="see docs/analyses.md, 'Adding an analysis type'",
        )
    return mod


def is_series(analysis: str) -> bool:
    """Whether an analysis reads metric series (``INPUT = "series"``) rather than a mart."""
    return getattr(module_for(analysis), "INPUT", "table") == "series"


@dataclass(frozen=True)
class Spec:
    name: str
    analysis: str
    input: dict[str, Any]
    parameters: dict[str, Any]
    owner: str | None = None
    description: str | None = None
    #: the business question, in the words of the people who asked it (shown as the question)
    question: str | None = None
    #: who reads the answer (e.g. "payments operations managers")
    audience: str | None = None
    #: the decision the answer informs
    decision: str | None = None
    tags: tuple[str, ...] = ()
    exposure: dict[str, Any] = field(default_factory=dict)
    path: str | None = None
    given_parameters: dict[str, Any] = field(default_factory=dict)

    def params(self):
        """The analysis's typed parameters object (for analyses that declare ``Params``)."""
        return module_for(self.analysis).Params(**self.parameters)

    def series(self) -> list[tuple[str, tuple[str, ...] | None]]:
        """(metric, slice dimensions) pairs to analyse; None = the total. A slice is one
        dimension or a list of them (one series per combination of their values)."""
        inp = self.input
        if "series" in inp:
            return [(s["metric"], _dims(s.get("slice"))) for s in inp["series"]]
        slices = inp.get("slices") or []
        out = [(inp["metric"], _dims(s)) for s in slices]
        if not slices or inp.get("include_total"):
            out.insert(0, (inp["metric"], None))
        return out

    @property
    def grain(self) -> str:
        """The series' time grain: ``hour``, ``day`` (default), ``week`` or ``month``."""
        return str(self.input.get("grain") or "day")

    @property
    def filters(self) -> tuple[str, ...]:
        """``input.where``: semantic-layer filters (``{{ Dimension('case__channel') }} =
        'email'``) for a metric of the semantic layer; column predicates for an inline one."""
        w = self.input.get("where")
        if not w:
            return ()
        return (w,) if isinstance(w, str) else tuple(w)

    def metric_definition(self, metric: str) -> MetricDef | None:
        """An inline metric definition (``input.mart/date/value``), if the spec gives one."""
        inp = self.input
        if inp.get("mart") and inp.get("date") and inp.get("metric") == metric:
            names = [d.split("__")[-1] for _, dims in self.series() for d in dims or ()]
            return MetricDef(
                inp["mart"], inp["date"], inp.get("value", "count"), {n: n for n in names}
            )
        return None

    def marts(self) -> list[str]:
        """Marts the spec names itself: its table input, or an inline metric's mart (the marts
        behind semantic-layer metrics are resolved by ``Inputs.spec_marts``)."""
        return [self.input["mart"]] if self.input.get("mart") else []

    def depends_on(self) -> list[str]:
        """dbt lineage of the spec, as an exposure's ``depends_on``: ``ref('<mart>')`` for the
        marts it names, ``metric('<name>')`` for the semantic-layer metrics it reads."""
        refs = [f"ref('{m}')" for m in self.marts()]
        if is_series(self.analysis):
            for metric, _ in self.series():
                if self.metric_definition(metric) is None:
                    ref = f"metric('{metric}')"
                    if ref not in refs:
                        refs.append(ref)
        return refs

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "analysis": self.analysis,
            "owner": self.owner,
            "description": self.description,
            "question": self.question,
            "audience": self.audience,
            "decision": self.decision,
            "input": self.input,
            "parameters": self.given_parameters,
        }


def _dims(item) -> tuple[str, ...] | None:
    if item is None:
        return None
    return (item,) if isinstance(item, str) else tuple(item)


def parse(raw: Any, source: str, default_name: str | None = None) -> Spec:
    """Validate one spec mapping; raise :class:`SpecError` naming spec and field."""
    if not isinstance(raw, dict):
        raise SpecError(f"spec in {source}: expected a mapping, got {type(raw).__name__}")
    name = raw.get("name") or default_name or "<unnamed>"
    where = f"spec '{name}' ({source})"
    for key in raw:
        if key not in TOP_KEYS:
            raise SpecError(f"{where}: unknown field '{key}'{_suggest(key, TOP_KEYS)}")
    analysis = raw.get("analysis")
    if analysis is None:
        known = registry()
        raise SpecError(f"{where}: field 'analysis' is required (one of {', '.join(known)})")
    if analysis not in registry():
        raise SpecError(
            f"{where}: field 'analysis': unknown analysis '{analysis}'"
            f"{_suggest(analysis, list(registry()))}"
        )
    for key in ("owner", "description", "question", "audience", "decision"):
        if raw.get(key) is not None and not (isinstance(raw[key], str) and raw[key].strip()):
            raise SpecError(f"{where}: field '{key}' must be text")
    inp = raw.get("input")
    if not isinstance(inp, dict) or not inp:
        raise SpecError(f"{where}: field 'input' is required (a mapping: mart, or metric/slices)")
    if is_series(analysis):
        _check_keys(inp, INPUT_KEYS_SERIES, f"{where}: field 'input")
        if "series" in inp:
            if not isinstance(inp["series"], list) or not inp["series"]:
                raise SpecError(f"{where}: field 'input.series' must be a non-empty list")
            for i, item in enumerate(inp["series"]):
                if not isinstance(item, dict) or "metric" not in item:
                    raise SpecError(f"{where}: field 'input.series[{i}]' needs a 'metric'")
                _check_keys(item, SERIES_ITEM_KEYS, f"{where}: field 'input.series[{i}]")
        elif "metric" not in inp:
            raise SpecError(
                f"{where}: field 'input.metric' is required for {analysis} (or input.series)"
            )
        if "slices" in inp and not isinstance(inp["slices"], list):
            raise SpecError(f"{where}: field 'input.slices' must be a list")
        items = [("input.slices", x) for x in inp.get("slices") or []]
        items += [
            (f"input.series[{i}].slice", x.get("slice"))
            for i, x in enumerate(inp.get("series") or [])
        ]
        for fld, item in items:
            ok = isinstance(item, str) or (
                isinstance(item, list) and item and all(isinstance(d, str) for d in item)
            )
            if item is not None and not ok:
                raise SpecError(
                    f"{where}: field '{fld}': a slice is a dimension name or a list of them, "
                    f"got {item!r}"
                )
        if "grain" in inp and inp["grain"] not in SERIES_GRAINS:
            raise SpecError(
                f"{where}: field 'input.grain': '{inp['grain']}' is not a series grain"
                f"{_suggest(str(inp['grain']), SERIES_GRAINS)}"
            )
        w = inp.get("where")
        if w is not None and not (
            (isinstance(w, str) and w.strip())
            or (isinstance(w, list) and w and all(isinstance(x, str) and x.strip() for x in w))
        ):
            raise SpecError(f"{where}: field 'input.where' must be a filter or a list of filters")
        if inp.get("mart") and not inp.get("date"):
            raise SpecError(
                f"{where}: field 'input.date' is required with input.mart for a metric series"
            )
    else:
        _check_keys(inp, INPUT_KEYS_TABLE, f"{where}: field 'input")
        if "mart" not in inp:
            raise SpecError(f"{where}: field 'input.mart' is required for {analysis}")
    mod = module_for(analysis)
    given = raw.get("parameters") or {}
    if not isinstance(given, dict):
        raise SpecError(f"{where}: field 'parameters' must be a mapping")
    params = dataclasses.asdict(build_params(mod.Params, given, where, analysis))
    return _spec(raw, name, analysis, inp, params, dict(given), source)


def _spec(raw, name, analysis, inp, params, given, source) -> Spec:
    return Spec(
        name=str(name),
        analysis=analysis,
        input=dict(inp),
        parameters=params,
        owner=raw.get("owner"),
        description=raw.get("description"),
        question=raw.get("question"),
        audience=raw.get("audience"),
        decision=raw.get("decision"),
        tags=tuple(raw.get("tags") or ()),
        exposure=dict(raw.get("exposure") or {}),
        path=source,
        given_parameters=dict(given),
    )


def _check_keys(d: dict, allowed, where: str) -> None:
    for key in d:
        if key not in allowed:
            raise SpecError(f"{where}.{key}' is not known{_suggest(key, allowed)}")


def load_file(path: str | Path) -> list[Spec]:
    """Specs in a YAML file: one mapping, or ``specs: [...]``."""
    p = Path(path)
    if not p.is_file():
        raise SpecError(f"spec file {p} not found")
    try:
        raw = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise SpecError(f"spec file {p}: invalid YAML: {exc}") from exc
    if isinstance(raw, dict) and set(raw) == {"specs"}:
        return [parse(item, str(p)) for item in raw["specs"]]
    return [parse(raw, str(p), default_name=p.stem)]


def shipped_dir() -> Path:
    from analysis_py.config import find_project_dir

    return find_project_dir() / "specs"


def load(paths: list[str | Path] | None = None) -> list[Spec]:
    """Specs from files or folders (default: every ``*.yml`` in the project's ``specs/``)."""
    targets = [Path(p) for p in paths] if paths else [shipped_dir()]
    files: list[Path] = []
    for t in targets:
        if t.is_dir():
            files += sorted([*t.glob("*.yml"), *t.glob("*.yaml")])
        else:
            files.append(t)
    specs = [s for f in files for s in load_file(f)]
    seen: dict[str, str] = {}
    for s in specs:
        if s.name in seen:
            raise SpecError(f"spec '{s.name}' is defined twice ({seen[s.name]} and {s.path})")
        seen[s.name] = s.path or ""
    return specs
