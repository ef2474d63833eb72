#!/usr/bin/env bash
# Runs the tracker load of scripts/load-tracker.sh against the real MLflow tracking server, for
# the side-by-side figures: same client, same 1,000 runs x 100 steps x 6 metrics, same requests.
#
# Needs the full `mlflow` package (`pip install mlflow`); set MLFLOW to its executable when it is
# not on PATH. The server runs with its defaults on a fresh SQLite backend in a temporary folder;
# its resident memory is summed over the server process and all its workers.
#
# Usage: scripts/load-mlflow.sh            (prints a JSON object on stdout)
set -euo pipefail
cd "$(dirname "$0")/.."

mlflow="${MLFLOW:-mlflow}"
port="${MLFLOW_PORT:-5097}"
work="$(mktemp -d)"
"$mlflow" server --backend-store-uri "sqlite:///$work/mlflow.db" \
    --artifacts-destination "$work/artifacts" --host 127.0.0.1 --port "$port" \
    >"$work/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$work"' EXIT

for _ in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
        break
    fi
    if ! kill -0 "$server" 2>/dev/null; then
        echo "mlflow server exited; its log:" >&2
        cat "$work/server.log" >&2
        exit 1
    fi
    sleep 1
done

TRACKER_LOAD_REPORT=1 TRACKER_LOAD_URL="http://127.0.0.1:$port" TRACKER_LOAD_PID="$server" \
    cargo bench --quiet --bench tracker
