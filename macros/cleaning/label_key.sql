{#- The join key of every label-mapping seed: lower-cased, trimmed free text. -#}
{% macro label_key(column) -%}
    lower(trim({{ column }}))
{%- endmacro %}
