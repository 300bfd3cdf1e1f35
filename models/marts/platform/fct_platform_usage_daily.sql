-- Daily platform usage per client, surface and endpoint: the grain dashboards and the semantic
-- layer read, a few hundred times smaller than the request log.
with

requests as (
    select * from {{ ref('fct_platform_requests') }}
),

aggregated as (
    select
        requested_date as usage_date,
        client_id,
        surface,
        endpoint,
        count(*) as request_count,
        sum(case when is_error then 1 else 0 end) as error_count,
        count(distinct user_id) as active_users,
        sum(latency_ms) as latency_ms_sum,
        max(latency_ms) as latency_ms_max
    from requests
    group by requested_date, client_id, surface, endpoint
),

final as (
    select
        -- ids
        cast(concat(
            cast(usage_date as {{ dbt.type_string() }}), '|', client_id, '|', surface, '|', endpoint
        ) as {{ dbt.type_string() }}) as usage_id,
        cast(client_id as {{ dbt.type_string() }}) as client_id,

        -- strings
        cast(surface as {{ dbt.type_string() }}) as surface,
        cast(endpoint as {{ dbt.type_string() }}) as endpoint,

        -- numerics
        cast(request_count as bigint) as request_count,
        cast(error_count as bigint) as error_count,
        cast(active_users as bigint) as active_users,
        cast(latency_ms_sum as double) as latency_ms_sum,
        cast(latency_ms_max as double) as latency_ms_max,

        -- dates
        cast(usage_date as date) as usage_date
    from aggregated
)

select * from final
