"""``opsmetrics mcp`` with the MCP SDK's own client, over stdio and streamable HTTP, on a
warehouse built with dbt from the semantic fixture project: every tool, the answers against
the semantic layer run directly and against ``opsmetrics query``, and what a restricted role
is refused, as through the Postgres wire."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx2
import pytest
import yaml
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from analysis_py.agents.server import token_hash
from analysis_py.serve.scram import make_verifier
from tests.python.security.conftest import GB_METRICS, ROLES, ROW_POLICIES
from tests.python.sql.conftest import sl_warehouse  # noqa: F401  (the shared dbt build)

OPSMETRICS = str(Path(sys.executable).with_name("opsmetrics"))
TOKENS = {u: f"{u}-token-0123456789abcdef" for u in ("admin", "gb", "narrow")}
#: every tool: dbt-mcp's semantic-layer tools and the ones it lacks
DBT_MCP_TOOLS = {
    "list_metrics",
    "list_saved_queries",
    "get_dimensions",
    "get_entities",
    "get_dimension_values",
    "query_metrics",
    "get_metrics_compiled_sql",
}
EXTRA_TOOLS = {"run_saved_query", "get_analysis_result", "describe_mart", "list_marts"}


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("mcp") / "serve.yml"
    data = {
        "row_policies": ROW_POLICIES,
        "roles": ROLES,
        "users": {
            u: {"password": make_verifier("pw"), "role": u, "token": token_hash(t)}
            for u, t in TOKENS.items()
        },
    }
    path.write_text(yaml.safe_dump(data))
    return path


def stdio(config, warehouse, user: str) -> Client:
    return Client(
        StdioServerParameters(
            command=OPSMETRICS,
            args=["mcp", "--config", str(config), "--as", user, "--warehouse-dir", str(warehouse)],
            env={**os.environ},
        )
    )


def call(client_factory, tool: str, args: dict | None = None):
    """One tool call on a fresh connection: (is_error, text)."""

    async def go():
        async with client_factory() as c:
            r = await c.call_tool(tool, args or {})
            return r.is_error, r.content[0].text if r.content else ""

    return anyio.run(go)


def direct(sl_warehouse, **kw):  # noqa: F811
    """The same request compiled by the semantic layer and run on the build file directly."""
    from analysis_py.semantic import SemanticLayer

    target = next((sl_warehouse / "builds").glob("*.target"))
    sl = SemanticLayer.from_manifest(
        target / "semantic_manifest.json", str(next((sl_warehouse / "builds").glob("*.duckdb")))
    )
    return [tuple(r) for r in sl.query(**kw).fetchall()]


def test_every_tool_over_stdio(config, sl_warehouse):  # noqa: F811
    async def go():
        async with stdio(config, sl_warehouse, "admin") as c:
            names = {t.name for t in (await c.list_tools()).tools}
            assert names >= DBT_MCP_TOOLS | EXTRA_TOOLS
            out = {}
            calls = {
                "list_metrics": {"search": "order total"},
                "list_saved_queries": {},
                "get_dimensions": {"metrics": ["order_total"]},
                "get_entities": {"metrics": ["order_total"]},
                "get_dimension_values": {
                    "dimension": "customer__country",
                    "metrics": ["order_total"],
                },
                "query_metrics": {
                    "metrics": ["order_total", "completion_rate"],
                    "group_by": [
                        {"name": "metric_time", "type": "TIME_DIMENSION", "grain": "MONTH"},
                        {"name": "customer__country", "type": "DIMENSION"},
                    ],
                    "order_by": [{"name": "metric_time", "grain": "month"}, "customer__country"],
                    "where": "{{ Dimension('customer__country') }} <> 'XX'",
                },
                "get_metrics_compiled_sql": {
                    "metrics": ["order_total"],
                    "group_by": ["customer__country"],
                },
                "run_saved_query": {"name": "orders_by_region"},
                "get_analysis_result": {},
                "describe_mart": {"name": "dim_customers"},
                "list_marts": {},
            }
            for tool, args in calls.items():
                r = await c.call_tool(tool, args)
                assert not r.is_error, (tool, r.content[0].text)
                out[tool] = r.content[0].text
            resources = {str(r.uri) for r in (await c.list_resources()).resources}
            assert {"opsmetrics://metrics", "opsmetrics://marts"} <= resources
            marts = json.loads((await c.read_resource("opsmetrics://marts")).contents[0].text)
            assert "dim_customers" in {m["name"] for m in marts}
            return out

    out = anyio.run(go)
    metrics = json.loads(out["list_metrics"])
    assert {m["name"] for m in metrics} == {"order_total", "order_total_filled"} | {
        m["name"] for m in metrics if "order total" in (m["label"] or "").lower()
    }
    assert all(set(m) == {"name", "type", "label", "description", "metadata"} for m in metrics)
    dims = json.loads(out["get_dimensions"])
    time_dim = next(d for d in dims if d["name"] == "metric_time")
    assert time_dim["type"] == "TIME" and "MONTH" in time_dim["granularities"]
    values = json.loads(out["get_dimension_values"])
    expected_values = sorted(
        r[0] for r in direct(sl_warehouse, metrics=["order_total"], group_by=["customer__country"])
    )
    assert values == {"values": expected_values, "truncated": False}
    rows = json.loads(out["query_metrics"])
    want = direct(
        sl_warehouse,
        metrics=["order_total", "completion_rate"],
        group_by=["metric_time__month", "customer__country"],
        where=["{{ Dimension('customer__country') }} <> 'XX'"],
        order_by=["metric_time__month", "customer__country"],
    )
    assert [(r["metric_time__month"][:10], r["customer__country"]) for r in rows] == [
        (str(w[0])[:10], w[1]) for w in want
    ]
    for r, w in zip(rows, want, strict=True):
        assert r["order_total"] == pytest.approx(float(w[2]))
        assert r["completion_rate"] == pytest.approx(float(w[3]) if w[3] is not None else None)
    assert "select" in out["get_metrics_compiled_sql"].lower()
    mart = json.loads(out["describe_mart"])
    country = next(c for c in mart["columns"] if c["name"] == "country")
    assert country["pii_masked"] is False  # admin is granted PII
    assert json.loads(out["get_analysis_result"]) == {"runs": []}


def test_query_metrics_equals_opsmetrics_query(config, sl_warehouse, tmp_path):  # noqa: F811
    target = next((sl_warehouse / "builds").glob("*.target"))
    db = next((sl_warehouse / "builds").glob("*.duckdb"))
    out = tmp_path / "q.csv"
    p = subprocess.run(
        [OPSMETRICS, "query", "--manifest", str(target / "semantic_manifest.json"),
         "--database", str(db), "--metrics", "order_total,order_count",
         "--group-by", "customer__region", "--order", "customer__region", "--csv", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    with out.open() as f:
        cli = [
            (r["customer__region"], float(r["order_total"]), int(r["order_count"]))
            for r in csv.DictReader(f)
        ]
    err, text = call(
        lambda: stdio(config, sl_warehouse, "admin"),
        "query_metrics",
        {
            "metrics": ["order_total", "order_count"],
            "group_by": ["customer__region"],
            "order_by": ["customer__region"],
        },
    )
    assert not err, text
    got = [(r["customer__region"], r["order_total"], r["order_count"]) for r in json.loads(text)]
    assert [str(g[0]) for g in got] == [c[0] for c in cli]
    for g, c in zip(got, cli, strict=True):
        assert g[1] == pytest.approx(c[1]) and g[2] == c[2]


# ------------------------------------------------------------------------------ HTTP


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def http_server(config, sl_warehouse):  # noqa: F811
    port = _free_port()
    log = config.parent / "mcp-http.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [OPSMETRICS, "mcp", "--transport", "http", "--port", str(port), "--config", str(config),
             "--warehouse-dir", str(sl_warehouse)],
            stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}/mcp"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            break
        assert proc.poll() is None, log.read_text()
        time.sleep(0.1)
    yield url, log
    proc.terminate()
    proc.wait(10)


@contextlib.asynccontextmanager
async def http(url: str, token: str | None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers) as hc,
        Client(streamable_http_client(url, http_client=hc)) as c,
    ):
        yield c


def test_http_needs_a_valid_token(http_server):
    url, _log = http_server
    for token in (None, "not-a-token-of-anyone", TOKENS["gb"] + "x"):
        r = httpx2.post(
            url,
            headers={
                **({"Authorization": f"Bearer {token}"} if token else {}),
                "Accept": "application/json, text/event-stream",
                "Content-Type": "application/json",
            },
            content=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        )
        assert r.status_code == 401, (token, r.status_code, r.text)


def test_restricted_role_over_http_sees_its_rows_and_no_pii(http_server, sl_warehouse):  # noqa: F811
    url, log = http_server

    def gb():
        return http(url, TOKENS["gb"])

    err, text = call(gb, "list_metrics")
    assert not err, text
    assert {m["name"] for m in json.loads(text)} == set(GB_METRICS)
    err, text = call(
        gb, "query_metrics", {"metrics": ["order_total"], "group_by": ["customer__country"]}
    )
    assert not err, text
    rows = json.loads(text)
    gb_total = dict(direct(sl_warehouse, metrics=["order_total"], group_by=["customer__country"]))[
        "GB"
    ]
    assert [r["customer__country"] for r in rows] == ["****"]  # PII masked, one country left
    assert rows[0]["order_total"] == pytest.approx(float(gb_total))
    err, text = call(gb, "query_metrics", {"metrics": ["order_total"]})
    assert json.loads(text)[0]["order_total"] == pytest.approx(float(gb_total))
    err, text = call(
        gb, "get_dimension_values", {"dimension": "customer__country", "metrics": ["order_total"]}
    )
    assert json.loads(text) == {"values": ["****"], "truncated": False}
    err, text = call(gb, "describe_mart", {"name": "dim_customers"})
    country = next(c for c in json.loads(text)["columns"] if c["name"] == "country")
    assert country["pii_masked"] is True
    # admin over the same server sees every country
    err, text = call(
        lambda: http(url, TOKENS["admin"]),
        "query_metrics",
        {"metrics": ["order_total"], "group_by": ["customer__country"]},
    )
    assert len(json.loads(text)) > 1
    assert "Traceback" not in log.read_text()


@pytest.mark.parametrize(
    "user,tool,args,message",
    [
        ("gb", "query_metrics", {"metrics": ["net_total"]}, "permission denied"),
        ("gb", "get_dimensions", {"metrics": ["visits"]}, "not granted"),
        ("gb", "run_saved_query", {"name": "orders_by_region"}, "permission denied"),
        ("narrow", "describe_mart", {"name": "dim_customers"}, "no mart named"),
        (
            "narrow",
            "get_metrics_compiled_sql",
            {"metrics": ["completion_rate"]},
            "permission denied",
        ),
        (
            "gb",
            "query_metrics",
            {
                "metrics": ["order_total"],
                "where": "{{ Metric('net_total', group_by=['customer']) }} > 0",
            },
            "permission denied",
        ),
    ],
)
def test_denials_over_http(http_server, user, tool, args, message):
    url, log = http_server
    err, text = call(lambda: http(url, TOKENS[user]), tool, args)
    assert err and message in text, text
    assert "Traceback" not in text and "Traceback" not in log.read_text()


@pytest.mark.parametrize(
    "args",
    [
        {
            "metrics": ["order_total"],
            "where": "{{ Dimension('customer__country') }} in (select country from dim_customers)",
        },
        {"metrics": ["order_total"], "where": "read_csv('/etc/passwd') is not null"},
        {"metrics": ["order_total"], "where": "1=1; drop table fct_orders"},
        {"metrics": ["order_total"], "group_by": ['customer__country"; select 1; --']},
        {
            "metrics": ["order_total"],
            "group_by": [
                {"name": "metric_time", "type": "TIME_DIMENSION", "grain": "day'); select ('"}
            ],
        },
        {"metrics": ["order_total"], "order_by": [{"name": "order_total desc; select 1"}]},
        {"metrics": ["order_total"], "limit": -1},
        {"metrics": "order_total; select 1"},
    ],
)
def test_injection_through_tool_arguments_is_refused(http_server, args):
    url, log = http_server
    err, text = call(lambda: http(url, TOKENS["gb"]), "query_metrics", args)
    assert err, text
    assert text.count("ERROR") or "validation error" in text.lower(), text
    for secret in ("/etc/", "root:", "role_", "_sem"):
        assert secret not in text.split("\n", 1)[0].replace(json.dumps(args), ""), text
    assert "Traceback" not in log.read_text()


# ------------------------------------------------------------------------------ config


def _cfg(users: dict):
    from analysis_py.serve.config import load_config

    return load_config(data={"server": {"port": 0}, "roles": {"r": {"marts": "*"}}, "users": users})


def test_config_tokens_are_hashes_and_a_token_only_user_cannot_log_in_over_the_wire(sl_warehouse):  # noqa: F811
    import psycopg

    from analysis_py.errors import ConfigError
    from analysis_py.serve.run import start_in_thread

    cfg = _cfg({"agent": {"role": "r", "token": token_hash("agent-token-0123456789")}})
    assert cfg.users["agent"].verifier is None
    for bad, message in [
        ({"role": "r", "token": "agent-token-0123456789"}, "sha256:<64 hex digits>"),
        ({"role": "r", "token": "sha256:abc"}, "sha256:<64 hex digits>"),
        ({"role": "r"}, "needs password (a SCRAM verifier) or token"),
        ({"role": "r", "tokne": "x"}, "unknown keys ['tokne']"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            _cfg({"agent": bad})
    running = start_in_thread(cfg, sl_warehouse)
    try:
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(
                f"host=127.0.0.1 port={running.port} dbname=opsmetrics user=agent "
                "password=agent-token-0123456789 sslmode=disable"
            )
    finally:
        running.stop()


def test_mcp_command_refuses_bad_setups_clearly(config, sl_warehouse, tmp_path):  # noqa: F811
    cases = [
        (["mcp", "--as", "gb"], "--as needs --config"),
        (["mcp", "--config", str(config)], "pass --as USER with --config"),
        (
            ["mcp", "--config", str(config), "--as", "mallory"],
            "user 'mallory' is not in the config",
        ),
        (["mcp", "--transport", "http"], "OPSMETRICS_MCP_TOKEN"),
    ]
    env = {k: v for k, v in os.environ.items() if k != "OPSMETRICS_MCP_TOKEN"}
    for args, message in cases:
        p = subprocess.run(
            [OPSMETRICS, *args, "--warehouse-dir", str(sl_warehouse)],
            capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert p.returncode != 0 and message in p.stderr, (args, p.stderr)
        assert "Traceback" not in p.stderr


def test_resources_are_governed_too(http_server):
    url, log = http_server

    async def go():
        async with http(url, TOKENS["narrow"]) as c:
            marts = json.loads((await c.read_resource("opsmetrics://marts")).contents[0].text)
            mart = json.loads(
                (await c.read_resource("opsmetrics://marts/fct_orders")).contents[0].text
            )
            try:
                await c.read_resource("opsmetrics://marts/dim_customers")
            except Exception as exc:  # an MCP error, the engine's message in it
                refused = str(exc)
            else:
                refused = ""
            return marts, mart, refused

    marts, mart, refused = anyio.run(go)
    assert [m["name"] for m in marts] == ["fct_orders"]
    assert mart["name"] == "fct_orders" and mart["columns"]
    assert "no mart named 'dim_customers'" in refused
    assert "Traceback" not in log.read_text()
