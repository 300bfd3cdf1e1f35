{#- First day of the fiscal year (starting on 1 April) that contains a date. -#}
{% macro fiscal_year_start(date_column, start_month=4) -%}
    cast(
        {{ dbt.dateadd('month', start_month - 1, dbt.date_trunc('year', dbt.dateadd('month', 1 - start_month, date_column))) }}
        as date
    )
{%- endmacro %}
