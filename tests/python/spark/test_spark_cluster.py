"""``opsmetrics spark up | status | down``: a real standalone cluster (master, two workers,
one application serving Thrift and Spark Connect) started from the installed pyspark, a
table written through Thrift (beeline, as JDBC clients and dbt-spark's thrift method reach
it) and read back through Spark Connect (no JVM in the reader), then stopped."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.python.conftest import PY4J_SOCKETS

pytestmark = [
    pytest.mark.spark,
    pytest.mark.timeout(900),
    pytest.mark.xdist_group("spark"),
    PY4J_SOCKETS,
]

OPSMETRICS = str(Path(sys.executable).with_name("opsmetrics"))

if shutil.which("java") is None:  # printed with -ra: why the cluster was not tried
    pytest.skip(
        "Java is not installed: the Spark cluster needs a Java 17 runtime", allow_module_level=True
    )


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _cli(*args, wh: Path, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run(
        [OPSMETRICS, *args, "--warehouse-dir", str(wh)], capture_output=True, text=True, timeout=600
    )
    if check:
        assert p.returncode == 0, p.stdout + p.stderr
    return p


def test_a_local_cluster_serves_thrift_and_spark_connect(tmp_path):
    import pyspark

    from analysis_py.warehouse import spark_cluster

    wh = tmp_path / "warehouse"
    wh.mkdir()
    master, ui, thrift, connect = _free_ports(4)
    ports = ["--master-port", str(master), "--ui-port", str(ui), "--thrift-port", str(thrift),
             "--connect-port", str(connect)]  # fmt: skip
    try:
        up = _cli("spark", "up", "--workers", "2", "--worker-memory", "512m", *ports, wh=wh)
        assert f"sc://127.0.0.1:{connect}" in up.stdout
        st = _cli("spark", "status", wh=wh)
        assert st.stdout.count("running") == 4  # master, two workers, the server
        again = _cli("spark", "up", *ports, wh=wh, check=False)
        assert again.returncode != 0 and "already runs" in again.stderr
        assert "Traceback" not in again.stderr

        beeline = Path(pyspark.__file__).parent / "bin" / "beeline"
        sql = "create table t as select id, id * 2 as x from range(1000); select sum(x) from t;"
        p = subprocess.run(
            [str(beeline), "-u", f"jdbc:hive2://127.0.0.1:{thrift}/default", "-n", "opsmetrics",
             "--silent=true", "--outputformat=csv2", "-e", sql],
            capture_output=True, text=True, timeout=300,
            env={**spark_cluster._env()},
        )  # fmt: skip
        assert p.returncode == 0, p.stdout + p.stderr
        assert "999000" in p.stdout

        # in a process of its own: a Spark Connect session marks its process (and children)
        # as Connect-mode, which a later local session in this process must not inherit
        read = (
            "from pyspark.sql import SparkSession\n"
            f"s = SparkSession.builder.remote('sc://127.0.0.1:{connect}').getOrCreate()\n"
            "print(tuple(s.sql('select count(*), sum(x) from default.t').collect()[0]))\n"
            "s.stop()\n"
        )
        p = subprocess.run(
            [sys.executable, "-c", read], capture_output=True, text=True, timeout=300
        )
        assert p.returncode == 0, p.stderr
        assert p.stdout.strip() == "(1000, 999000)"  # the table written through Thrift
    finally:
        down = _cli("spark", "down", wh=wh, check=False)
    assert down.returncode == 0 and "server" in down.stdout
    after = _cli("spark", "status", wh=wh, check=False)
    assert after.returncode == 1 and "no Spark cluster" in after.stdout
    assert not any(spark_cluster._port_open(p) for p in (master, thrift, connect))
