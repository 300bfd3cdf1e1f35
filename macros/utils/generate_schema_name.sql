{#- Folders map to plain schemas (staging, intermediate, seeds) and marts stay in the target
    schema (main), where the semantic layer, the server and the analyses read them. A build
    into any other target schema (a Spark cluster's schema per build, a developer's own schema)
    keeps every folder inside it, dbt's own convention: <schema>_staging, <schema>_seeds. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- elif target.schema == 'main' -%}
        {{ custom_schema_name | trim }}
    {%- else -%}
        {{ target.schema }}_{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
