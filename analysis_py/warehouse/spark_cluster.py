"""A local Spark cluster the project starts and stops itself, from the installed pyspark.

``opsmetrics spark up`` starts, on loopback only:

- a standalone **master** and ``workers`` **workers** (``spark-class
  org.apache.spark.deploy.master.Master`` / ``…worker.Worker``);
- one application on them serving both **Thrift** (``HiveThriftServer2``: dbt-spark's
  ``thrift`` method, JDBC/ODBC clients, ``beeline``) and **Spark Connect** (the
  ``SparkConnectPlugin`` in the same JVM, so that both see the same metastore: an embedded
  Derby metastore allows one JVM only).

Everything lives under ``<warehouse>/spark-cluster/``: the Derby metastore, the tables'
warehouse folder, the workers' scratch folders, one log per process and ``cluster.json``
(the processes and their ports). ``down`` stops them; ``status`` says which run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from analysis_py.errors import ConfigError

#: default ports: Spark's own plus 10000 (master 17077, Thrift 10001, Connect 15002)
DEFAULT_PORTS = {"master": 17077, "master_ui": 18080, "thrift": 10001, "connect": 15002}
START_TIMEOUT = 180.0


@dataclass
class Cluster:
    root: Path
    ports: dict[str, int]
    workers: int
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def master_url(self) -> str:
        return f"spark://127.0.0.1:{self.ports['master']}"

    @property
    def thrift_url(self) -> str:
        return f"jdbc:hive2://127.0.0.1:{self.ports['thrift']}/default"

    @property
    def connect_url(self) -> str:
        return f"sc://127.0.0.1:{self.ports['connect']}"


def root(warehouse_dir: Path) -> Path:
    return Path(warehouse_dir) / "spark-cluster"


def _spark_home() -> Path:
    try:
        import pyspark
    except ImportError:
        raise ConfigError(
            "pyspark is not installed", hint="install the spark extra: pip install '.[spark]'"
        ) from None
    return Path(pyspark.__file__).parent


def _env() -> dict[str, str]:
    if shutil.which("java") is None:
        raise ConfigError(
            "Java is not installed: Spark needs a Java 17 runtime",
            hint="Debian: apt-get install openjdk-17-jre-headless",
        )
    return {**os.environ, "SPARK_HOME": str(_spark_home()), "SPARK_LOCAL_IP": "127.0.0.1"}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie is not running
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return True


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


def free_ports(n: int) -> list[int]:
    """``n`` loopback ports free right now (for a cluster beside others: tests, benchmarks)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _start(cmd: list[str], log: Path, env: dict, cwd: Path) -> int:
    with log.open("w") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
        )
    return proc.pid


def _wait_for(log: Path, marker: str, pid: int, what: str, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.is_file() and marker in log.read_text(errors="replace"):
            return
        if not _alive(pid):
            break
        time.sleep(0.2)
    tail = log.read_text(errors="replace").strip().splitlines()[-5:] if log.is_file() else []
    raise ConfigError(
        f"the Spark {what} did not start" + (f": {tail[-1][:200]}" if tail else ""),
        hint=f"see {log}",
    )


def read(warehouse_dir: Path) -> Cluster | None:
    """The cluster started for this warehouse, as recorded (its processes may have died)."""
    path = root(warehouse_dir) / "cluster.json"
    if not path.is_file():
        return None
    d = json.loads(path.read_text())
    return Cluster(Path(d["root"]), d["ports"], d["workers"], d["pids"])


def status(warehouse_dir: Path) -> dict[str, bool]:
    """Each recorded process and whether it runs (empty when no cluster was started)."""
    c = read(warehouse_dir)
    return {} if c is None else {name: _alive(pid) for name, pid in c.pids.items()}


def up(
    warehouse_dir: Path,
    *,
    workers: int = 2,
    worker_memory: str = "1g",
    ports: dict[str, int] | None = None,
    step=lambda _msg: None,
) -> Cluster:
    """Start the cluster (see the module); an error stops what was started."""
    ports = {**DEFAULT_PORTS, **(ports or {})}
    existing = read(warehouse_dir)
    if existing is not None and any(status(warehouse_dir).values()):
        raise ConfigError(
            f"a Spark cluster already runs for {warehouse_dir}",
            hint="opsmetrics spark status; opsmetrics spark down to stop it",
        )
    taken = [f"{n} {p}" for n, p in ports.items() if _port_open(p)]
    if taken:
        raise ConfigError(
            f"ports in use on 127.0.0.1: {', '.join(taken)}",
            hint="stop what holds them, or choose other ports (opsmetrics spark up --help)",
        )
    env = _env()
    home = _spark_home()
    base = root(warehouse_dir)
    (base / "logs").mkdir(parents=True, exist_ok=True)
    cluster = Cluster(base, ports, workers)
    record = base / "cluster.json"
    try:
        step("master")
        cluster.pids["master"] = _start(
            [str(home / "bin" / "spark-class"), "org.apache.spark.deploy.master.Master",
             "--host", "127.0.0.1", "--port", str(ports["master"]),
             "--webui-port", str(ports["master_ui"])],
            base / "logs" / "master.log", env, base,
        )  # fmt: skip
        record.write_text(json.dumps(asdict(cluster), default=str))
        _wait_for(
            base / "logs" / "master.log", "Starting Spark master", cluster.pids["master"], "master"
        )
        for i in range(1, workers + 1):
            step(f"worker {i}")
            work = base / f"work-{i}"
            work.mkdir(exist_ok=True)
            name = f"worker{i}"
            cluster.pids[name] = _start(
                [str(home / "bin" / "spark-class"), "org.apache.spark.deploy.worker.Worker",
                 cluster.master_url, "--host", "127.0.0.1", "--cores", "1",
                 "--memory", worker_memory, "--webui-port", "0", "--work-dir", str(work)],
                base / "logs" / f"{name}.log", env, base,
            )  # fmt: skip
            record.write_text(json.dumps(asdict(cluster), default=str))
            _wait_for(
                base / "logs" / f"{name}.log",
                "Successfully registered with master",
                cluster.pids[name],
                name,
            )
        step("Thrift and Spark Connect")
        metastore = base / "metastore_db"
        cluster.pids["server"] = _start(
            [str(home / "bin" / "spark-submit"), "--master", cluster.master_url,
             "--class", "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2",
             "--name", "opsmetrics-thrift-connect",
             "--conf", "spark.plugins=org.apache.spark.sql.connect.SparkConnectPlugin",
             "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
             "--conf", f"spark.connect.grpc.binding.port={ports['connect']}",
             "--conf", f"spark.sql.warehouse.dir={base / 'warehouse'}",
             "--conf", "spark.hadoop.javax.jdo.option.ConnectionURL="
             f"jdbc:derby:;databaseName={metastore};create=true",
             "--conf", "spark.ui.enabled=false",
             "--conf", "spark.sql.session.timeZone=UTC",
             "--conf", "spark.executor.memory=512m",
             "--conf", f"spark.cores.max={workers}",
             "--hiveconf", f"hive.server2.thrift.port={ports['thrift']}",
             "--hiveconf", "hive.server2.thrift.bind.host=127.0.0.1",
             "spark-internal"],
            base / "logs" / "server.log", env, base,
        )  # fmt: skip
        record.write_text(json.dumps(asdict(cluster), default=str))
        _wait_for(
            base / "logs" / "server.log",
            "HiveThriftServer2 started",
            cluster.pids["server"],
            "Thrift server",
        )
    except BaseException:
        down(warehouse_dir)
        raise
    return cluster


def down(warehouse_dir: Path, timeout: float = 20.0) -> list[str]:
    """Stop the recorded processes (TERM, then KILL); the names of those that ran."""
    c = read(warehouse_dir)
    if c is None:
        return []
    stopped = []
    for name, pid in reversed(list(c.pids.items())):
        if not _alive(pid):
            continue
        try:
            os.killpg(pid, signal.SIGTERM)
        except OSError:
            continue
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
        stopped.append(name)
    (root(warehouse_dir) / "cluster.json").unlink(missing_ok=True)
    return stopped
