-- noqa: disable=LT02
-- (jinja control flow is indented for reading; sqlfluff's layout rule sees only the rendered SQL)
{#- Spark reads the raw landing the way dbt-duckdb does: every source whose meta has an
    external_location becomes an external Parquet table over that folder (the files of all
    landings). Called from on-run-start; DuckDB needs nothing (dbt-duckdb reads the glob). -#}
{% macro register_external_sources(meta_key='external_location') -%}
    {{ return(adapter.dispatch('register_external_sources', 'opsmetrics')(meta_key)) }}
{%- endmacro %}

{% macro default__register_external_sources(meta_key) -%}
    select 1
{%- endmacro %}

{% macro spark__register_external_sources(meta_key) -%}
    {%- if execute -%}
        {%- set schemas = [] -%}
        {%- for node in graph.sources.values() if node.meta.get(meta_key) -%}
            {%- if node.schema not in schemas -%}
                {%- do schemas.append(node.schema) -%}
                {%- do run_query('create database if not exists ' ~ node.schema) -%}
            {%- endif -%}
            {%- set location = node.meta[meta_key] | replace('{name}', node.name) -%}
            {%- set folder = location.rsplit('/', 1)[0] if location.endswith('.parquet') else location -%}
            {#- Declared column types give the schema (the folder may still be empty, as for
                the analysis results before the first run); otherwise Spark infers it. -#}
            {%- set ns = namespace(cols=[]) -%}
            {%- for col in node.columns.values() -%}
                {%- set ns.cols = ns.cols + ['`' ~ col.name ~ '` ' ~ spark_type_name(col.data_type)] -%}
            {%- endfor -%}
            {%- set n_typed = node.columns.values() | selectattr('data_type') | list | length -%}
            {%- set all_typed = ns.cols | length > 0 and n_typed == ns.cols | length -%}
            {#- Registered afresh every run: on a cluster's persistent catalog a table kept from
                an earlier run would keep its old location and its cached file list. Dropping
                an external table leaves its files alone. -#}
            {%- do run_query('drop table if exists ' ~ node.schema ~ '.' ~ node.identifier) -%}
            {%- do run_query(
                'create table ' ~ node.schema ~ '.' ~ node.identifier
                ~ ((' (' ~ ns.cols | join(', ') ~ ')') if all_typed else '')
                ~ " using parquet location '" ~ folder ~ "'"
            ) -%}
        {%- endfor -%}
    {%- endif -%}
    select 1
{%- endmacro %}
