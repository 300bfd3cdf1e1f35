-- The request mart holds each distinct landed request of a real client once, and the daily
-- usage mart adds up to the same number of requests and errors.
with

real_clients as (
    {{ raw_real_client_ids() }}
),

landed as (
    select distinct
        request_id,
        client_ref
    from {{ source('platform', 'requests') }}
),

expected as (
    select count(*) as request_count
    from landed
    inner join real_clients
        on {{ normalize_client_ref('landed.client_ref') }} = real_clients.client_id
),

requests as (
    select
        count(*) as request_count,
        sum(case when is_error then 1 else 0 end) as error_count
    from {{ ref('fct_platform_requests') }}
),

usage as (
    select
        sum(request_count) as request_count,
        sum(error_count) as error_count
    from {{ ref('fct_platform_usage_daily') }}
)

select
    expected.request_count as expected_requests,
    requests.request_count as mart_requests,
    usage.request_count as usage_requests,
    requests.error_count as mart_errors,
    usage.error_count as usage_errors
from expected
cross join requests
cross join usage
where
    expected.request_count != requests.request_count
    or requests.request_count != usage.request_count
    or requests.error_count != usage.error_count
