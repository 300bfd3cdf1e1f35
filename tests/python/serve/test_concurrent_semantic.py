"""Parallel clients asking semantic SQL and dbt's JDBC syntax for the first time get exactly the
rows one client gets alone (the server shares one SemanticLayer per published build across its
thread pool, and a dashboard's tiles arrive together).

The serial answers are read first as one user; the parallel pass uses other users of the same
role, so none of its statements is in the plan cache (keyed per user): every one of them is
compiled while others are compiling.
"""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from analysis_py.errors import OpsMetricsError
from analysis_py.semantic.layer import SemanticLayer
from analysis_py.serve.config import load_config
from analysis_py.serve.run import start_in_thread
from analysis_py.serve.scram import make_verifier
from tests.python.semantic.compare import rows_equal

CLIENTS = 16
GROUP_BYS = [
    ["metric_time__month"],
    ["metric_time__week", "client__region"],
    ["client__segment"],
]


@pytest.fixture(scope="module")
def served(built_warehouse):
    users = {f"u{i}": {"password": make_verifier("pw"), "role": "analyst"} for i in range(17)}
    cfg = load_config(
        data={
            "server": {"port": 0, "max_connections": 64},
            "roles": {"analyst": {"marts": "*", "metrics": "*"}},
            "users": users,
        }
    )
    running = start_in_thread(
        cfg, built_warehouse.paths.warehouse_dir, project_dir=built_warehouse.paths.project_dir
    )
    yield running
    running.stop()


def _statements(built_warehouse) -> list[str]:
    """Semantic SQL and JDBC-syntax statements over every metric type of the project."""
    manifest = built_warehouse.paths.warehouse_dir / "target" / "semantic_manifest.json"
    layer = SemanticLayer(str(manifest))
    out = []
    for m, g in itertools.product([x["name"] for x in layer.metrics()], GROUP_BYS):
        try:
            layer.compile(metrics=[m], group_by=g)
        except OpsMetricsError:  # a metric that cannot be grouped so is left out
            continue
        cols = ", ".join([*g, m])
        order = ", ".join(str(i + 1) for i in range(len(g) + 1))
        if len(out) % 2:
            out.append(f"select {cols} from metrics group by all order by {order}")
        else:
            gb = ", ".join(f"'{x}'" for x in g)
            out.append(
                f"select * from {{{{ semantic_layer.query(metrics=['{m}'], group_by=[{gb}]) }}}}"
                f" order by {order}"
            )
    types = {layer.manifest.metrics[s.split("'")[1]].type for s in out if "semantic_layer" in s}
    types |= {
        layer.manifest.metrics[s.split(" from ")[0].split(", ")[-1]].type
        for s in out
        if "semantic_layer" not in s
    }
    assert len(out) >= 50 and types >= {"simple", "ratio", "derived", "cumulative"}, types
    return out


def _connect(served, user: str) -> psycopg.Connection:
    return psycopg.connect(
        f"host=127.0.0.1 port={served.port} dbname=opsmetrics user={user} password=pw "
        "sslmode=disable",
        autocommit=True,
    )


def test_parallel_clients_get_the_serial_answers(served, built_warehouse):
    statements = _statements(built_warehouse)
    with _connect(served, "u16") as c:
        expected = [c.execute(s).fetchall() for s in statements]
    assert sum(len(rows) for rows in expected) > 0

    start = threading.Barrier(CLIENTS)
    wrong: list[tuple[str, int]] = []
    errors: list[str] = []

    def client(k: int) -> int:
        n = 0
        with _connect(served, f"u{k}") as c:
            start.wait()
            for i in range(len(statements)):
                j = (i * 7 + k * 13) % len(statements)
                try:
                    got = c.execute(statements[j]).fetchall()
                except psycopg.Error as exc:
                    errors.append(f"{statements[j]}: {exc}")
                    continue
                # DuckDB's parallel AVG over doubles may differ in the last bits between runs
                same, _why = rows_equal(got, expected[j], ordered=True)
                if not same:
                    wrong.append((f"u{k}", j))
                n += 1
        return n

    with ThreadPoolExecutor(CLIENTS) as pool:
        total = sum(pool.map(client, range(CLIENTS)))
    assert not errors, errors[:3]
    assert not wrong, f"{len(wrong)} of {total} answers differ from the serial ones: {wrong[:5]}"
    assert total == CLIENTS * len(statements)
