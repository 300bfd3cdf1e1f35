with

source as (
    select * from {{ source('platform', 'requests') }}
),

latest_landing as (
    {{ deduplicate_latest('source', 'request_id') }}
),

renamed as (
    select
        -- ids
        cast(request_id as {{ dbt.type_string() }}) as request_id,
        cast({{ normalize_client_ref('client_ref') }} as {{ dbt.type_string() }}) as client_id,
        cast(user_id as {{ dbt.type_string() }}) as user_id,

        -- strings
        cast({{ label_key('surface') }} as {{ dbt.type_string() }}) as surface,
        cast(trim(endpoint) as {{ dbt.type_string() }}) as endpoint,

        -- numerics
        cast(latency_ms as double) as latency_ms,
        cast(http_status as int) as http_status,

        -- timestamps
        cast(requested_at as timestamp) as requested_at,

        -- landing metadata
        cast(_load_id as int) as load_id,
        cast(_loaded_at as timestamp) as loaded_at

    from latest_landing
)

select * from renamed
