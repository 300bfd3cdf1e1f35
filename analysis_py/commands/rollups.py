"""``opsmetrics rollups suggest``: rollups proposed from the server's query log."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import click

from analysis_py.commands import options
from analysis_py.errors import ConfigError

#: a day rolls into these grains; a request at one of them can be served by a daily rollup
_ROLLS_FROM_DAY = ("day", "week", "month", "quarter", "year")


@click.group("rollups")
def rollups():
    """Rollups: metric results pre-aggregated in each build (docs/semantic_layer.md)."""


@dataclass
class _Shape:
    """Requests of one kind in the log: the same metrics' group, the same dimensions."""

    dims: tuple[str, ...]  # group-by and filter columns other than time, sorted
    grains: set[str] = field(default_factory=set)
    metrics: set[str] = field(default_factory=set)
    times_ms: list[float] = field(default_factory=list)


@rollups.command("suggest")
@click.option(
    "--log",
    "log_path",
    type=click.Path(dir_okay=False),
    help="The server's query log (server.query_log; default: <warehouse>/logs/queries.jsonl).",
)
@click.option("--top", type=click.IntRange(1), default=5, show_default=True, help="Proposals.")
@click.option(
    "--min-queries",
    type=click.IntRange(1),
    default=3,
    show_default=True,
    help="Ignore request shapes seen fewer times.",
)
@options.warehouse_dir
@options.project_dir
def suggest(log_path, top, min_queries, warehouse_dir, project_dir):
    """Read the server's query log and propose rollups: for each kind of metric request the
    dashboards send most (the same dimensions, at day grain or coarser), a saved query with
    dbt's cache config that would answer them, with its size and the time those requests took.
    """
    from analysis_py.config import resolve_paths
    from analysis_py.semantic import rollups as ru
    from analysis_py.semantic.layer import SemanticLayer
    from analysis_py.warehouse import open_duckdb
    from analysis_py.warehouse.publish import current

    paths = resolve_paths(project_dir=project_dir, warehouse_dir=warehouse_dir)
    log = Path(log_path) if log_path else paths.warehouse_dir / "logs" / "queries.jsonl"
    if not log.is_file():
        raise ConfigError(
            f"no query log at {log}",
            hint="set server.query_log in the serve config, serve for a while, then pass --log",
        )
    published = current(paths)
    conn = open_duckdb(published.duckdb_path)
    try:
        layer = SemanticLayer(published.semantic_manifest_path, connection=conn)
        shapes, read, skipped = _shapes(log, layer)
        held = ru.load(conn)
        proposals = []
        for shape in sorted(shapes.values(), key=lambda s: -sum(s.times_ms)):
            if len(shape.times_ms) < min_queries:
                continue
            proposal = _proposal(layer, conn, shape, held)
            if proposal is not None:
                proposals.append(proposal)
            if len(proposals) >= top:
                break
    finally:
        conn.close()
    click.echo(
        f"{read} metric requests read from {log} ({skipped} not metric requests or not "
        f"readable); {len(shapes)} kinds of request."
    )
    if not proposals:
        click.echo("No rollup to propose: no kind of request was seen often enough, or each is "
                   "answered by a rollup already, or needs the marts (see --explain).")  # fmt: skip
        return
    for p in proposals:
        click.echo(
            f"\n{p['name']}: {p['queries']} requests, {p['ms']:.0f} ms in all (median "
            f"{p['median_ms']:.1f} ms); {p['rows']:,} rows by {', '.join(p['group_by'])}"
        )
        click.echo(p["yaml"])


def _shapes(log: Path, layer) -> tuple[dict, int, int]:
    import sqlglot

    from analysis_py.semantic.manifest import GRAINS
    from analysis_py.semantic.names import parse_name
    from analysis_py.semantic.where import parse_filter
    from analysis_py.sql import jdbc
    from analysis_py.sql import semantic_sql as sem

    known = {m["name"] for m in layer.metrics()}
    grains = {*GRAINS, *layer.manifest.custom_granularities}
    shapes: dict[tuple, _Shape] = {}
    read = skipped = 0
    for line in log.read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            skipped += 1
            continue
        if rec.get("kind") != "semantic" or rec.get("error"):
            continue
        sql = rec.get("sql") or ""
        try:
            if jdbc._CALL_OPEN.search(sql):
                kw = jdbc.parse_call(sql).query_kwargs()
            else:
                tree = sqlglot.parse_one(sql, read="postgres")
                kw = sem.translate(tree, known, grains=grains).kwargs()
            req = layer.compile(**kw, use_rollups=False).request
        except Exception:
            skipped += 1
            continue
        read += 1
        dims, times = [], set()
        refs = [parse_name(g) for g in req.group_by]
        for w in req.where:
            refs += list(parse_filter(w).refs)
        for ref in refs:
            if ref.is_metric_time:
                times.add(ref.grain or "day")
            else:
                dims.append(ref.column())
        key = (tuple(sorted(set(dims))),)
        shape = shapes.setdefault(key, _Shape(key[0]))
        shape.grains |= times
        shape.metrics |= set(req.metrics)
        shape.times_ms.append(float(rec.get("ms") or 0))
    return shapes, read, skipped


def _proposal(layer, conn, shape: _Shape, held) -> dict | None:
    from analysis_py.semantic import rollups as ru
    from analysis_py.semantic.request import make_request

    if shape.grains - set(_ROLLS_FROM_DAY):
        return None  # a grain finer than a day, or a custom grain: the marts
    group_by = (["metric_time__day"] if shape.grains else []) + list(shape.dims)
    comps = ru._Components(layer.manifest)
    metrics = sorted(m for m in shape.metrics if ru.derive(layer.manifest, m, comps) is not None)
    if not metrics:
        return None
    req = make_request(metrics, group_by)
    if held and ru.match(held, req).rollup is not None:
        return None  # a rollup of the build answers these already
    compiled = layer.compile(metrics=metrics, group_by=group_by, use_rollups=False)
    rows = conn.execute(
        f"SELECT count(*) FROM ({compiled.expression.sql(dialect='duckdb')})"
    ).fetchall()[0][0]
    name = "rollup_" + ("_".join(d.split("__")[-1] for d in shape.dims) or "total")
    items = [
        f"TimeDimension('{g.rsplit('__', 1)[0]}', '{g.rsplit('__', 1)[1]}')"
        if g.startswith("metric_time__")
        else f"Dimension('{g}')"
        for g in group_by
    ]
    yaml_lines = [
        "saved_queries:",
        f"  - name: {name}",
        "    query_params:",
        f"      metrics: [{', '.join(metrics)}]",
        "      group_by:",
        *[f'        - "{i}"' for i in items],
        "    config:",
        "      cache:",
        "        enabled: true",
    ]
    return {
        "name": name,
        "queries": len(shape.times_ms),
        "ms": sum(shape.times_ms),
        "median_ms": statistics.median(shape.times_ms),
        "rows": rows,
        "group_by": group_by,
        "yaml": "\n".join(yaml_lines),
    }
