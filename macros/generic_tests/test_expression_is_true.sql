{#- Fails on every row where a boolean business rule does not hold, e.g.
    "resolved_at >= opened_at" or "not is_stp or repair_minutes is null".
    A rule that evaluates to null (unknown) fails too: state null handling in the rule. -#}
{% test expression_is_true(model, expression, where=none) %}
    select *
    from {{ model }}
    where
        not coalesce(({{ expression }}), false)
        and ({{ where or 'true' }})
{% endtest %}
