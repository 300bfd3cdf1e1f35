with

source as (
    select * from {{ source('market_data', 'fx_rates') }}
),

latest_landing as (
    {{ deduplicate_latest('source', 'rate_date, currency') }}
),

renamed as (
    select
        -- ids
        cast(upper(trim(currency)) as {{ dbt.type_string() }}) as currency,

        -- numerics
        cast(usd_per_unit as double) as usd_per_unit,

        -- dates
        cast(rate_date as date) as rate_date,

        -- landing metadata
        cast(_load_id as int) as load_id,
        cast(_loaded_at as timestamp) as loaded_at

    from latest_landing
)

select * from renamed
