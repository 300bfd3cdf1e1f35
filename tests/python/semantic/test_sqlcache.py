"""The on-disk SQL cache of `opsmetrics query` is keyed by the compiler's code as well as the
manifest: after an upgrade or a fix, no SQL compiled by the old code is served."""

from __future__ import annotations

import os

from analysis_py.semantic import sqlcache


def test_the_key_follows_the_code(monkeypatch):
    req = {"metrics": ["m"], "group_by": ["metric_time"]}
    before = sqlcache.key("digest", "duckdb", req)
    assert before == sqlcache.key("digest", "duckdb", req)
    monkeypatch.setattr(sqlcache, "_FINGERPRINT", "another-version-of-the-compiler")
    assert sqlcache.key("digest", "duckdb", req) != before


def test_the_fingerprint_reads_the_semantic_modules(tmp_path, monkeypatch):
    monkeypatch.setattr(sqlcache, "_FINGERPRINT", None)
    first = sqlcache.code_fingerprint()
    pkg = os.path.dirname(sqlcache.__file__)
    assert len(first) == 16 and any(n.endswith(".py") for n in os.listdir(pkg))
    monkeypatch.setattr(sqlcache, "_FINGERPRINT", None)
    assert sqlcache.code_fingerprint() == first  # stable while the code is unchanged
