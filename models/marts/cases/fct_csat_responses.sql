with

responses as (
    select * from {{ ref('int_csat_responses_matched') }}
),

final as (
    select
        -- ids
        cast(response_id as {{ dbt.type_string() }}) as response_id,
        cast(case_id as {{ dbt.type_string() }}) as case_id,
        cast(client_id as {{ dbt.type_string() }}) as client_id,

        -- numerics
        cast(score as int) as score,

        -- booleans
        cast(response_recency_rank = 1 as boolean) as is_latest_for_case,

        -- dates
        cast(responded_at as date) as responded_date,

        -- timestamps
        cast(responded_at as timestamp) as responded_at
    from responses
)

select * from final
