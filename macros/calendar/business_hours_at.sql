{#- Cumulative business hours up to a local timestamp (docs/raw_data.md):
    bh(t) = cum_business_hours_before(local_date(t))
            + (is_business_day ? clamp(local_time_of_day(t) - 9h, 0, 8h) : 0).
    `calendar` is the alias of a row of int_business_days_indexed joined on the client's
    country and the local date of the timestamp; business_hours_between(a, b) = bh(b) - bh(a). -#}
{% macro business_hours_at(local_timestamp, calendar, day_start_hour=9, day_hours=8) -%}
    (
        {{ calendar }}.cum_business_hours_before
        + case
            when {{ calendar }}.is_business_day
                then least(
                    greatest(
                        cast({{ dbt.datediff('cast(cast(' ~ local_timestamp ~ ' as date) as timestamp)', local_timestamp, 'second') }} as double)
                        / 3600.0
                        - {{ day_start_hour }},
                        0
                    ),
                    {{ day_hours }}
                )
            else 0
        end
    )
{%- endmacro %}
