"""What each agent tool does, governed: plain functions of one role's session.

The semantic-layer tools keep dbt-mcp's names, arguments and result shapes, so that agents and
prompts written for dbt-mcp work unchanged:

========================== ================================================================
``list_metrics``           ``[{name, type, label, description, metadata}]``; ``search``
                           matches names, labels, descriptions and ``meta`` values
``list_saved_queries``     ``[{name, label, description, metrics, group_by, where}]``
``get_dimensions``         ``[{name, type, description, label, granularities, metadata}]``
``get_entities``           ``[{name, type, description}]``
``get_dimension_values``   ``{values, truncated}``
``query_metrics``          the rows as JSON records (dbt-mcp returns that text)
``get_metrics_compiled_sql`` the SQL a request runs
========================== ================================================================

and the tools an agent needs that dbt-mcp lacks: ``run_saved_query``, ``get_analysis_result``
(an analysis run's findings and tables) and ``describe_mart`` (columns, descriptions, tests,
lineage). Types and grains are upper case as dbt's Semantic Layer API gives them; arguments are
accepted in any case.

Everything is answered as the session's role: what it may not read is neither listed nor
queried, PII comes masked and row policies filter rows, exactly as through the wire.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Sequence
from typing import NotRequired

from typing_extensions import TypedDict

from analysis_py.errors import ConfigError, QueryError, did_you_mean
from analysis_py.sql import jdbc


class GroupBy(TypedDict):
    """dbt-mcp's group-by item: ``type`` DIMENSION, TIME_DIMENSION or ENTITY; a grain for
    a time dimension."""

    name: str
    type: NotRequired[str]
    grain: NotRequired[str | None]


class OrderBy(TypedDict):
    """dbt-mcp's order-by item."""

    name: str
    descending: NotRequired[bool]
    grain: NotRequired[str | None]


#: group-by item types of dbt's Semantic Layer API
GROUP_BY_TYPES = ("dimension", "time_dimension", "entity")
#: rows a tool returns at most when the caller sets no limit (an agent's context is small)
DEFAULT_ROW_LIMIT = 1000
#: values ``get_dimension_values`` returns at most
MAX_DIMENSION_VALUES = 1000


def _search(items: list[dict], search: str | None, keys: Sequence[str]) -> list[dict]:
    if not search:
        return items
    needle = search.lower()

    def text(item: dict) -> str:
        parts = [str(item.get(k) or "") for k in keys]
        meta = item.get("metadata") or {}
        parts += [f"{k} {v}" for k, v in meta.items()] if isinstance(meta, dict) else []
        return " ".join(parts).lower()

    return [i for i in items if needle in text(i)]


def _upper(v: str | None) -> str | None:
    return v.upper() if isinstance(v, str) else v


def _info(session):
    return session._layer()


# ------------------------------------------------------------------------------ discovery


def list_metrics(session, search: str | None = None) -> list[dict]:
    """The metrics this role may query (dbt-mcp's ``MetricToolResponse``)."""
    info = _info(session)
    manifest = info.layer.manifest
    out = []
    for m in jdbc.granted_metrics(info, session.role):
        meta = dict(getattr(manifest.metrics.get(m["name"]), "meta", None) or {})
        out.append(
            {
                "name": m["name"],
                "type": _upper(m.get("type")),
                "label": m.get("label"),
                "description": m.get("description") or None,
                "metadata": meta,
            }
        )
    return _search(out, search, ("name", "label", "description"))


def list_saved_queries(session, search: str | None = None) -> list[dict]:
    """The saved queries whose every metric this role may read."""
    out = [
        {
            "name": s["name"],
            "label": s.get("label"),
            "description": s.get("description"),
            "metrics": list(s["metrics"]),
            "group_by": list(s["group_by"]),
            "where": list(s["where"]),
        }
        for s in jdbc.granted_saved_queries(_info(session), session.role)
    ]
    return _search(out, search, ("name", "label", "description"))


def get_dimensions(session, metrics: Sequence[str], search: str | None = None) -> list[dict]:
    """What all of ``metrics`` can be grouped by (dbt-mcp's ``DimensionToolResponse``)."""
    dims = jdbc.scope_dimensions(_info(session), session.role, _names(metrics, "metrics"))
    out = [
        {
            "name": d["name"],
            "type": _upper(d.get("type")),
            "description": d.get("description"),
            "label": d.get("label"),
            "granularities": [g.upper() for g in d.get("grains") or []],
            "metadata": {"semantic_model": d["semantic_model"]} if d.get("semantic_model") else {},
        }
        for d in dims
    ]
    return _search(out, search, ("name", "label", "description"))


def get_entities(session, metrics: Sequence[str], search: str | None = None) -> list[dict]:
    """The entities ``metrics`` reach (dbt-mcp's ``EntityToolResponse``)."""
    ents = jdbc.scope_entities(_info(session), session.role, _names(metrics, "metrics"))
    out = [
        {"name": e["name"], "type": _upper(e.get("type")), "description": e.get("description")}
        for e in ents
    ]
    return _search(out, search, ("name", "description"))


def get_dimension_values(
    session,
    dimension: str,
    metrics: Sequence[str],
    where: str | None = None,
    limit: int | None = None,
) -> dict:
    """The distinct values of ``dimension`` where ``metrics`` have data: ``{values,
    truncated}`` (at most ``limit``, default and cap :data:`MAX_DIMENSION_VALUES`)."""
    cap = _limit(limit, MAX_DIMENSION_VALUES)
    res = session.dimension_values(
        str(dimension), _names(metrics, "metrics"), where=[where] if where else None
    )
    rows = _fetch(res, cap + 1)
    return {
        "values": [_jsonable(r[0]) for r in rows[:cap]],
        "truncated": len(rows) > cap,
    }


# ------------------------------------------------------------------------------ queries


def _names(v, what: str) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str):
        return [x.strip() for x in v.split(",") if x.strip()]
    if not isinstance(v, list | tuple) or not all(isinstance(x, str) for x in v):
        raise QueryError(f"{what} must be a list of names", hint=f'e.g. {what}=["stp_rate"]')
    return list(v)


def _item(item, what: str, example: str) -> dict | str:
    """A group-by or order-by item: a name, or a mapping with one."""
    if isinstance(item, str) or (isinstance(item, dict) and isinstance(item.get("name"), str)):
        return item
    raise QueryError(f"{what} item {item!r} is not a name or a mapping with a name", hint=example)


def _group_by_name(item) -> str:
    """dbt-mcp's ``{name, type, grain}`` (or a plain name) as the engine's group-by name."""
    item = _item(
        item, "group_by", 'e.g. {"name": "metric_time", "type": "time_dimension", "grain": "month"}'
    )
    if isinstance(item, str):
        return item
    kind = str(item.get("type") or "dimension").lower()
    if kind not in GROUP_BY_TYPES:
        raise QueryError(
            f"group_by type {item.get('type')!r} of '{item['name']}' is not one of "
            + ", ".join(t.upper() for t in GROUP_BY_TYPES),
            hint=did_you_mean(kind, GROUP_BY_TYPES) or "TIME_DIMENSION takes a grain",
        )
    grain = item.get("grain")
    if grain and kind != "time_dimension":
        raise QueryError(
            f"'{item['name']}' has a grain but is not a TIME_DIMENSION",
            hint='set "type": "time_dimension", or drop the grain',
        )
    return f"{item['name']}__{str(grain).lower()}" if grain else item["name"]


def _order_by_name(item) -> str:
    """dbt-mcp's ``{name, descending, grain}`` (or ``-name``) as the engine's order item."""
    item = _item(item, "order_by", 'e.g. {"name": "stp_rate", "descending": true}')
    if isinstance(item, str):
        return item
    name = item["name"] + (f"__{str(item['grain']).lower()}" if item.get("grain") else "")
    return ("-" if item.get("descending") else "") + name


def _limit(limit, default: int) -> int:
    if limit is None:
        return default
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise QueryError(f"limit must be a whole number ≥ 0, got {limit!r}")
    return limit


def request(
    metrics: Sequence[str] | None = None,
    group_by: list[GroupBy | str] | None = None,
    order_by: list[OrderBy | str] | None = None,
    where: str | Sequence[str] | None = None,
    limit: int | None = None,
    saved_query: str | None = None,
) -> dict:
    """dbt-mcp's query arguments as :meth:`SemanticLayer.compile`'s."""
    wheres = [where] if isinstance(where, str) else list(where or [])
    if not all(isinstance(w, str) for w in wheres):
        raise QueryError("where must be a filter string (or a list of them)")
    return {
        "metrics": _names(metrics, "metrics"),
        "group_by": [_group_by_name(g) for g in group_by or []],
        "order_by": [_order_by_name(o) for o in order_by or []],
        "where": wheres,
        "limit": _limit(limit, DEFAULT_ROW_LIMIT) if limit is not None else None,
        "saved_query": saved_query,
    }


def _jsonable(v):
    if isinstance(v, dt.datetime | dt.date | dt.time):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, dt.timedelta):
        return v.total_seconds()
    return v


def _fetch(result, n: int) -> list[tuple]:
    src = result.source
    try:
        rows, batches, _ = src.take(n) if src is not None else ([], [], 0)
        rows = list(rows) + [tuple(r.values()) for b in batches for r in b.to_pylist()]
        return rows
    finally:
        if src is not None:
            src.close()


def rows_json(result, cap: int) -> str:
    """At most ``cap`` rows of a result as JSON records; a last record says when more exist."""
    names = [c for c, _ in result.columns or []]
    rows = _fetch(result, cap + 1)
    out = [{n: _jsonable(v) for n, v in zip(names, r, strict=True)} for r in rows[:cap]]
    text = json.dumps(out, default=str)
    if len(rows) > cap:
        text += f"\n(truncated to {cap} rows: set a limit, or filter with where)"
    return text


def query_metrics(
    session,
    metrics: Sequence[str],
    group_by: list[GroupBy | str] | None = None,
    order_by: list[OrderBy | str] | None = None,
    where: str | None = None,
    limit: int | None = None,
) -> str:
    """The rows of a metric request as JSON records (dbt-mcp's ``query_metrics`` result)."""
    req = request(metrics, group_by, order_by, where, limit)
    if not req["metrics"]:
        raise QueryError("query_metrics needs at least one metric", hint="see list_metrics")
    return rows_json(session.query_metrics(**req), _row_cap(session, req["limit"]))


def get_metrics_compiled_sql(
    session,
    metrics: Sequence[str],
    group_by: list[GroupBy | str] | None = None,
    order_by: list[OrderBy | str] | None = None,
    where: str | None = None,
    limit: int | None = None,
) -> str:
    """The SQL a metric request runs (as this role: refused where the query would be)."""
    compiled = session.compile_metrics(**request(metrics, group_by, order_by, where, limit))
    return compiled.sql.replace("_sem.", "main.")


def run_saved_query(session, name: str, limit: int | None = None) -> str:
    """The rows of a saved query (its metrics, group-by, filters and order) as JSON records."""
    req = request(saved_query=str(name), limit=limit)
    return rows_json(session.query_metrics(**req), _row_cap(session, req["limit"]))


def _row_cap(session, limit: int | None) -> int:
    cap = limit if limit is not None else DEFAULT_ROW_LIMIT
    return min(cap, session.max_rows) if session.max_rows else cap


# ------------------------------------------------------------------------------ analyses


def get_analysis_result(
    session, spec: str | None = None, run_id: str | None = None, limit: int | None = None
) -> dict:
    """An analysis run's story and its result tables. Without ``spec`` and ``run_id``: the
    latest successful run of each spec (``{runs: [...]}``) to choose from."""
    cap = _limit(limit, 200)
    if "runs" not in _result_tables(session, with_runs=True):
        if spec is None and run_id is None:
            return {"runs": []}
        raise QueryError(
            "this warehouse holds no analysis results (or this role may not read them)",
            hint="run `opsmetrics analyze`; results are read by roles granted analysis",
        )
    if spec is None and run_id is None:
        runs = _select(
            session,
            "SELECT spec_name, analysis, run_id, finished_at, title, headline FROM ("
            "SELECT *, row_number() OVER (PARTITION BY spec_name ORDER BY finished_at DESC) AS _n "
            "FROM analysis.runs WHERE status = 'success') WHERE _n = 1 ORDER BY spec_name",
            [],
        )
        return {"runs": runs}
    where, params = ("run_id = $1", [run_id]) if run_id else ("spec_name = $1", [spec])
    runs = _select(
        session,
        "SELECT run_id, spec_name, analysis, status, finished_at, title, headline, "
        "recommendation, finding, method, assumptions, limitations, error FROM analysis.runs "
        f"WHERE {where} AND status IN ('success', 'failed') ORDER BY finished_at DESC LIMIT 1",
        params,
    )
    if not runs:
        raise QueryError(
            f"no analysis run for {'run ' + run_id if run_id else 'spec ' + repr(spec)}",
            hint="call get_analysis_result without arguments for the specs with results",
        )
    run = runs[0]
    tables = {}
    for table in _result_tables(session):
        rows = _select(
            session,
            f'SELECT * FROM analysis."{table}" WHERE run_id = $1 LIMIT {cap + 1}',
            [run["run_id"]],
        )
        for r in rows:
            r.pop("run_id", None)
            r.pop("spec_name", None)
        if rows:
            tables[table] = {"rows": rows[:cap], "truncated": len(rows) > cap}
    return {"run": run, "tables": tables}


def _result_tables(session, with_runs: bool = False) -> list[str]:
    rows = _select(
        session,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'analysis' "
        "ORDER BY 1",
        [],
    )
    return [r["table_name"] for r in rows if with_runs or r["table_name"] != "runs"]


def _select(session, sql: str, params: list) -> list[dict]:
    res = session.execute(sql, params or None)
    names = [c for c, _ in res.columns or []]
    return [
        {n: _jsonable(v) for n, v in zip(names, r, strict=True)}
        for r in _fetch(res, session.max_rows or 1 << 30)
    ]


# ------------------------------------------------------------------------------ marts


def describe_mart(session, name: str) -> dict:
    """A mart this role may read: its description, columns (type, description, PII masked for
    this role, not null, key), tests and lineage (the models and sources it is built from, the
    marts, metrics and exposures built on it that this role may see)."""
    engine = session.engine
    gen = engine.acquire()
    try:
        visible = {rel for _schema, rel in engine.relations(session.role, gen)}
        mart = gen.marts.get(name) if gen is not None else None
        if mart is None or name not in visible:
            public = sorted(m for m in (gen.marts if gen else {}) if m in visible)
            raise ConfigError(
                f"no mart named '{name}' that this role may read",
                hint=did_you_mean(name, public) or f"marts you may read: {', '.join(public)}",
            )
        target = gen.target_dir
        marts = sorted(m for m in gen.marts if m in visible)
    finally:
        engine.release(gen)
    masked = {c for c in mart.pii if not session.role.pii_allowed(name, c)}
    columns = [
        {
            "name": c,
            "type": t,
            "description": mart.column_docs.get(c),
            "pii_masked": c in masked,
            "not_null": c in mart.not_null,
            "primary_key": c in mart.primary_key,
            "references": next(
                (f"{pn}.{pc}" for col, pn, pc in mart.foreign_keys if col == c and pn in marts),
                None,
            ),
        }
        for c, t in mart.columns
    ]
    tests, parents, children = _dbt_graph(target, name, set(marts), session)
    return {
        "name": name,
        "description": mart.description,
        "columns": columns,
        "tests": tests,
        "lineage": {"parents": parents, "children": children},
    }


def _dbt_graph(target, name: str, marts: set[str], session) -> tuple[list, list, list]:
    """(tests on the model, its parents, its visible children) from dbt's manifest.json."""
    if target is None or not (target / "manifest.json").is_file():
        return [], [], []
    data = json.loads((target / "manifest.json").read_text())
    nodes = {**data.get("nodes", {}), **data.get("sources", {})}
    uid = next(
        (k for k, n in nodes.items() if n.get("resource_type") == "model" and n["name"] == name),
        None,
    )
    if uid is None:
        return [], [], []
    tests = []
    for n in nodes.values():
        if n.get("resource_type") != "test" or uid not in n.get("depends_on", {}).get("nodes", []):
            continue
        meta = n.get("test_metadata") or {}
        tests.append(
            {
                "name": meta.get("name") or n["name"],
                "column": n.get("column_name"),
                "severity": (n.get("config") or {}).get("severity"),
            }
        )
    parents = [
        {"name": nodes[p]["name"], "type": nodes[p]["resource_type"]}
        for p in nodes[uid].get("depends_on", {}).get("nodes", [])
        if p in nodes
    ]
    children = []
    for n in nodes.values():
        parents_of_n = n.get("depends_on", {}).get("nodes", [])
        if uid in parents_of_n and n.get("resource_type") == "model" and n["name"] in marts:
            children.append({"name": n["name"], "type": "model"})
    for e in data.get("exposures", {}).values():
        if uid in e.get("depends_on", {}).get("nodes", []):
            children.append({"name": e["name"], "type": "exposure"})
    models = {
        k for k, sm in data.get("semantic_models", {}).items()
        if uid in sm.get("depends_on", {}).get("nodes", [])
    }  # fmt: skip
    for m in data.get("metrics", {}).values():
        reads = models & set(m.get("depends_on", {}).get("nodes", []))
        if reads and session.role.metrics.allows(m["name"]):
            children.append({"name": m["name"], "type": "metric"})
    tests.sort(key=lambda t: (t["column"] or "", t["name"]))
    return tests, sorted(parents, key=lambda p: p["name"]), _unique(children)


def _unique(items: list[dict]) -> list[dict]:
    seen = set()
    out = []
    for i in sorted(items, key=lambda i: (i["type"], i["name"])):
        if (i["type"], i["name"]) not in seen:
            seen.add((i["type"], i["name"]))
            out.append(i)
    return out


def list_marts(session) -> list[dict]:
    """The marts this role may read, with their descriptions."""
    engine = session.engine
    gen = engine.acquire()
    try:
        visible = {rel for _schema, rel in engine.relations(session.role, gen)}
        marts = gen.marts if gen is not None else {}
        return [
            {"name": n, "description": marts[n].description} for n in sorted(marts) if n in visible
        ]
    finally:
        engine.release(gen)
