with

clients as (
    select * from {{ ref('int_clients_filtered') }}
),

final as (
    select
        -- ids
        cast(client_id as {{ dbt.type_string() }}) as client_id,

        -- strings
        cast(legal_name as {{ dbt.type_string() }}) as legal_name,
        cast(contact_email as {{ dbt.type_string() }}) as contact_email,
        cast(segment as {{ dbt.type_string() }}) as segment,
        cast(region as {{ dbt.type_string() }}) as region,
        cast(country as {{ dbt.type_string() }}) as country,
        cast(tier as {{ dbt.type_string() }}) as tier,

        -- numerics
        cast(utc_offset_minutes as int) as utc_offset_minutes,

        -- dates
        cast(onboarded_date as date) as onboarded_date
    from clients
)

select * from final
