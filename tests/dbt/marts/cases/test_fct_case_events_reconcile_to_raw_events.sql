-- fct_case_events holds each distinct landed event of a real client's case once.
with

landed_events as (
    select distinct
        event_id,
        case_id
    from {{ source('crm', 'case_events') }}
),

expected as (
    select count(*) as event_count
    from landed_events
    inner join {{ ref('fct_cases') }} as cases
        on landed_events.case_id = cases.case_id
),

actual as (
    select count(*) as event_count
    from {{ ref('fct_case_events') }}
)

select
    expected.event_count as expected_events,
    actual.event_count as actual_events
from expected
cross join actual
where expected.event_count != actual.event_count
