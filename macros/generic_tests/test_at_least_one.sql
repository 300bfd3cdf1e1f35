{#- The column has at least one non-null value (catches a source read that silently returned
    nothing, or a join key that never matches). -#}
{% test at_least_one(model, column_name) %}
    select 'no non-null value' as failure
    from (select count({{ column_name }}) as filled from {{ model }}) as counted
    where counted.filled = 0
{% endtest %}
