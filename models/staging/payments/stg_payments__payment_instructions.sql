with

source as (
    select * from {{ source('payments', 'payment_instructions') }}
),

latest_landing as (
    {{ deduplicate_latest('source', 'payment_id') }}
),

initiation_channel_map as (
    select * from {{ ref('initiation_channel_map') }}
),

currencies as (
    select * from {{ ref('currencies') }}
),

renamed as (
    select
        -- ids
        cast(latest_landing.payment_id as {{ dbt.type_string() }}) as payment_id,
        cast({{ normalize_client_ref('latest_landing.client_ref') }} as {{ dbt.type_string() }})
            as client_id,

        -- strings
        cast(upper(trim(latest_landing.rail)) as {{ dbt.type_string() }}) as rail,
        cast(upper(trim(latest_landing.currency)) as {{ dbt.type_string() }}) as currency,
        cast(upper(trim(latest_landing.source_feed)) as {{ dbt.type_string() }}) as source_feed,
        cast(initiation_channel_map.initiation_channel as {{ dbt.type_string() }})
            as initiation_channel,
        cast({{ label_key('latest_landing.status') }} as {{ dbt.type_string() }}) as status,
        cast(nullif(trim(latest_landing.exception_code), '') as {{ dbt.type_string() }})
            as exception_code,

        -- numerics
        -- The GPP feed lands amounts in minor units (cents; yen have none), the legacy feed in
        -- major units: everything downstream is in major units.
        cast(
            case
                when upper(trim(latest_landing.source_feed)) = 'GPP'
                    then latest_landing.amount / power(10, currencies.minor_digits)
                else latest_landing.amount
            end
            as decimal(18, 2)
        ) as amount,
        cast(latest_landing.repair_minutes as double) as repair_minutes,

        -- booleans
        {{ label_key('latest_landing.stp_flag') }} in ('y', 'yes', 'true', '1') as is_stp,

        -- dates
        cast(latest_landing.value_date as date) as value_date,

        -- timestamps
        cast(latest_landing.created_at as timestamp) as created_at,
        cast(latest_landing.settled_at as timestamp) as settled_at,

        -- landing metadata
        cast(latest_landing._load_id as int) as load_id,
        cast(latest_landing._loaded_at as timestamp) as loaded_at

    from latest_landing
    left join initiation_channel_map
        on {{ label_key('latest_landing.initiation_channel') }} = initiation_channel_map.raw_label
    left join currencies
        on upper(trim(latest_landing.currency)) = currencies.currency
)

select * from renamed
