-- A table, not a view: several models and tests read it, and recomputing it each time costs more
-- than storing it.
{{ config(materialized='table') }}

-- One row per case of a real client with its lifecycle read from the status history:
-- first response, first and final resolution, reopenings, pending-client steps, closure.
with

cases as (
    select * from {{ ref('stg_crm__cases') }}
),

clients as (
    select * from {{ ref('int_clients_filtered') }}
),

events as (
    select * from {{ ref('int_case_events_flagged') }}
),

event_summary as (
    select
        case_id,
        min(case when event_type = 'first_response' then event_at end) as first_response_at,
        min(case when event_type = 'resolved' then event_at end) as first_resolved_at,
        max(case when event_type = 'resolved' then event_at end) as last_resolved_at,
        max(case when event_type = 'reopened' then event_at end) as last_reopened_at,
        max(case when event_type = 'closed' then event_at end) as closed_at,
        sum(case when event_type = 'reopened' then 1 else 0 end) as reopen_count,
        sum(case when event_type = 'pending_client' then 1 else 0 end) as pending_client_count,
        count(*) as event_count
    from events
    group by case_id
),

lifecycle as (
    select
        -- ids
        cases.case_id,
        cases.client_id,

        -- strings
        cases.product,
        cases.channel,
        cases.priority,
        cases.category,
        cases.team,
        cases.payment_rail,
        clients.country as client_country,

        -- numerics
        clients.utc_offset_minutes as client_utc_offset_minutes,
        coalesce(event_summary.reopen_count, 0) as reopen_count,
        coalesce(event_summary.pending_client_count, 0) as pending_client_count,
        coalesce(event_summary.event_count, 0) as event_count,

        -- booleans: resolved now = resolved at least once and not reopened since
        coalesce(
            event_summary.last_resolved_at is not null
            and (
                event_summary.last_reopened_at is null
                or event_summary.last_resolved_at >= event_summary.last_reopened_at
            ),
            false
        ) as is_resolved,

        -- timestamps
        cases.opened_at,
        event_summary.first_response_at,
        event_summary.first_resolved_at,
        case
            when
                event_summary.last_reopened_at is null
                or event_summary.last_resolved_at >= event_summary.last_reopened_at
                then event_summary.last_resolved_at
        end as resolved_at,
        event_summary.closed_at

    from cases
    inner join clients
        on cases.client_id = clients.client_id
    left join event_summary
        on cases.case_id = event_summary.case_id
)

select * from lifecycle
