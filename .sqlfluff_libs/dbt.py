"""Stand-ins for dbt's cross-database macros (``dbt.dateadd`` …) so sqlfluff's jinja templater
can render models without a dbt connection. They return SQL of the same shape as dbt-duckdb's
implementations; only linting uses them, dbt itself never imports this file."""


def dateadd(datepart, interval, from_date_or_timestamp):
    return f"({from_date_or_timestamp} + cast({interval} as bigint) * interval 1 {datepart})"


def datediff(first_date, second_date, datepart):
    return f"date_diff('{datepart}', {first_date}, {second_date})"


def date_trunc(datepart, date):
    return f"date_trunc('{datepart}', {date})"


def type_string():
    return "varchar"


def type_timestamp():
    return "timestamp"


def current_timestamp():
    return "current_timestamp"


def date_spine(datepart, start_date, end_date):
    return (
        f"select cast(range as date) as date_{datepart} "
        f"from range({start_date}, {end_date}, interval 1 {datepart})"
    )
