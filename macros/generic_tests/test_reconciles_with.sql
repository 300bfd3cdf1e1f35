{#- Reconciliation: an aggregate over this model equals an aggregate over another relation
    (a source or a model), optionally per group and within an absolute tolerance. Returns one
    row per group that does not reconcile. Example: count(distinct case_id) of fct_cases equals
    the number of distinct, non-test case keys landed in crm.cases. -#}
{% test reconciles_with(model, expression, compare_model, compare_expression=none, group_by=none,
    compare_group_by=none, where=none, compare_where=none, tolerance=0) %}
    {%- set compare_expression = compare_expression or expression %}
    {%- set compare_group_by = compare_group_by or group_by %}
    with

    actual as (
        select
            {{ group_by or "'all'" }} as group_key,
            {{ expression }} as measured
        from {{ model }}
        where {{ where or 'true' }} {{ 'group by ' ~ group_by if group_by else '' }}
    ),

    expected as (
        select
            {{ compare_group_by or "'all'" }} as group_key,
            {{ compare_expression }} as measured
        from {{ compare_model }}
        where {{ compare_where or 'true' }} {{ 'group by ' ~ compare_group_by if compare_group_by else '' }}
    ),

    compared as (
        select
            coalesce(actual.group_key, expected.group_key) as group_key,
            actual.measured as actual_value,
            expected.measured as expected_value
        from actual
        full outer join expected
            on actual.group_key = expected.group_key
    )

    select *
    from compared
    where
        actual_value is null
        or expected_value is null
        or abs(actual_value - expected_value) > {{ tolerance }}
{% endtest %}
