with

incidents as (
    select * from {{ ref('stg_platform__incidents') }}
),

final as (
    select
        -- ids
        cast(incident_id as {{ dbt.type_string() }}) as incident_id,

        -- strings
        cast(service as {{ dbt.type_string() }}) as service,
        cast(severity as {{ dbt.type_string() }}) as severity,
        cast(root_cause as {{ dbt.type_string() }}) as root_cause,
        cast(affected_product as {{ dbt.type_string() }}) as affected_product,
        cast(affected_rails as {{ dbt.type_string() }}) as affected_rails,

        -- numerics
        cast({{ elapsed_minutes('started_at', 'detected_at') }} as double) as minutes_to_detect,
        cast({{ elapsed_minutes('started_at', 'mitigated_at') }} as double) as minutes_to_mitigate,
        cast({{ elapsed_minutes('started_at', 'resolved_at') }} as double) as minutes_to_resolve,

        -- booleans
        cast(severity in ('SEV1', 'SEV2') as boolean) as is_major,
        cast(resolved_at is null as boolean) as is_open,

        -- dates
        cast(started_at as date) as started_date,

        -- timestamps
        cast(started_at as timestamp) as started_at,
        cast(detected_at as timestamp) as detected_at,
        cast(mitigated_at as timestamp) as mitigated_at,
        cast(resolved_at as timestamp) as resolved_at
    from incidents
)

select * from final
