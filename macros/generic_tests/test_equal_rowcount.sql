{#- The model has exactly as many rows as another relation (e.g. a mart and the intermediate
    model it publishes, so no join fanned out or dropped rows). -#}
{% test equal_rowcount(model, compare_model) %}
    with
    counts as (
        select
            (select count(*) from {{ model }}) as model_rows,
            (select count(*) from {{ compare_model }}) as compare_rows
    )

    select *
    from counts
    where model_rows != compare_rows
{% endtest %}
