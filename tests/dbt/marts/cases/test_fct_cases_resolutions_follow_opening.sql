-- No resolution of a case is recorded before the case was opened (resolved >= opened), and
-- a case counted as resolved has a resolution event.
select
    cases.case_id,
    cases.opened_at,
    events.event_at as resolved_event_at
from {{ ref('fct_cases') }} as cases
inner join {{ ref('fct_case_events') }} as events
    on cases.case_id = events.case_id
where
    events.event_type = 'resolved'
    and events.event_at < cases.opened_at
