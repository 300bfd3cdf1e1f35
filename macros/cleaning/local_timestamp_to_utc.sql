{#- '2024-03-05 09:12:00+08:00' -> UTC timestamp 2024-03-05 01:12:00. The offset is parsed from
    the string and subtracted with dbt.dateadd, so no engine-specific time-zone function is
    needed. A trailing 'Z' or a string without an offset is read as UTC. -#}
{% macro local_timestamp_to_utc(column) -%}
    {%- set local_part = "cast(substring(" ~ column ~ ", 1, 19) as " ~ dbt.type_timestamp() ~ ")" -%}
    {%- set offset_text = "substring(trim(" ~ column ~ "), length(trim(" ~ column ~ ")) - 5, 6)" -%}
    {%- set offset_minutes -%}
        case
            when {{ offset_text }} like '+__:__' or {{ offset_text }} like '-__:__'
                then
                    (case when substring({{ offset_text }}, 1, 1) = '-' then -1 else 1 end)
                    * (
                        cast(substring({{ offset_text }}, 2, 2) as int) * 60
                        + cast(substring({{ offset_text }}, 5, 2) as int)
                    )
            else 0
        end
    {%- endset -%}
    {{ dbt.dateadd('minute', '-1 * (' ~ offset_minutes ~ ')', local_part) }}
{%- endmacro %}
