-- fct_cases holds exactly the distinct case keys landed in crm.cases whose client (after
-- normalising legacy references) is a real client: re-landed duplicates collapse, test
-- accounts' cases drop out, nothing is invented.
with

real_clients as (
    {{ raw_real_client_ids() }}
),

latest_cases as (
    select
        case_id,
        client_ref,
        row_number() over (
            partition by case_id order by _loaded_at desc, _load_id desc
        ) as landing_rank
    from {{ source('crm', 'cases') }}
),

expected as (
    select count(distinct latest_cases.case_id) as case_count
    from latest_cases
    inner join real_clients
        on {{ normalize_client_ref('latest_cases.client_ref') }} = real_clients.client_id
    where latest_cases.landing_rank = 1
),

actual as (
    select
        count(*) as case_count,
        count(distinct case_id) as distinct_cases
    from {{ ref('fct_cases') }}
)

select
    expected.case_count as expected_cases,
    actual.case_count as actual_rows,
    actual.distinct_cases as actual_distinct_cases
from expected
cross join actual
where
    expected.case_count != actual.case_count
    or actual.case_count != actual.distinct_cases
