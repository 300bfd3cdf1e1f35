-- A calendar year has 260-262 weekdays; public holidays take away roughly 8-20 more. Fewer
-- than 235 or more than 262 business days in a year means the calendar join went wrong.
{%- set countries = var('calendar_countries') %}
with

per_year as (
    select
        {% for country in countries -%}
            sum(case when is_business_day_{{ country | lower }} then 1 else 0 end)
                as business_days_{{ country | lower }},
        {% endfor -%}
        year
    from {{ ref('dim_dates') }}
    group by year
)

select *
from per_year
where
    false
    {% for country in countries -%}
        or business_days_{{ country | lower }} not between 235 and 262
    {% endfor -%}
