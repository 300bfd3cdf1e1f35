with

source as (
    select * from {{ source('platform', 'incidents') }}
),

latest_landing as (
    {{ deduplicate_latest('source', 'incident_id') }}
),

severity_map as (
    select * from {{ ref('severity_map') }}
),

renamed as (
    select
        -- ids
        cast(latest_landing.incident_id as {{ dbt.type_string() }}) as incident_id,

        -- strings
        cast(trim(latest_landing.service) as {{ dbt.type_string() }}) as service,
        cast(severity_map.severity as {{ dbt.type_string() }}) as severity,
        cast(nullif(trim(latest_landing.root_cause), '') as {{ dbt.type_string() }}) as root_cause,
        cast(trim(latest_landing.affected_product) as {{ dbt.type_string() }}) as affected_product,
        cast(nullif(upper(trim(latest_landing.affected_rails)), '') as {{ dbt.type_string() }})
            as affected_rails,

        -- timestamps
        cast(latest_landing.started_at as timestamp) as started_at,
        cast(latest_landing.detected_at as timestamp) as detected_at,
        cast(latest_landing.mitigated_at as timestamp) as mitigated_at,
        cast(latest_landing.resolved_at as timestamp) as resolved_at,

        -- landing metadata
        cast(latest_landing._load_id as int) as load_id,
        cast(latest_landing._loaded_at as timestamp) as loaded_at

    from latest_landing
    left join severity_map
        on {{ label_key('latest_landing.severity') }} = severity_map.raw_label
)

select * from renamed
