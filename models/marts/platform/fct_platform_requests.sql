with

requests as (
    select * from {{ ref('int_platform_requests_filtered') }}
),

final as (
    select
        -- ids
        cast(request_id as {{ dbt.type_string() }}) as request_id,
        cast(client_id as {{ dbt.type_string() }}) as client_id,
        cast(user_id as {{ dbt.type_string() }}) as user_id,

        -- strings
        cast(surface as {{ dbt.type_string() }}) as surface,
        cast(endpoint as {{ dbt.type_string() }}) as endpoint,

        -- numerics
        cast(latency_ms as double) as latency_ms,
        cast(http_status as int) as http_status,

        -- booleans
        -- server-side failures; 4xx responses are the client's doing and count as served
        cast(http_status >= 500 as boolean) as is_error,

        -- dates
        cast(requested_at as date) as requested_date,

        -- timestamps
        cast(requested_at as timestamp) as requested_at
    from requests
)

select * from final
