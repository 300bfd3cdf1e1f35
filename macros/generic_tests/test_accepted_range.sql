{#- Fails on rows whose value lies outside [min_value, max_value] (bounds optional;
    exclusive when inclusive=false). Nulls pass: pair with not_null where they must not occur. -#}
{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true, where=none) %}
{% set below = column_name ~ (' < ' if inclusive else ' <= ') ~ min_value %}
{% set above = column_name ~ (' > ' if inclusive else ' >= ') ~ max_value %}
    select *
    from {{ model }}
    where
        {{ column_name }} is not null
        and (
            {{ below if min_value is not none else 'false' }}
            or {{ above if max_value is not none else 'false' }}
        )
        and ({{ where or 'true' }})
{% endtest %}
