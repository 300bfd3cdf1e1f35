"""``opsmetrics query | list | validate | export``: thin wrappers over the semantic layer.

Option names follow MetricFlow's ``mf query`` where one exists. Only click, the compiler and
(when executing) duckdb are imported: no dbt, no pandas.
"""

from __future__ import annotations

import datetime as dt
import decimal
import os
import sys
from pathlib import Path

import click

from analysis_py.commands import options
from analysis_py.errors import ConfigError, QueryError

source_options = options.apply(
    options.project_dir,
    click.option(
        "--profiles-dir",
        type=click.Path(file_okay=False),
        help="folder holding profiles.yml (as in dbt).",
    ),
    click.option("--target", "target", help="dbt target in the profile (names the DuckDB file)."),
    click.option(
        "--manifest",
        type=click.Path(dir_okay=False),
        help="a semantic_manifest.json, instead of a project.",
    ),
    click.option(
        "--database",
        type=click.Path(dir_okay=False),
        help="DuckDB file to run on (overrides the profile).",
    ),
)


def _layer(project_dir, profiles_dir, target, manifest, database, connect: bool, dialect="duckdb"):
    from analysis_py.semantic.layer import SemanticLayer
    from analysis_py.warehouse import open_duckdb

    mpath, db = _paths(project_dir, profiles_dir, target, manifest, database, connect)
    conn = open_duckdb(db) if (connect and db is not None) else None
    return SemanticLayer(mpath, connection=conn, dialect=dialect)


def _paths(project_dir, profiles_dir, target, manifest, database, connect: bool):
    """(manifest path, DuckDB path or None) without building the compiler: the published
    warehouse with its own manifest, else the dbt profile's file (see project.resolve_sources)."""
    from pathlib import Path

    from analysis_py.config import project_dir as _project_dir
    from analysis_py.semantic.project import resolve_sources

    if manifest:
        if connect and not database:
            raise ConfigError(
                "--manifest needs --database FILE.duckdb to run the query", hint="or use --explain"
            )
        return Path(manifest), (Path(database) if database else None)
    return resolve_sources(
        _project_dir(project_dir),
        target=target,
        profiles_dir=profiles_dir,
        database=database,
        connect=connect,
    )


def _split(values) -> list[str]:
    out: list[str] = []
    for v in values or ():
        out += [x.strip() for x in v.split(",") if x.strip()]
    return out


def _cell(v) -> str:
    """A value as ``mf query --csv`` writes it (NULL is an empty field)."""
    if v is None:
        return ""
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return dt.datetime(v.year, v.month, v.day).isoformat(sep=" ")
    if isinstance(v, decimal.Decimal):
        return str(float(v))
    return str(v)


def _shown(v, decimals: int | None) -> str:
    """A table cell: floats rounded to ``decimals`` places, as ``mf query --decimals``."""
    if decimals is not None and isinstance(v, float | decimal.Decimal):
        return f"{float(v):.{decimals}f}"
    return _cell(v)


def _print_table(columns: list[str], rows: list[tuple], decimals: int | None = None) -> None:
    from analysis_py.commands.output import print_table

    numeric = [
        all(isinstance(r[i], int | float | decimal.Decimal) or r[i] is None for r in rows)
        for i in range(len(columns))
    ]
    print_table(columns, [[_shown(v, decimals) for v in r] for r in rows], right=numeric)


def _write_csv(path: str, columns, rows) -> None:
    from analysis_py.commands.output import write_csv

    write_csv(path, columns, rows, _cell)


@click.command()
@click.option("--metrics", multiple=True, help="Metric names, comma separated.")
@click.option(
    "--group-by", multiple=True, help="Dimensions, entities, metric_time__<grain>; comma separated."
)
@click.option("--where", multiple=True, help="Filter in MetricFlow's template syntax (repeatable).")
@click.option(
    "--order",
    "order",
    multiple=True,
    help="Order by metric/group-by names; leading '-' = descending.",
)
@click.option("--limit", type=int, help="At most this many rows.")
@click.option("--start-time", help="Only metric_time at or after this ISO date/time.")
@click.option("--end-time", help="Only metric_time at or before this ISO date/time.")
@click.option("--saved-query", help="Use a saved query's parameters.")
@click.option("--explain", is_flag=True, help="Print the SQL instead of running it.")
@click.option(
    "--plan",
    "show_plan",
    is_flag=True,
    help="Print the query plan (the metric nodes the SQL is made of) instead of running it.",
)
@click.option("--dialect", default="duckdb", show_default=True, help="SQL dialect for --explain.")
@click.option(
    "--no-rollups",
    is_flag=True,
    help="Read the marts even where a rollup of the build could answer (--explain says which).",
)
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False),
    help="Write the result as CSV (as mf query --csv).",
)
@click.option(
    "--decimals",
    type=click.IntRange(0, 30),
    default=2,
    show_default=True,
    help="Decimal places of numbers in the printed table (CSV keeps every digit).",
)
@click.option("--quiet", "-q", is_flag=True, help="Print the result only, no status lines.")
@source_options
def query(
    metrics,
    group_by,
    where,
    order,
    limit,
    start_time,
    end_time,
    saved_query,
    explain,
    show_plan,
    dialect,
    no_rollups,
    csv_path,
    decimals,
    quiet,
    project_dir,
    profiles_dir,
    target,
    manifest,
    database,
):
    """Query metrics from the semantic layer (MetricFlow's `mf query` options)."""
    from analysis_py.semantic import DIALECTS, sqlcache

    if dialect not in DIALECTS:
        raise QueryError(
            f"unknown dialect '{dialect}'", hint=f"choose one of: {', '.join(DIALECTS)}"
        )
    if manifest and not os.path.isfile(manifest):
        raise QueryError(
            f"semantic manifest {manifest} does not exist",
            hint="pass the target/semantic_manifest.json that `dbt parse` writes",
        )
    if csv_path and not os.path.isdir(os.path.dirname(os.path.abspath(csv_path))):
        raise QueryError(
            f"cannot write {csv_path}: its folder does not exist",
            hint="create the folder first or choose another --csv path",
        )
    if target and not (manifest or database or show_plan) and _spark_target(project_dir, target):
        return _query_spark(
            project_dir, metrics, group_by, where, order, limit, start_time, end_time,
            saved_query, explain, csv_path, target,
        )  # fmt: skip
    if show_plan and explain:
        raise QueryError("--plan and --explain each print instead of running; choose one")
    if not explain and dialect != "duckdb" and not show_plan:
        raise QueryError(
            "queries run on DuckDB; --dialect only changes the SQL printed by --explain",
            hint="add --explain",
        )
    if not _split(metrics) and not saved_query and not _split(group_by):
        raise QueryError(
            "no metrics requested (and nothing to group by)",
            hint="pass --metrics a,b, --saved-query NAME, or --group-by dimensions alone for "
            "their distinct values",
        )
    printing = explain or show_plan
    mpath, db = _paths(project_dir, profiles_dir, target, manifest, database, connect=not printing)
    if explain and db is None and not manifest:  # the build's rollups, when there is one
        from analysis_py.errors import OpsMetricsError

        try:
            mpath, db = _paths(project_dir, profiles_dir, target, manifest, database, connect=True)
        except OpsMetricsError:
            db = None
    request = {
        "metrics": _split(metrics),
        "group_by": _split(group_by),
        "where": list(where),
        "order_by": _split(order),
        "limit": limit,
        "start_time": start_time,
        "end_time": end_time,
        "saved_query": saved_query,
    }
    if show_plan:
        if not request["metrics"] and not saved_query:
            raise QueryError(
                "--plan needs metrics: a query without metrics lists distinct values",
                hint="pass --metrics a,b (or --explain to see the SQL)",
            )
        from analysis_py.semantic.layer import SemanticLayer

        click.echo(SemanticLayer(mpath, dialect=dialect).plan(**request).describe())
        return 0
    import duckdb

    from analysis_py.warehouse import open_duckdb

    conn = open_duckdb(db) if db is not None and Path(db).exists() else None
    from analysis_py.semantic.rollups import load as load_rollups

    rollups = load_rollups(conn) if conn is not None and dialect == "duckdb" else []
    # a build's rollups are part of what the SQL depends on (a published file never changes)
    where_from = [str(Path(db).resolve()), [r.name for r in rollups]] if rollups else []
    ckey = sqlcache.key(
        sqlcache.file_digest(mpath),
        dialect,
        {**request, "_rollups": where_from, "_marts_only": no_rollups},
    )
    hit = sqlcache.get(ckey)
    if hit is None:
        from analysis_py.semantic.layer import SemanticLayer

        q = SemanticLayer(mpath, dialect=dialect).compile(
            **request, use_rollups=not no_rollups, rollups=rollups
        )
        hit = {"sql": q.sql, "columns": q.columns, "from": q.answered_from, "why": q.why}
        sqlcache.put(
            ckey, hit["sql"], hit["columns"], extra={"from": q.answered_from, "why": q.why}
        )
    if explain:
        if conn is not None:
            conn.close()
        if hit.get("why"):
            click.echo(f"-- answered from {hit['from']}: {hit['why']}")
        click.echo(hit["sql"])
        return 0
    if conn is None:
        conn = open_duckdb(db)
    try:
        rows = conn.sql(hit["sql"]).fetchall()
    except duckdb.Error as exc:
        raise QueryError(
            f"the warehouse could not run the query: {str(exc).splitlines()[0]}",
            hint="check that the warehouse was built from this manifest (opsmetrics validate --database …)",
        ) from None
    finally:
        conn.close()

    if csv_path:
        _write_csv(csv_path, hit["columns"], rows)
        if not quiet:
            click.echo(f"Wrote {len(rows)} rows to {csv_path}", err=True)
        return 0
    if not rows:
        if not quiet:
            click.echo("(no rows)")
        return 0
    _print_table(hit["columns"], rows, decimals)
    return 0


def _spark_target(project_dir, target) -> bool:
    from analysis_py.config import resolve_paths
    from analysis_py.warehouse.spark_target import is_spark_target

    return is_spark_target(resolve_paths(project_dir=project_dir), target)


def _query_spark(
    project_dir, metrics, group_by, where, order, limit, start, end, saved, explain, csv_path,
    target,
):  # fmt: skip
    """``--target spark``/``spark_cluster``: Spark SQL on the published Spark build, run in a
    local session or, on a cluster, through Spark Connect (docs/spark.md)."""
    from analysis_py.config import resolve_paths
    from analysis_py.semantic.spark_query import run_request
    from analysis_py.warehouse.spark_target import is_cluster_target

    if not _split(metrics) and not saved:
        raise QueryError("no metrics requested", hint="pass --metrics a,b or --saved-query NAME")
    request = {
        "metrics": _split(metrics),
        "group_by": _split(group_by),
        "where": list(where),
        "order_by": _split(order),
        "limit": limit,
        "start_time": start,
        "end_time": end,
        "saved_query": saved,
    }
    paths = resolve_paths(project_dir=project_dir)
    sql, columns, rows = run_request(
        paths, request, explain=explain, cluster=is_cluster_target(paths, target)
    )
    if explain:
        click.echo(sql)
        return 0
    if csv_path:
        _write_csv(csv_path, columns, rows)
        click.echo(f"Wrote {len(rows)} rows to {csv_path}", err=True)
        return 0
    if not rows:
        click.echo("(no rows)")
        return 0
    _print_table(columns, rows)
    return 0


@click.command(name="list")
@click.argument(
    "what",
    type=click.Choice(["metrics", "dimensions", "entities", "saved-queries", "dimension-values"]),
)
@click.option(
    "--metrics",
    multiple=True,
    help="For dimensions: only those valid for all these metrics; for dimension-values: the "
    "metrics whose rows give the values.",
)
@click.option("--dimension", help="For dimension-values: the dimension (e.g. customer__segment).")
@click.option("--start-time", help="For dimension-values: metric_time at or after this.")
@click.option("--end-time", help="For dimension-values: metric_time at or before this.")
@source_options
def list_(
    what,
    metrics,
    dimension,
    start_time,
    end_time,
    project_dir,
    profiles_dir,
    target,
    manifest,
    database,
):
    """List metrics, dimensions (for --metrics), entities, saved queries, or the values of a
    dimension for some metrics (MetricFlow's `mf list dimension-values`)."""
    if what == "dimension-values":
        if not dimension or not _split(metrics):
            raise QueryError(
                "list dimension-values needs --metrics and --dimension",
                hint="e.g. opsmetrics list dimension-values --metrics cases_opened "
                "--dimension client__region",
            )
        sl = _layer(project_dir, profiles_dir, target, manifest, database, connect=True)
        q = sl.query(
            metrics=_split(metrics),
            group_by=[dimension],
            start_time=start_time,
            end_time=end_time,
        )
        at = q.columns.index(next(c for c in q.columns if c not in _split(metrics)))
        values = sorted({r[at] for r in q.fetchall()}, key=lambda v: (v is None, str(v)))
        for v in values:
            click.echo(_cell(v) if v is not None else "(null)")
        return 0
    sl = _layer(project_dir, profiles_dir, target, manifest, None, connect=False)
    if what == "metrics":
        for m in sl.metrics():
            dims = ", ".join(d["name"] for d in sl.dimensions([m["name"]])[:8])
            click.echo(f"• {m['name']} ({m['type']}): {m['label'] or ''}")
            click.echo(f"    dimensions: {dims}, …")
    elif what == "dimensions":
        for d in sl.dimensions(_split(metrics) or None):
            grains = f" [{', '.join(d['grains'])}]" if d["grains"] else ""
            click.echo(f"• {d['name']} ({d['type']}){grains}")
    elif what == "entities":
        for e in sl.entities():
            click.echo(f"• {e['name']} ({e['type']}) in {', '.join(e['semantic_models'])}")
    else:
        for s in sl.saved_queries():
            click.echo(
                f"• {s['name']}: metrics {', '.join(s['metrics'])}; exports {', '.join(s['exports']) or 'none'}"
            )
    return 0


@click.command()
@source_options
def validate(project_dir, profiles_dir, target, manifest, database):
    """Validate the semantic manifest: every problem at once, with where it is."""
    from analysis_py.errors import ManifestError
    from analysis_py.semantic.validate import validate_manifest

    if manifest:
        sl = _layer(project_dir, profiles_dir, target, manifest, database, connect=bool(database))
    else:  # the project as it is now, not the manifest of the last published build
        from analysis_py.config import project_dir as _project_dir
        from analysis_py.semantic.layer import SemanticLayer
        from analysis_py.semantic.project import parse_project
        from analysis_py.warehouse import open_duckdb

        parsed = parse_project(_project_dir(project_dir), target=target, profiles_dir=profiles_dir)
        sl = SemanticLayer(parsed, connection=open_duckdb(Path(database)) if database else None)
    problems = validate_manifest(sl.manifest, sl.connection)
    if problems:
        for p in problems:
            click.echo(f"✗ {p}", err=True)
        raise ManifestError(f"{len(problems)} problem(s) in the semantic manifest")
    click.echo(
        f"✓ {len(sl.manifest.semantic_models)} semantic models, {len(sl.manifest.metrics)} metrics, "
        f"{len(sl.manifest.saved_queries)} saved queries: no problems"
    )
    return 0


@click.command()
@click.option(
    "--saved-query", "saved_queries", multiple=True, help="Only these saved queries (default: all)."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["tables", "ossie"]),
    default="tables",
    show_default=True,
    help="tables: saved-query exports into DuckDB; ossie: the semantic layer as an Apache Ossie "
    "document.",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False),
    help="ossie: write the document here (.yaml/.yml or .json; default: standard output).",
)
@source_options
def export(saved_queries, fmt, out_path, project_dir, profiles_dir, target, manifest, database):
    """Materialise saved-query exports as tables/views in a writable DuckDB file, or write the
    semantic layer as an Apache Ossie (Open Semantic Interchange) document.

    \b
    opsmetrics export --format ossie --out semantic.ossie.yaml
    """
    if fmt == "ossie":
        return _export_ossie(out_path, project_dir, profiles_dir, target, manifest, database)
    if out_path:
        raise ConfigError("--out applies to --format ossie", hint="tables go into the database")
    from analysis_py.semantic.exports import run_exports

    if manifest and not database:
        raise ConfigError("--manifest needs --database FILE.duckdb for export")
    if not manifest and not database and not target:
        from analysis_py.config import project_dir as _project_dir
        from analysis_py.semantic.project import published_warehouse

        if published_warehouse(_project_dir(project_dir)) is not None:
            raise ConfigError(
                "published warehouse builds are never modified; exports are written by "
                "`opsmetrics build` into each new build before it is published",
                hint="to export elsewhere, pass --database FILE.duckdb",
            )
    mpath, db = _paths(project_dir, profiles_dir, target, manifest, database, connect=True)
    written = run_exports(mpath, db, _split(saved_queries) or None)
    for w in written:
        click.echo(f"✓ {w}")
    if not written:
        click.echo("no saved query has exports", err=True)
    return 0


def _export_ossie(out_path, project_dir, profiles_dir, target, manifest, database) -> int:
    import json

    from analysis_py.config import project_dir as _project_dir
    from analysis_py.semantic.ossie import export_document
    from analysis_py.warehouse.dbt_parse import read_yaml

    mpath, _db = _paths(project_dir, profiles_dir, target, manifest, database, connect=False)
    project = read_yaml(_project_dir(project_dir) / "dbt_project.yml") if not manifest else {}
    name = str(project.get("name") or Path(mpath).parent.parent.name or "semantic_model")
    doc = export_document(json.loads(Path(mpath).read_text()), name)
    text = _document_text(doc, out_path)
    if not out_path:
        click.echo(text, nl=False)
        return 0
    from analysis_py.commands.output import atomic_file

    with atomic_file(out_path) as f:
        f.write(text)
    m = doc["semantic_model"][0]
    carried = len(json.loads(m["custom_extensions"][0]["data"])["metricflow_metrics"])
    click.echo(
        f"wrote {out_path}: {len(m['datasets'])} datasets, {len(m['metrics'])} metrics as Ossie "
        f"expressions, {carried} carried in the DBT extension (docs/agents.md, 'Ossie')",
        err=True,
    )
    return 0


def _document_text(doc: dict, path: str | None) -> str:
    import json

    if path and path.lower().endswith(".json"):
        return json.dumps(doc, indent=2) + "\n"
    import yaml

    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


@click.command("import")
@click.argument("document", type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["ossie"]),
    default="ossie",
    show_default=True,
    help="The document's format.",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False),
    help="Write the dbt YAML here, e.g. models/semantic/_ossie.yml (default: standard output).",
)
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
def import_(document, fmt, out_path, force):
    """Turn an Apache Ossie document into dbt semantic_models / metrics YAML.

    \b
    opsmetrics import --format ossie semantic.ossie.yaml --out models/_ossie_semantic.yml
    """
    import yaml

    from analysis_py.semantic.ossie import OssieError, import_document

    try:
        text = Path(document).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read {document}: {exc.strerror}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise OssieError(f"{document} is not YAML or JSON: {exc}".splitlines()[0]) from None
    if out_path and Path(out_path).exists() and not force:
        raise ConfigError(f"{out_path} exists", hint="pass --force to overwrite it")
    out = import_document(doc)
    body = yaml.safe_dump(out, sort_keys=False, allow_unicode=True, width=100)
    header = f"# dbt semantic layer YAML imported from the Ossie document {Path(document).name}\n"
    if not out_path:
        click.echo(header + body, nl=False)
        return 0
    from analysis_py.commands.output import atomic_file

    with atomic_file(out_path) as f:
        f.write(header + body)
    click.echo(
        f"wrote {out_path}: {len(out['semantic_models'])} semantic models, "
        f"{len(out['metrics'])} metrics; run `dbt parse` to check them",
        err=True,
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(query())
