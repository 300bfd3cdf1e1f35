"""The result cache of metric queries: a repeated request is answered from memory with the
same rows, never across roles whose grants, masking or row policies differ, never with the
previous build's answer after a publish; and the Python API's cache on a read-only file."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import duckdb
import psycopg
import pytest

from analysis_py.serve.run import start_in_thread
from analysis_py.warehouse.result_cache import ResultCache
from tests.python.sql.conftest import (  # noqa: F401  (sl_warehouse: the shared dbt build)
    governed_config,
    private_build,
    publish_private,
    sl_warehouse,
)

REPO = Path(__file__).resolve().parents[3]
QUERIES = [
    "select customer__country, order_total, completion_rate from metrics group by 1 order by 1",
    "select metric_time__month, order_count from metrics group by 1 order by 1",
]


def _config(**server):
    return governed_config(poll_interval=0.1, **server)


def _copy_warehouse(src: Path, dest: Path) -> Path:
    """A private published warehouse holding a copy of the shared build (this test publishes)."""
    wh, db, target = private_build(src, dest, "sl0001")
    publish_private(wh, "sl0001", db, target)
    return wh


def _rows(port, user, sql, binary=False):
    with psycopg.connect(
        f"host=127.0.0.1 port={port} dbname=opsmetrics user={user} password=pw sslmode=disable",
        autocommit=True,
    ) as c:
        return c.cursor(binary=binary).execute(sql).fetchall()


def test_a_repeated_metric_query_comes_from_the_cache_with_the_same_rows(sl_warehouse):  # noqa: F811
    running = start_in_thread(_config(), sl_warehouse)
    uncached = start_in_thread(_config(result_cache_bytes=0), sl_warehouse)
    try:
        cache = running.engine.results
        assert not uncached.engine.results.enabled
        for sql in QUERIES:
            for binary in (False, True):
                truth = _rows(uncached.port, "admin", sql, binary)
                first = _rows(running.port, "admin", sql, binary)
                hits = cache.hits
                again = _rows(running.port, "admin", sql, binary)
                assert cache.hits == hits + 1
                assert first == again == truth
        assert len(uncached.engine.results) == 0
    finally:
        running.stop()
        uncached.stop()


def test_roles_never_share_cached_results(sl_warehouse):  # noqa: F811
    running = start_in_thread(_config(), sl_warehouse)
    try:
        sql = QUERIES[0]
        answers = {}
        for _round in range(2):  # the second round is served from the cache
            for user in ("admin", "gb", "nopii"):
                rows = _rows(running.port, user, sql)
                assert answers.setdefault(user, rows) == rows
        assert len(answers["admin"]) > 1  # every country
        assert [r[0] for r in answers["gb"]] == ["****"]  # one country, masked
        assert {r[0] for r in answers["nopii"]} == {"****"}  # masked, every country's rows
        assert answers["nopii"] != answers["admin"]
        assert len(running.engine.results) == 3  # one entry per role
    finally:
        running.stop()


def test_a_publish_drops_the_cache_and_readers_get_the_new_answer(sl_warehouse, tmp_path):  # noqa: F811
    wh = _copy_warehouse(sl_warehouse, tmp_path)
    running = start_in_thread(_config(), wh)
    try:
        sql = "select order_count, order_total from metrics"
        before = _rows(running.port, "admin", sql)
        assert _rows(running.port, "admin", sql) == before  # cached
        old_gen = running.engine.current.alias
        db = next((wh / "builds").glob("*.duckdb"))
        new_db = wh / "builds" / "sl0002.duckdb"
        shutil.copy(db, new_db)
        con = duckdb.connect(str(new_db))
        con.execute("delete from fct_orders where order_id % 2 = 0")
        con.close()
        target = next((wh / "builds").glob("*.target"))
        shutil.copytree(target, wh / "builds" / "sl0002.target")
        publish_private(wh, "sl0002", new_db, wh / "builds" / "sl0002.target")
        deadline = time.monotonic() + 20
        while running.engine.current.alias == old_gen and time.monotonic() < deadline:
            time.sleep(0.05)
        assert running.engine.current.alias != old_gen
        after = _rows(running.port, "admin", sql)
        con = duckdb.connect(str(new_db), read_only=True)
        want = con.execute("select count(*), sum(amount) from fct_orders").fetchone()
        con.close()
        assert after[0][0] == want[0] and float(after[0][1]) == pytest.approx(float(want[1]))
        assert after != before
        assert all(k[0] == running.engine.current.alias for k in running.engine.results._entries)
    finally:
        running.stop()


def test_the_python_api_caches_results_of_a_read_only_file(sl_warehouse, tmp_path):  # noqa: F811
    from analysis_py.semantic import SemanticLayer

    target = next((sl_warehouse / "builds").glob("*.target"))
    db = next((sl_warehouse / "builds").glob("*.duckdb"))
    cache = ResultCache(64 << 20)
    sl = SemanticLayer.from_manifest(target / "semantic_manifest.json", str(db), result_cache=cache)
    plain = SemanticLayer.from_manifest(target / "semantic_manifest.json", str(db))
    req = {
        "metrics": ["order_total", "order_count"],
        "group_by": ["customer__country"],
        "order_by": ["customer__country"],
    }
    first = sl.query(**req).fetchall()
    assert sl.query(**req).fetchall() == first
    assert cache.hits == 1 and len(cache) == 1
    assert [(r[0], float(r[1]), r[2]) for r in first] == [
        (r[0], float(r[1]), r[2]) for r in plain.query(**req).fetchall()
    ]
    assert sl.query(**req).to_arrow().equals(sl.query(**req).to_arrow())
    # a writable file can change under the cache: not cached
    copy = tmp_path / "rw.duckdb"
    shutil.copy(db, copy)
    rw = SemanticLayer.from_manifest(
        target / "semantic_manifest.json",
        duckdb.connect(str(copy)),
        result_cache=ResultCache(1 << 20),
    )
    rw.query(**req).fetchall()
    rw.query(**req).fetchall()
    assert len(rw.results) == 0


def test_the_cache_is_bounded_by_bytes():
    import pyarrow as pa

    cache = ResultCache(40_000)
    table = pa.table({"x": list(range(1000))})  # 8 kB
    for i in range(10):
        assert cache.put("b1", i, (), table)
    assert cache.nbytes <= 40_000 and len(cache) < 10
    assert cache.get("b1", 9) is not None and cache.get("b1", 0) is None  # least recent dropped
    assert not cache.put("b1", "big", (), pa.table({"x": list(range(5000))}))  # > a quarter
    kept = len(cache)
    assert cache.retain("b2") == kept  # a publish of build b2 drops b1's entries
    assert len(cache) == 0 and cache.nbytes == 0
