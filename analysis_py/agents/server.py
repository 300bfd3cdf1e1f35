"""The MCP server: the agent tools and catalog resources over stdio or streamable HTTP, each
call answered as the caller's role.

Who the caller is:

- **stdio**: the process's user, fixed at start (``--config FILE --as USER``, or the local
  user, who holds the warehouse file and reads everything, as ``opsmetrics sql``);
- **HTTP**: the bearer token of each request. A config's user carries ``token:
  sha256:<hex>`` (the token's hash); without a config, ``$OPSMETRICS_MCP_TOKEN`` is the local
  user's token. A request without a valid token gets 401 and never reaches a tool.

Tool errors are MCP tool errors (``isError``) whose text is the engine's message and hint,
as psql shows them; nothing of a traceback reaches the client or the log.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import inspect
import json
import logging
import os
import secrets
import typing
from collections.abc import Callable
from dataclasses import dataclass

import anyio.to_thread
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.types import ToolAnnotations

from analysis_py.agents import tools
from analysis_py.errors import ConfigError, OpsMetricsError
from analysis_py.pg.governance import Role
from analysis_py.pg.session import Session

log = logging.getLogger("opsmetrics.mcp")

#: environment variable holding the local user's bearer token over HTTP (no config)
TOKEN_ENV = "OPSMETRICS_MCP_TOKEN"

INSTRUCTIONS = """\
Governed operations metrics (client service cases, payments, digital platform usage,
incidents). Find metrics with list_metrics, what they can be grouped by with get_dimensions,
then query_metrics. Filters use MetricFlow's syntax, e.g.
{{ Dimension('payment__rail') }} = 'SWIFT'. Time: group by
{"name": "metric_time", "type": "TIME_DIMENSION", "grain": "MONTH"}. Saved queries are
curated requests; analyses (get_analysis_result) hold findings already computed; describe_mart
explains a table. You see only what your role is granted."""


def token_hash(token: str) -> str:
    """How a config stores a bearer token: ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh bearer token and its hash for the config."""
    token = "opsm_" + secrets.token_urlsafe(32)
    return token, token_hash(token)


@dataclass(frozen=True)
class Caller:
    user: str
    role: Role


class Identities:
    """Users and their roles; on HTTP, which user a bearer token belongs to."""

    def __init__(self, users: dict[str, Caller], tokens: dict[str, str], fixed: str | None):
        self.users = users
        self._tokens = tokens  # token hash -> user
        self.fixed = fixed  # stdio: the one user of this process

    async def verify_token(self, token: str) -> AccessToken | None:
        digest = token_hash(token)
        user = next((u for h, u in self._tokens.items() if hmac.compare_digest(h, digest)), None)
        if user is None:
            return None
        return AccessToken(token=token, client_id=user, scopes=[], subject=user)

    def current(self) -> Caller:
        if self.fixed is not None:
            return self.users[self.fixed]
        token = get_access_token()
        if token is None or token.client_id not in self.users:  # the middleware stops these
            raise ToolError("not authenticated: send Authorization: Bearer <token>")
        return self.users[token.client_id]


def identities(config=None, as_user: str | None = None, *, http: bool, env=None) -> Identities:
    """The callers of a server: a serve config's users (stdio: ``as_user`` among them), or the
    local user (HTTP: with the token in ``$OPSMETRICS_MCP_TOKEN``)."""
    from analysis_py.pg.governance import LOCAL_ROLE

    env = os.environ if env is None else env
    if config is None:
        local = {"local": Caller("local", LOCAL_ROLE)}
        if not http:
            return Identities(local, {}, "local")
        token = env.get(TOKEN_ENV, "")
        if len(token) < 16:
            raise ConfigError(
                f"HTTP needs a bearer token: set ${TOKEN_ENV} (16 characters or more) or pass "
                "--config with users that have a token",
                hint="make one with: opsmetrics mcp --new-token",
            )
        return Identities(local, {token_hash(token): "local"}, None)
    users = {u.name: Caller(u.name, config.roles[u.role]) for u in config.users.values()}
    if not http:
        if as_user not in users:
            raise ConfigError(
                f"user {as_user!r} is not in the config"
                if as_user
                else "stdio with --config needs --as USER",
                hint="the MCP server over stdio answers as one user: --config serve.yml --as alice",
            )
        return Identities(users, {}, as_user)
    tokens = {u.token_sha256: u.name for u in config.users.values() if u.token_sha256}
    if not tokens:
        raise ConfigError(
            "no user of the config has a token: HTTP clients could not authenticate",
            hint="add token: sha256:… to a user (opsmetrics mcp --new-token makes one)",
        )
    return Identities(users, tokens, None)


def _message(exc: OpsMetricsError) -> str:
    hint = getattr(exc, "hint", None)
    state = getattr(exc, "sqlstate", None)
    text = f"ERROR: {exc.message if hasattr(exc, 'message') else exc}"
    if state:
        text += f" (SQLSTATE {state})"
    return text + (f"\nHINT: {hint}" if hint else "")


def _governed(engine, ids: Identities, max_rows: int, fn: Callable) -> Callable:
    """``fn(session, **args)`` as an async MCP tool: the caller's session, run off the event
    loop; the result as one JSON text, errors as tool errors with the engine's message and
    hint."""

    async def tool(**kwargs):
        caller = ids.current()

        def call():
            session = Session(engine, caller.user, caller.role, max_rows=max_rows)
            try:
                out = fn(session, **kwargs)
            finally:
                session.close()
            return out if isinstance(out, str) else json.dumps(out, default=str)

        try:
            return await anyio.to_thread.run_sync(call)
        except ToolError:
            raise
        except OpsMetricsError as exc:
            raise ToolError(_message(exc)) from None
        except Exception as exc:  # a bug: one line in the log, a plain message to the agent
            log.error("tool %s failed: %s: %s", fn.__name__, type(exc).__name__, exc)
            raise ToolError(f"internal error in {fn.__name__} ({type(exc).__name__})") from None

    hints = typing.get_type_hints(fn)
    params = [
        p.replace(annotation=hints.get(p.name, p.annotation))
        for p in list(inspect.signature(fn).parameters.values())[1:]  # without the session
    ]
    tool.__signature__ = inspect.Signature(params, return_annotation=str)
    tool.__annotations__ = {p.name: p.annotation for p in params} | {"return": str}
    tool.__name__ = tool.__qualname__ = fn.__name__
    tool.__doc__ = fn.__doc__
    return tool


#: tool name → (function, title); descriptions come from the functions' docstrings
TOOLS: dict[str, tuple[Callable, str]] = {
    "list_metrics": (tools.list_metrics, "List metrics"),
    "list_saved_queries": (tools.list_saved_queries, "List saved queries"),
    "get_dimensions": (tools.get_dimensions, "Get dimensions"),
    "get_entities": (tools.get_entities, "Get entities"),
    "get_dimension_values": (tools.get_dimension_values, "Get dimension values"),
    "query_metrics": (tools.query_metrics, "Query metrics"),
    "get_metrics_compiled_sql": (tools.get_metrics_compiled_sql, "Compile metrics SQL"),
    "run_saved_query": (tools.run_saved_query, "Run a saved query"),
    "get_analysis_result": (tools.get_analysis_result, "Get an analysis result"),
    "describe_mart": (tools.describe_mart, "Describe a mart"),
    "list_marts": (tools.list_marts, "List marts"),
}


def build_server(
    engine,
    ids: Identities,
    *,
    max_rows: int = 1_000_000,
    host: str = "127.0.0.1",
    port: int = 8765,
) -> MCPServer:
    """The MCP server over ``engine`` for the callers in ``ids``."""
    auth = None
    verifier = None
    if ids.fixed is None:  # HTTP: every request carries a bearer token
        url = f"http://{host}:{port}"
        auth = AuthSettings(
            issuer_url=url, resource_server_url=f"{url}/mcp", validate_token_resource=False
        )
        verifier = ids
    server = MCPServer(
        name="opsmetrics",
        title="opsmetrics governed metrics",
        instructions=INSTRUCTIONS,
        token_verifier=verifier,
        auth=auth,
        log_level="WARNING",
    )
    read_only = ToolAnnotations(
        read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
    )
    for name, (fn, title) in TOOLS.items():
        server.add_tool(
            _governed(engine, ids, max_rows, fn),
            name=name,
            title=title,
            description=inspect.cleandoc(fn.__doc__ or ""),
            annotations=read_only,
        )
    _resources(server, engine, ids, max_rows)
    return server


def _resources(server: MCPServer, engine, ids: Identities, max_rows: int) -> None:
    """The catalog as resources, so a client can browse it without a tool call."""

    def as_caller(fn):
        caller = ids.current()
        session = Session(engine, caller.user, caller.role, max_rows=max_rows)
        try:
            return json.dumps(fn(session), default=str, indent=1)
        except OpsMetricsError as exc:
            raise ResourceError(_message(exc)) from None
        except ToolError as exc:
            raise ResourceError(str(exc)) from None
        except Exception as exc:  # a bug: one line in the log, a plain message to the client
            log.error("resource failed: %s: %s", type(exc).__name__, exc)
            raise ResourceError(f"internal error ({type(exc).__name__})") from None
        finally:
            session.close()

    static = {
        "metrics": (
            "The metrics you may query: name, type, label, description.",
            tools.list_metrics,
        ),
        "dimensions": (
            "What your metrics can be grouped by, with time grains.",
            lambda s: tools.get_dimensions(s, []),
        ),
        "saved-queries": (
            "Curated metric requests you may run with run_saved_query.",
            tools.list_saved_queries,
        ),
        "marts": (
            "The marts (governed tables) you may read, with their descriptions.",
            tools.list_marts,
        ),
    }
    for name, (description, fn) in static.items():
        server.resource(
            f"opsmetrics://{name}", name=name, mime_type="application/json", description=description
        )(functools.partial(as_caller, fn))

    @server.resource(
        "opsmetrics://marts/{name}", name="mart", mime_type="application/json",
        description="One mart: columns, descriptions, tests and lineage.",
    )  # fmt: skip
    def mart(name: str) -> str:
        return as_caller(lambda s: tools.describe_mart(s, name))
