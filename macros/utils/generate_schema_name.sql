{#- Folders map to plain schemas (staging, intermediate, seeds); marts stay in the target
    schema (main) where the semantic layer, the server and the analyses read them. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
