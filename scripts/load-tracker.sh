#!/usr/bin/env bash
# Load the tracker daemon and report its figures as JSON (release build, this machine).
#
# Starts the real `track daemon` on a fresh database, fills it through HTTP with 1,000 runs x
# 100 steps x 6 metrics (log-batch), sends 5,000 single log-metric requests from one keep-alive
# client, times runs/search with a metric filter and order over those runs, and reads the
# daemon's resident memory (VmRSS) from /proc. The code is the `tracker` bench
# (benches/tracker.rs) run in load-report mode.
#
# Usage: scripts/load-tracker.sh            (prints a JSON object on stdout)
set -euo pipefail
cd "$(dirname "$0")/.."
TRACKER_LOAD_REPORT=1 cargo bench --quiet --bench tracker
