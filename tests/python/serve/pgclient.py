"""A minimal Postgres protocol client for tests that libpq cannot express (Execute with a row
limit, Flush, Close, raw message sequences). Client-side SCRAM-SHA-256 per RFC 5802."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import socket
import struct


def _msg(tag: bytes, payload: bytes) -> bytes:
    return tag + struct.pack("!i", len(payload) + 4) + payload


def _c(s: str) -> bytes:
    return s.encode() + b"\x00"


class RawClient:
    def __init__(self, port: int, user: str, password: str, database: str = "opsmetrics"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        try:
            body = struct.pack("!i", 196608) + _c("user") + _c(user) + _c("database")
            body += _c(database) + b"\x00"
            self.sock.sendall(struct.pack("!i", len(body) + 4) + body)
            self._scram(user, password)
            self.params: dict[str, str] = {}
            self.until_ready()
        except BaseException:  # a refused login leaves no open socket behind
            self.sock.close()
            raise

    # -- io
    def _read(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("server closed the connection")
            out += chunk
        return out

    def read(self) -> tuple[bytes, bytes]:
        head = self._read(5)
        (n,) = struct.unpack("!i", head[1:])
        return head[:1], self._read(n - 4)

    def send(self, *messages: bytes) -> None:
        self.sock.sendall(b"".join(messages))

    def until(self, *tags: bytes) -> list[tuple[bytes, bytes]]:
        out = []
        while True:
            tag, payload = self.read()
            if tag == b"S":
                k, v, _ = payload.split(b"\x00", 2)
                self.params[k.decode()] = v.decode()
            out.append((tag, payload))
            if tag in tags:
                return out

    def until_ready(self) -> list[tuple[bytes, bytes]]:
        return self.until(b"Z")

    # -- auth
    def _scram(self, user: str, password: str) -> None:
        tag, payload = self.read()
        assert tag == b"R" and struct.unpack("!i", payload[:4])[0] == 10, (tag, payload)
        nonce = base64.b64encode(os.urandom(18)).decode()
        first_bare = f"n=,r={nonce}"
        data = ("n,," + first_bare).encode()
        self.send(_msg(b"p", _c("SCRAM-SHA-256") + struct.pack("!i", len(data)) + data))
        tag, payload = self.read()
        assert tag == b"R" and struct.unpack("!i", payload[:4])[0] == 11, (tag, payload)
        server_first = payload[4:].decode()
        attrs = dict(p.split("=", 1) for p in server_first.split(","))
        salted = hashlib.pbkdf2_hmac(
            "sha256", password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"])
        )
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored = hashlib.sha256(client_key).digest()
        without_proof = f"c=biws,r={attrs['r']}"
        auth = f"{first_bare},{server_first},{without_proof}".encode()
        sig = hmac.new(stored, auth, hashlib.sha256).digest()
        proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, sig, strict=True)))
        self.send(_msg(b"p", f"{without_proof},p={proof.decode()}".encode()))
        tag, payload = self.read()
        if tag == b"E":
            raise PermissionError(payload.decode(errors="replace"))
        assert tag == b"R" and struct.unpack("!i", payload[:4])[0] == 12
        tag, payload = self.read()
        assert tag == b"R" and struct.unpack("!i", payload[:4])[0] == 0

    # -- extended protocol messages
    @staticmethod
    def parse(name: str, sql: str, oids: list[int] = ()) -> bytes:
        return _msg(
            b"P",
            _c(name)
            + _c(sql)
            + struct.pack("!h", len(oids))
            + b"".join(struct.pack("!i", o) for o in oids),
        )

    @staticmethod
    def bind(
        portal: str, stmt: str, params: list[bytes | None] = (), pformats=(), rformats=()
    ) -> bytes:
        body = _c(portal) + _c(stmt) + struct.pack("!h", len(pformats))
        body += b"".join(struct.pack("!h", f) for f in pformats)
        body += struct.pack("!h", len(params))
        for p in params:
            body += struct.pack("!i", -1) if p is None else struct.pack("!i", len(p)) + p
        body += struct.pack("!h", len(rformats)) + b"".join(struct.pack("!h", f) for f in rformats)
        return _msg(b"B", body)

    @staticmethod
    def describe(kind: bytes, name: str) -> bytes:
        return _msg(b"D", kind + _c(name))

    @staticmethod
    def execute(portal: str, max_rows: int = 0) -> bytes:
        return _msg(b"E", _c(portal) + struct.pack("!i", max_rows))

    @staticmethod
    def close(kind: bytes, name: str) -> bytes:
        return _msg(b"C", kind + _c(name))

    SYNC = _msg(b"S", b"")
    FLUSH = _msg(b"H", b"")
    TERMINATE = _msg(b"X", b"")

    def close_socket(self) -> None:
        try:
            self.send(self.TERMINATE)
        finally:
            self.sock.close()


def data_rows(messages: list[tuple[bytes, bytes]]) -> list[list[bytes | None]]:
    rows = []
    for tag, payload in messages:
        if tag != b"D":
            continue
        (n,) = struct.unpack_from("!h", payload)
        pos, vals = 2, []
        for _ in range(n):
            (ln,) = struct.unpack_from("!i", payload, pos)
            pos += 4
            if ln < 0:
                vals.append(None)
            else:
                vals.append(payload[pos : pos + ln])
                pos += ln
        rows.append(vals)
    return rows
