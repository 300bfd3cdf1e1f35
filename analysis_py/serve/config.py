"""Server configuration: listen address, limits, TLS, users, roles, grants, row policies.

See ``config/serve.example.yml`` for an annotated example. Passwords are stored as SCRAM
verifiers only (``opsmetrics serve --hash-password`` makes one); a plain ``password:`` is
refused so that a config file never holds a usable secret.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from analysis_py.errors import ConfigError
from analysis_py.pg.governance import Grants, Role, RowPolicy
from analysis_py.serve import wire
from analysis_py.serve.scram import make_verifier, parse_verifier
from analysis_py.warehouse.result_cache import DEFAULT_BYTES as DEFAULT_RESULT_CACHE_BYTES

DEFAULT_THREADS = max(1, min(4, os.cpu_count() or 1))
DEFAULT_MEMORY_LIMIT = "1GB"
_MEMORY = re.compile(r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.I)

#: a user's MCP bearer token as stored in the config: its SHA-256, never the token
TOKEN_HASH = re.compile(r"sha256:[0-9a-f]{64}")


def check_memory_limit(value: str | None, what: str = "server.memory_limit") -> str | None:
    """A DuckDB memory size such as ``1GB`` or ``512MiB`` (anything else is refused: the
    value ends up in a SET statement)."""
    if value is None:
        return None
    if not isinstance(value, str) or not _MEMORY.match(value):
        raise ConfigError(
            f"{what}: {value!r} is not a memory size", hint="write e.g. 1GB, 512MB or 2GiB"
        )
    return value.strip()


@dataclass(frozen=True)
class User:
    name: str
    verifier: str | None  # SCRAM-SHA-256 verifier of the password; None: no wire login
    role: str
    #: ``sha256:<hex>`` of the bearer token the MCP server accepts for this user
    token_sha256: str | None = None


@dataclass
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 5433
    database: str = "opsmetrics"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    max_connections: int = 64
    statement_timeout: float = 60.0  # seconds; 0 = none
    max_rows: int = 1_000_000  # per result; 0 = none
    poll_interval: float = 1.0  # seconds between checks for a new published build
    query_log: Path | None = None
    #: the query log is rotated at this size, keeping this many old files (0 = no log cap)
    query_log_max_bytes: int = 64 << 20
    query_log_backups: int = 3
    #: bytes of metric query results kept for repeated requests (0 = no result cache)
    result_cache_bytes: int = DEFAULT_RESULT_CACHE_BYTES
    #: answer metric requests from the build's rollups where they can (false: always marts)
    rollups: bool = True
    #: DuckDB's threads and memory for all queries of this server together
    threads: int | None = DEFAULT_THREADS
    memory_limit: str | None = DEFAULT_MEMORY_LIMIT
    #: seconds a client has from connecting to being authenticated (PostgreSQL's
    #: authentication_timeout); connections still authenticating are capped separately
    authentication_timeout: float = 10.0
    max_pending: int = 128
    #: seconds a failed login is answered late, doubling per consecutive failure of the
    #: same user up to auth_failure_max_delay (PostgreSQL's auth_delay, growing)
    auth_failure_delay: float = 0.5
    auth_failure_max_delay: float = 8.0
    max_message_bytes: int = wire.MAX_MESSAGE
    users: dict[str, User] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)

    def users_by_role(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for u in self.users.values():
            out.setdefault(u.role, []).append(u.name)
        return out


def _num(d: dict, key: str, default, cast, what: str, *, low=None, high=None, above=None):
    """A number from the config, with its range checked (``above``: strictly greater)."""
    v = d.get(key, default)
    if isinstance(v, bool):
        raise ConfigError(f"{what}.{key}: expected a number, got {v!r}")
    try:
        n = cast(v) if v is not None else None
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{what}.{key}: expected a number, got {v!r}") from None
    if n is None:
        return None
    if (
        n != n
        or (low is not None and n < low)
        or (high is not None and n > high)
        or (above is not None and n <= above)
    ):
        bounds = (
            f"greater than {above}"
            if above is not None
            else f"between {low} and {high}"
            if high is not None
            else f"at least {low}"
        )
        raise ConfigError(f"{what}.{key}: must be {bounds}, got {v!r}")
    return n


SERVER_KEYS = frozenset(
    {
        "host",
        "port",
        "database",
        "tls",
        "max_connections",
        "statement_timeout",
        "max_rows",
        "poll_interval",
        "query_log",
        "query_log_max_bytes",
        "query_log_backups",
        "result_cache_bytes",
        "rollups",
        "threads",
        "memory_limit",
        "authentication_timeout",
        "max_pending",
        "auth_failure_delay",
        "auth_failure_max_delay",
        "max_message_bytes",
    }
)


def _flag(d: dict, key: str, default: bool) -> bool:
    v = d.get(key, default)
    if not isinstance(v, bool):
        raise ConfigError(f"server.{key} must be true or false, got {v!r}")
    return v


def load_config(path: str | Path | None = None, data: dict | None = None) -> ServeConfig:
    """Read and validate a serve config (YAML file or already-parsed mapping)."""
    if data is None:
        if path is None:
            raise ConfigError("no serve config given", hint="pass --config FILE or use --demo")
        p = Path(path)
        if not p.is_file():
            raise ConfigError(
                f"serve config {p} does not exist", hint="copy config/serve.example.yml and edit it"
            )
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p}: invalid YAML: {exc}") from None
        base = p.parent
    else:
        base = Path.cwd()
    if not isinstance(data, dict):
        raise ConfigError("serve config must be a mapping")
    unknown = set(data) - {"server", "users", "roles", "row_policies"}
    if unknown:
        raise ConfigError(
            f"serve config: unknown sections {sorted(unknown)}",
            hint="expected server, users, roles, row_policies",
        )
    srv = data.get("server") or {}
    if not isinstance(srv, dict):
        raise ConfigError("server: expected a mapping of settings")
    unknown = set(srv) - SERVER_KEYS
    if unknown:
        raise ConfigError(
            f"server: unknown settings {sorted(unknown)}",
            hint=f"known: {', '.join(sorted(SERVER_KEYS))}",
        )
    d = ServeConfig()
    cfg = ServeConfig(
        host=str(srv.get("host", d.host)),
        port=_num(srv, "port", d.port, int, "server", low=0, high=65535),
        database=str(srv.get("database", d.database)),
        max_connections=_num(
            srv, "max_connections", d.max_connections, int, "server", low=1, high=10000
        ),
        statement_timeout=_num(
            srv, "statement_timeout", d.statement_timeout, float, "server", low=0
        ),
        max_rows=_num(srv, "max_rows", d.max_rows, int, "server", low=0),
        poll_interval=_num(srv, "poll_interval", d.poll_interval, float, "server", above=0),
        threads=_num(srv, "threads", d.threads, int, "server", low=1, high=1024),
        memory_limit=check_memory_limit(srv.get("memory_limit", d.memory_limit)),
        query_log_max_bytes=_num(
            srv, "query_log_max_bytes", d.query_log_max_bytes, int, "server", low=0
        ),
        query_log_backups=_num(
            srv, "query_log_backups", d.query_log_backups, int, "server", low=0, high=100
        ),
        result_cache_bytes=_num(
            srv, "result_cache_bytes", d.result_cache_bytes, int, "server", low=0
        ),
        rollups=_flag(srv, "rollups", d.rollups),
        authentication_timeout=_num(
            srv, "authentication_timeout", d.authentication_timeout, float, "server", above=0
        ),
        max_pending=_num(srv, "max_pending", d.max_pending, int, "server", low=1, high=100000),
        auth_failure_delay=_num(
            srv, "auth_failure_delay", d.auth_failure_delay, float, "server", low=0
        ),
        auth_failure_max_delay=_num(
            srv, "auth_failure_max_delay", d.auth_failure_max_delay, float, "server", low=0
        ),
        max_message_bytes=_num(
            srv, "max_message_bytes", d.max_message_bytes, int, "server", low=1024, high=1 << 30
        ),
    )
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$-]{0,62}", cfg.database):
        raise ConfigError(
            f"server.database: {cfg.database!r} is not a valid database name",
            hint="letters, digits, _ and -, starting with a letter",
        )
    tls = srv.get("tls") or {}
    if tls:
        if not tls.get("cert") or not tls.get("key"):
            raise ConfigError("server.tls needs both cert and key")
        cfg.tls_cert = (base / os.path.expandvars(tls["cert"])).resolve()
        cfg.tls_key = (base / os.path.expandvars(tls["key"])).resolve()
    if srv.get("query_log"):
        cfg.query_log = (base / os.path.expandvars(str(srv["query_log"]))).resolve()

    policies: dict[str, RowPolicy] = {}
    for name, spec in (data.get("row_policies") or {}).items():
        if not isinstance(spec, dict) or "table" not in spec or "filter" not in spec:
            raise ConfigError(f"row_policies.{name}: needs table and filter (and usually key)")
        policies[name] = RowPolicy(name, spec["table"], spec["filter"], spec.get("key"))

    for name, spec in (data.get("roles") or {}).items():
        spec = spec or {}
        unknown = set(spec) - {"marts", "metrics", "analysis", "pii", "row_policies", "description"}
        if unknown:
            raise ConfigError(f"roles.{name}: unknown keys {sorted(unknown)}")
        missing = [p for p in spec.get("row_policies") or [] if p not in policies]
        if missing:
            raise ConfigError(f"roles.{name}: unknown row policies {missing}")
        if not name.replace("_", "").isalnum():
            raise ConfigError(f"role name {name!r}: use letters, digits and underscores")
        if (
            spec.get("row_policies")
            and Grants.parse(spec.get("analysis", []), name).names != frozenset()
        ):
            raise ConfigError(
                f"roles.{name}: a role with row policies cannot be granted analysis results",
                hint="analysis results are computed over every row, so they would show this role "
                "data its row policies hide; remove `analysis:` from the role (or its row policies)",
            )
        cfg.roles[name] = Role(
            name=name,
            marts=Grants.parse(spec.get("marts", []), f"roles.{name}.marts"),
            metrics=Grants.parse(spec.get("metrics", []), f"roles.{name}.metrics"),
            analysis=Grants.parse(spec.get("analysis", []), f"roles.{name}.analysis"),
            pii=Grants.parse(spec.get("pii", False), f"roles.{name}.pii"),
            row_policies=tuple(policies[p] for p in spec.get("row_policies") or []),
        )

    for name, spec in (data.get("users") or {}).items():
        spec = spec or {}
        if "password" in spec and not str(spec["password"]).startswith("SCRAM-SHA-256$"):
            raise ConfigError(
                f"users.{name}.password must be a SCRAM-SHA-256 verifier, not a plain password",
                hint="make one with: opsmetrics serve --hash-password (reads the password from stdin)",
            )
        unknown = set(spec) - {"password", "verifier", "role", "token"}
        if unknown:
            raise ConfigError(
                f"users.{name}: unknown keys {sorted(unknown)}",
                hint="expected password, role, token",
            )
        verifier = spec.get("password") or spec.get("verifier")
        token = spec.get("token")
        if not verifier and not token:
            raise ConfigError(
                f"users.{name}: needs password (a SCRAM verifier) or token (for the MCP server)",
                hint="opsmetrics serve --hash-password / opsmetrics mcp --new-token",
            )
        if verifier:
            try:
                parse_verifier(verifier)
            except ValueError as exc:
                raise ConfigError(f"users.{name}.password: {exc}") from None
        if token is not None and not TOKEN_HASH.fullmatch(str(token)):
            raise ConfigError(
                f"users.{name}.token must be sha256:<64 hex digits> (the token's hash, never the "
                "token itself)",
                hint="make a token and its hash with: opsmetrics mcp --new-token",
            )
        role = spec.get("role")
        if role not in cfg.roles:
            raise ConfigError(f"users.{name}: role {role!r} is not defined under roles")
        cfg.users[name] = User(name, verifier or None, role, str(token) if token else None)
    if not cfg.users:
        raise ConfigError("serve config defines no users")
    return cfg


def demo_config(password: str | None, **server) -> ServeConfig:
    """One user ``demo``: every public mart and metric, no PII."""
    if not password:
        raise ConfigError(
            "OPSMETRICS_PASSWORD is not set",
            hint="export OPSMETRICS_PASSWORD=... (the demo user's password) and run again",
        )
    return load_config(
        data={
            "server": server,
            "roles": {"demo": {"marts": "*", "metrics": "*", "analysis": "*", "pii": False}},
            "users": {"demo": {"password": make_verifier(password), "role": "demo"}},
        }
    )
