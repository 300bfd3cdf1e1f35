"""Session settings: their defaults (``SHOW``, ``current_setting``, ``pg_settings``) and which
of them are reported with ParameterStatus."""

from __future__ import annotations

DEFAULT_SETTINGS = {
    "server_version": "15.0",
    "server_version_num": "150000",
    "server_encoding": "UTF8",
    "client_encoding": "UTF8",
    "datestyle": "ISO, MDY",
    "intervalstyle": "postgres",
    "timezone": "UTC",
    "integer_datetimes": "on",
    "standard_conforming_strings": "on",
    "is_superuser": "off",
    "application_name": "",
    "search_path": '"$user", main',
    "transaction_isolation": "read committed",
    "default_transaction_isolation": "read committed",
    "default_transaction_read_only": "on",
    "transaction_read_only": "on",
    "extra_float_digits": "1",
    "max_identifier_length": "63",
    "lc_collate": "C.UTF-8",
    "lc_ctype": "C.UTF-8",
    "lc_messages": "C.UTF-8",
    "lc_monetary": "C.UTF-8",
    "lc_numeric": "C.UTF-8",
    "lc_time": "C.UTF-8",
    "statement_timeout": "0",
    "bytea_output": "hex",
    "default_transaction_deferrable": "off",
    "max_connections": "100",
    "block_size": "8192",
    "session_authorization": "",
    "default_table_access_method": "heap",
    "in_hot_standby": "off",
    "max_index_keys": "32",
}

#: settings a PostgreSQL server reports with ParameterStatus: our name → the reported name
REPORTED = {
    "application_name": "application_name",
    "client_encoding": "client_encoding",
    "datestyle": "DateStyle",
    "intervalstyle": "IntervalStyle",
    "timezone": "TimeZone",
    "integer_datetimes": "integer_datetimes",
    "standard_conforming_strings": "standard_conforming_strings",
    "is_superuser": "is_superuser",
    "server_encoding": "server_encoding",
    "server_version": "server_version",
    "session_authorization": "session_authorization",
    "default_transaction_read_only": "default_transaction_read_only",
    "in_hot_standby": "in_hot_standby",
}


def reported(settings: dict[str, str], user: str) -> dict[str, str]:
    """The ParameterStatus values of a session at start-up."""
    out = {shown: settings.get(name, "") for name, shown in REPORTED.items()}
    out["session_authorization"] = user
    return out
