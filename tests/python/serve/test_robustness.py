"""The server survives malformed, truncated and random input, many concurrent clients and
its connection limit; SSL and GSS encryption requests are answered as Postgres does."""

from __future__ import annotations

import random
import socket
import struct
import threading

import psycopg
import pytest

from analysis_py.serve import wire
from tests.python.serve.conftest import dsn


def _raw(server, data: bytes, read: bool = True) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)  # EOF: the server must cope with a truncated message
        if not read:
            return b""
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except (TimeoutError, ConnectionResetError):
            pass
        return out


def _startup(user="alice") -> bytes:
    body = (
        struct.pack("!i", wire.PROTOCOL_V3)
        + b"user\x00"
        + user.encode()
        + b"\x00database\x00opsmetrics\x00\x00"
    )
    return struct.pack("!i", len(body) + 4) + body


def _alive(server):
    with psycopg.connect(dsn(server), autocommit=True) as c:
        assert c.execute("select 42").fetchone() == (42,)


def test_ssl_and_gss_requests_refused_without_tls(server):
    assert _raw(server, struct.pack("!ii", 8, wire.SSL_REQUEST), read=False) == b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(struct.pack("!ii", 8, wire.SSL_REQUEST))
        assert s.recv(1) == b"N"
        s.sendall(struct.pack("!ii", 8, wire.GSSENC_REQUEST))
        assert s.recv(1) == b"N"
        s.sendall(_startup())
        assert s.recv(1) == b"R"  # authentication request follows
    _alive(server)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\x00\x00\x00\x04",
        b"\x00\x00\x00\x02junk",
        b"\xff\xff\xff\xff\x00\x00\x00\x00",
        struct.pack("!ii", 8, 12345678),
        struct.pack("!i", 100) + b"short",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        _startup()[:-5],
        _startup() + b"p\x00\x00\x00\x05",
        _startup() + b"p\xff\xff\xff\xffxxxx",
        _startup() + b"p\x00\x00\x00\x10SCRAM-SHA-256\x00\x00\x00\x00\x20n,,",
        _startup() + b"X\x00\x00\x00\x04",
    ],
)
def test_malformed_startup_does_not_hurt_the_server(server, payload):
    _raw(server, payload)
    _alive(server)


def test_random_bytes(server):
    rng = random.Random(7)
    for _ in range(30):
        _raw(server, bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))))
    _alive(server)


def test_malformed_messages_after_login(server):
    """A protocol violation after authentication closes only that connection."""
    with psycopg.connect(dsn(server), autocommit=True) as c:
        sock = socket.socket(fileno=c.pgconn.socket)
        try:
            sock.sendall(b"Z\x00\x00\x00\x04")  # not a frontend message
            sock.settimeout(5)
            data = sock.recv(4096)
        finally:
            sock.detach()
        assert data[:1] == b"E" and b"08P01" in data
    with psycopg.connect(dsn(server), autocommit=True) as c:
        sock = socket.socket(fileno=c.pgconn.socket)
        try:  # a Bind whose counts lie about its contents
            sock.sendall(b"B\x00\x00\x00\x0c\x00\x00\x00\x01\x00\x05\x00")
            sock.sendall(b"S\x00\x00\x00\x04")
            sock.settimeout(5)
            data = sock.recv(4096)
        finally:
            sock.detach()
        assert b"E" in data[:1]
    _alive(server)


def test_fifty_concurrent_clients(server):
    errors: list[BaseException] = []
    totals: list[int] = []

    def client(i: int):
        try:
            with psycopg.connect(
                dsn(server, user=["alice", "bob", "carol"][i % 3]), autocommit=True
            ) as c:
                for _ in range(5):
                    n = c.execute(
                        "select count(*) from dim_clients where client_id > %s", (0,)
                    ).fetchone()[0]
                totals.append(n)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    assert len(totals) == 50
    assert sorted(set(totals)) == [2, 4]  # bob sees EMEA clients only


def test_connection_limit(tmp_path):
    from analysis_py.serve.run import start_in_thread
    from tests.python.serve.conftest import serve_config
    from tests.python.serve.tiny import make_warehouse

    wh = make_warehouse(tmp_path)
    running = start_in_thread(serve_config(tmp_path, max_connections=2), wh)
    try:
        a = psycopg.connect(dsn(running))
        b = psycopg.connect(dsn(running))
        with pytest.raises(psycopg.OperationalError, match="too many clients"):
            psycopg.connect(dsn(running))
        a.close()
        with psycopg.connect(dsn(running)) as c:
            assert c.execute("select 1").fetchone() == (1,)
        b.close()
    finally:
        running.stop()


def test_statement_timeout_interrupts(tmp_path):
    from analysis_py.serve.run import start_in_thread
    from tests.python.serve.conftest import serve_config
    from tests.python.serve.tiny import make_warehouse

    wh = make_warehouse(tmp_path)
    running = start_in_thread(serve_config(tmp_path, statement_timeout=0.5, max_rows=100), wh)
    try:
        with psycopg.connect(dsn(running), autocommit=True) as c:
            with pytest.raises(psycopg.errors.QueryCanceled):
                c.execute("select count(*) from range(100000000000)")
            rows = c.execute("select * from range(1000)").fetchall()
            assert len(rows) == 100  # the server's row limit
    finally:
        running.stop()
