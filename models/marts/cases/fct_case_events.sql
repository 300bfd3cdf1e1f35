with

events as (
    select * from {{ ref('int_case_events_flagged') }}
),

final as (
    select
        -- ids
        cast(event_id as {{ dbt.type_string() }}) as event_id,
        cast(case_id as {{ dbt.type_string() }}) as case_id,
        cast(client_id as {{ dbt.type_string() }}) as client_id,
        cast(agent_id as {{ dbt.type_string() }}) as agent_id,

        -- strings
        cast(event_type as {{ dbt.type_string() }}) as event_type,

        -- booleans
        cast(is_late_arriving as boolean) as is_late_arriving,

        -- dates
        cast(event_at as date) as event_date,

        -- timestamps
        cast(event_at as timestamp) as event_at
    from events
)

select * from final
