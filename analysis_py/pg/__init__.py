"""PostgreSQL emulation over the governed warehouse: types, catalog, rewrite, governance,
engine and sessions (below the wire, above SQL translation).

- ``types``: PostgreSQL types, OIDs and the text/binary codecs of values;
- ``catalog``: ``pg_catalog`` and ``information_schema`` as data, over the published marts;
- ``rewrite``: PostgreSQL SQL (catalog functions, casts, operators) to DuckDB's;
- ``governance``: roles, grants, PII masking and row policies, as views;
- ``engine``: the published warehouse generations, one DuckDB connection pool per build;
- ``session``: one client session: statements dispatched by their first word, settings,
  transactions, cursors, prepared statements and portals;
- ``copysql``: ``COPY … TO STDOUT`` statements.

The same session serves ``opsmetrics serve`` (through the wire), ``opsmetrics sql`` and
Python::

    >>> import analysis_py.pg as pg
    >>> pg.execute("select metric_time__month, stp_rate from metrics group by 1")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa


def open_session(
    warehouse_dir: str | Path | None = None,
    *,
    role=None,
    user: str = "local",
    project_dir: str | Path | None = None,
):
    """A :class:`~analysis_py.pg.session.Session` on the published warehouse (local role:
    everything, PII included, read-only)."""
    from analysis_py.pg.governance import LOCAL_ROLE
    from analysis_py.pg.session import Session

    role = role or LOCAL_ROLE
    engine = local_engine(warehouse_dir, role=role, user=user, project_dir=project_dir)
    return Session(engine, user, role)


def local_engine(
    warehouse_dir: str | Path | None = None,
    *,
    role=None,
    user: str = "local",
    project_dir: str | Path | None = None,
):
    """A started :class:`~analysis_py.pg.engine.Engine` on the published warehouse serving
    one role (the local one by default)."""
    from analysis_py.config import resolve_paths
    from analysis_py.pg.engine import Engine
    from analysis_py.pg.governance import LOCAL_ROLE

    paths = resolve_paths(project_dir=project_dir, warehouse_dir=warehouse_dir)
    role = role or LOCAL_ROLE
    return Engine(
        paths.warehouse_dir,
        {role.name: role},
        project_dir=paths.project_dir,
        users_by_role={role.name: [user]},
    ).start()


def execute(sql: str, warehouse_dir: str | Path | None = None, *, session=None) -> pa.Table:
    """Run one statement (semantic SQL, JDBC syntax or read-only SQL) and return its rows."""
    from analysis_py.sql.split import split_statements

    own = session is None
    session = session or open_session(warehouse_dir)
    try:
        stmts = split_statements(sql)
        if len(stmts) != 1:
            from analysis_py.errors import SyntaxErr

            raise SyntaxErr(f"expected one statement, got {len(stmts)}")
        return result_table(session.execute(stmts[0]))
    finally:
        if own:
            session.close()
            session.engine.close()


def result_table(result) -> pa.Table:
    """All rows of a :class:`~analysis_py.pg.session.Result` as an Arrow table."""
    cols = result.columns or []
    names = [c for c, _ in cols]
    src = result.source
    from analysis_py.pg.session import DuckSource

    if isinstance(src, DuckSource):
        src._first = False  # Arrow all the way: exact types
    rows, batches, _ = src.take(1 << 62) if src is not None else ([], [], 0)
    head = pa.Table.from_pylist([dict(zip(names, r, strict=True)) for r in rows]) if rows else None
    if batches:
        tail = pa.Table.from_batches(batches)
        if head is not None:
            head = head.cast(tail.schema) if head.schema != tail.schema else head
            return pa.concat_tables([head, tail])
        return tail
    if head is not None:
        return head
    return pa.table({n: pa.array([], pa.string()) for n in names})
