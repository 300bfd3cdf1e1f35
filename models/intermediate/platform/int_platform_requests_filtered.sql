-- Platform requests of real clients (test accounts' traffic removed).
with

requests as (
    select * from {{ ref('stg_platform__requests') }}
),

clients as (
    select * from {{ ref('int_clients_filtered') }}
),

filtered as (
    select
        requests.request_id,
        requests.client_id,
        requests.user_id,
        requests.surface,
        requests.endpoint,
        requests.latency_ms,
        requests.http_status,
        requests.requested_at
    from requests
    inner join clients
        on requests.client_id = clients.client_id
)

select * from filtered
