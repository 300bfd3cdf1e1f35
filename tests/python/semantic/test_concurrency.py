"""One SemanticLayer shared by many threads (as the server shares it) compiles every request
to exactly the SQL it compiles alone: no compile sees another's working state."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from analysis_py.errors import OpsMetricsError
from analysis_py.semantic.layer import SemanticLayer

GROUP_BYS = [
    [],
    ["metric_time__day"],
    ["metric_time__month", "customer__segment"],
    ["metric_time__week"],
    ["customer__region__region_name"],
]
WHERES = [None, ["{{ Dimension('customer__segment') }} = 'sme'"]]


def _requests(layer: SemanticLayer) -> list[dict]:
    """Every metric (all five types) × group-bys × filters that compiles on its own."""
    out = []
    for m, g, w in itertools.product([x["name"] for x in layer.metrics()], GROUP_BYS, WHERES):
        req = {"metrics": [m], "group_by": g or None, "where": w}
        try:
            layer.compile(**req)
        except OpsMetricsError:
            continue
        out.append(req)
    return out


def test_many_threads_compile_exactly_what_one_thread_does(sl_project):
    layer = SemanticLayer(str(sl_project.manifest))
    requests = _requests(layer)
    types = {layer.manifest.metrics[r["metrics"][0]].type for r in requests}
    assert len(requests) >= 50 and types >= {
        "simple",
        "ratio",
        "derived",
        "cumulative",
        "conversion",
    }
    expected = [layer.compile(**r).sql for r in requests]

    fresh = SemanticLayer(str(sl_project.manifest))  # nothing cached from the serial pass
    start = threading.Barrier(16)
    wrong: list[tuple[int, str]] = []
    errors: list[BaseException] = []

    def worker(k: int) -> int:
        start.wait()
        n = 0
        for i in range(len(requests)):
            j = (i * 7 + k * 13) % len(requests)
            try:
                got = fresh.compile(**requests[j]).sql
            except BaseException as exc:  # a race shows up as an exception too
                errors.append(exc)
                continue
            if got != expected[j]:
                wrong.append((j, got))
            n += 1
        return n

    with ThreadPoolExecutor(16) as pool:
        total = sum(pool.map(worker, range(16)))
    assert not errors, errors[:3]
    assert not wrong, f"{len(wrong)} of {total} compiles returned another request's SQL"
    assert total >= 16 * 150


@pytest.mark.parametrize("nested", [False, True])
def test_a_compile_inside_a_compile_keeps_the_outer_state(sl_project, nested):
    """A filter on {{ Metric(...) }} compiles a sub-query while the outer compile is running."""
    layer = SemanticLayer(str(sl_project.manifest))
    where = ["{{ Metric('order_count', group_by=['customer']) }} > 1"] if nested else None
    a = layer.compile(metrics=["order_total"], group_by=["customer__segment"], where=where).sql
    b = layer.compile(metrics=["order_total"], group_by=["customer__segment"], where=where).sql
    assert a == b
