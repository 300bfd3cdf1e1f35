-- A table, not a view: several models and tests read it, and recomputing it each time costs more
-- than storing it.
{{ config(materialized='table') }}

-- Case events of real clients' cases, with the late-arrival flag: an event is late when it
-- landed after an event that happened later in the same case had already landed.
with

events as (
    select * from {{ ref('stg_crm__case_events') }}
),

cases as (
    select * from {{ ref('stg_crm__cases') }}
),

clients as (
    select * from {{ ref('int_clients_filtered') }}
),

with_later_landing as (
    select
        events.*,
        min(events.loaded_at) over (
            partition by events.case_id
            order by events.event_at desc, events.event_id desc
            rows between unbounded preceding and 1 preceding
        ) as first_landing_of_later_events
    from events
),

flagged as (
    select
        with_later_landing.event_id,
        with_later_landing.case_id,
        cases.client_id,
        with_later_landing.event_type,
        with_later_landing.event_at,
        with_later_landing.agent_id,
        coalesce(
            with_later_landing.loaded_at > with_later_landing.first_landing_of_later_events,
            false
        ) as is_late_arriving,
        with_later_landing.loaded_at
    from with_later_landing
    inner join cases
        on with_later_landing.case_id = cases.case_id
    inner join clients
        on cases.client_id = clients.client_id
)

select * from flagged
