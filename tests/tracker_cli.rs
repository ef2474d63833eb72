//! The tracker end to end: the `track` binary's daemon driven by the official MLflow Python
//! client, killed with SIGKILL under load, and the `track query/show/runs/experiments/export`
//! commands against a daemon and an embedded database; a daemon's export read by pyarrow.
//!
//! Python-based tests need the venv that `scripts/test.sh` creates (`GAPWATCH_TEST_PYTHON`, or
//! `.venv/bin/python` in the workspace root); without it they fail, naming the script.

mod commands;
mod daemon;
mod deleted;
mod mlflow_client;
mod run;
