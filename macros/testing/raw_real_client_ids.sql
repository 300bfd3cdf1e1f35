{% macro raw_real_client_ids() %}
    {#- Client ids whose latest landing in crm.clients is not a test account, rebuilt from the
        raw landing independently of the models: the reconciliation tests compare marts to it. -#}
    select latest_clients.client_id
    from (
        select
            client_id,
            is_test_account,
            row_number() over (
                partition by client_id order by _loaded_at desc, _load_id desc
            ) as landing_rank
        from {{ source('crm', 'clients') }}
    ) as latest_clients
    where
        latest_clients.landing_rank = 1
        and coalesce(lower(trim(latest_clients.is_test_account)) in ('y', 'true'), false) = false
{% endmacro %}
