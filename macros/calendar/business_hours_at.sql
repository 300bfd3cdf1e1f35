{#- Cumulative business hours up to a local timestamp (docs/raw_data.md):
    bh(t) = cum_business_hours_before(local_date(t))
            + (is_business_day ? clamp(local_time_of_day(t) - start, 0, hours_per_day) : 0).
    `calendar` is the alias of a row of int_business_days_indexed joined on the client's
    country and the local date of the timestamp; business_hours_between(a, b) = bh(b) - bh(a).
    The opening hours (09:00-17:00 for every calendar today) come from seed country_calendars. -#}
{% macro business_hours_at(local_timestamp, calendar) -%}
    (
        {{ calendar }}.cum_business_hours_before
        + case
            when {{ calendar }}.is_business_day
                then least(
                    greatest(
                        cast({{ dbt.datediff('cast(cast(' ~ local_timestamp ~ ' as date) as timestamp)', local_timestamp, 'second') }} as double)
                        / 3600.0
                        - {{ calendar }}.business_day_start_hour,
                        0
                    ),
                    {{ calendar }}.business_hours_per_day
                )
            else 0
        end
    )
{%- endmacro %}
