#!/usr/bin/env bash
# Runs the whole test suite: `scripts/test.sh [extra cargo test args]`.
#
# The compatibility and export tests drive the official MLflow Python client, pandas, polars,
# pyarrow and DuckDB, so this first makes sure `.venv/` (in the workspace root) holds them, then
# points the tests at it through GAPWATCH_TEST_PYTHON and runs `cargo test --workspace`.
#
# The dashboard's browser tests (tests/dashboard) drive a headless Chromium through chromedriver:
# Debian's `chromium` and `chromium-driver` packages (.ci/run installs them). Without them those
# tests fail, naming the packages; this says so up front.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# Versions that install on Python 3.11 (checked with `pip index versions`).
requirements=(
    "mlflow-skinny==3.17.2"
    "pandas==3.1.1"
    "pyarrow==26.0.1"
    "duckdb==2.0.1"
    "polars==2.1.0"
)
python="${PYTHON:-python3}"
venv="$root/.venv"
stamp="$venv/.gapwatch-requirements"

if [[ ! -x "$venv/bin/python" ]]; then
    echo "scripts/test.sh: creating $venv" >&2
    "$python" -m venv "$venv"
fi
if [[ ! -f "$stamp" ]] || [[ "$(cat "$stamp")" != "${requirements[*]}" ]]; then
    echo "scripts/test.sh: installing ${requirements[*]}" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${requirements[@]}"
    printf '%s' "${requirements[*]}" > "$stamp"
fi

chromedriver="${GAPWATCH_TEST_CHROMEDRIVER:-/usr/bin/chromedriver}"
chromium="${GAPWATCH_TEST_CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "$chromedriver" || ! -x "$chromium" ]]; then
    echo "scripts/test.sh: no $chromium or $chromedriver: the dashboard's browser tests will fail;" \
        "install Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)" >&2
fi

export GAPWATCH_TEST_PYTHON="$venv/bin/python"
exec cargo test --workspace "$@"
