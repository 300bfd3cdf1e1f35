#!/usr/bin/env bash
# Superset against opsmetrics serve, with Superset itself (not in CI: ~800 MB of packages).
#   scripts/superset_probe.sh [WAREHOUSE_DIR] [METRIC] [DIMENSION]
# Creates a venv with apache-superset (cached in ~/.cache/opsmetrics/superset-venv), its
# metadata DB in a temporary folder, starts `opsmetrics serve` over the published warehouse
# (default: the project's), and runs scripts/superset_probe.py. Exit 0 when every check passed.
set -euo pipefail
cd "$(dirname "$0")/.."
WAREHOUSE="${1:-$(.venv/bin/python -c 'from analysis_py.config import resolve_paths; print(resolve_paths().warehouse_dir)')}"
METRIC="${2:-stp_rate}"
DIMENSION="${3:-client__region}"
VENV="${OPSMETRICS_CACHE_DIR:-$HOME/.cache/opsmetrics}/superset-venv"
if [ ! -x "$VENV/bin/superset" ]; then
  python3 -m venv "$VENV"
  # Superset's own requirement pins are not in its wheel: these three are what 6.1.0 needs
  # beyond its declared dependencies (flask-caching 2.3.1 changed a signature it calls)
  "$VENV/bin/pip" install --quiet "apache-superset==6.1.0" psycopg2-binary rich cachetools \
    "flask-caching==2.3.0"
fi
WORK="$(mktemp -d)"
trap 'kill "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT
cat > "$WORK/superset_config.py" <<CONF
SECRET_KEY = "$(head -c 24 /dev/urandom | base64)"
SQLALCHEMY_DATABASE_URI = "sqlite:///$WORK/superset.db"
CONF
export SUPERSET_CONFIG_PATH="$WORK/superset_config.py"
"$VENV/bin/superset" db upgrade >"$WORK/upgrade.log" 2>&1
PORT="$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
PASSWORD="$(head -c 12 /dev/urandom | base64 | tr -d '/+=')"
VERIFIER="$(.venv/bin/python -c "from analysis_py.serve.scram import make_verifier; print(make_verifier('$PASSWORD'))")"
cat > "$WORK/serve.yml" <<CONF
server: {port: $PORT}
roles: {superset: {marts: "*", metrics: "*"}}
users: {superset: {password: "$VERIFIER", role: superset}}
CONF
OPSMETRICS_WAREHOUSE_DIR="$WAREHOUSE" .venv/bin/opsmetrics serve --config "$WORK/serve.yml" \
  >"$WORK/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do
  .venv/bin/python -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1)" 2>/dev/null && break
  sleep 0.2
done
"$VENV/bin/python" scripts/superset_probe.py \
  "postgresql+psycopg2://superset:$PASSWORD@127.0.0.1:$PORT/opsmetrics" "$METRIC" "$DIMENSION" \
  2>"$WORK/probe.err"
