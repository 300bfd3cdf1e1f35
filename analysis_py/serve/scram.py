"""SCRAM-SHA-256 (RFC 5802 / RFC 7677) server side, as PostgreSQL implements it.

Passwords are never stored: a user's entry holds a verifier in PostgreSQL's own format,
``SCRAM-SHA-256$<iterations>:<salt b64>$<StoredKey b64>:<ServerKey b64>``, which is what
``make_verifier`` returns and what ``pg_authid.rolpassword`` would hold. Channel binding is
not offered (the client is told ``n`` / no ``-PLUS`` mechanism).

>>> v = make_verifier("s3cret", salt=b"0123456789abcdef", iterations=4096)
>>> v.startswith("SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$")
True
>>> parse_verifier(v).iterations
4096
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import unicodedata
from dataclasses import dataclass

MECHANISM = "SCRAM-SHA-256"
DEFAULT_ITERATIONS = 4096


class ScramError(Exception):
    """Authentication failed or the exchange was malformed."""


@dataclass(frozen=True)
class Verifier:
    iterations: int
    salt: bytes
    stored_key: bytes
    server_key: bytes


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _hmac(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hashlib.sha256).digest()


def _saslprep(password: str) -> str:
    # PostgreSQL applies SASLprep and falls back to the raw bytes when it fails; NFKC
    # normalisation is the part that matters for ordinary passwords.
    return unicodedata.normalize("NFKC", password)


def make_verifier(
    password: str, *, salt: bytes | None = None, iterations: int = DEFAULT_ITERATIONS
) -> str:
    """The stored form of a password (safe to keep in a config file)."""
    if not password:
        raise ValueError("empty password")
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", _saslprep(password).encode(), salt, iterations)
    client_key = _hmac(salted, b"Client Key")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = _hmac(salted, b"Server Key")
    return f"{MECHANISM}${iterations}:{_b64(salt)}${_b64(stored_key)}:{_b64(server_key)}"


def parse_verifier(text: str) -> Verifier:
    try:
        mech, params, keys = text.split("$")
        iters, salt = params.split(":")
        stored, server = keys.split(":")
        if mech != MECHANISM:
            raise ValueError(mech)
        return Verifier(
            int(iters), base64.b64decode(salt), base64.b64decode(stored), base64.b64decode(server)
        )
    except ValueError as exc:
        raise ValueError(
            "not a SCRAM-SHA-256 verifier (expected SCRAM-SHA-256$<iter>:<salt>$<stored>:<server>)"
        ) from exc


def _attrs(message: str) -> dict[str, str]:
    out = {}
    for part in message.split(","):
        if len(part) < 2 or part[1] != "=":
            raise ScramError(f"malformed SCRAM attribute {part!r}")
        out[part[0]] = part[2:]
    return out


class ScramExchange:
    """One server-side exchange: ``first(client_first) -> server_first``,
    ``final(client_final) -> server_final`` (raises :class:`ScramError` on a bad proof).

    An unknown user gets a mock verifier so that the exchange looks the same and fails at
    the proof, as PostgreSQL does (no user enumeration).
    """

    def __init__(self, verifier: Verifier | None):
        self.known = verifier is not None
        self.v = verifier or Verifier(
            DEFAULT_ITERATIONS, os.urandom(16), os.urandom(32), os.urandom(32)
        )
        self._client_first_bare = ""
        self._server_first = ""
        self._nonce = ""

    def first(self, client_first: bytes) -> bytes:
        text = client_first.decode("utf-8", "replace")
        if not text.startswith(("n,", "y,")):
            raise ScramError("channel binding is not supported; use gs2 header 'n,,'")
        try:
            _, _authzid, bare = text.split(",", 2)
        except ValueError as exc:
            raise ScramError("malformed client-first-message") from exc
        attrs = _attrs(bare)
        if "r" not in attrs:
            raise ScramError("client nonce missing")
        self._client_first_bare = bare
        self._nonce = attrs["r"] + base64.b64encode(os.urandom(18)).decode()
        self._server_first = f"r={self._nonce},s={_b64(self.v.salt)},i={self.v.iterations}"
        return self._server_first.encode()

    def final(self, client_final: bytes) -> bytes:
        text = client_final.decode("utf-8", "replace")
        without_proof, sep, proof_b64 = text.rpartition(",p=")
        if not sep:
            raise ScramError("client proof missing")
        attrs = _attrs(without_proof)
        if attrs.get("r") != self._nonce:
            raise ScramError("nonce mismatch")
        if attrs.get("c") not in ("biws", "eSws"):  # base64 of "n,," / "y,,"
            raise ScramError("unsupported channel binding")
        auth_message = f"{self._client_first_bare},{self._server_first},{without_proof}".encode()
        try:
            proof = base64.b64decode(proof_b64, validate=True)
        except ValueError as exc:
            raise ScramError("malformed proof") from exc
        signature = _hmac(self.v.stored_key, auth_message)
        if len(proof) != len(signature):
            raise ScramError("password authentication failed")
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        ok = hmac.compare_digest(hashlib.sha256(client_key).digest(), self.v.stored_key)
        if not (ok and self.known):
            raise ScramError("password authentication failed")
        server_sig = _hmac(self.v.server_key, auth_message)
        return f"v={_b64(server_sig)}".encode()
