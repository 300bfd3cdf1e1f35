"""Serving across publishes: a new build is picked up without errors or mixed reads, a
failed build leaves the last good one serving, old generations are detached."""

from __future__ import annotations

import os
import threading
import time

import psycopg

from analysis_py.serve.run import start_in_thread
from tests.python.serve.conftest import dsn, serve_config
from tests.python.serve.tiny import make_warehouse, publish_build

CHECK = (
    "select (select min(build_marker) from dim_clients), (select max(build_marker) from "
    "dim_clients), min(build_marker), max(build_marker), count(*) from fct_payments"
)


def _attached(running) -> set[str]:
    cur = running.engine.con.cursor()
    try:
        return {
            r[0]
            for r in cur.execute("select database_name from duckdb_databases()").fetchall()
            if r[0].startswith("gen_")
        }
    finally:
        cur.close()


def _wait(pred, timeout=15.0):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_publish_during_reads_no_errors_no_mixed_reads(tmp_path):
    wh = make_warehouse(tmp_path, n_payments=1000)
    running = start_in_thread(serve_config(tmp_path), wh)
    stop = threading.Event()
    seen: list[tuple] = []
    errors: list[BaseException] = []

    def reader(user):
        try:
            with psycopg.connect(dsn(running, user=user), autocommit=True) as c:
                while not stop.is_set():
                    seen.append((user, c.execute(CHECK).fetchone()))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(u,)) for u in ("alice", "alice", "bob")]
    for t in threads:
        t.start()
    try:
        for k in range(2, 5):
            time.sleep(0.4)
            publish_build(wh, f"b{k:04d}", n_payments=1000 * k, marker=k)
            assert _wait(lambda k=k: running.engine.current.path.name == f"b{k:04d}.duckdb")
        time.sleep(0.4)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
        running.stop()
    assert not errors, errors[:3]
    markers = set()
    for user, (dmin, dmax, fmin, fmax, n) in seen:
        assert dmin == dmax == fmin == fmax, (user, dmin, dmax, fmin, fmax)
        expected = 1000 * fmin if user == "alice" else 1000 * fmin // 2  # bob: EMEA half
        assert n == expected, (user, fmin, n)
        markers.add(fmin)
    assert markers == {1, 2, 3, 4}
    assert len(seen) > 20


def test_failed_build_keeps_serving_and_old_generations_detach(tmp_path):
    wh = make_warehouse(tmp_path, n_payments=1000)
    running = start_in_thread(serve_config(tmp_path), wh)
    try:
        with psycopg.connect(dsn(running), autocommit=True) as c:
            assert c.execute(CHECK).fetchone()[2] == 1
            # a "build" that is not a DuckDB file gets published: serving must go on
            bad = wh / "builds" / "bbad.duckdb"
            bad.write_bytes(b"not a duckdb file" * 100)
            tmp_link = wh / ".bad.tmp"
            tmp_link.symlink_to(os.path.relpath(bad, wh))
            os.replace(tmp_link, wh / "opsmetrics.duckdb")
            time.sleep(0.6)
            assert c.execute(CHECK).fetchone()[2] == 1
            assert running.engine.current.path.name == "b0001.duckdb"
            publish_build(wh, "b0002", n_payments=2000, marker=2)
            assert _wait(lambda: running.engine.current.path.name == "b0002.duckdb")
            assert c.execute(CHECK).fetchone()[2:] == (2, 2, 2000)
            assert _wait(lambda: _attached(running) == {running.engine.current.alias})
    finally:
        running.stop()


def test_portal_keeps_its_generation_until_closed(tmp_path):
    """A half-read cursor finishes on the build it started on; then the old one detaches."""
    wh = make_warehouse(tmp_path, n_payments=3000)
    running = start_in_thread(serve_config(tmp_path), wh)
    try:
        with psycopg.connect(dsn(running)) as c:
            with c.cursor(name="slow") as cur:
                cur.itersize = 100
                cur.execute("select build_marker from fct_payments")
                first = cur.fetchmany(100)
                publish_build(wh, "b0002", n_payments=10, marker=2)
                assert _wait(lambda: running.engine.current.path.name == "b0002.duckdb")
                assert len(_attached(running)) == 2  # the old one is leased by the cursor
                # while attached, DuckDB's file lock keeps writers out of the old build
                assert _open_rw_elsewhere(wh / "builds" / "b0001.duckdb") != 0
                rest = cur.fetchall()
            c.commit()
            assert {r[0] for r in first + rest} == {1} and len(first + rest) == 3000
        assert _wait(lambda: len(_attached(running)) == 1)
        # once detached, the old build file is free: another process may open it read-write
        # (a builder pruning or rebuilding never waits on the server)
        old = wh / "builds" / "b0001.duckdb"
        assert _open_rw_elsewhere(old) == 0
    finally:
        running.stop()


def _open_rw_elsewhere(path) -> int:
    import subprocess
    import sys

    code = f"import duckdb; duckdb.connect({str(path)!r}).execute('checkpoint')"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60).returncode
