"""Roles, grants, PII masking and row policies: what each role may see, as view SQL.

A role is granted public marts, metrics and analysis tables by name (or ``"*"``). PII
columns (``meta: {pii: true}`` in the dbt YAML) come back masked unless the role is granted
them. Row policies filter a reference table (``dim_clients where region = 'EMEA'``) and
every mart that carries its key (``client_id``), so a policy holds through joins and in
metric queries, which read the same filtered views.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp

from analysis_py.errors import ConfigError


@dataclass(frozen=True)
class RowPolicy:
    name: str
    table: str  # the reference table the filter is written against
    filter: str  # SQL boolean expression over that table's columns
    key: str | None = None  # column shared with the tables the policy propagates to

    def __post_init__(self):
        try:
            tree = sqlglot.parse_one(self.filter, read="duckdb")
        except sqlglot.errors.ParseError as exc:
            raise ConfigError(f"row policy {self.name}: filter does not parse: {exc}") from None
        if tree.find(exp.Select, exp.Subquery, exp.Command, exp.Insert, exp.Delete):
            raise ConfigError(f"row policy {self.name}: filter must be a plain boolean expression")


@dataclass(frozen=True)
class Grants:
    names: frozenset[str] | None  # None = everything

    @classmethod
    def parse(cls, value, what: str) -> Grants:
        if value in (True, "*", "all"):
            return cls(None)
        if value in (None, False, [], ()):
            return cls(frozenset())
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{what}: expected a list of names, '*' or true/false")
        if "*" in value:
            return cls(None)
        return cls(frozenset(v.lower() for v in value))

    def allows(self, name: str) -> bool:
        return self.names is None or name.lower() in self.names


@dataclass(frozen=True)
class Role:
    name: str
    marts: Grants = field(default_factory=lambda: Grants(None))
    metrics: Grants = field(default_factory=lambda: Grants(None))
    analysis: Grants = field(default_factory=lambda: Grants(None))
    pii: Grants = field(default_factory=lambda: Grants(frozenset()))  # "table.column" or table
    row_policies: tuple[RowPolicy, ...] = ()

    def pii_allowed(self, table: str, column: str) -> bool:
        return self.pii.allows(f"{table}.{column}") or self.pii.allows(table)

    @property
    def db_name(self) -> str:
        return f"role_{self.name}"


#: The role of a local `opsmetrics sql` user: everything, PII included (they hold the file).
LOCAL_ROLE = Role("local", pii=Grants(None))


@dataclass(frozen=True)
class MartInfo:
    """A public mart in the current generation."""

    name: str
    schema: str  # schema inside the build file
    columns: tuple[tuple[str, str], ...]  # (name, DuckDB type)
    pii: frozenset[str] = frozenset()
    description: str | None = None
    column_docs: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    primary_key: tuple[str, ...] = ()
    #: (column, parent mart, parent column), from relationships tests and semantic entities
    foreign_keys: tuple[tuple[str, str, str], ...] = ()
    #: columns the project guarantees are never NULL (contract constraints, not_null tests)
    not_null: frozenset[str] = frozenset()
    public: bool = True  # exposed in the catalog (else only the semantic layer reads it)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def view_sql(
    mart: MartInfo,
    gen: str | None,
    role: Role,
    marts: dict[str, MartInfo],
) -> str:
    """The SELECT a role sees for a mart: masked PII, row policies applied (DuckDB SQL).
    ``gen`` is the attached build's alias; None names the relations ``schema.name`` (a Spark
    cluster's catalog, transpiled by :func:`spark_view_sql`)."""
    cols = []
    for name, dtype in mart.columns:
        if name in mart.pii and not role.pii_allowed(mart.name, name):
            if "VARCHAR" in dtype.upper():
                cols.append(f"CASE WHEN {_q(name)} IS NULL THEN NULL ELSE '****' END AS {_q(name)}")
            else:
                cols.append(f"CAST(NULL AS {dtype}) AS {_q(name)}")
        else:
            cols.append(_q(name))
    where = list(_policy_filters(mart, gen, role, marts))
    sql = f"SELECT {', '.join(cols)} FROM {_table(gen, mart.schema, mart.name)}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql


def _table(gen: str | None, schema: str, name: str) -> str:
    return (f"{_q(gen)}." if gen else "") + f"{_q(schema)}.{_q(name)}"


def spark_view_sql(mart: MartInfo, role: Role, marts: dict[str, MartInfo]) -> str:
    """:func:`view_sql` as Spark SQL over a cluster's catalog (``schema.name``): the same
    masks and row policies, the policy filters translated from DuckDB's dialect."""
    return sqlglot.transpile(view_sql(mart, None, role, marts), read="duckdb", write="spark")[0]


def _policy_filters(
    mart: MartInfo, gen: str | None, role: Role, marts: dict[str, MartInfo]
) -> Iterable[str]:
    colnames = {c for c, _ in mart.columns}
    for p in role.row_policies:
        if p.table == mart.name:
            yield f"({p.filter})"
        elif p.key and p.key in colnames:
            ref = marts.get(p.table)
            if ref is None:  # fail closed: the policy's reference table is not in this build
                yield "false"
                continue
            yield (
                f"{_q(p.key)} IN (SELECT {_q(p.key)} FROM {_table(gen, ref.schema, ref.name)} "
                f"WHERE {p.filter})"
            )
