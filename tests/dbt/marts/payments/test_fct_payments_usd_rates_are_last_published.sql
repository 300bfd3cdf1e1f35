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

last_published as (
    select
        payments.payment_id,
        max(published.rate_date) as rate_date
    from payments
    inner join published
        on
            payments.currency = published.currency
            and payments.created_date >= published.rate_date
    group by payments.payment_id
),

expected as (
    select
        payments.payment_id,
        payments.usd_per_unit as applied_rate,
        published.usd_per_unit as expected_rate
    from payments
    left join last_published
        on payments.payment_id = last_published.payment_id
    left join published
        on
            payments.currency = published.currency
            and last_published.rate_date = published.rate_date
)

select *
from expected
where
    expected_rate is null
    or abs(applied_rate - expected_rate) > 1e-9 * expected_rate
