"""The Postgres wire-protocol server: protocol framing, SCRAM, types, the asyncio server."""
