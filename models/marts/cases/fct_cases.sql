with

lifecycles as (
    select * from {{ ref('int_case_lifecycles_derived') }}
),

business_hours as (
    select * from {{ ref('int_cases_business_hours_measured') }}
),

sla_policy as (
    select * from {{ ref('sla_policy') }}
),

csat as (
    select * from {{ ref('int_csat_responses_matched') }}
    where response_recency_rank = 1
),

final as (
    select
        -- ids
        cast(lifecycles.case_id as {{ dbt.type_string() }}) as case_id,
        cast(lifecycles.client_id as {{ dbt.type_string() }}) as client_id,

        -- strings
        cast(lifecycles.product as {{ dbt.type_string() }}) as product,
        cast(lifecycles.channel as {{ dbt.type_string() }}) as channel,
        cast(lifecycles.priority as {{ dbt.type_string() }}) as priority,
        cast(lifecycles.category as {{ dbt.type_string() }}) as category,
        cast(lifecycles.team as {{ dbt.type_string() }}) as team,
        cast(lifecycles.payment_rail as {{ dbt.type_string() }}) as payment_rail,

        -- numerics
        cast(lifecycles.reopen_count as int) as reopen_count,
        cast(lifecycles.pending_client_count as int) as pending_client_count,
        cast(business_hours.business_hours_to_first_response as double)
            as business_hours_to_first_response,
        cast(business_hours.business_hours_to_resolve as double) as business_hours_to_resolve,
        cast(business_hours.business_hours_to_resolve_or_data_end as double)
            as business_hours_to_resolve_or_data_end,
        cast(sla_policy.resolution_target_business_hours as double) as sla_target_business_hours,
        cast(csat.score as int) as csat_score,

        -- booleans
        cast(lifecycles.is_resolved as boolean) as is_resolved,
        cast(lifecycles.reopen_count > 0 as boolean) as is_reopened,
        cast(lifecycles.pending_client_count > 0 as boolean) as has_pending_client,
        -- resolved on the first pass: never reopened and never waiting on the client
        cast(
            lifecycles.first_resolved_at is not null
            and lifecycles.reopen_count = 0
            and lifecycles.pending_client_count = 0
            as boolean
        ) as is_first_contact_resolution,
        -- resolved later than the SLA target, or still open beyond it at the end of the data
        cast(
            business_hours.business_hours_to_resolve_or_data_end
            > sla_policy.resolution_target_business_hours
            as boolean
        ) as is_sla_breached,
        cast(csat.response_id is not null as boolean) as has_csat_response,

        -- dates
        cast(lifecycles.opened_at as date) as opened_date,

        -- timestamps
        cast(lifecycles.opened_at as timestamp) as opened_at,
        cast(lifecycles.first_response_at as timestamp) as first_response_at,
        cast(lifecycles.first_resolved_at as timestamp) as first_resolved_at,
        cast(lifecycles.resolved_at as timestamp) as resolved_at,
        cast(lifecycles.closed_at as timestamp) as closed_at

    from lifecycles
    left join business_hours
        on lifecycles.case_id = business_hours.case_id
    left join sla_policy
        on lifecycles.priority = sla_policy.priority
    left join csat
        on lifecycles.case_id = csat.case_id
)

select * from final
