with

source as (
    select * from {{ source('survey_vendor', 'csat_responses') }}
),

latest_landing as (
    {{ deduplicate_latest('source', 'response_id') }}
),

renamed as (
    select
        -- ids
        cast(response_id as {{ dbt.type_string() }}) as response_id,
        cast(trim(vendor_case_ref) as {{ dbt.type_string() }}) as vendor_case_ref,
        -- SR-2024-00000001 -> CS00000001: the vendor keeps our case number, prefixed with
        -- the year the case was opened.
        cast(
            concat('CS', substring(trim(vendor_case_ref), length(trim(vendor_case_ref)) - 7, 8))
            as {{ dbt.type_string() }}
        ) as case_id,

        -- numerics
        cast(score as int) as score,

        -- timestamps
        cast(responded_at as timestamp) as responded_at,

        -- landing metadata
        cast(_load_id as int) as load_id,
        cast(_loaded_at as timestamp) as loaded_at

    from latest_landing
)

select * from renamed
