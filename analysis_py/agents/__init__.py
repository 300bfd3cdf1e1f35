"""Agents: the governed metrics as Model Context Protocol tools and resources.

- ``tools``: what each tool does, as plain functions on one role's session (dbt-mcp's
  semantic-layer tools with their names, arguments and result shapes, and the tools dbt-mcp
  lacks: a saved query's rows, an analysis result, a mart's description);
- ``server``: the MCP server over stdio and streamable HTTP, who the caller is (a configured
  user, or a bearer token mapped to one) and the tool errors agents see.

Every tool runs through :class:`analysis_py.pg.session.Session` as the caller's role: the same
grants, PII masking, row policies, read-only guard and row limit as the Postgres server.
"""
