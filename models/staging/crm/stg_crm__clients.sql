with

source as (
    select * from {{ source('crm', 'clients') }}
),

latest_landing as (
    {{ deduplicate_latest('source', 'client_id') }}
),

segment_map as (
    select * from {{ ref('segment_map') }}
),

country_calendars as (
    select * from {{ ref('country_calendars') }}
),

renamed as (
    select
        -- ids
        cast(latest_landing.client_id as {{ dbt.type_string() }}) as client_id,

        -- strings
        cast(latest_landing.legal_name as {{ dbt.type_string() }}) as legal_name,
        cast(lower(trim(latest_landing.contact_email)) as {{ dbt.type_string() }}) as contact_email,
        cast(segment_map.segment as {{ dbt.type_string() }}) as segment,
        cast(upper(trim(latest_landing.country)) as {{ dbt.type_string() }}) as country,
        cast(country_calendars.region as {{ dbt.type_string() }}) as region,
        cast(trim(latest_landing.tier) as {{ dbt.type_string() }}) as tier,

        -- numerics
        cast(country_calendars.utc_offset_minutes as int) as utc_offset_minutes,

        -- booleans
        coalesce({{ label_key('latest_landing.is_test_account') }} in ('y', 'yes', 'true', '1'), false)
            as is_test_account,

        -- dates
        cast(latest_landing.onboarded_date as date) as onboarded_date,

        -- landing metadata
        cast(latest_landing._load_id as int) as load_id,
        cast(latest_landing._loaded_at as timestamp) as loaded_at

    from latest_landing
    left join segment_map
        on {{ label_key('latest_landing.segment') }} = segment_map.raw_label
    left join country_calendars
        on upper(trim(latest_landing.country)) = country_calendars.country
)

select * from renamed
