-- Real clients only: test accounts are excluded here, once, and every fact reaches its client
-- through this model with an inner join, so their cases, payments and requests drop out too.
with

clients as (
    select * from {{ ref('stg_crm__clients') }}
),

filtered as (
    select
        client_id,
        legal_name,
        contact_email,
        segment,
        country,
        region,
        tier,
        utc_offset_minutes,
        onboarded_date
    from clients
    where not is_test_account
)

select * from filtered
