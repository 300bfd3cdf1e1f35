{#- Client references arrive as canonical CL000123 or legacy bare digits (123): both become
    the canonical 6-digit form. -#}
{% macro normalize_client_ref(column) -%}
    case
        when {{ column }} is null then null
        when upper(trim({{ column }})) like 'CL%' then upper(trim({{ column }}))
        else concat('CL', lpad(trim({{ column }}), 6, '0'))
    end
{%- endmacro %}
