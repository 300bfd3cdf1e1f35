-- No client whose latest landing is flagged as a test account (Y / true, any case) reaches
-- dim_clients, and every other landed client does.
with

expected as (
    {{ raw_real_client_ids() }}
),

actual as (
    select client_id from {{ ref('dim_clients') }}
),

mismatches as (
    select
        coalesce(expected.client_id, actual.client_id) as client_id,
        case when expected.client_id is null then 'test account or unknown' else 'missing' end
            as problem
    from expected
    full outer join actual
        on expected.client_id = actual.client_id
    where expected.client_id is null or actual.client_id is null
)

select * from mismatches
