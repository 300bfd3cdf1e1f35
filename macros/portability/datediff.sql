-- noqa: disable=LT02
-- (jinja control flow is indented for reading; sqlfluff's layout rule sees only the rendered SQL)
{#- dbt.datediff on Spark with DuckDB's meaning: the number of `datepart` boundaries crossed
    between the two values, as a bigint. dbt-spark's own macro truncates elapsed time for
    hour/minute (10:10 -> 10:50 is 0 hours on DuckDB, 1 on Spark) and leaves its month and
    quarter expressions unparenthesised, so `datediff(...) / 3` divides only its last term.
    Found through the dispatch search order in dbt_project.yml (macro_namespace dbt). -#}
{% macro spark__datediff(first_date, second_date, datepart) -%}
    {%- set part = datepart | lower -%}
    {%- if part == 'day' -%}
        cast(datediff(cast({{ second_date }} as date), cast({{ first_date }} as date)) as bigint)
    {%- elif part == 'week' -%}
        {#- ISO weeks start on Monday; 1900-01-01 was a Monday. -#}
        cast(
            floor(datediff(cast({{ second_date }} as date), date'1900-01-01') / 7)
            - floor(datediff(cast({{ first_date }} as date), date'1900-01-01') / 7)
            as bigint
        )
    {%- elif part in ('month', 'quarter', 'year') -%}
        {%- set per_year = {'month': 12, 'quarter': 4, 'year': 1}[part] -%}
        {%- set within = {'month': 'month', 'quarter': 'quarter', 'year': none}[part] -%}
        cast(
            (year({{ second_date }}) - year({{ first_date }})) * {{ per_year }}
            {%- if within %}
            + ({{ within }}({{ second_date }}) - {{ within }}({{ first_date }}))
            {%- endif %}
            as bigint
        )
    {%- elif part in ('hour', 'minute', 'second') -%}
        {%- set seconds = {'hour': 3600, 'minute': 60, 'second': 1}[part] -%}
        cast(
            floor(unix_timestamp(cast({{ second_date }} as timestamp)) / {{ seconds }})
            - floor(unix_timestamp(cast({{ first_date }} as timestamp)) / {{ seconds }})
            as bigint
        )
    {%- else -%}
        {{ exceptions.raise_compiler_error("datediff: datepart '" ~ datepart ~ "' has no portable Spark form here") }}
    {%- endif -%}
{%- endmacro %}
