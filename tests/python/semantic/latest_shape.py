"""Rewrite a dbt semantic manifest into the latest spec with MetricFlow's own code (run in the
oracle virtualenv, never imported by the project): MetricFlow parses dbt's file and applies its
transformation rules, so simple metrics carry ``metric_aggregation_params`` + ``expr`` and
cumulative/conversion metrics point at metrics; then the measures are removed, since the latest
spec has none.

    .venv-oracle/bin/python tests/python/semantic/latest_shape.py IN.json OUT.json
"""

from __future__ import annotations

import json
import sys

from metricflow_semantics.model.dbt_manifest_parser import (
    parse_manifest_from_dbt_generated_manifest,
)


def main(src: str, dst: str) -> None:
    with open(src) as f:
        manifest = parse_manifest_from_dbt_generated_manifest(f.read())
    data = json.loads(manifest.json())
    for sm in data["semantic_models"]:
        sm["measures"] = []
    for metric in data["metrics"]:
        tp = metric["type_params"]
        tp["measure"] = None
        tp["input_measures"] = []
        ctp = tp.get("conversion_type_params")
        if ctp:
            ctp["base_measure"] = None
            ctp["conversion_measure"] = None
    with open(dst, "w") as f:
        json.dump(data, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
