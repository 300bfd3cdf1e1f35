{#- Keep the latest landing of each business key: raw tables re-land rows with the same key and
    a later _loaded_at. Written with row_number in a subquery (no QUALIFY, no DISTINCT ON) so it
    runs unchanged on Spark. -#}
{% macro deduplicate_latest(relation, partition_by, order_by='_loaded_at desc, _load_id desc') -%}
    select deduplicated.*
    from (
        select
            landed.*,
            row_number() over (
                partition by {{ partition_by }}
                order by {{ order_by }}
            ) as landing_rank
        from {{ relation }} as landed
    ) as deduplicated
    where deduplicated.landing_rank = 1
{%- endmacro %}
