-- Business hours from opening to first response and to first resolution on the client's
-- regional calendar (docs/raw_data.md): bh(t) is looked up per timestamp in
-- int_business_days_indexed on (country, local date), and a duration is bh(end) - bh(start).
-- Open cases are measured to the end of the data (var data_end_at) for survival analysis.
with

lifecycles as (
    select * from {{ ref('int_case_lifecycles_derived') }}
),

business_days as (
    select * from {{ ref('int_business_days_indexed') }}
),

local_times as (
    select
        case_id,
        client_country,
        first_resolved_at is not null as has_resolution,
        {{ utc_to_local('opened_at', 'client_utc_offset_minutes') }} as opened_local,
        {{ utc_to_local('first_response_at', 'client_utc_offset_minutes') }} as first_response_local,
        {{ utc_to_local('first_resolved_at', 'client_utc_offset_minutes') }} as first_resolved_local,
        {{ utc_to_local(
            "coalesce(first_resolved_at, cast('" ~ var('data_end_at') ~ "' as timestamp))",
            'client_utc_offset_minutes'
        ) }} as resolved_or_data_end_local
    from lifecycles
),

indexed as (
    select
        local_times.case_id,
        local_times.has_resolution,
        {{ business_hours_at('local_times.opened_local', 'opened_day') }} as opened_bh,
        {{ business_hours_at('local_times.first_response_local', 'first_response_day') }}
            as first_response_bh,
        {{ business_hours_at('local_times.first_resolved_local', 'first_resolved_day') }}
            as first_resolved_bh,
        {{ business_hours_at('local_times.resolved_or_data_end_local', 'end_day') }} as end_bh
    from local_times
    left join business_days as opened_day
        on
            local_times.client_country = opened_day.country
            and cast(local_times.opened_local as date) = opened_day.date_day
    left join business_days as first_response_day
        on
            local_times.client_country = first_response_day.country
            and cast(local_times.first_response_local as date) = first_response_day.date_day
    left join business_days as first_resolved_day
        on
            local_times.client_country = first_resolved_day.country
            and cast(local_times.first_resolved_local as date) = first_resolved_day.date_day
    left join business_days as end_day
        on
            local_times.client_country = end_day.country
            and cast(local_times.resolved_or_data_end_local as date) = end_day.date_day
),

measured as (
    select
        case_id,
        cast(first_response_bh - opened_bh as double) as business_hours_to_first_response,
        cast(first_resolved_bh - opened_bh as double) as business_hours_to_resolve,
        cast(end_bh - opened_bh as double) as business_hours_to_resolve_or_data_end
    from indexed
)

select * from measured
