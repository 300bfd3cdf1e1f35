"""``query_metrics`` through MCP vs the engine's own time for the same request.

On the published warehouse (``--warehouse``, default ``warehouse``), with the request's plan
cached (one warm-up call), it times per request:

- **engine**: ``Session.query_metrics`` plus reading the rows, in this process (the peer);
- **MCP, stdio**: the MCP SDK's client calling ``query_metrics`` on ``opsmetrics mcp``;
- **MCP, HTTP**: the same over streamable HTTP with a bearer token.

Reported: medians, and the MCP cost above the engine (median MCP − median engine). Target:
≤ 5 ms above the engine's own time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import anyio

from bench._record import record

ROOT = Path(__file__).resolve().parent.parent
REQUESTS = {
    "stp_rate by month": {
        "metrics": ["stp_rate"],
        "group_by": [{"name": "metric_time", "type": "TIME_DIMENSION", "grain": "MONTH"}],
    },
    "cases_opened by product, filtered": {
        "metrics": ["cases_opened"],
        "group_by": ["case__product"],
        "where": "{{ Dimension('case__channel') }} = 'email'",
    },
}
N = 30


def _engine_times(warehouse: Path, args: dict) -> list[float]:
    from analysis_py.agents import tools
    from analysis_py.pg import open_session

    s = open_session(warehouse)
    try:
        req = tools.request(**args)
        times = []
        for i in range(N + 1):
            t0 = time.perf_counter()
            tools.rows_json(s.query_metrics(**req), tools.DEFAULT_ROW_LIMIT)
            if i:  # the first call compiles the plan
                times.append(time.perf_counter() - t0)
        return times
    finally:
        s.close()
        s.engine.close()


async def _client_times(client, args: dict) -> list[float]:
    times = []
    for i in range(N + 1):
        t0 = time.perf_counter()
        r = await client.call_tool("query_metrics", args)
        assert not r.is_error, r.content[0].text
        if i:
            times.append(time.perf_counter() - t0)
    return times


def _stdio_times(warehouse: Path, exe: str) -> dict[str, list[float]]:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    async def go():
        params = StdioServerParameters(
            command=exe, args=["mcp", "--warehouse-dir", str(warehouse)], env={**os.environ}
        )
        async with Client(params) as c:
            return {name: await _client_times(c, args) for name, args in REQUESTS.items()}

    return anyio.run(go)


def _http_times(warehouse: Path, exe: str) -> dict[str, list[float]]:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = "bench-token-0123456789"
    proc = subprocess.Popen(
        [exe, "mcp", "--transport", "http", "--port", str(port), "--warehouse-dir", str(warehouse)],
        env={**os.environ, "OPSMETRICS_MCP_TOKEN": token},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.1)

        async def go():
            headers = {"Authorization": f"Bearer {token}"}
            url = f"http://127.0.0.1:{port}/mcp"
            async with (
                httpx2.AsyncClient(headers=headers) as hc,
                Client(streamable_http_client(url, http_client=hc)) as c,
            ):
                return {name: await _client_times(c, args) for name, args in REQUESTS.items()}

        return anyio.run(go)
    finally:
        proc.terminate()
        proc.wait(10)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--warehouse", type=Path, default=ROOT / "warehouse")
    a = ap.parse_args(argv)
    warehouse = a.warehouse.resolve()
    exe = str(Path(sys.executable).with_name("opsmetrics"))
    engine = {name: _engine_times(warehouse, args) for name, args in REQUESTS.items()}
    stdio = _stdio_times(warehouse, exe)
    http = _http_times(warehouse, exe)
    ms = lambda xs: statistics.median(xs) * 1000  # noqa: E731
    rows = []
    worst = 0.0
    for name in REQUESTS:
        e, s, h = ms(engine[name]), ms(stdio[name]), ms(http[name])
        worst = max(worst, s - e, h - e)
        rows.append(
            f"| {name} | {e:.1f} ms | {s:.1f} ms (+{s - e:.1f}) | {h:.1f} ms (+{h - e:.1f}) |"
        )
    md = (
        "`python -m bench.bench_mcp`: `query_metrics` through `opsmetrics mcp` with the MCP "
        f"SDK's client, median of {N} calls after one warm-up (the plan cached), on the scale-1 "
        "build; the peer is the engine's own time for the same request in-process "
        "(`Session.query_metrics` and the rows as JSON).\n\n"
        "| request | engine | MCP over stdio (cost above) | MCP over HTTP (cost above) |\n"
        "| --- | --- | --- | --- |\n" + "\n".join(rows) + "\n\n"
        f"The most MCP adds is **{worst:.1f} ms** per call (target ≤ 5 ms): JSON-RPC framing, "
        "the argument validation and the hop to a worker thread; HTTP adds the request and the "
        "bearer-token check.\n"
    )
    print(md)
    record("MCP server", md)


if __name__ == "__main__":
    main()
