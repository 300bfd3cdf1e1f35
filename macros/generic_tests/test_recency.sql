{#- The newest value of a timestamp column is no older than `interval` `datepart`s before
    `as_of` (default: now). Synthetic history ends at var('data_end_at'), so the marts pass
    as_of explicitly; a production deployment would leave it at the current time. -#}
{% test recency(model, column_name, datepart, interval, as_of=none) %}
    {%- set reference = as_of if as_of else dbt.current_timestamp() -%}
    with
    newest as (
        select max({{ column_name }}) as newest_value
        from {{ model }}
    )

    select *
    from newest
    where
        newest_value is null
        or cast(newest_value as timestamp)
        < {{ dbt.dateadd(datepart, -1 * interval, 'cast(' ~ reference ~ ' as timestamp)') }}
{% endtest %}
