"""The server under attack: a normal client's latency while it is flooded, and memory when a
client asks for a huge result.

The server runs as its own process (``opsmetrics serve --config``) over a small published
warehouse. Peer, in the same run: the same client on the same server with no attack. The
attacks are bounded and aim only at 127.0.0.1: half-open connections (a StartupMessage and
nothing else), password guessing, and 18 kB scripts of 2,000 statements.

Run: ``python -m bench.bench_security``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import statistics
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

from bench._record import record
from bench.bench_serve import Server

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _latencies(server: Server, n: int) -> list[float]:
    out = []
    with psycopg.connect(server.dsn, autocommit=True) as c:
        for _ in range(n):
            t0 = time.perf_counter()
            c.execute("select count(*) from dim_clients").fetchone()
            out.append(time.perf_counter() - t0)
            time.sleep(0.002)
    return sorted(out)


def _attack(server: Server, stop: threading.Event) -> list[threading.Thread]:
    def flood():
        body = struct.pack("!i", 196608) + b"user\x00nobody\x00database\x00opsmetrics\x00\x00"
        while not stop.is_set():
            socks = []
            for _ in range(20):
                with contextlib.suppress(OSError):
                    s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
                    s.sendall(struct.pack("!i", len(body) + 4) + body)
                    socks.append(s)
            time.sleep(0.2)
            for s in socks:
                s.close()

    def guesser():
        while not stop.is_set():
            with contextlib.suppress(psycopg.OperationalError):
                psycopg.connect(
                    server.dsn.replace("user=bench", "user=other").replace(
                        "password=bench", "password=x"
                    )
                )

    def scripts():
        while not stop.is_set():
            with psycopg.connect(server.dsn, autocommit=True) as c:
                c.execute("select 1;" * 2000)

    threads = [threading.Thread(target=f, daemon=True) for f in (flood, guesser, scripts)]
    for t in threads:
        t.start()
    return threads


def _pct(xs: list[float], q: float) -> float:
    return xs[min(len(xs) - 1, int(len(xs) * q))] * 1000


def main(argv: list[str] | None = None) -> None:
    from tests.python.serve.tiny import make_warehouse

    load = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="bench-security-"))
    try:
        wh = make_warehouse(tmp / "tiny", n_payments=20000)
        server = Server(wh, tmp, server={"max_rows": 1000}, users=("bench", "other"))
        try:
            quiet = _latencies(server, 500)
            stop = threading.Event()
            threads = _attack(server, stop)
            time.sleep(1.0)
            loud = _latencies(server, 500)
            stop.set()
            for t in threads:
                t.join(30)
            rss0 = _rss_mb(server.proc.pid)
            peak = [rss0]
            done = threading.Event()

            def sample():
                while not done.is_set():
                    peak.append(_rss_mb(server.proc.pid))
                    time.sleep(0.02)

            sampler = threading.Thread(target=sample)
            sampler.start()
            t0 = time.perf_counter()
            with psycopg.connect(server.dsn, autocommit=True) as c:
                rows = c.execute(
                    "select x, repeat('z', 40) || x::varchar from range(40000000) t(x)"
                ).fetchall()
            huge_s = time.perf_counter() - t0
            done.set()
            sampler.join()
        finally:
            server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    lines = [
        "| measure | quiet server | under attack | ratio |",
        "| --- | ---: | ---: | ---: |",
        f"| normal client round trip, median | {statistics.median(quiet) * 1000:.2f} ms | "
        f"{statistics.median(loud) * 1000:.2f} ms | {statistics.median(loud) / statistics.median(quiet):.1f}× |",
        f"| normal client round trip, p99 | {_pct(quiet, 0.99):.2f} ms | {_pct(loud, 0.99):.2f} ms | "
        f"{_pct(loud, 0.99) / _pct(quiet, 0.99):.1f}× |",
        "",
        "| measure | value |",
        "| --- | ---: |",
        f"| 40M-row query with `max_rows: 1000`: rows returned | {len(rows):,} |",
        f"| same: time | {huge_s:.2f} s |",
        f"| same: server RSS before → peak | {rss0:.0f} → {max(peak):.0f} MB |",
    ]
    body = (
        "`python -m bench.bench_security`: the server in its own process over a small warehouse; "
        "500 round trips of `select count(*) from dim_clients` from one client, first on a quiet "
        "server, then while three attackers run at once (waves of 20 half-open connections, "
        "password guessing, scripts of 2,000 statements). Target: p99 ≤ 50 ms under attack; "
        "server RSS under the configured bound (default ≤ 2 GB) for any single result. "
        f"1-minute load average at the start: {load:.1f}.\n\n" + "\n".join(lines)
    )
    record("Server under attack", body)
    print(body)


if __name__ == "__main__":
    main(sys.argv[1:])
