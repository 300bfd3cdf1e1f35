"""SQL translation, pure: semantic SQL and dbt's JDBC syntax to metric requests, the
read-only guard, statement splitting."""
