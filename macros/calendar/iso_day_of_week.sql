{#- ISO day of week, Monday = 1 … Sunday = 7, counted from a known Monday (1900-01-01).
    Engines disagree on extract(dow) (DuckDB: Sunday = 0, Spark: Sunday = 1), days do not. -#}
{% macro iso_day_of_week(date_column) -%}
    ({{ dbt.datediff("cast('1900-01-01' as date)", date_column, 'day') }} % 7 + 1)
{%- endmacro %}
