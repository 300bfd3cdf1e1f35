with

source as (
    select * from {{ source('crm', 'cases') }}
),

latest_landing as (
    {{ deduplicate_latest('source', 'case_id') }}
),

channel_map as (
    select * from {{ ref('channel_map') }}
),

priority_map as (
    select * from {{ ref('priority_map') }}
),

renamed as (
    select
        -- ids
        cast(latest_landing.case_id as {{ dbt.type_string() }}) as case_id,
        cast({{ normalize_client_ref('latest_landing.client_ref') }} as {{ dbt.type_string() }})
            as client_id,

        -- strings
        cast(trim(latest_landing.product) as {{ dbt.type_string() }}) as product,
        cast(channel_map.channel as {{ dbt.type_string() }}) as channel,
        cast(priority_map.priority as {{ dbt.type_string() }}) as priority,
        cast(trim(latest_landing.category) as {{ dbt.type_string() }}) as category,
        cast(trim(latest_landing.team) as {{ dbt.type_string() }}) as team,
        cast(upper(trim(latest_landing.payment_rail)) as {{ dbt.type_string() }}) as payment_rail,

        -- timestamps
        cast({{ local_timestamp_to_utc('latest_landing.opened_at_local') }} as timestamp)
            as opened_at,

        -- landing metadata
        cast(latest_landing._load_id as int) as load_id,
        cast(latest_landing._loaded_at as timestamp) as loaded_at

    from latest_landing
    left join channel_map
        on {{ label_key('latest_landing.channel') }} = channel_map.raw_label
    left join priority_map
        on {{ label_key('latest_landing.priority') }} = priority_map.raw_label
)

select * from renamed
