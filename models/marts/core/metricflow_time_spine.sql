-- The day-grain time spine MetricFlow (and the opsmetrics compiler) joins metrics to, with the
-- bank's fiscal calendar (year starting 1 April) as custom granularities. Each custom grain
-- holds the first day of its period, so it sorts and truncates like a standard grain.
with

days as (
    {{ dbt.date_spine(
        'day',
        "cast('" ~ var('calendar_start_date') ~ "' as date)",
        dbt.dateadd('day', 1, "cast('" ~ var('calendar_end_date') ~ "' as date)")
    ) }}
),

fiscal as (
    select
        cast(date_day as date) as date_day,
        {{ fiscal_year_start('cast(date_day as date)') }} as fiscal_year_start
    from days
),

final as (
    select
        cast(date_day as date) as date_day,
        cast(
            {{ dbt.dateadd(
                'month',
                '3 * cast(floor(' ~ dbt.datediff('fiscal_year_start', 'date_day', 'month') ~ ' / 3) as int)',
                'fiscal_year_start'
            ) }}
            as date
        ) as fiscal_quarter,
        cast(fiscal_year_start as date) as fiscal_year,
        cast(extract(year from fiscal_year_start) + 1 as int) as fiscal_year_number,
        cast(
            floor({{ dbt.datediff('fiscal_year_start', 'date_day', 'month') }} / 3) + 1 as int
        ) as fiscal_quarter_number
    from fiscal
)

select * from final
