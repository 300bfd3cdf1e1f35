-- A table, not a view: several models and tests read it, and recomputing it each time costs more
-- than storing it.
{{ config(materialized='table') }}

-- A USD rate for every currency and calendar day: market data is published on business days
-- only, so weekends and holidays carry the last published rate forward (and days before the
-- first publication take the first rate). Written without `ignore nulls` so Spark runs it too.
with

date_spine as (
    {{ dbt.date_spine(
        'day',
        "cast('" ~ var('calendar_start_date') ~ "' as date)",
        dbt.dateadd('day', 1, "cast('" ~ var('calendar_end_date') ~ "' as date)")
    ) }}
),

currencies as (
    select * from {{ ref('currencies') }}
),

fx_rates as (
    select * from {{ ref('stg_market_data__fx_rates') }}
),

currency_days as (
    select
        currencies.currency,
        cast(date_spine.date_day as date) as rate_date
    from currencies
    cross join date_spine
),

published as (
    select
        currency_days.currency,
        currency_days.rate_date,
        fx_rates.rate_date as published_date
    from currency_days
    left join fx_rates
        on
            currency_days.currency = fx_rates.currency
            and currency_days.rate_date = fx_rates.rate_date
),

carried as (
    select
        currency,
        rate_date,
        published_date,
        max(published_date) over (
            partition by currency
            order by rate_date
            rows between unbounded preceding and current row
        ) as last_published_date,
        min(published_date) over (partition by currency) as first_published_date
    from published
),

filled as (
    select
        carried.currency,
        carried.rate_date,
        carried.published_date is null as is_carried_forward,
        coalesce(carried.last_published_date, carried.first_published_date) as source_rate_date,
        fx_rates.usd_per_unit
    from carried
    left join fx_rates
        on
            carried.currency = fx_rates.currency
            and coalesce(carried.last_published_date, carried.first_published_date)
            = fx_rates.rate_date
)

select * from filled
