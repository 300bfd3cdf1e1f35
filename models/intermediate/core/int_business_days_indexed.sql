-- A table, not a view: several models and tests read it, and recomputing it each time costs more
-- than storing it.
{{ config(materialized='table') }}

-- One row per country and local calendar day: is it a business day, and how many business
-- hours elapsed in that country's calendar before the day began. With it,
-- business_hours_between(a, b) = bh(b) - bh(a) is two lookups (macro business_hours_at).
with

date_spine as (
    {{ dbt.date_spine(
        'day',
        "cast('" ~ var('calendar_start_date') ~ "' as date)",
        dbt.dateadd('day', 1, "cast('" ~ var('calendar_end_date') ~ "' as date)")
    ) }}
),

country_calendars as (
    select * from {{ ref('country_calendars') }}
),

public_holidays as (
    select * from {{ ref('public_holidays') }}
),

holiday_days as (
    select
        country,
        cast(holiday_date as date) as holiday_date,
        min(holiday_name) as holiday_name
    from public_holidays
    group by country, cast(holiday_date as date)
),

country_days as (
    select
        country_calendars.country,
        country_calendars.region,
        cast(country_calendars.utc_offset_minutes as int) as utc_offset_minutes,
        cast(country_calendars.business_day_start_hour as double) as business_day_start_hour,
        cast(
            country_calendars.business_day_end_hour - country_calendars.business_day_start_hour
            as double
        ) as business_hours_per_day,
        cast(date_spine.date_day as date) as date_day
    from country_calendars
    cross join date_spine
),

flagged as (
    select
        country_days.country,
        country_days.region,
        country_days.utc_offset_minutes,
        country_days.business_day_start_hour,
        country_days.business_hours_per_day,
        country_days.date_day,
        holiday_days.holiday_name,
        {{ iso_day_of_week('country_days.date_day') }} as iso_day_of_week,
        {{ iso_day_of_week('country_days.date_day') }} >= 6 as is_weekend,
        holiday_days.holiday_date is not null as is_holiday
    from country_days
    left join holiday_days
        on
            country_days.country = holiday_days.country
            and country_days.date_day = holiday_days.holiday_date
),

business_days as (
    select
        *,
        not is_weekend and not is_holiday as is_business_day
    from flagged
),

month_ranked as (
    select
        *,
        row_number() over (
            partition by country, is_business_day, {{ dbt.date_trunc('month', 'date_day') }}
            order by date_day desc
        ) as month_rank_from_end
    from business_days
),

indexed as (
    select
        country,
        region,
        utc_offset_minutes,
        business_day_start_hour,
        business_hours_per_day,
        date_day,
        iso_day_of_week,
        is_weekend,
        is_holiday,
        holiday_name,
        is_business_day,
        cast(
            coalesce(
                sum(case when is_business_day then business_hours_per_day else 0 end) over (
                    partition by country
                    order by date_day
                    rows between unbounded preceding and 1 preceding
                ),
                0
            ) as double
        ) as cum_business_hours_before,
        -- 1 = last business day of the month, 2 = the one before, … (null on other days)
        case when is_business_day then month_rank_from_end end
            as business_days_to_month_end
    from month_ranked
)

select * from indexed
