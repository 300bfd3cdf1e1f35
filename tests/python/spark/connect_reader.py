"""Run SQL through Spark Connect and print each answer's canonical rows as JSON.

``python -m tests.python.spark.connect_reader REQUEST.json``, where the file holds
``{"url": "sc://…", "queries": {"name": "SQL", …}}``; prints ``{"name": [rows…], …}``, each row
its canonical values (parity.canon). The cluster test runs it in a process of its own: a
Spark Connect session puts its whole process in Connect mode, which the local sessions of the
other Spark tests in the test process must not inherit. Going through Connect is the point:
this process starts no JVM.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.python.spark.parity import canon


def main(request_file: str) -> int:
    from pyspark.sql import SparkSession

    request = json.loads(Path(request_file).read_text())
    spark = SparkSession.builder.remote(request["url"]).getOrCreate()
    out = {}
    for name, sql in request["queries"].items():
        out[name] = [[canon(v) for v in row] for row in spark.sql(sql).collect()]
    spark.stop()
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
