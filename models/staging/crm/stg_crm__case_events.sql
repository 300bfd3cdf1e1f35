with

source as (
    select * from {{ source('crm', 'case_events') }}
),

latest_landing as (
    {{ deduplicate_latest('source', 'event_id') }}
),

renamed as (
    select
        -- ids
        cast(event_id as {{ dbt.type_string() }}) as event_id,
        cast(case_id as {{ dbt.type_string() }}) as case_id,
        cast(nullif(trim(agent_id), '') as {{ dbt.type_string() }}) as agent_id,

        -- strings
        cast({{ label_key('event_type') }} as {{ dbt.type_string() }}) as event_type,

        -- timestamps
        cast(event_at as timestamp) as event_at,

        -- landing metadata
        cast(_load_id as int) as load_id,
        cast(_loaded_at as timestamp) as loaded_at

    from latest_landing
)

select * from renamed
