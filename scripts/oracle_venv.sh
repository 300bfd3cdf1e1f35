#!/usr/bin/env bash
# Create .venv-oracle with MetricFlow (dbt-metricflow) for the semantic-layer oracle tests.
# MetricFlow is a test oracle only, never a runtime dependency, so it lives in its own venv.
# Idempotent and cached: a stamp file records the requirement set; re-runs are instant.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ORACLE_VENV:-$ROOT/.venv-oracle}"
UV="${UV:-$ROOT/.venv/bin/uv}"
REQS=("dbt-metricflow[dbt-duckdb]" "dbt-core~=1.11.0" "dbt-duckdb~=1.11.0")
STAMP="$VENV/.opsmetrics-oracle-stamp"
WANT="${REQS[*]}"
if [[ -x "$VENV/bin/mf" && -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
  exit 0
fi
if [[ ! -x "$UV" ]]; then UV="$(command -v uv || true)"; fi
if [[ -z "$UV" ]]; then echo "oracle_venv: uv not found (run make install)" >&2; exit 1; fi
"$UV" venv --quiet --allow-existing "$VENV" --python python3
"$UV" pip install --quiet --python "$VENV/bin/python" "${REQS[@]}"
"$VENV/bin/mf" --version >/dev/null
echo "$WANT" > "$STAMP"
echo "oracle_venv: MetricFlow ready in $VENV" >&2
