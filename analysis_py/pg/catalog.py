"""``pg_catalog`` and ``information_schema`` for one role (pg_class, pg_attribute,
pg_constraint, pg_proc, …) as small DuckDB tables, from the relations the role may read.

BI tools and drivers discover objects through ``pg_catalog`` and ``information_schema``.
DuckDB's own emulation lists every attached database (every generation, every role), so
each role database gets its own tables in a hidden schema ``_pg`` (and ``_is`` for
``information_schema``), filled from the objects that role may see; client SQL is
rewritten to read them (:mod:`analysis_py.pg.rewrite`). OIDs are derived from object
names, so they stay the same across warehouse generations and BI caches stay valid.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field

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
# name -> [(column, DuckDB type, default)]; rows give a subset, the rest take the default.
# A column of type oid (oid[]) is a UINTEGER (UINTEGER[]): PostgreSQL's oid is an unsigned
# 32-bit integer, and the server describes DuckDB's UINTEGER as oid, as clients expect
# (asyncpg's type introspection reads oid[] and has no codec for int8[] before it).
_B, _I, _L, _T, _F = "BOOLEAN", "INTEGER", "BIGINT", "VARCHAR", "DOUBLE"
_O, _OA = "UINTEGER", "UINTEGER[]"

PG_TABLES: dict[str, list[tuple[str, str, object]]] = {
    "pg_namespace": [
        ("oid", _O, None),
        ("nspname", _T, None),
        ("nspowner", _O, OWNER_OID),
        ("nspacl", "VARCHAR[]", None),
    ],
    "pg_class": [
        ("oid", _O, None),
        ("relname", _T, None),
        ("relnamespace", _O, None),
        ("reltype", _O, 0),
        ("reloftype", _O, 0),
        ("relowner", _O, OWNER_OID),
        ("relam", _O, 2),
        ("relfilenode", _O, 0),
        ("reltablespace", _O, 0),
        ("relpages", _I, 0),
        ("reltuples", "REAL", -1),
        ("relallvisible", _I, 0),
        ("reltoastrelid", _O, 0),
        ("relhasindex", _B, False),
        ("relisshared", _B, False),
        ("relpersistence", _T, "p"),
        ("relkind", _T, "r"),
        ("relnatts", "SMALLINT", 0),
        ("relchecks", "SMALLINT", 0),
        ("relhasrules", _B, False),
        ("relhasoids", _B, False),
        ("relhastriggers", _B, False),
        ("relhassubclass", _B, False),
        ("relrowsecurity", _B, False),
        ("relforcerowsecurity", _B, False),
        ("relispopulated", _B, True),
        ("relreplident", _T, "d"),
        ("relispartition", _B, False),
        ("relrewrite", _O, 0),
        ("relfrozenxid", _L, 0),
        ("relminmxid", _L, 0),
        ("relacl", "VARCHAR[]", None),
        ("reloptions", "VARCHAR[]", None),
        ("relpartbound", _T, None),
    ],
    "pg_attribute": [
        ("attrelid", _O, None),
        ("attname", _T, None),
        ("atttypid", _O, None),
        ("attstattarget", _I, -1),
        ("attlen", "SMALLINT", -1),
        ("attnum", "SMALLINT", None),
        ("attndims", _I, 0),
        ("attcacheoff", _I, -1),
        ("atttypmod", _I, -1),
        ("attbyval", _B, False),
        ("attalign", _T, "i"),
        ("attstorage", _T, "x"),
        ("attcompression", _T, ""),
        ("attnotnull", _B, False),
        ("atthasdef", _B, False),
        ("atthasmissing", _B, False),
        ("attidentity", _T, ""),
        ("attgenerated", _T, ""),
        ("attisdropped", _B, False),
        ("attislocal", _B, True),
        ("attinhcount", _I, 0),
        ("attcollation", _O, 0),
        ("attacl", "VARCHAR[]", None),
        ("attoptions", "VARCHAR[]", None),
        ("attfdwoptions", "VARCHAR[]", None),
        ("attmissingval", _T, None),
    ],
    "pg_type": [
        ("oid", _O, None),
        ("typname", _T, None),
        ("typnamespace", _O, PG_CATALOG_NS),
        ("typowner", _O, OWNER_OID),
        ("typlen", "SMALLINT", -1),
        ("typbyval", _B, False),
        ("typtype", _T, "b"),
        ("typcategory", _T, "U"),
        ("typispreferred", _B, False),
        ("typisdefined", _B, True),
        ("typdelim", _T, ","),
        ("typrelid", _O, 0),
        ("typsubscript", _T, "-"),
        ("typelem", _O, 0),
        ("typarray", _O, 0),
        ("typinput", _L, 0),
        ("typoutput", _L, 0),
        ("typreceive", _L, 0),
        ("typsend", _L, 0),
        ("typmodin", _T, "-"),
        ("typmodout", _T, "-"),
        ("typanalyze", _T, "-"),
        ("typalign", _T, "i"),
        ("typstorage", _T, "p"),
        ("typnotnull", _B, False),
        ("typbasetype", _O, 0),
        ("typtypmod", _I, -1),
        ("typndims", _I, 0),
        ("typcollation", _O, 0),
        ("typdefaultbin", _T, None),
        ("typdefault", _T, None),
        ("typacl", "VARCHAR[]", None),
    ],
    "pg_index": [
        ("indexrelid", _O, None),
        ("indrelid", _O, None),
        ("indnatts", "SMALLINT", 0),
        ("indnkeyatts", "SMALLINT", 0),
        ("indisunique", _B, True),
        ("indisprimary", _B, True),
        ("indisexclusion", _B, False),
        ("indnullsnotdistinct", _B, False),
        ("indimmediate", _B, True),
        ("indisclustered", _B, False),
        ("indisvalid", _B, True),
        ("indcheckxmin", _B, False),
        ("indisready", _B, True),
        ("indislive", _B, True),
        ("indisreplident", _B, False),
        ("indkey", "SMALLINT[]", None),
        ("indcollation", "BIGINT[]", None),
        ("indclass", "BIGINT[]", None),
        ("indoption", "SMALLINT[]", None),
        ("indexprs", _T, None),
        ("indpred", _T, None),
    ],
    "pg_constraint": [
        ("oid", _O, None),
        ("conname", _T, None),
        ("connamespace", _O, None),
        ("contype", _T, "p"),
        ("condeferrable", _B, False),
        ("condeferred", _B, False),
        ("convalidated", _B, True),
        ("conrelid", _O, 0),
        ("contypid", _O, 0),
        ("conindid", _O, 0),
        ("conparentid", _O, 0),
        ("confrelid", _O, 0),
        ("confupdtype", _T, " "),
        ("confdeltype", _T, " "),
        ("confmatchtype", _T, " "),
        ("conislocal", _B, True),
        ("coninhcount", _I, 0),
        ("connoinherit", _B, True),
        ("conkey", "SMALLINT[]", None),
        ("confkey", "SMALLINT[]", None),
        ("conpfeqop", _OA, None),
        ("conppeqop", _OA, None),
        ("conffeqop", _OA, None),
        ("confdelsetcols", "SMALLINT[]", None),
        ("conexclop", _OA, None),
        ("conbin", _T, None),
    ],
    "pg_description": [
        ("objoid", _O, None),
        ("classoid", _O, 1259),
        ("objsubid", _I, 0),
        ("description", _T, None),
    ],
    "pg_attrdef": [
        ("oid", _O, None),
        ("adrelid", _O, None),
        ("adnum", "SMALLINT", None),
        ("adbin", _T, None),
    ],
    "pg_database": [
        ("oid", _O, DB_OID),
        ("datname", _T, None),
        ("datdba", _O, OWNER_OID),
        ("encoding", _I, 6),
        ("datlocprovider", _T, "c"),
        ("datistemplate", _B, False),
        ("datallowconn", _B, True),
        ("datconnlimit", _I, -1),
        ("datfrozenxid", _L, 0),
        ("datminmxid", _L, 1),
        ("dattablespace", _O, 1663),
        ("datcollate", _T, "C.UTF-8"),
        ("datctype", _T, "C.UTF-8"),
        ("daticulocale", _T, None),
        ("datcollversion", _T, None),
        ("datacl", "VARCHAR[]", None),
    ],
    "pg_roles": [
        ("rolname", _T, None),
        ("rolsuper", _B, False),
        ("rolinherit", _B, True),
        ("rolcreaterole", _B, False),
        ("rolcreatedb", _B, False),
        ("rolcanlogin", _B, True),
        ("rolreplication", _B, False),
        ("rolconnlimit", _I, -1),
        ("rolpassword", _T, "********"),
        ("rolvaliduntil", "TIMESTAMPTZ", None),
        ("rolbypassrls", _B, False),
        ("rolconfig", "VARCHAR[]", None),
        ("oid", _O, None),
    ],
    "pg_user": [
        ("usename", _T, None),
        ("usesysid", _O, None),
        ("usecreatedb", _B, False),
        ("usesuper", _B, False),
        ("userepl", _B, False),
        ("usebypassrls", _B, False),
        ("passwd", _T, "********"),
        ("valuntil", "TIMESTAMPTZ", None),
        ("useconfig", "VARCHAR[]", None),
    ],
    "pg_am": [("oid", _O, None), ("amname", _T, None), ("amhandler", _T, "-"), ("amtype", _T, "t")],
    "pg_proc": [
        ("oid", _O, None),
        ("proname", _T, None),
        ("pronamespace", _O, PG_CATALOG_NS),
        ("proowner", _O, OWNER_OID),
        ("prolang", _O, 12),
        ("procost", _F, 1.0),
        ("prorows", _F, 0.0),
        ("provariadic", _O, 0),
        ("prosupport", _T, "-"),
        ("prokind", _T, "f"),
        ("prosecdef", _B, False),
        ("proleakproof", _B, False),
        ("proisstrict", _B, True),
        ("proretset", _B, False),
        ("provolatile", _T, "s"),
        ("proparallel", _T, "s"),
        ("pronargs", "SMALLINT", 0),
        ("pronargdefaults", "SMALLINT", 0),
        ("prorettype", _O, 25),
        ("proargtypes", _T, ""),
        ("proallargtypes", _OA, None),
        ("proargmodes", "VARCHAR[]", None),
        ("proargnames", "VARCHAR[]", None),
        ("proargdefaults", _T, None),
        ("protrftypes", _OA, None),
        ("prosrc", _T, ""),
        ("probin", _T, None),
        ("prosqlbody", _T, None),
        ("proconfig", "VARCHAR[]", None),
        ("proacl", "VARCHAR[]", None),
    ],
    "pg_settings": [
        ("name", _T, None),
        ("setting", _T, None),
        ("unit", _T, None),
        ("category", _T, "Client Connection Defaults"),
        ("short_desc", _T, ""),
        ("extra_desc", _T, None),
        ("context", _T, "user"),
        ("vartype", _T, "string"),
        ("source", _T, "default"),
        ("min_val", _T, None),
        ("max_val", _T, None),
        ("enumvals", "VARCHAR[]", None),
        ("boot_val", _T, None),
        ("reset_val", _T, None),
        ("sourcefile", _T, None),
        ("sourceline", _I, None),
        ("pending_restart", _B, False),
    ],
    "pg_tables": [
        ("schemaname", _T, None),
        ("tablename", _T, None),
        ("tableowner", _T, OWNER),
        ("tablespace", _T, None),
        ("hasindexes", _B, False),
        ("hasrules", _B, False),
        ("hastriggers", _B, False),
        ("rowsecurity", _B, False),
    ],
    "pg_views": [
        ("schemaname", _T, None),
        ("viewname", _T, None),
        ("viewowner", _T, OWNER),
        ("definition", _T, None),
    ],
    "pg_matviews": [
        ("schemaname", _T, None),
        ("matviewname", _T, None),
        ("matviewowner", _T, None),
        ("tablespace", _T, None),
        ("hasindexes", _B, None),
        ("ispopulated", _B, None),
        ("definition", _T, None),
    ],
    "pg_indexes": [
        ("schemaname", _T, None),
        ("tablename", _T, None),
        ("indexname", _T, None),
        ("tablespace", _T, None),
        ("indexdef", _T, None),
    ],
    "pg_inherits": [
        ("inhrelid", _O, None),
        ("inhparent", _O, None),
        ("inhseqno", _I, None),
        ("inhdetachpending", _B, None),
    ],
    "pg_collation": [
        ("oid", _O, None),
        ("collname", _T, None),
        ("collnamespace", _O, 11),
        ("collowner", _O, 10),
        ("collprovider", _T, "d"),
        ("collisdeterministic", _B, True),
        ("collencoding", _I, -1),
        ("collcollate", _T, None),
        ("collctype", _T, None),
        ("colliculocale", _T, None),
        ("collversion", _T, None),
    ],
    "pg_tablespace": [
        ("oid", _O, None),
        ("spcname", _T, None),
        ("spcowner", _O, 10),
        ("spcacl", "VARCHAR[]", None),
        ("spcoptions", "VARCHAR[]", None),
    ],
    "pg_extension": [
        ("oid", _O, None),
        ("extname", _T, None),
        ("extowner", _O, 10),
        ("extnamespace", _O, 11),
        ("extrelocatable", _B, False),
        ("extversion", _T, "1.0"),
        ("extconfig", _OA, None),
        ("extcondition", "VARCHAR[]", None),
    ],
    "pg_language": [
        ("oid", _O, None),
        ("lanname", _T, None),
        ("lanowner", _O, 10),
        ("lanispl", _B, False),
        ("lanpltrusted", _B, False),
        ("lanplcallfoid", _O, 0),
        ("laninline", _O, 0),
        ("lanvalidator", _O, 0),
        ("lanacl", "VARCHAR[]", None),
    ],
    "pg_enum": [
        ("oid", _O, None),
        ("enumtypid", _O, None),
        ("enumsortorder", _F, None),
        ("enumlabel", _T, None),
    ],
    "pg_range": [("rngtypid", _O, None), ("rngsubtype", _O, None), ("rngmultitypid", _O, None)],
    "pg_sequence": [
        ("seqrelid", _O, None),
        ("seqtypid", _O, None),
        ("seqstart", _L, None),
        ("seqincrement", _L, None),
        ("seqmax", _L, None),
        ("seqmin", _L, None),
        ("seqcache", _L, None),
        ("seqcycle", _B, None),
    ],
    "pg_sequences": [("schemaname", _T, None), ("sequencename", _T, None)],
    "pg_depend": [
        ("classid", _O, None),
        ("objid", _O, None),
        ("objsubid", _I, None),
        ("refclassid", _O, None),
        ("refobjid", _O, None),
        ("refobjsubid", _I, None),
        ("deptype", _T, None),
    ],
    "pg_rewrite": [
        ("oid", _O, None),
        ("rulename", _T, None),
        ("ev_class", _O, None),
        ("ev_type", _T, None),
        ("ev_enabled", _T, None),
        ("is_instead", _B, None),
        ("ev_qual", _T, None),
        ("ev_action", _T, None),
    ],
    "pg_trigger": [
        ("oid", _O, None),
        ("tgrelid", _O, None),
        ("tgparentid", _O, None),
        ("tgname", _T, None),
        ("tgfoid", _O, None),
        ("tgtype", _I, None),
        ("tgenabled", _T, None),
        ("tgisinternal", _B, None),
        ("tgconstraint", _O, None),
    ],
    "pg_policy": [
        ("oid", _O, None),
        ("polname", _T, None),
        ("polrelid", _O, None),
        ("polcmd", _T, None),
        ("polpermissive", _B, None),
        ("polroles", _OA, None),
        ("polqual", _T, None),
        ("polwithcheck", _T, None),
    ],
    "pg_statistic_ext": [
        ("oid", _O, None),
        ("stxrelid", _O, None),
        ("stxname", _T, None),
        ("stxnamespace", _O, None),
        ("stxowner", _O, None),
        ("stxstattarget", _I, None),
        ("stxkeys", "SMALLINT[]", None),
        ("stxkind", "VARCHAR[]", None),
    ],
    "pg_publication": [
        ("oid", _O, None),
        ("pubname", _T, None),
        ("pubowner", _O, None),
        ("puballtables", _B, None),
        ("pubinsert", _B, None),
        ("pubupdate", _B, None),
        ("pubdelete", _B, None),
        ("pubtruncate", _B, None),
        ("pubviaroot", _B, None),
    ],
    "pg_publication_rel": [
        ("oid", _O, None),
        ("prpubid", _O, None),
        ("prrelid", _O, None),
        ("prqual", _T, None),
        ("prattrs", "SMALLINT[]", None),
    ],
    "pg_publication_namespace": [("oid", _O, None), ("pnpubid", _O, None), ("pnnspid", _O, None)],
    "pg_publication_tables": [
        ("pubname", _T, None),
        ("schemaname", _T, None),
        ("tablename", _T, None),
    ],
    "pg_foreign_table": [
        ("ftrelid", _O, None),
        ("ftserver", _O, None),
        ("ftoptions", "VARCHAR[]", None),
    ],
    "pg_foreign_server": [
        ("oid", _O, None),
        ("srvname", _T, None),
        ("srvowner", _O, 10),
        ("srvfdw", _O, None),
        ("srvtype", _T, None),
        ("srvversion", _T, None),
        ("srvacl", "VARCHAR[]", None),
        ("srvoptions", "VARCHAR[]", None),
    ],
    "pg_partitioned_table": [
        ("partrelid", _O, None),
        ("partstrat", _T, None),
        ("partnatts", "SMALLINT", None),
    ],
    "pg_shdescription": [("objoid", _O, None), ("classoid", _O, None), ("description", _T, None)],
    "pg_cast": [
        ("oid", _O, None),
        ("castsource", _O, None),
        ("casttarget", _O, None),
        ("castfunc", _O, None),
        ("castcontext", _T, None),
        ("castmethod", _T, None),
    ],
    "pg_operator": [
        ("oid", _O, None),
        ("oprname", _T, None),
        ("oprnamespace", _O, None),
        ("oprleft", _O, None),
        ("oprright", _O, None),
        ("oprresult", _O, None),
        ("oprkind", _T, "b"),
        ("oprowner", _O, 10),
        ("oprcanmerge", _B, False),
        ("oprcanhash", _B, False),
        ("oprcom", _O, 0),
        ("oprnegate", _O, 0),
        ("oprcode", _L, 0),
        ("oprrest", _L, 0),
        ("oprjoin", _L, 0),
    ],
    "pg_opclass": [
        ("oid", _O, None),
        ("opcmethod", _O, None),
        ("opcname", _T, None),
        ("opcnamespace", _O, None),
        ("opcdefault", _B, None),
        ("opcowner", _O, 10),
        ("opcfamily", _O, None),
        ("opcintype", _O, None),
        ("opckeytype", _O, 0),
    ],
    "pg_locks": [
        ("locktype", _T, None),
        ("database", _O, None),
        ("relation", _O, None),
        ("pid", _I, None),
        ("mode", _T, None),
        ("granted", _B, None),
    ],
    "pg_stat_activity": [
        ("datid", _O, None),
        ("datname", _T, None),
        ("pid", _I, None),
        ("usesysid", _O, None),
        ("usename", _T, None),
        ("application_name", _T, None),
        ("client_addr", _T, None),
        ("backend_start", "TIMESTAMPTZ", None),
        ("state", _T, None),
        ("query", _T, None),
    ],
    "pg_timezone_names": [
        ("name", _T, None),
        ("abbrev", _T, None),
        ("utc_offset", "INTERVAL", None),
        ("is_dst", _B, None),
    ],
    "pg_auth_members": [
        ("roleid", _O, None),
        ("member", _O, None),
        ("grantor", _O, None),
        ("admin_option", _B, None),
    ],
    "pg_opfamily": [
        ("oid", _O, None),
        ("opfmethod", _O, None),
        ("opfname", _T, None),
        ("opfnamespace", _O, None),
        ("opfowner", _O, 10),
    ],
    "pg_conversion": [
        ("oid", _O, None),
        ("conname", _T, None),
        ("connamespace", _O, None),
        ("conowner", _O, 10),
        ("conforencoding", _I, None),
        ("contoencoding", _I, None),
        ("conproc", _L, None),
        ("condefault", _B, None),
    ],
    "pg_ts_config": [
        ("oid", _O, None),
        ("cfgname", _T, None),
        ("cfgnamespace", _O, None),
        ("cfgowner", _O, 10),
        ("cfgparser", _O, None),
    ],
    "pg_ts_config_map": [
        ("mapcfg", _O, None),
        ("maptokentype", _I, None),
        ("mapseqno", _I, None),
        ("mapdict", _O, None),
    ],
    "pg_ts_parser": [
        ("oid", _O, None),
        ("prsname", _T, None),
        ("prsnamespace", _O, None),
        ("prsstart", _L, None),
        ("prstoken", _L, None),
        ("prsend", _L, None),
        ("prsheadline", _L, None),
        ("prslextype", _L, None),
    ],
    "pg_ts_dict": [
        ("oid", _O, None),
        ("dictname", _T, None),
        ("dictnamespace", _O, None),
        ("dictowner", _O, 10),
        ("dicttemplate", _O, None),
        ("dictinitoption", _T, None),
    ],
    "pg_ts_template": [
        ("oid", _O, None),
        ("tmplname", _T, None),
        ("tmplnamespace", _O, None),
        ("tmplinit", _L, None),
        ("tmpllexize", _L, None),
    ],
    "pg_foreign_data_wrapper": [
        ("oid", _O, None),
        ("fdwname", _T, None),
        ("fdwowner", _O, 10),
        ("fdwhandler", _O, None),
        ("fdwvalidator", _O, None),
        ("fdwacl", "VARCHAR[]", None),
        ("fdwoptions", "VARCHAR[]", None),
    ],
    "pg_user_mappings": [
        ("umid", _O, None),
        ("srvid", _O, None),
        ("srvname", _T, None),
        ("umuser", _O, None),
        ("usename", _T, None),
        ("umoptions", "VARCHAR[]", None),
    ],
    "pg_db_role_setting": [
        ("setdatabase", _O, None),
        ("setrole", _O, None),
        ("setconfig", "VARCHAR[]", None),
    ],
    "pg_subscription": [
        ("oid", _O, None),
        ("subdbid", _O, None),
        ("subskiplsn", _T, None),
        ("subname", _T, None),
        ("subowner", _O, 10),
        ("subenabled", _B, None),
        ("subbinary", _B, None),
        ("substream", _B, None),
        ("subtwophasestate", _T, None),
        ("subdisableonerr", _B, None),
        ("subconninfo", _T, None),
        ("subslotname", _T, None),
        ("subsynccommit", _T, None),
        ("subpublications", "VARCHAR[]", None),
    ],
    "pg_event_trigger": [
        ("oid", _O, None),
        ("evtname", _T, None),
        ("evtevent", _T, None),
        ("evtowner", _O, 10),
        ("evtfoid", _O, None),
        ("evtenabled", _T, "O"),
        ("evttags", "VARCHAR[]", None),
    ],
    "pg_available_extensions": [
        ("name", _T, None),
        ("default_version", _T, None),
        ("installed_version", _T, None),
        ("comment", _T, None),
    ],
    "pg_stat_user_tables": [
        ("relid", _O, None),
        ("schemaname", _T, None),
        ("relname", _T, None),
        ("n_live_tup", _L, None),
    ],
    "pg_statio_user_tables": [("relid", _L, None), ("schemaname", _T, None), ("relname", _T, None)],
}

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
        _cols.append(("tableoid", _L, _oid))

_Y = "YES"
IS_TABLES: dict[str, list[tuple[str, str, object]]] = {
    "schemata": [
        ("catalog_name", _T, None),
        ("schema_name", _T, None),
        ("schema_owner", _T, OWNER),
        ("default_character_set_catalog", _T, None),
        ("default_character_set_schema", _T, None),
        ("default_character_set_name", _T, None),
        ("sql_path", _T, None),
    ],
    "tables": [
        ("table_catalog", _T, None),
        ("table_schema", _T, None),
        ("table_name", _T, None),
        ("table_type", _T, None),
        ("self_referencing_column_name", _T, None),
        ("reference_generation", _T, None),
        ("user_defined_type_catalog", _T, None),
        ("user_defined_type_schema", _T, None),
        ("user_defined_type_name", _T, None),
        ("is_insertable_into", _T, "NO"),
        ("is_typed", _T, "NO"),
        ("commit_action", _T, None),
    ],
    "columns": [
        ("table_catalog", _T, None),
        ("table_schema", _T, None),
        ("table_name", _T, None),
        ("column_name", _T, None),
        ("ordinal_position", _I, None),
        ("column_default", _T, None),
        ("is_nullable", _T, _Y),
        ("data_type", _T, None),
        ("character_maximum_length", _I, None),
        ("character_octet_length", _I, None),
        ("numeric_precision", _I, None),
        ("numeric_precision_radix", _I, None),
        ("numeric_scale", _I, None),
        ("datetime_precision", _I, None),
        ("interval_type", _T, None),
        ("interval_precision", _I, None),
        ("character_set_catalog", _T, None),
        ("character_set_schema", _T, None),
        ("character_set_name", _T, None),
        ("collation_catalog", _T, None),
        ("collation_schema", _T, None),
        ("collation_name", _T, None),
        ("domain_catalog", _T, None),
        ("domain_schema", _T, None),
        ("domain_name", _T, None),
        ("udt_catalog", _T, None),
        ("udt_schema", _T, "pg_catalog"),
        ("udt_name", _T, None),
        ("scope_catalog", _T, None),
        ("scope_schema", _T, None),
        ("scope_name", _T, None),
        ("maximum_cardinality", _I, None),
        ("dtd_identifier", _T, None),
        ("is_self_referencing", _T, "NO"),
        ("is_identity", _T, "NO"),
        ("identity_generation", _T, None),
        ("identity_start", _T, None),
        ("identity_increment", _T, None),
        ("identity_maximum", _T, None),
        ("identity_minimum", _T, None),
        ("identity_cycle", _T, "NO"),
        ("is_generated", _T, "NEVER"),
        ("generation_expression", _T, None),
        ("is_updatable", _T, "NO"),
    ],
    "views": [
        ("table_catalog", _T, None),
        ("table_schema", _T, None),
        ("table_name", _T, None),
        ("view_definition", _T, None),
        ("check_option", _T, "NONE"),
        ("is_updatable", _T, "NO"),
        ("is_insertable_into", _T, "NO"),
        ("is_trigger_updatable", _T, "NO"),
        ("is_trigger_deletable", _T, "NO"),
        ("is_trigger_insertable_into", _T, "NO"),
    ],
    "table_constraints": [
        ("constraint_catalog", _T, None),
        ("constraint_schema", _T, None),
        ("constraint_name", _T, None),
        ("table_catalog", _T, None),
        ("table_schema", _T, None),
        ("table_name", _T, None),
        ("constraint_type", _T, None),
        ("is_deferrable", _T, "NO"),
        ("initially_deferred", _T, "NO"),
        ("enforced", _T, _Y),
        ("nulls_distinct", _T, None),
    ],
    "key_column_usage": [
        ("constraint_catalog", _T, None),
        ("constraint_schema", _T, None),
        ("constraint_name", _T, None),
        ("table_catalog", _T, None),
        ("table_schema", _T, None),
        ("table_name", _T, None),
        ("column_name", _T, None),
        ("ordinal_position", _I, None),
        ("position_in_unique_constraint", _I, None),
    ],
    "constraint_column_usage": [
        ("table_catalog", _T, None),
        ("table_schema", _T, None),
        ("table_name", _T, None),
        ("column_name", _T, None),
        ("constraint_catalog", _T, None),
        ("constraint_schema", _T, None),
        ("constraint_name", _T, None),
    ],
    "referential_constraints": [
        ("constraint_catalog", _T, None),
        ("constraint_schema", _T, None),
        ("constraint_name", _T, None),
        ("unique_constraint_catalog", _T, None),
        ("unique_constraint_schema", _T, None),
        ("unique_constraint_name", _T, None),
        ("match_option", _T, None),
        ("update_rule", _T, None),
        ("delete_rule", _T, None),
    ],
    "check_constraints": [
        ("constraint_catalog", _T, None),
        ("constraint_schema", _T, None),
        ("constraint_name", _T, None),
        ("check_clause", _T, None),
    ],
    "routines": [
        ("specific_catalog", _T, None),
        ("specific_schema", _T, None),
        ("specific_name", _T, None),
        ("routine_catalog", _T, None),
        ("routine_schema", _T, None),
        ("routine_name", _T, None),
        ("routine_type", _T, None),
        ("data_type", _T, None),
    ],
    "parameters": [
        ("specific_schema", _T, None),
        ("specific_name", _T, None),
        ("ordinal_position", _I, None),
        ("parameter_name", _T, None),
        ("data_type", _T, None),
    ],
    "sequences": [
        ("sequence_catalog", _T, None),
        ("sequence_schema", _T, None),
        ("sequence_name", _T, None),
        ("data_type", _T, None),
    ],
    "triggers": [
        ("trigger_catalog", _T, None),
        ("trigger_schema", _T, None),
        ("trigger_name", _T, None),
        ("event_object_table", _T, None),
    ],
    "table_privileges": [
        ("grantor", _T, OWNER),
        ("grantee", _T, None),
        ("table_catalog", _T, None),
        ("table_schema", _T, None),
        ("table_name", _T, None),
        ("privilege_type", _T, "SELECT"),
        ("is_grantable", _T, "NO"),
        ("with_hierarchy", _T, "NO"),
    ],
    "role_table_grants": [
        ("grantor", _T, OWNER),
        ("grantee", _T, None),
        ("table_catalog", _T, None),
        ("table_schema", _T, None),
        ("table_name", _T, None),
        ("privilege_type", _T, "SELECT"),
        ("is_grantable", _T, "NO"),
        ("with_hierarchy", _T, "NO"),
    ],
    "column_privileges": [
        ("grantor", _T, OWNER),
        ("grantee", _T, None),
        ("table_catalog", _T, None),
        ("table_schema", _T, None),
        ("table_name", _T, None),
        ("column_name", _T, None),
        ("privilege_type", _T, "SELECT"),
        ("is_grantable", _T, "NO"),
    ],
    "enabled_roles": [("role_name", _T, None)],
    "applicable_roles": [
        ("grantee", _T, None),
        ("role_name", _T, None),
        ("is_grantable", _T, "NO"),
    ],
    "domains": [
        ("domain_catalog", _T, None),
        ("domain_schema", _T, None),
        ("domain_name", _T, None),
        ("data_type", _T, None),
    ],
    "character_sets": [
        ("character_set_catalog", _T, None),
        ("character_set_schema", _T, None),
        ("character_set_name", _T, "UTF8"),
        ("character_repertoire", _T, "UCS"),
        ("form_of_use", _T, "UTF8"),
        ("default_collate_catalog", _T, None),
        ("default_collate_schema", _T, None),
        ("default_collate_name", _T, None),
    ],
}

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
            rows["table_constraints"].append(
                {
                    "constraint_catalog": db,
                    "constraint_schema": rel.schema,
                    "constraint_name": conname,
                    "table_catalog": db,
                    "table_schema": rel.schema,
                    "table_name": rel.name,
                    "constraint_type": "PRIMARY KEY",
                }
            )
            for c in rel.primary_key:
                rows["constraint_column_usage"].append(
                    {
                        "table_catalog": db,
                        "table_schema": rel.schema,
                        "table_name": rel.name,
                        "column_name": c,
                        "constraint_catalog": db,
                        "constraint_schema": rel.schema,
                        "constraint_name": conname,
                    }
                )
            for pos, c in enumerate(rel.primary_key, start=1):
                rows["key_column_usage"].append(
                    {
                        "constraint_catalog": db,
                        "constraint_schema": rel.schema,
                        "constraint_name": conname,
                        "table_catalog": db,
                        "table_schema": rel.schema,
                        "table_name": rel.name,
                        "column_name": c,
                        "ordinal_position": pos,
                    }
                )
    _foreign_key_rows(spec, rows, db, ns_oid)
    rows["_visible"] = [
        {"oid": ns_oid[s]} for s in ("pg_catalog", *spec.search_path) if s in ns_oid
    ]
    return rows


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
            names = {"constraint_catalog": db, "constraint_schema": rel.schema}
            names["constraint_name"] = conname
            table = {"table_catalog": db, "table_schema": rel.schema, "table_name": rel.name}
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


_EXTRA_TABLES = {
    "_condef": [("oid", _L, None), ("def", _T, None)],
    "_visible": [("oid", _L, None)],
}


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
