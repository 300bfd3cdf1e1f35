-- Payments of real clients with the amount converted to USD at the rate of the UTC day the
-- instruction was created (forward-filled over weekends and holidays).
with

payments as (
    select * from {{ ref('stg_payments__payment_instructions') }}
),

clients as (
    select * from {{ ref('int_clients_filtered') }}
),

fx_rates as (
    select * from {{ ref('int_fx_rates_filled') }}
),

converted as (
    select
        payments.payment_id,
        payments.client_id,
        payments.rail,
        payments.currency,
        payments.source_feed,
        payments.initiation_channel,
        payments.status,
        payments.exception_code,
        payments.amount,
        cast(payments.amount * fx_rates.usd_per_unit as decimal(18, 2)) as amount_usd,
        fx_rates.usd_per_unit,
        payments.repair_minutes,
        payments.is_stp,
        payments.value_date,
        payments.created_at,
        payments.settled_at
    from payments
    inner join clients
        on payments.client_id = clients.client_id
    left join fx_rates
        on
            payments.currency = fx_rates.currency
            and cast(payments.created_at as date) = fx_rates.rate_date
)

select * from converted
