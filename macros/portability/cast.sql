-- noqa: disable=LT02
-- (jinja control flow is indented for reading; sqlfluff's layout rule sees only the rendered SQL)
{#- Contract data types are written with DuckDB names (varchar, integer…). Spark has no
    unsized varchar, so on Spark they are mapped to its own names wherever dbt casts to a
    declared type (contract checks, unit-test fixtures). -#}
{% macro spark_type_name(type) -%}
    {%- set t = type | trim | lower -%}
    {%- if t in ('varchar', 'text', 'char', 'bpchar') or t.startswith('varchar(') or t.startswith('char(') -%}
        {{- 'string' -}}
    {%- elif t == 'integer' -%}
        {{- 'int' -}}
    {%- else -%}
        {{- type -}}
    {%- endif -%}
{%- endmacro %}

{% macro spark__cast(field, type) -%}
    cast({{ field }} as {{ spark_type_name(type) }})
{%- endmacro %}

{% macro spark__safe_cast(field, type) -%}
    cast({{ field }} as {{ spark_type_name(type) }})
{%- endmacro %}
