"""Catalog statements that BI tools and drivers send, recorded in the public test suite of
Cube's Postgres-wire SQL API (cube-js/cube, rust/cubesql/cubesql/src/compile/test/
test_introspection.rs). Object names of that suite's sample data are replaced by ours
(``KibanaSampleDataEcommerce``/``payment`` → ``fct_payments``, schema ``public`` → ``main``,
fixed OIDs → the OID of ``fct_payments``, written ``{oid}``); the SQL is otherwise as recorded.

Each entry: (name, sql, check) where check(rows) asserts something the tool relies on.
"""

from __future__ import annotations

QUERIES: list[tuple[str, str, object]] = [
    (
        "tableau_desktop_tables",
        """select relname, nspname, relkind from pg_catalog.pg_class c, pg_catalog.pg_namespace n
        where relkind in ('r', 'v', 'm', 'f') and nspname not in ('pg_catalog',
        'information_schema', 'pg_toast', 'pg_temp_1') and n.oid = relnamespace
        order by nspname, relname""",
        lambda rows: ("fct_payments", "main", "r") in rows and ("dim_clients", "main", "r") in rows,
    ),
    (
        "tableau_desktop_table_columns",
        """select n.nspname, c.relname, a.attname, a.atttypid, t.typname, a.attnum, a.attlen,
        a.atttypmod, a.attnotnull, c.relhasrules, c.relkind, c.oid,
        pg_get_expr(d.adbin, d.adrelid), case t.typtype when 'd' then t.typbasetype else 0 end,
        t.typtypmod, c.relhasoids
        from (((pg_catalog.pg_class c inner join pg_catalog.pg_namespace n
          on n.oid = c.relnamespace and c.oid = {oid})
          inner join pg_catalog.pg_attribute a on (not a.attisdropped) and a.attnum > 0
          and a.attrelid = c.oid)
          inner join pg_catalog.pg_type t on t.oid = a.atttypid)
        left outer join pg_attrdef d on a.atthasdef and d.adrelid = a.attrelid
          and d.adnum = a.attnum
        order by n.nspname, c.relname, attnum""",
        lambda rows: (
            [r[2] for r in rows][:2] == ["payment_id", "client_id"] and rows[0][4] == "int8"
        ),
    ),
    (
        "tableau_desktop_pkeys",
        """SELECT ta.attname, ia.attnum, ic.relname, n.nspname, tc.relname
        FROM pg_catalog.pg_attribute ta, pg_catalog.pg_attribute ia, pg_catalog.pg_class tc,
             pg_catalog.pg_index i, pg_catalog.pg_namespace n, pg_catalog.pg_class ic
        WHERE tc.relname = 'fct_payments' AND n.nspname = 'main' AND tc.oid = i.indrelid
          AND n.oid = tc.relnamespace AND i.indisprimary = 't' AND ia.attrelid = i.indexrelid
          AND ta.attrelid = i.indrelid AND ta.attnum = i.indkey [ia.attnum-1]
          AND (NOT ta.attisdropped) AND (NOT ia.attisdropped) AND ic.oid = i.indexrelid
        ORDER BY ia.attnum""",
        None,
    ),
    (
        "tableau_null_text_query",
        """SELECT NULL::text AS PKTABLE_CAT, pkn.nspname AS PKTABLE_SCHEM, pkc.relname AS
        PKTABLE_NAME, pka.attname AS PKCOLUMN_NAME, NULL::text AS FKTABLE_CAT, fkn.nspname AS
        FKTABLE_SCHEM, fkc.relname AS FKTABLE_NAME, fka.attname AS FKCOLUMN_NAME, pos.n AS KEY_SEQ,
        CASE con.confupdtype WHEN 'c' THEN 0 WHEN 'n' THEN 2 WHEN 'd' THEN 4 WHEN 'r' THEN 1
          WHEN 'p' THEN 1 WHEN 'a' THEN 3 ELSE NULL END AS UPDATE_RULE,
        CASE con.confdeltype WHEN 'c' THEN 0 WHEN 'n' THEN 2 WHEN 'd' THEN 4 WHEN 'r' THEN 1
          WHEN 'p' THEN 1 WHEN 'a' THEN 3 ELSE NULL END AS DELETE_RULE,
        con.conname AS FK_NAME, pkic.relname AS PK_NAME,
        CASE WHEN con.condeferrable AND con.condeferred THEN 5 WHEN con.condeferrable THEN 6
          ELSE 7 END AS DEFERRABILITY
        FROM pg_catalog.pg_namespace pkn, pg_catalog.pg_class pkc, pg_catalog.pg_attribute pka,
          pg_catalog.pg_namespace fkn, pg_catalog.pg_class fkc, pg_catalog.pg_attribute fka,
          pg_catalog.pg_constraint con, pg_catalog.generate_series(1, 32) pos(n),
          pg_catalog.pg_class pkic
        WHERE pkn.oid = pkc.relnamespace AND pkc.oid = pka.attrelid AND
          pka.attnum = con.confkey[pos.n] AND con.confrelid = pkc.oid AND
          fkn.oid = fkc.relnamespace AND fkc.oid = fka.attrelid AND
          fka.attnum = con.conkey[pos.n] AND con.conrelid = fkc.oid AND con.contype = 'f' AND
          (pkic.relkind = 'i' OR pkic.relkind = 'I') AND pkic.oid = con.conindid AND
          fkn.nspname = 'main' AND fkc.relname = 'fct_payments'
        ORDER BY pkn.nspname, pkc.relname, con.conname, pos.n""",
        lambda rows: rows == [],
    ),
    (
        "powerbi_supported_types",
        """/*** Load all supported types ***/
        SELECT ns.nspname, a.typname, a.oid, a.typrelid, a.typbasetype,
        CASE WHEN pg_proc.proname='array_recv' THEN 'a' ELSE a.typtype END AS type,
        CASE WHEN pg_proc.proname='array_recv' THEN a.typelem WHEN a.typtype='r' THEN rngsubtype
          ELSE 0 END AS elemoid,
        CASE WHEN pg_proc.proname IN ('array_recv','oidvectorrecv') THEN 3
          WHEN a.typtype='r' THEN 2 WHEN a.typtype='d' THEN 1 ELSE 0 END AS ord
        FROM pg_type AS a
        JOIN pg_namespace AS ns ON (ns.oid = a.typnamespace)
        JOIN pg_proc ON pg_proc.oid = a.typreceive
        LEFT OUTER JOIN pg_class AS cls ON (cls.oid = a.typrelid)
        LEFT OUTER JOIN pg_type AS b ON (b.oid = a.typelem)
        LEFT OUTER JOIN pg_class AS elemcls ON (elemcls.oid = b.typrelid)
        LEFT OUTER JOIN pg_range ON (pg_range.rngtypid = a.oid)
        WHERE a.typtype IN ('b', 'r', 'e', 'd') OR (a.typtype = 'c' AND cls.relkind='c') OR
          (pg_proc.proname='array_recv' AND (b.typtype IN ('b', 'r', 'e', 'd') OR
            (b.typtype = 'p' AND b.typname IN ('record', 'void')) OR
            (b.typtype = 'c' AND elemcls.relkind='c'))) OR
          (a.typtype = 'p' AND a.typname IN ('record', 'void'))
        ORDER BY a.typname""",
        lambda rows: (
            {"int4", "text", "numeric", "timestamp", "_int4"} <= {r[1] for r in rows}
            and {r[1]: r[5] for r in rows}["_int4"] == "a"
        ),
    ),
    (
        "powerbi_composite_types",
        """SELECT typ.oid, att.attname, att.atttypid FROM pg_type AS typ
        JOIN pg_namespace AS ns ON (ns.oid = typ.typnamespace)
        JOIN pg_class AS cls ON (cls.oid = typ.typrelid)
        JOIN pg_attribute AS att ON (att.attrelid = typ.typrelid)
        WHERE (typ.typtype = 'c' AND cls.relkind='c') AND attnum > 0 AND NOT attisdropped
        ORDER BY typ.oid, att.attnum""",
        lambda rows: rows == [],
    ),
    (
        "powerbi_enums",
        """SELECT pg_type.oid, enumlabel FROM pg_enum JOIN pg_type ON pg_type.oid=enumtypid
        ORDER BY oid, enumsortorder""",
        lambda rows: rows == [],
    ),
    (
        "powerbi_table_columns",
        """select COLUMN_NAME, ORDINAL_POSITION, IS_NULLABLE, case when (data_type like
        '%unsigned%') then DATA_TYPE || ' unsigned' else DATA_TYPE end as DATA_TYPE
        from INFORMATION_SCHEMA.columns
        where TABLE_SCHEMA = 'main' and TABLE_NAME = 'fct_payments'
        order by TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION""",
        lambda rows: (
            rows[0] == ("payment_id", 1, "NO", "bigint")  # the primary key
            and ("amount", 6, "YES", "numeric") in rows
        ),
    ),
    (
        "powerbi_schemas",
        """select TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE from INFORMATION_SCHEMA.tables
        where TABLE_SCHEMA not in ('information_schema', 'pg_catalog')
        order by TABLE_SCHEMA, TABLE_NAME""",
        lambda rows: ("main", "fct_payments", "BASE TABLE") in rows,
    ),
    (
        "powerbi_uppercase_alias",
        """select i.CONSTRAINT_SCHEMA || '_' || i.CONSTRAINT_NAME as INDEX_NAME, ii.COLUMN_NAME,
        ii.ORDINAL_POSITION, case when i.CONSTRAINT_TYPE = 'PRIMARY KEY' then 'Y' else 'N' end
        as PRIMARY_KEY
        from INFORMATION_SCHEMA.table_constraints i
        inner join INFORMATION_SCHEMA.key_column_usage ii on
          i.CONSTRAINT_SCHEMA = ii.CONSTRAINT_SCHEMA and i.CONSTRAINT_NAME = ii.CONSTRAINT_NAME
          and i.TABLE_SCHEMA = ii.TABLE_SCHEMA and i.TABLE_NAME = ii.TABLE_NAME
        where i.TABLE_SCHEMA = 'main' and i.TABLE_NAME = 'fct_payments' and
          i.CONSTRAINT_TYPE in ('PRIMARY KEY', 'UNIQUE')
        order by i.CONSTRAINT_SCHEMA || '_' || i.CONSTRAINT_NAME, ii.TABLE_SCHEMA,
          ii.TABLE_NAME, ii.ORDINAL_POSITION""",
        lambda rows: rows == [("main_fct_payments_pkey", "payment_id", 1, "Y")],
    ),
    (
        "superset_attname_query",
        """SELECT a.attname FROM pg_attribute a JOIN (
          SELECT unnest(ix.indkey) attnum, generate_subscripts(ix.indkey, 1) ord
          FROM pg_index ix WHERE ix.indrelid = {oid} AND ix.indisprimary
        ) k ON a.attnum=k.attnum WHERE a.attrelid = {oid} ORDER BY k.ord""",
        lambda rows: rows == [("payment_id",)],
    ),
    (
        "superset_subquery",
        """SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
          (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid) FROM pg_catalog.pg_attrdef d
           WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.atthasdef) AS DEFAULT,
          a.attnotnull, a.attnum, a.attrelid as table_oid, pgd.description as comment,
          a.attgenerated as generated
        FROM pg_catalog.pg_attribute a
        LEFT JOIN pg_catalog.pg_description pgd ON (pgd.objoid = a.attrelid AND
          pgd.objsubid = a.attnum)
        WHERE a.attrelid = {oid} AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum""",
        lambda rows: (
            rows[5][:2] == ("amount", "numeric(18,2)")
            and rows[0][6] == "payment_id of fct_payments"
        ),
    ),
    (
        "superset_visible_query",
        """SELECT t.typname as "name", pg_catalog.pg_type_is_visible(t.oid) as "visible",
          n.nspname as "schema", e.enumlabel as "label"
        FROM pg_catalog.pg_type t
        LEFT JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
        LEFT JOIN pg_catalog.pg_enum e ON t.oid = e.enumtypid
        WHERE t.typtype = 'e' ORDER BY "schema", "name", e.oid""",
        lambda rows: rows == [],
    ),
    (
        "superset_attype_query",
        """SELECT t.typname as "name", pg_catalog.format_type(t.typbasetype, t.typtypmod) as
          "attype", not t.typnotnull as "nullable", t.typdefault as "default",
          pg_catalog.pg_type_is_visible(t.oid) as "visible", n.nspname as "schema"
        FROM pg_catalog.pg_type t LEFT JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
        WHERE t.typtype = 'd'""",
        lambda rows: rows == [],
    ),
    (
        "superset_conname_query",
        """SELECT r.conname, pg_catalog.pg_get_constraintdef(r.oid, true) as condef,
          n.nspname as conschema
        FROM pg_catalog.pg_constraint r, pg_namespace n, pg_class c
        WHERE r.conrelid = {oid} AND r.contype = 'f' AND c.oid = confrelid AND
          n.oid = c.relnamespace ORDER BY 1""",
        lambda rows: rows == [],
    ),
    (
        "grafana_pg_version_introspection",
        "SELECT current_setting('server_version_num')::int/100 as version",
        lambda rows: rows == [(1500,)],
    ),
    (
        "grafana_insubquery_where_tables",
        """SELECT quote_ident(table_name) AS "table" FROM information_schema.tables WHERE
        quote_ident(table_schema) NOT IN ('information_schema', 'pg_catalog',
        '_timescaledb_cache', '_timescaledb_catalog', '_timescaledb_internal',
        '_timescaledb_config', 'timescaledb_information', 'timescaledb_experimental') AND
        table_type = 'BASE TABLE' AND quote_ident(table_schema) IN (SELECT CASE WHEN
        TRIM(s[i]) = '"$user"' THEN user ELSE TRIM(s[i]) END FROM generate_series(
        array_lower(string_to_array(current_setting('search_path'), ','), 1),
        array_upper(string_to_array(current_setting('search_path'), ','), 1)) AS i,
        string_to_array(current_setting('search_path'), ',') AS s)""",
        lambda rows: {("dim_clients",), ("fct_payments",)} <= set(rows),
    ),
    (
        "microstrategy_subquery_current_schema",
        """SELECT t.oid FROM pg_catalog.pg_type AS t JOIN pg_catalog.pg_namespace AS n ON
        t.typnamespace = n.oid WHERE t.typname = 'citext' AND (n.nspname = (SELECT
        current_schema()) OR n.nspname = 'public')""",
        lambda rows: rows == [],
    ),
    (
        "rust_client_types",
        """SELECT t.typname, t.typtype, t.typelem, r.rngsubtype, t.typbasetype, n.nspname,
        t.typrelid FROM pg_catalog.pg_type t
        LEFT OUTER JOIN pg_catalog.pg_range r ON r.rngtypid = t.oid
        INNER JOIN pg_catalog.pg_namespace n ON t.typnamespace = n.oid WHERE t.oid = 25""",
        lambda rows: rows == [("text", "b", 0, None, 0, "pg_catalog", 0)],
    ),
    (
        "pgcli_queries_d",
        """SELECT n.nspname as "Schema", c.relname as "Name", CASE c.relkind WHEN 'r' THEN
        'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'i' THEN 'index'
        WHEN 'S' THEN 'sequence' WHEN 's' THEN 'special' WHEN 't' THEN 'TOAST table' WHEN 'f'
        THEN 'foreign table' WHEN 'p' THEN 'partitioned table' WHEN 'I' THEN 'partitioned index'
        END as "Type", pg_catalog.pg_get_userbyid(c.relowner) as "Owner"
        FROM pg_catalog.pg_class c
        LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
        WHERE c.relkind IN ('r','p','v','m','S','f','') AND n.nspname <> 'pg_catalog'
        AND n.nspname !~ '^pg_toast' AND n.nspname <> 'information_schema'
        AND pg_catalog.pg_table_is_visible(c.oid)""",
        lambda rows: ("main", "fct_payments", "table", "opsmetrics") in rows,
    ),
    (
        "sqlalchemy_regtype",
        """SELECT typname AS name, oid, typarray AS array_oid, CAST(CAST(oid AS regtype) AS TEXT)
        AS regtype, typdelim AS delimiter FROM pg_type AS t
        WHERE t.oid = to_regtype('boolean') ORDER BY t.oid""",
        lambda rows: rows == [("bool", 16, 1000, "boolean", ",")],
    ),
    (
        "excel_select_db_query",
        """SELECT 'db' as Database, ns.nspname as Schema, relname as Name, CASE WHEN ns.nspname
        Like E'pg\\\\_catalog' then 'Catalog' WHEN ns.nspname Like E'information\\\\_schema'
        then 'Information' WHEN relkind = 'f' then 'Foreign' ELSE 'User' END as TableType,
        pg_get_userbyid(relowner) AS definer, rel.oid as Oid, relacl as ACL, true as HasOids,
        relhassubclass as HasSubtables, reltuples as RowNumber, description as Comment,
        relnatts as ColumnNumber, relhastriggers as TriggersNumber, conname as Constraint,
        conkey as ColumnConstrainsIndexes
        FROM pg_class rel INNER JOIN pg_namespace ns ON relnamespace = ns.oid
        LEFT OUTER JOIN pg_description des ON des.objoid = rel.oid AND des.objsubid = 0
        LEFT OUTER JOIN pg_constraint c ON c.conrelid = rel.oid AND c.contype = 'p'
        WHERE ((relkind = 'r') OR (relkind = 's') OR (relkind = 'f')) AND
        NOT ns.nspname LIKE E'pg\\\\_temp\\\\_%%' AND NOT ns.nspname like E'pg\\\\_%' AND
        NOT ns.nspname like E'information\\\\_schema' AND ns.nspname::varchar like E'main' AND
        relname::varchar like '%' AND pg_get_userbyid(relowner)::varchar like '%'
        ORDER BY relname""",
        lambda rows: (
            [r[2] for r in rows] == ["dim_clients", "fct_payments"]
            and rows[1][10] == "The fct_payments mart."
            and rows[1][14] == [1]
        ),
    ),
]

QUERIES += [
    (
        "metabase_table_cat_query (pgjdbc getPrimaryKeys)",
        """SELECT result.table_cat, result.table_schem, result.table_name, result.column_name,
          result.key_seq, result.pk_name
        FROM (
          SELECT NULL AS table_cat, n.nspname AS table_schem, ct.relname AS table_name,
            a.attname AS column_name, (information_schema._pg_expandarray(i.indkey)).n as key_seq,
            ci.relname AS pk_name, information_schema._pg_expandarray(i.indkey) AS keys,
            a.attnum AS a_attnum
          FROM pg_catalog.pg_class ct
          JOIN pg_catalog.pg_attribute a ON (ct.oid = a.attrelid)
          JOIN pg_catalog.pg_namespace n ON (ct.relnamespace = n.oid)
          JOIN pg_catalog.pg_index i ON (a.attrelid = i.indrelid)
          JOIN pg_catalog.pg_class ci ON (ci.oid = i.indexrelid)
          WHERE true AND ct.relname = 'fct_payments' AND i.indisprimary) result
        WHERE result.a_attnum = (result.keys).x
        ORDER BY result.table_name, result.pk_name, result.key_seq""",
        lambda rows: rows == [(None, "main", "fct_payments", "payment_id", 1, "fct_payments_pkey")],
    ),
    (
        "pgjdbc_get_tables (DBeaver, Metabase)",
        """SELECT NULL AS TABLE_CAT, n.nspname AS TABLE_SCHEM, c.relname AS TABLE_NAME,
          CASE n.nspname ~ '^pg_' OR n.nspname = 'information_schema'
            WHEN true THEN CASE WHEN n.nspname = 'pg_catalog' OR n.nspname =
              'information_schema' THEN CASE c.relkind WHEN 'r' THEN 'SYSTEM TABLE'
              WHEN 'v' THEN 'SYSTEM VIEW' WHEN 'i' THEN 'SYSTEM INDEX' ELSE NULL END
              WHEN n.nspname = 'pg_toast' THEN CASE c.relkind WHEN 'r' THEN 'SYSTEM TOAST TABLE'
              WHEN 'i' THEN 'SYSTEM TOAST INDEX' ELSE NULL END
              ELSE CASE c.relkind WHEN 'r' THEN 'TEMPORARY TABLE' WHEN 'p' THEN
              'TEMPORARY TABLE' WHEN 'i' THEN 'TEMPORARY INDEX' WHEN 'S' THEN 'TEMPORARY SEQUENCE'
              WHEN 'v' THEN 'TEMPORARY VIEW' ELSE NULL END END
            WHEN false THEN CASE c.relkind WHEN 'r' THEN 'TABLE' WHEN 'p' THEN
              'PARTITIONED TABLE' WHEN 'i' THEN 'INDEX' WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN
              'VIEW' WHEN 'c' THEN 'TYPE' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'm' THEN
              'MATERIALIZED VIEW' ELSE NULL END
            ELSE NULL END AS TABLE_TYPE,
          d.description AS REMARKS, '' as TYPE_CAT, '' as TYPE_SCHEM, '' as TYPE_NAME,
          '' AS SELF_REFERENCING_COL_NAME, '' AS REF_GENERATION
        FROM pg_catalog.pg_namespace n, pg_catalog.pg_class c
        LEFT JOIN pg_catalog.pg_description d ON (c.oid = d.objoid AND d.objsubid = 0
          AND d.classoid = 'pg_class' :: regclass)
        WHERE c.relnamespace = n.oid AND (false OR (c.relkind = 'f') OR (c.relkind = 'm')
          OR (c.relkind = 'p' AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema')
          OR (c.relkind = 'r' AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema')
          OR (c.relkind = 'v' AND n.nspname <> 'pg_catalog'
              AND n.nspname <> 'information_schema'))
        ORDER BY TABLE_SCHEM ASC, TABLE_NAME ASC""",
        lambda rows: (
            ("main", "fct_payments", "TABLE", "The fct_payments mart.")
            in [(r[1], r[2], r[3], r[4]) for r in rows]
        ),
    ),
]

#: Not from Cube's suite: the shape of pgjdbc's PgDatabaseMetaData.getColumns query (the JDBC
#: driver under Metabase, DBeaver and Tableau), written from the driver's source.
QUERIES += [
    (
        "pgjdbc_get_columns",
        """SELECT * FROM (SELECT n.nspname,c.relname,a.attname,a.atttypid,a.attnotnull OR
          (t.typtype = 'd' AND t.typnotnull) AS attnotnull,a.atttypmod,a.attlen,t.typtypmod,
          row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum) AS attnum,
          nullif(a.attidentity, '') as attidentity,nullif(a.attgenerated, '') as attgenerated,
          pg_catalog.pg_get_expr(def.adbin, def.adrelid) AS adsrc,dsc.description,
          t.typbasetype,t.typtype
        FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_class c ON (c.relnamespace = n.oid)
        JOIN pg_catalog.pg_attribute a ON (a.attrelid=c.oid)
        JOIN pg_catalog.pg_type t ON (a.atttypid = t.oid)
        LEFT JOIN pg_catalog.pg_attrdef def ON (a.attrelid=def.adrelid AND a.attnum = def.adnum)
        LEFT JOIN pg_catalog.pg_description dsc ON (c.oid=dsc.objoid AND a.attnum = dsc.objsubid)
        LEFT JOIN pg_catalog.pg_class dc ON (dc.oid=dsc.classoid AND dc.relname='pg_class')
        LEFT JOIN pg_catalog.pg_namespace dn ON (dc.relnamespace=dn.oid AND
          dn.nspname='pg_catalog')
        WHERE c.relkind in ('r','p','v','f','m') and a.attnum > 0 AND NOT a.attisdropped
          AND n.nspname LIKE 'main' AND c.relname LIKE 'fct_payments') c
        WHERE true ORDER BY nspname,c.relname,attnum""",
        lambda rows: (
            [r[2] for r in rows][:3] == ["payment_id", "client_id", "created_date"]
            and rows[0][3] == 20
            and rows[0][12] == "payment_id of fct_payments"
        ),
    ),
]
QUERIES += [
    (
        "pgjdbc_type_info_cache",
        """SELECT typinput='pg_catalog.array_in'::regproc as is_array, typtype, typname,
        pg_type.oid FROM pg_catalog.pg_type LEFT JOIN (select ns.oid as nspoid, ns.nspname, r.r
        from pg_namespace as ns join ( select s.r, (current_schemas(false))[s.r] as nspname
        from generate_series(1, array_upper(current_schemas(false), 1)) as s(r) ) as r
        using ( nspname ) ) as sp ON sp.nspoid = typnamespace WHERE pg_type.oid = 1700
        ORDER BY sp.r, pg_type.oid DESC""",
        lambda rows: [r[1:] for r in rows] == [("b", "numeric", 1700)],
    ),
    (
        "pgjdbc_type_in_search_path",
        """SELECT n.nspname = ANY(current_schemas(true)), n.nspname, t.typname
        FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON t.typnamespace = n.oid
        WHERE t.oid = 1700""",
        lambda rows: rows == [(True, "pg_catalog", "numeric")],
    ),
]
