-- Per currency, the payments mart carries the same number of payments and the same total in
-- major units as the raw landing after keeping each payment's latest landing, converting GPP
-- minor units and dropping test accounts. A cent of rounding per payment is allowed.
with

real_clients as (
    {{ raw_real_client_ids() }}
),

latest_payments as (
    select
        payment_id,
        client_ref,
        upper(trim(currency)) as currency,
        upper(trim(source_feed)) as source_feed,
        amount,
        row_number() over (
            partition by payment_id order by _loaded_at desc, _load_id desc
        ) as landing_rank
    from {{ source('payments', 'payment_instructions') }}
),

expected as (
    select
        latest_payments.currency,
        count(*) as payment_count,
        sum(
            case
                when latest_payments.source_feed = 'GPP'
                    then latest_payments.amount / power(10, currencies.minor_digits)
                else latest_payments.amount
            end
        ) as amount_total
    from latest_payments
    inner join real_clients
        on {{ normalize_client_ref('latest_payments.client_ref') }} = real_clients.client_id
    inner join {{ ref('currencies') }} as currencies
        on latest_payments.currency = currencies.currency
    where latest_payments.landing_rank = 1
    group by latest_payments.currency
),

actual as (
    select
        currency,
        count(*) as payment_count,
        sum(cast(amount as double)) as amount_total
    from {{ ref('fct_payments') }}
    group by currency
)

select
    coalesce(expected.currency, actual.currency) as currency,
    expected.payment_count as expected_payments,
    actual.payment_count as actual_payments,
    expected.amount_total as expected_amount,
    actual.amount_total as actual_amount
from expected
full outer join actual
    on expected.currency = actual.currency
where
    expected.currency is null
    or actual.currency is null
    or expected.payment_count != actual.payment_count
    or abs(expected.amount_total - actual.amount_total) > 0.01 * expected.payment_count
