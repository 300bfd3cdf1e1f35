"""``opsmetrics sql "…" [--csv FILE]``: semantic SQL, dbt JDBC syntax or read-only SQL."""

from __future__ import annotations

import os

import click

from analysis_py.commands import options


@click.command("sql")
@click.argument("statement", required=False)
@click.option(
    "--file", "-f", "file_", type=click.File("r"), help="read the SQL from a file ('-' = stdin)."
)
@click.option(
    "--csv", "csv_path", type=click.Path(dir_okay=False), help="write the rows to a CSV file."
)
@options.warehouse_dir
@options.project_dir
@click.option(
    "--max-rows",
    default=50,
    show_default=True,
    type=click.IntRange(0),
    help="rows printed to the terminal.",
)
@options.serve_config
@options.as_user
def sql(statement, file_, csv_path, warehouse_dir, project_dir, max_rows, config_path, as_user):
    """Run SQL against the published warehouse (read-only).

    \b
    Semantic SQL:  opsmetrics sql "select metric_time__month, stp_rate from metrics group by all"
    JDBC syntax:   opsmetrics sql "select * from {{ semantic_layer.metrics() }}"
    Plain SQL:     opsmetrics sql "select rail, count(*) from fct_payments group by 1"
    """
    from analysis_py.errors import ConfigError
    from analysis_py.pg import open_session, result_table
    from analysis_py.sql.split import split_statements

    text = file_.read() if file_ else statement
    if not text or not text.strip():
        raise ConfigError("no SQL given", hint='pass a statement: opsmetrics sql "select ..."')
    stmts = split_statements(text)
    if csv_path:
        folder = os.path.dirname(os.path.abspath(csv_path))
        if not os.path.isdir(folder):
            raise ConfigError(
                f"cannot write {csv_path}: folder {folder} does not exist",
                hint="create the folder first or choose another --csv path",
            )
    role, user = None, "local"
    if bool(config_path) != bool(as_user):
        raise ConfigError("--config and --as go together", hint="--config serve.yml --as alice")
    if config_path:
        from analysis_py.serve.config import load_config

        cfg = load_config(config_path)
        if as_user not in cfg.users:
            raise ConfigError(f"user {as_user!r} is not in {config_path}")
        role, user = cfg.roles[cfg.users[as_user].role], as_user
    session = open_session(warehouse_dir, project_dir=project_dir, role=role, user=user)
    try:
        table = None
        for stmt in stmts:
            table = result_table(session.execute(stmt))
    finally:
        session.close()
        session.engine.close()
    if table is None:
        return
    if table.num_columns == 0:  # SET, BEGIN, … : a statement without a result set
        click.echo("OK")
        return
    if csv_path:
        _write_csv(table, csv_path)
        click.echo(f"wrote {table.num_rows} rows to {csv_path}", err=True)
        return
    _print(table, max_rows)


def _cell(v) -> str:
    return "" if v is None else str(v)


def _write_csv(table, path: str) -> None:
    from analysis_py.commands.output import write_csv

    names = table.column_names
    write_csv(path, names, ([r[c] for c in names] for r in table.to_pylist()), _cell)


def _print(table, max_rows: int) -> None:
    """psql's aligned format: `` | `` between columns, a row count below."""
    from analysis_py.commands.output import print_table

    names = table.column_names
    rows = [[_cell(r[c]) for c in names] for r in table.slice(0, max_rows).to_pylist()]
    print_table(names, rows, sep=" | ", rule_sep="-+-")
    more = f", showing {max_rows}" if table.num_rows > max_rows else ""
    click.echo(f"({table.num_rows} row{'s' if table.num_rows != 1 else ''}{more})")
