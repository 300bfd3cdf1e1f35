-- The USD rate applied to a payment is the rate published on its creation date or, when none
-- was published that day, on the latest earlier date: never a later rate, never a gap.
with

published as (
    select
        upper(trim(currency)) as currency,
        cast(rate_date as date) as rate_date,
        usd_per_unit
    from {{ source('market_data', 'fx_rates') }}
),

payments as (
    select
        payment_id,
        currency,
        created_date,
        usd_per_unit
    from {{ ref('fct_payments') }}
),

-- the inequality join runs per (currency, day), not per payment
payment_days as (
    select distinct
        currency,
        created_date
    from payments
),

last_published as (
    select
        payment_days.currency,
        payment_days.created_date,
        max(published.rate_date) as rate_date
    from payment_days
    inner join published
        on
            payment_days.currency = published.currency
            and payment_days.created_date >= published.rate_date
    group by payment_days.currency, payment_days.created_date
),

expected_rates as (
    select
        last_published.currency,
        last_published.created_date,
        published.usd_per_unit
    from last_published
    inner join published
        on
            last_published.currency = published.currency
            and last_published.rate_date = published.rate_date
),

compared as (
    select
        payments.payment_id,
        payments.usd_per_unit as applied_rate,
        expected_rates.usd_per_unit as expected_rate
    from payments
    left join expected_rates
        on
            payments.currency = expected_rates.currency
            and payments.created_date = expected_rates.created_date
)

select *
from compared
where
    expected_rate is null
    or abs(applied_rate - expected_rate) > 1e-9 * expected_rate
