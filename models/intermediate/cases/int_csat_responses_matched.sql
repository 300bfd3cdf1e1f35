-- Survey responses matched to our cases through the vendor's reference (SR-<year>-<number>),
-- kept only when the case exists and belongs to a real client.
with

responses as (
    select * from {{ ref('stg_survey_vendor__csat_responses') }}
),

cases as (
    select * from {{ ref('int_case_lifecycles_derived') }}
),

matched as (
    select
        responses.response_id,
        responses.case_id,
        cases.client_id,
        responses.score,
        responses.responded_at,
        row_number() over (
            partition by responses.case_id
            order by responses.responded_at desc, responses.response_id desc
        ) as response_recency_rank
    from responses
    inner join cases
        on responses.case_id = cases.case_id
)

select * from matched
