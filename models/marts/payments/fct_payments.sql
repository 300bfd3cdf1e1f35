with

payments as (
    select * from {{ ref('int_payments_converted_to_usd') }}
),

final as (
    select
        -- ids
        cast(payment_id as {{ dbt.type_string() }}) as payment_id,
        cast(client_id as {{ dbt.type_string() }}) as client_id,

        -- strings
        cast(rail as {{ dbt.type_string() }}) as rail,
        cast(currency as {{ dbt.type_string() }}) as currency,
        cast(initiation_channel as {{ dbt.type_string() }}) as initiation_channel,
        cast(status as {{ dbt.type_string() }}) as status,
        cast(exception_code as {{ dbt.type_string() }}) as exception_code,
        cast(source_feed as {{ dbt.type_string() }}) as source_feed,

        -- numerics
        cast(amount as decimal(18, 2)) as amount,
        cast(amount_usd as decimal(18, 2)) as amount_usd,
        cast(usd_per_unit as double) as usd_per_unit,
        cast(repair_minutes as double) as repair_minutes,

        -- booleans
        cast(initiation_channel in ('portal', 'api') as boolean) as is_digital,
        cast(is_stp as boolean) as is_stp,
        cast(status = 'failed' as boolean) as is_failed,
        cast(status = 'returned' as boolean) as is_returned,
        cast(status = 'settled' as boolean) as is_settled,
        cast(exception_code is not null as boolean) as has_exception,

        -- dates
        cast(created_at as date) as created_date,
        cast(value_date as date) as value_date,

        -- timestamps
        cast(created_at as timestamp) as created_at,
        cast(settled_at as timestamp) as settled_at,
        cast({{ elapsed_minutes('created_at', 'settled_at') }} as double) as minutes_to_settle
    from payments
)

select * from final
