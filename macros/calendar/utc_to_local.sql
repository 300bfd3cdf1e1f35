{#- UTC timestamp -> local wall-clock timestamp for a fixed offset in minutes (a column or a
    literal); the calendars use standard offsets with no daylight saving (docs/raw_data.md). -#}
{% macro utc_to_local(utc_timestamp, offset_minutes) -%}
    {{ dbt.dateadd('minute', offset_minutes, utc_timestamp) }}
{%- endmacro %}
