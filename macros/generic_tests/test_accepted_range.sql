{#- Fails on rows whose value lies outside [min_value, max_value] (bounds optional;
    exclusive when inclusive=false). Nulls pass: pair with not_null where they must not occur. -#}
{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true, where=none) %}
    select *
    from {{ model }}
    where
        {{ column_name }} is not null
        and (
            1 = 0
            {%- if min_value is not none %}
                or {{ column_name }} {{ '<' if inclusive else '<=' }} {{ min_value }}
            {%- endif %}
            {%- if max_value is not none %}
                or {{ column_name }} {{ '>' if inclusive else '>=' }} {{ max_value }}
            {%- endif %}
        )
        {%- if where %}
            and ({{ where }})
        {%- endif %}
{% endtest %}
