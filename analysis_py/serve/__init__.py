"""The wire: PostgreSQL's frontend/backend protocol, TLS, SCRAM authentication and COPY
framing, over the ``pg/`` session."""
