{%- set countries = var('calendar_countries') -%}
with

business_days as (
    select * from {{ ref('int_business_days_indexed') }}
),

per_day as (
    select
        date_day,
        {% for country in countries -%}
            max(case when country = '{{ country }}' and is_holiday then 1 else 0 end)
                as is_holiday_{{ country | lower }},
            max(case when country = '{{ country }}' and is_business_day then 1 else 0 end)
                as is_business_day_{{ country | lower }},
            max(case when country = '{{ country }}' and business_days_to_month_end <= 2 then 1 else 0 end)
                as is_month_end_business_day_{{ country | lower }},
        {% endfor -%}
        max(iso_day_of_week) as iso_day_of_week,
        max(case when is_weekend then 1 else 0 end) as is_weekend
    from business_days
    group by date_day
),

final as (
    select
        -- dates
        cast(date_day as date) as date_day,
        cast({{ dbt.date_trunc('week', 'date_day') }} as date) as week_start_date,
        cast({{ dbt.date_trunc('month', 'date_day') }} as date) as month_start_date,
        cast({{ dbt.date_trunc('quarter', 'date_day') }} as date) as quarter_start_date,
        cast({{ fiscal_year_start('date_day') }} as date) as fiscal_year_start_date,

        -- numerics
        cast(extract(year from date_day) as int) as year,
        cast(extract(quarter from date_day) as int) as quarter,
        cast(extract(month from date_day) as int) as month,
        cast(extract(day from date_day) as int) as day_of_month,
        cast(extract(week from date_day) as int) as iso_week,
        cast(iso_day_of_week as int) as day_of_week,

        -- booleans
        {% for country in countries -%}
            cast(is_holiday_{{ country | lower }} = 1 as boolean) as is_holiday_{{ country | lower }},
        {% endfor -%}
        {% for country in countries -%}
            cast(is_business_day_{{ country | lower }} = 1 as boolean) as is_business_day_{{ country | lower }},
        {% endfor -%}
        {% for country in countries -%}
            cast(is_month_end_business_day_{{ country | lower }} = 1 as boolean)
                as is_month_end_business_day_{{ country | lower }},
        {% endfor -%}
        cast(is_weekend = 1 as boolean) as is_weekend
    from per_day
)

select * from final
