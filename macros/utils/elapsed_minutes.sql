{#- Exact minutes between two timestamps, fractional. dbt.datediff('hour'/'minute') counts
    boundaries crossed on DuckDB but truncates elapsed time on Spark; seconds agree on both for
    whole-second timestamps, so every duration is derived from them. -#}
{% macro elapsed_minutes(start_column, end_column) -%}
    (cast({{ dbt.datediff(start_column, end_column, 'second') }} as double) / 60.0)
{%- endmacro %}
