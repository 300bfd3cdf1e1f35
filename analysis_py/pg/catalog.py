"""``pg_catalog`` and ``information_schema`` for one role (pg_class, pg_attribute,
pg_constraint, pg_proc, …) as small DuckDB tables, from the relations the role may read.

BI tools and drivers discover objects through ``pg_catalog`` and ``information_schema``.
DuckDB's own emulation lists every attached database (every generation, every role), so
each role database gets its own tables in a hidden schema ``_pg`` (and ``_is`` for
``information_schema``), filled from the objects that role may see; client SQL is
rewritten to read them (:mod:`analysis_py.pg.rewrite`). OIDs are derived from object
names, so they stay the same across warehouse generations and BI caches stay valid. The
tables' columns (PostgreSQL's layout, with defaults) are data: ``catalog_tables.toml``.
"""

from __future__ import annotations

import re
import tomllib
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources

from analysis_py.pg.types import PG_TYPE_ROWS, PgType, sql_type_name

PG_CATALOG_NS = 11
INFORMATION_SCHEMA_NS = 13183
OWNER_OID = 10
OWNER = "opsmetrics"
DB_OID = 16385
SCHEMA_KIND = {"metrics": "v"}


@dataclass(frozen=True)
class CatColumn:
    name: str
    pgtype: PgType
    notnull: bool = False
    comment: str | None = None


@dataclass(frozen=True)
class CatRelation:
    """A table or view a role can see, as clients should see it."""

    schema: str
    name: str
    kind: str  # 'r' table, 'v' view
    columns: tuple[CatColumn, ...]
    comment: str | None = None
    primary_key: tuple[str, ...] = ()
    #: (column, parent schema, parent relation, parent column); shown where the parent is
    #: visible and that column is its primary key
    foreign_keys: tuple[tuple[str, str, str, str], ...] = ()


@dataclass
class CatalogSpec:
    database: str
    schemas: list[tuple[str, str | None]]  # (name, comment)
    relations: list[CatRelation]
    users: list[str] = field(default_factory=lambda: [OWNER])
    search_path: tuple[str, ...] = ("main",)
    #: pg_proc rows of the functions a client can call (see :func:`function_rows`)
    functions: list[dict] = field(default_factory=list)


def stable_oid(kind: str, *names: str) -> int:
    """A deterministic OID ≥ 65536 for a named object."""
    return 65536 + (zlib.crc32(("\x1f".join((kind, *names))).encode()) & 0x3FFFFFFF)


# ---------------------------------------------------------------- table definitions
Columns = list[tuple[str, str, object]]  # (column, DuckDB type, default for rows that omit it)


def _load_tables() -> dict[str, dict[str, Columns]]:
    """The relations of ``catalog_tables.toml`` by schema: name -> [(column, type, default)]."""
    raw = tomllib.loads(resources.files(__package__).joinpath("catalog_tables.toml").read_text())
    return {
        schema: {
            name: [
                (col, spec, None) if isinstance(spec, str) else (col, spec[0], spec[1])
                for col, spec in cols.items()
            ]
            for name, cols in relations.items()
        }
        for schema, relations in raw.items()
    }


_TABLES = _load_tables()
PG_TABLES: dict[str, Columns] = _TABLES["pg_catalog"]
IS_TABLES: dict[str, Columns] = _TABLES["information_schema"]
_EXTRA_TABLES: dict[str, Columns] = _TABLES["internal"]

#: the oid of each system catalog (its ``tableoid`` column: psql's \dd and others join
#: pg_description on ``classoid = x.tableoid``)
_CATALOG_OIDS = {
    "pg_class": 1259, "pg_attribute": 1249, "pg_proc": 1255, "pg_type": 1247,
    "pg_namespace": 2615, "pg_constraint": 2606, "pg_operator": 2617, "pg_opclass": 2616,
    "pg_opfamily": 2753, "pg_rewrite": 2618, "pg_trigger": 2620, "pg_am": 2601,
    "pg_language": 2612, "pg_collation": 3456, "pg_conversion": 2607, "pg_database": 1262,
    "pg_description": 2609, "pg_index": 2610, "pg_event_trigger": 3466, "pg_ts_config": 3602,
    "pg_ts_dict": 3600, "pg_ts_parser": 3601, "pg_ts_template": 3764,
    "pg_foreign_data_wrapper": 2328, "pg_foreign_server": 1417, "pg_extension": 3079,
    "pg_cast": 2605, "pg_enum": 3501, "pg_policy": 3256, "pg_statistic_ext": 3381,
    "pg_publication": 6104, "pg_subscription": 6100, "pg_tablespace": 1213, "pg_authid": 1260,
    "pg_inherits": 2611, "pg_depend": 2608, "pg_attrdef": 2604, "pg_sequence": 2224,
    "pg_range": 3541,
}  # fmt: skip
for _name, _oid in _CATALOG_OIDS.items():
    _cols = PG_TABLES.get(_name)
    if _cols is not None and not any(c[0] == "tableoid" for c in _cols):
        _cols.append(("tableoid", "BIGINT", _oid))

# ---------------------------------------------------------------- functions (macros)
_FORMAT_TYPE_CASES = "\n".join(
    f"    WHEN {oid} THEN '{sql_type_name(oid)}'" for oid, *_ in PG_TYPE_ROWS
)


def macro_sql(db: str) -> list[str]:
    """``CREATE MACRO`` statements for the catalog functions clients call, in ``db._pg``."""
    p = f'"{db}"._pg'
    return [
        f"""CREATE OR REPLACE MACRO {p}.format_type(t, m) AS CASE
    WHEN t IS NULL THEN NULL
    WHEN t = 0 THEN '-'
    WHEN t = 1700 AND m IS NOT NULL AND m > 4 THEN
      'numeric(' || ((m - 4) >> 16) || ',' || ((m - 4) & 65535) || ')'
    WHEN t = 1043 AND m IS NOT NULL AND m > 4 THEN 'character varying(' || (m - 4) || ')'
    ELSE CASE t
{_FORMAT_TYPE_CASES}
    ELSE '???' END END""",
        f"CREATE OR REPLACE MACRO {p}.pg_table_is_visible(o) AS o IN "
        f"(SELECT c.oid FROM {p}.pg_class c JOIN {p}._visible v ON c.relnamespace = v.oid)",
        f"CREATE OR REPLACE MACRO {p}.pg_type_is_visible(o) AS true",
        f"CREATE OR REPLACE MACRO {p}.pg_function_is_visible(o) AS true",
        f"CREATE OR REPLACE MACRO {p}.pg_get_userbyid(o) AS '{OWNER}'",
        f"CREATE OR REPLACE MACRO {p}.obj_description(o) AS (SELECT first(description) FROM "
        f"{p}.pg_description d WHERE d.objoid = o AND d.objsubid = 0), "
        f"(o, c) AS (SELECT first(description) FROM {p}.pg_description d "
        f"WHERE d.objoid = o AND d.objsubid = 0)",
        f"CREATE OR REPLACE MACRO {p}.col_description(o, n) AS (SELECT first(description) FROM "
        f"{p}.pg_description d WHERE d.objoid = o AND d.objsubid = n)",
        f"CREATE OR REPLACE MACRO {p}.shobj_description(o, c) AS NULL::VARCHAR",
        f"CREATE OR REPLACE MACRO {p}.pg_get_expr(e, r) AS NULL::VARCHAR, "
        f"(e, r, p) AS NULL::VARCHAR",
        f"CREATE OR REPLACE MACRO {p}.pg_get_constraintdef(o) AS (SELECT first(def) FROM "
        f"{p}._condef WHERE oid = o), (o, pretty) AS (SELECT first(def) FROM {p}._condef "
        f"WHERE oid = o)",
        f"CREATE OR REPLACE MACRO {p}.pg_get_indexdef(o) AS (SELECT first(i.indexdef) FROM "
        f"{p}.pg_indexes i JOIN {p}.pg_class c ON c.relname = i.indexname WHERE c.oid = o), "
        # with a column number: that key column's name (PgJDBC's getIndexInfo COLUMN_NAME)
        f"(o, c, p) AS CASE WHEN c = 0 THEN (SELECT first(i.indexdef) FROM {p}.pg_indexes i "
        f"JOIN {p}.pg_class x ON x.relname = i.indexname WHERE x.oid = o) ELSE "
        f"(SELECT first(a.attname) FROM {p}.pg_index x JOIN {p}.pg_attribute a ON "
        f"a.attrelid = x.indrelid AND a.attnum = x.indkey[c] WHERE x.indexrelid = o) END",
        f"CREATE OR REPLACE MACRO {p}.pg_get_viewdef(o) AS NULL::VARCHAR, (o, p) AS NULL::VARCHAR",
        f"CREATE OR REPLACE MACRO {p}.pg_get_partkeydef(o) AS NULL::VARCHAR",
        f"CREATE OR REPLACE MACRO {p}.pg_get_serial_sequence(t, c) AS NULL::VARCHAR",
        f"CREATE OR REPLACE MACRO {p}.pg_get_function_identity_arguments(o) AS ''",
        f"CREATE OR REPLACE MACRO {p}.pg_get_function_arguments(o) AS ''",
        f"CREATE OR REPLACE MACRO {p}.pg_get_function_result(o) AS NULL::VARCHAR",
        f"CREATE OR REPLACE MACRO {p}.pg_get_triggerdef(o) AS NULL::VARCHAR, "
        f"(o, p) AS NULL::VARCHAR",
        f"CREATE OR REPLACE MACRO {p}.pg_get_ruledef(o) AS NULL::VARCHAR, (o, p) AS NULL::VARCHAR",
        f"CREATE OR REPLACE MACRO {p}.pg_get_statisticsobjdef_columns(o) AS NULL::VARCHAR",
        f"CREATE OR REPLACE MACRO {p}.pg_relation_is_publishable(o) AS false",
        f"CREATE OR REPLACE MACRO {p}.pg_tablespace_location(o) AS ''",
        f"CREATE OR REPLACE MACRO {p}.pg_get_functiondef(o) AS NULL::VARCHAR",
        f"CREATE OR REPLACE MACRO {p}.pg_statistics_obj_is_visible(o) AS true",
        f"CREATE OR REPLACE MACRO {p}.pg_conversion_is_visible(o) AS true",
        f"CREATE OR REPLACE MACRO {p}.pg_collation_is_visible(o) AS true",
        f"CREATE OR REPLACE MACRO {p}.pg_opclass_is_visible(o) AS true",
        f"CREATE OR REPLACE MACRO {p}.pg_opfamily_is_visible(o) AS true",
        f"CREATE OR REPLACE MACRO {p}.pg_operator_is_visible(o) AS true",
        f"CREATE OR REPLACE MACRO {p}.pg_ts_config_is_visible(o) AS true",
        f"CREATE OR REPLACE MACRO {p}.pg_ts_parser_is_visible(o) AS true",
        f"CREATE OR REPLACE MACRO {p}.pg_ts_dict_is_visible(o) AS true",
        f"CREATE OR REPLACE MACRO {p}.pg_ts_template_is_visible(o) AS true",
        f"CREATE OR REPLACE MACRO {p}.pg_relation_size(o) AS 0::BIGINT, (o, f) AS 0::BIGINT",
        f"CREATE OR REPLACE MACRO {p}.pg_total_relation_size(o) AS 0::BIGINT",
        f"CREATE OR REPLACE MACRO {p}.pg_table_size(o) AS 0::BIGINT",
        f"CREATE OR REPLACE MACRO {p}.pg_indexes_size(o) AS 0::BIGINT",
        f"CREATE OR REPLACE MACRO {p}.pg_database_size(o) AS 0::BIGINT",
        f"CREATE OR REPLACE MACRO {p}.pg_encoding_to_char(e) AS 'UTF8'",
        f"CREATE OR REPLACE MACRO {p}.pg_char_to_encoding(e) AS 6",
        f"CREATE OR REPLACE MACRO {p}.pg_is_in_recovery() AS false",
        f"CREATE OR REPLACE MACRO {p}.txid_current() AS 1::BIGINT",
        f"CREATE OR REPLACE MACRO {p}.inet_server_addr() AS '127.0.0.1'",
        f"CREATE OR REPLACE MACRO {p}.inet_server_port() AS 5433",
        f"CREATE OR REPLACE MACRO {p}.pg_has_role(a, b) AS true, (a, b, c) AS true",
        *[
            f"CREATE OR REPLACE MACRO {p}.{fn}(a) AS true, (a, b) AS true, (a, b, c) AS true"
            for fn in (
                "has_table_privilege",
                "has_schema_privilege",
                "has_database_privilege",
                "has_column_privilege",
                "has_any_column_privilege",
                "has_function_privilege",
                "has_sequence_privilege",
                "has_type_privilege",
            )
        ],
        f"CREATE OR REPLACE MACRO {p}.current_schemas(implicit) AS CASE WHEN implicit "
        f"THEN ['pg_catalog', 'main'] ELSE ['main'] END",
        f"CREATE OR REPLACE MACRO {p}.quote_ident(s) AS CASE WHEN regexp_full_match(s, "
        f"'[a-z_][a-z0-9_$]*') THEN s ELSE '\"' || replace(s, '\"', '\"\"') || '\"' END",
        f"CREATE OR REPLACE MACRO {p}.regclass_oid(n) AS coalesce((SELECT first(c.oid) FROM "
        f"{p}.pg_class c JOIN {p}.pg_namespace s ON c.relnamespace = s.oid WHERE "
        f"c.relname = CAST(n AS VARCHAR) OR s.nspname || '.' || c.relname = CAST(n AS VARCHAR) "
        f"OR CAST(c.oid AS VARCHAR) = CAST(n AS VARCHAR)), "
        f"CASE regexp_replace(CAST(n AS VARCHAR), '^pg_catalog[.]', '') "
        f"WHEN 'pg_class' THEN 1259 WHEN 'pg_constraint' THEN 2606 "
        f"WHEN 'pg_namespace' THEN 2615 WHEN 'pg_proc' THEN 1255 WHEN 'pg_type' THEN 1247 "
        f"WHEN 'pg_database' THEN 1262 WHEN 'pg_attribute' THEN 1249 END)",
        f"CREATE OR REPLACE MACRO {p}.to_regclass(n) AS {p}.regclass_oid(n)",
        f"CREATE OR REPLACE MACRO {p}.regclass_name(o) AS coalesce((SELECT first(relname) FROM "
        f"{p}.pg_class WHERE oid = o), CAST(o AS VARCHAR))",
        f"CREATE OR REPLACE MACRO {p}.regnamespace_name(o) AS (SELECT first(nspname) FROM "
        f"{p}.pg_namespace WHERE oid = o)",
        # regtype's output: '-' for 0, the number for an OID pg_type does not list
        f"CREATE OR REPLACE MACRO {p}.regtype_name(o) AS CASE WHEN {p}.format_type(o, NULL) "
        f"= '???' THEN CAST(o AS VARCHAR) ELSE {p}.format_type(o, NULL) END",
        f"CREATE OR REPLACE MACRO {p}.regtype_oid(n) AS (SELECT first(oid) FROM {p}.pg_type "
        f"WHERE typname = n OR {p}.format_type(oid, NULL) = n)",
        # an oidvector's text ('23 25') or an oid[]'s ('[23, 25]' / '{23,25}') as a list
        f"CREATE OR REPLACE MACRO {p}.oid_list(s) AS list_transform(list_filter("
        f"regexp_split_to_array(trim(regexp_replace(s, '[\\[\\]{{}},]', ' ', 'g')), '\\s+'), "
        f"lambda x: x <> ''), lambda x: CAST(x AS BIGINT))",
        f"CREATE OR REPLACE MACRO {p}.regtype_names(s) AS "
        f"list_transform({p}.oid_list(s), lambda x: {p}.regtype_name(x))",
        f"CREATE OR REPLACE MACRO {p}.regproc_name(o) AS CAST(o AS VARCHAR)",
        f"CREATE OR REPLACE MACRO {p}.to_regtype(n) AS {p}.regtype_oid(n)",
        f"CREATE OR REPLACE MACRO {p}.to_regnamespace(n) AS (SELECT first(oid) FROM "
        f"{p}.pg_namespace WHERE nspname = n)",
    ]


#: macros the rewrite calls itself (``'x'::regclass`` → ``_pg.regclass_oid('x')``), which a
#: client cannot call by name: PostgreSQL has no such functions
_INTERNAL_MACROS = frozenset(
    {
        "oid_list",
        "regclass_name",
        "regclass_oid",
        "regnamespace_name",
        "regproc_name",
        "regtype_name",
        "regtype_names",
        "regtype_oid",
    }
)
#: functions a client calls that are rewritten to ``_pg.<name>``: every macro defined above
#: but the internal ones (the rest of ``pg_catalog.*`` maps to DuckDB's own)
MACROS = (
    frozenset(re.findall(r"MACRO \"_\"\._pg\.(\w+)", "\n".join(macro_sql("_")))) - _INTERNAL_MACROS
)


# ---------------------------------------------------------------- rows
def _type_rows() -> list[dict]:
    rows = []
    for i, (oid, name, length, cat, arr, elem) in enumerate(PG_TYPE_ROWS):
        rows.append(
            {
                "oid": oid,
                "typname": name,
                "typlen": length,
                "typbyval": 0 < length <= 8,
                "typcategory": cat,
                "typelem": elem,
                "typarray": arr,
                "typinput": 10000 + 4 * i,
                "typoutput": 10001 + 4 * i,
                "typreceive": 10002 + 4 * i,
                "typsend": 10003 + 4 * i,
                "typsubscript": "array_subscript_handler" if elem else "-",
                "typcollation": 100 if cat == "S" else 0,
                "typtype": "p" if cat == "P" else "b",
            }
        )
    return rows


def _is_type(t: PgType) -> tuple[str, dict]:
    extra: dict = {}
    if t.oid == 1700 and t.typmod > 4:
        extra = {
            "numeric_precision": (t.typmod - 4) >> 16,
            "numeric_scale": (t.typmod - 4) & 0xFFFF,
            "numeric_precision_radix": 10,
        }
    elif t.oid in (20, 21, 23):
        extra = {
            "numeric_precision": {20: 64, 21: 16, 23: 32}[t.oid],
            "numeric_scale": 0,
            "numeric_precision_radix": 2,
        }
    elif t.oid in (700, 701):
        extra = {"numeric_precision": 24 if t.oid == 700 else 53, "numeric_precision_radix": 2}
    elif t.oid in (1114, 1184, 1083):
        extra = {"datetime_precision": 6}
    elif t.oid == 1082:
        extra = {"datetime_precision": 0}
    if t.name.startswith("_"):
        return "ARRAY", extra
    return sql_type_name(t.oid) or "USER-DEFINED", extra


_KINDS = {"scalar": "f", "macro": "f", "aggregate": "a", "window": "w"}
_POLY = {"ANY": 2283, "T": 2283, "ANY[]": 2277, "T[]": 2277}


def function_rows(con) -> list[dict]:
    """pg_proc rows for what a client can call: DuckDB's scalar, aggregate and window
    functions (each overload, its argument and result types as PostgreSQL types; any and
    template types as anyelement/anyarray), less those the guard refuses, and the catalog
    functions emulated as macros (:data:`MACROS`)."""
    from analysis_py.pg.types import pg_type_of
    from analysis_py.sql.guard import function_allowed

    def oid_of(t) -> int:
        if t is None:
            return 2278  # void
        return _POLY.get(str(t).upper()) or pg_type_of(t).oid

    rows, seen = [], set()
    found = con.execute(
        "SELECT function_name, function_type, return_type, parameter_types, varargs "
        "FROM duckdb_functions() WHERE function_type IN ('scalar', 'aggregate', 'window', "
        "'macro') AND database_name = 'system' ORDER BY function_name, function_oid"
    ).fetchall()
    for name, ftype, ret, params, varargs in found:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or not function_allowed(name):
            continue
        args = tuple(oid_of(p) for p in params or ())
        key = (name, args)
        if key in seen:
            continue
        seen.add(key)
        rows.append(
            {
                "oid": stable_oid("p", name, *map(str, args)),
                "proname": name,
                "prokind": _KINDS[ftype],
                "prorettype": oid_of(ret),
                "pronargs": len(args),
                "proargtypes": " ".join(map(str, args)),
                "provariadic": 2276 if varargs else 0,
            }
        )
    for name in sorted(MACROS - {r["proname"] for r in rows}):
        rows.append({"oid": stable_oid("p", name), "proname": name, "prorettype": 25})
    return rows


def catalog_rows(spec: CatalogSpec, settings: dict[str, str]) -> dict[str, list[dict]]:
    """Rows for every catalog table, for one role."""
    db = spec.database
    rows: dict[str, list[dict]] = {name: [] for name in (*PG_TABLES, *IS_TABLES, *_EXTRA_TABLES)}
    ns_oid = {"pg_catalog": PG_CATALOG_NS, "information_schema": INFORMATION_SCHEMA_NS}
    rows["pg_namespace"] += [
        {"oid": PG_CATALOG_NS, "nspname": "pg_catalog"},
        {"oid": INFORMATION_SCHEMA_NS, "nspname": "information_schema"},
    ]
    for name, comment in spec.schemas:
        oid = stable_oid("n", name)
        ns_oid[name] = oid
        rows["pg_namespace"].append({"oid": oid, "nspname": name})
        rows["schemata"].append({"catalog_name": db, "schema_name": name})
        if comment:
            rows["pg_description"].append({"objoid": oid, "classoid": 2615, "description": comment})
    for s in ("pg_catalog", "information_schema"):
        rows["schemata"].append({"catalog_name": db, "schema_name": s})
    rows["pg_type"] = _type_rows()
    for t in rows["pg_type"]:  # the I/O functions of each type, which drivers join on
        stem = "array_" if t["typname"].startswith("_") else t["typname"]
        for k, suffix in (
            ("typinput", "in"),
            ("typoutput", "out"),
            ("typreceive", "recv"),
            ("typsend", "send"),
        ):
            rows["pg_proc"].append(
                {
                    "oid": t[k],
                    "proname": f"{stem}{suffix}",
                    "prorettype": t["oid"] if suffix in ("in", "recv") else 17,
                }
            )
    rows["pg_proc"] += spec.functions
    rows["pg_database"] = [{"datname": db}]
    rows["pg_am"] = [{"oid": 2, "amname": "heap"}, {"oid": 403, "amname": "btree", "amtype": "i"}]
    rows["pg_collation"] = [{"oid": 100, "collname": "default"}, {"oid": 950, "collname": "C"}]
    rows["pg_tablespace"] = [
        {"oid": 1663, "spcname": "pg_default"},
        {"oid": 1664, "spcname": "pg_global"},
    ]
    rows["pg_extension"] = [{"oid": 13500, "extname": "plpgsql"}]
    rows["pg_language"] = [
        {"oid": 12, "lanname": "internal"},
        {"oid": 13, "lanname": "c"},
        {"oid": 14, "lanname": "sql"},
        {"oid": 13501, "lanname": "plpgsql"},
    ]
    rows["pg_timezone_names"] = [{"name": "UTC", "abbrev": "UTC", "is_dst": False}]
    for u in spec.users:
        oid = OWNER_OID if u == OWNER else stable_oid("u", u)
        rows["pg_roles"].append({"rolname": u, "oid": oid})
        rows["pg_user"].append({"usename": u, "usesysid": oid})
        rows["enabled_roles"].append({"role_name": u})
    rows["pg_settings"] = [
        {"name": k, "setting": v, "reset_val": v, "boot_val": v}
        for k, v in sorted(settings.items())
    ]
    for rel in spec.relations:
        oid = stable_oid("r", rel.schema, rel.name)
        nsp = ns_oid[rel.schema]
        rows["pg_class"].append(
            {
                "oid": oid,
                "relname": rel.name,
                "relnamespace": nsp,
                "relkind": rel.kind,
                "relnatts": len(rel.columns),
                "relhasindex": bool(rel.primary_key),
                "relam": 2 if rel.kind == "r" else 0,
                "relfilenode": oid if rel.kind == "r" else 0,
            }
        )
        table_type = "BASE TABLE" if rel.kind == "r" else "VIEW"
        rows["tables"].append(
            {
                "table_catalog": db,
                "table_schema": rel.schema,
                "table_name": rel.name,
                "table_type": table_type,
            }
        )
        if rel.kind == "r":
            rows["pg_tables"].append(
                {
                    "schemaname": rel.schema,
                    "tablename": rel.name,
                    "hasindexes": bool(rel.primary_key),
                }
            )
        else:
            rows["pg_views"].append(
                {"schemaname": rel.schema, "viewname": rel.name, "definition": ""}
            )
            rows["views"].append(
                {
                    "table_catalog": db,
                    "table_schema": rel.schema,
                    "table_name": rel.name,
                    "view_definition": "",
                }
            )
        for u in spec.users:
            rows["table_privileges"].append(
                {
                    "grantee": u,
                    "table_catalog": db,
                    "table_schema": rel.schema,
                    "table_name": rel.name,
                }
            )
            rows["role_table_grants"].append(
                {
                    "grantee": u,
                    "table_catalog": db,
                    "table_schema": rel.schema,
                    "table_name": rel.name,
                }
            )
        if rel.comment:
            rows["pg_description"].append({"objoid": oid, "description": rel.comment})
        for num, col in enumerate(rel.columns, start=1):
            t = col.pgtype
            rows["pg_attribute"].append(
                {
                    "attrelid": oid,
                    "attname": col.name,
                    "atttypid": t.oid,
                    "attlen": t.size,
                    "attnum": num,
                    "atttypmod": t.typmod,
                    "attnotnull": col.notnull,
                    "attbyval": 0 < t.size <= 8,
                    "attcollation": 100 if t.oid in (25, 1043) else 0,
                }
            )
            if col.comment:
                rows["pg_description"].append(
                    {"objoid": oid, "objsubid": num, "description": col.comment}
                )
            data_type, extra = _is_type(t)
            rows["columns"].append(
                {
                    "table_catalog": db,
                    "table_schema": rel.schema,
                    "table_name": rel.name,
                    "column_name": col.name,
                    "ordinal_position": num,
                    "is_nullable": "NO" if col.notnull else "YES",
                    "data_type": data_type,
                    "udt_catalog": db,
                    "udt_name": t.name,
                    "dtd_identifier": str(num),
                    **extra,
                }
            )
        if rel.primary_key:
            idx = [i + 1 for i, c in enumerate(rel.columns) if c.name in rel.primary_key]
            conname = f"{rel.name}_pkey"
            con_oid = stable_oid("c", rel.schema, conname)
            idx_oid = stable_oid("i", rel.schema, conname)
            rows["pg_constraint"].append(
                {
                    "oid": con_oid,
                    "conname": conname,
                    "connamespace": nsp,
                    "contype": "p",
                    "conrelid": oid,
                    "conindid": idx_oid,
                    "conkey": idx,
                }
            )
            rows["_condef"].append(
                {"oid": con_oid, "def": f"PRIMARY KEY ({', '.join(rel.primary_key)})"}
            )
            rows["pg_class"].append(
                {
                    "oid": idx_oid,
                    "relname": conname,
                    "relnamespace": nsp,
                    "relkind": "i",
                    "relam": 403,
                    "relnatts": len(idx),
                }
            )
            rows["pg_index"].append(
                {
                    "indexrelid": idx_oid,
                    "indrelid": oid,
                    "indnatts": len(idx),
                    "indnkeyatts": len(idx),
                    "indkey": idx,
                    "indoption": [0] * len(idx),
                }
            )
            rows["pg_indexes"].append(
                {
                    "schemaname": rel.schema,
                    "tablename": rel.name,
                    "indexname": conname,
                    "indexdef": f"CREATE UNIQUE INDEX {conname} ON {rel.schema}.{rel.name} "
                    f"USING btree ({', '.join(rel.primary_key)})",
                }
            )
            names = _constraint_names(db, rel.schema, conname)
            table = _table_names(db, rel)
            rows["table_constraints"].append({**names, **table, "constraint_type": "PRIMARY KEY"})
            for pos, c in enumerate(rel.primary_key, start=1):
                rows["constraint_column_usage"].append({**table, "column_name": c, **names})
                rows["key_column_usage"].append(
                    {**names, **table, "column_name": c, "ordinal_position": pos}
                )
    _foreign_key_rows(spec, rows, db, ns_oid)
    rows["_visible"] = [
        {"oid": ns_oid[s]} for s in ("pg_catalog", *spec.search_path) if s in ns_oid
    ]
    return rows


def _constraint_names(db: str, schema: str, name: str) -> dict:
    """information_schema's three columns naming a constraint."""
    return {"constraint_catalog": db, "constraint_schema": schema, "constraint_name": name}


def _table_names(db: str, rel: CatRelation) -> dict:
    """information_schema's three columns naming a table."""
    return {"table_catalog": db, "table_schema": rel.schema, "table_name": rel.name}


def _foreign_key_rows(spec: CatalogSpec, rows: dict, db: str, ns_oid: dict) -> None:
    """Foreign keys as PostgreSQL lists them (pg_constraint, and information_schema's
    table_constraints, key_column_usage, referential_constraints, constraint_column_usage),
    each pointing at its parent's primary key, so BI tools can suggest joins."""
    by_name = {(r.schema, r.name): r for r in spec.relations}
    for rel in spec.relations:
        attnum = {c.name: i for i, c in enumerate(rel.columns, start=1)}
        for column, pschema, pname, pcol in rel.foreign_keys:
            parent = by_name.get((pschema, pname))
            if column not in attnum or parent is None or parent.primary_key != (pcol,):
                continue
            pattnum = [i for i, c in enumerate(parent.columns, start=1) if c.name == pcol]
            conname = f"{rel.name}_{column}_fkey"
            con_oid = stable_oid("c", rel.schema, conname)
            rows["pg_constraint"].append(
                {
                    "oid": con_oid,
                    "conname": conname,
                    "connamespace": ns_oid[rel.schema],
                    "contype": "f",
                    "conrelid": stable_oid("r", rel.schema, rel.name),
                    "conindid": stable_oid("i", pschema, f"{pname}_pkey"),
                    "confrelid": stable_oid("r", pschema, pname),
                    "confupdtype": "a",
                    "confdeltype": "a",
                    "confmatchtype": "s",
                    "conkey": [attnum[column]],
                    "confkey": pattnum,
                }
            )
            rows["_condef"].append(
                {
                    "oid": con_oid,
                    "def": f"FOREIGN KEY ({column}) REFERENCES {pschema}.{pname}({pcol})",
                }
            )
            names = _constraint_names(db, rel.schema, conname)
            table = _table_names(db, rel)
            rows["table_constraints"].append({**names, **table, "constraint_type": "FOREIGN KEY"})
            rows["key_column_usage"].append(
                {
                    **names,
                    **table,
                    "column_name": column,
                    "ordinal_position": 1,
                    "position_in_unique_constraint": 1,
                }
            )
            rows["referential_constraints"].append(
                {
                    **names,
                    "unique_constraint_catalog": db,
                    "unique_constraint_schema": pschema,
                    "unique_constraint_name": f"{pname}_pkey",
                    "match_option": "NONE",
                    "update_rule": "NO ACTION",
                    "delete_rule": "NO ACTION",
                }
            )
            rows["constraint_column_usage"].append(
                {
                    "table_catalog": db,
                    "table_schema": pschema,
                    "table_name": pname,
                    "column_name": pcol,
                    **names,
                }
            )


def _all_tables() -> Iterable[tuple[str, str, list[tuple[str, str, object]]]]:
    for name, cols in PG_TABLES.items():
        yield "_pg", name, cols
    for name, cols in _EXTRA_TABLES.items():
        yield "_pg", name, cols
    for name, cols in IS_TABLES.items():
        yield "_is", name, cols


def create_catalog(con, db: str) -> None:
    """Create the empty catalog tables and functions in database ``db`` (once)."""
    con.execute(f'CREATE SCHEMA IF NOT EXISTS "{db}"._pg')
    con.execute(f'CREATE SCHEMA IF NOT EXISTS "{db}"._is')
    for schema, name, cols in _all_tables():
        ddl = ", ".join(f'"{c}" {t}' for c, t, _ in cols)
        con.execute(f'CREATE TABLE IF NOT EXISTS "{db}".{schema}."{name}" ({ddl})')
    for stmt in macro_sql(db):
        con.execute(stmt)


def fill_catalog(con, db: str, rows: dict[str, list[dict]]) -> None:
    """Replace the catalog rows (inside the caller's transaction).

    One INSERT per table, each column bound as one list parameter and unnested: as fast as
    going through Arrow, without ``pa.array()``, which imports pandas (2 s of start-up).
    """
    for schema, name, cols in _all_tables():
        con.execute(f'DELETE FROM "{db}".{schema}."{name}"')
        data = rows.get(name) or []
        if not data:
            continue
        defaults = {c: d for c, _, d in cols}
        params = [[r.get(c, defaults[c]) for r in data] for c, _, _ in cols]
        select = ", ".join(f"unnest(?::{t}[])" for _, t, _ in cols)
        con.execute(f'INSERT INTO "{db}".{schema}."{name}" SELECT {select}', params)


CATALOG_TABLES = frozenset(PG_TABLES)
IS_TABLE_NAMES = frozenset(IS_TABLES)
