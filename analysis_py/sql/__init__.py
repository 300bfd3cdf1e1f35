"""SQL translation, pure: semantic SQL over ``metrics`` to metric requests (``semantic``), dbt's
JDBC ``{{ semantic_layer.query(...) }}`` syntax (``jdbc``), the read-only guard (``guard``) and
statement splitting (``split``). It imports nothing of the PostgreSQL emulation (``pg/``) or the
wire (``serve/``); the session in ``pg/`` calls it.
"""
