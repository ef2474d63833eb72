//! End-to-end tests of the `track` binary and of the crates together: real files, a real daemon
//! on 127.0.0.1, real SQLite, real Parquet. One test binary; one module per area.
//!
//! # Layout
//!
//! - `util`: what every module shares: a scrubbed `track` command, JSON output, the bundled
//!   data, the Python venv, a `track daemon` fixture;
//! - `pipeline_cli`: `track pipeline` and `track stats` on real image files;
//! - `hostile_images`: the fuzz corpus of corrupt images through `track pipeline` and `train`;
//! - `train_cli`: `track train` recording a run to a daemon, and refusing setups that cannot train;
//! - `checkpoint_cli`: where `track train`'s checkpoints end up;
//! - `tracker_cli`: the daemon, the official MLflow client, the query/show/runs/export commands;
//! - `export_cli`: `track export` read back by pandas, polars, DuckDB and pyarrow;
//! - `analysis_cli`: `track demo`, `analyze`, `compare`, `plot`, `sweep`;
//! - `analysis_corpus`: `track analyze` on the corpus of learning curves of known character;
//! - `format_cli`: `--format table|csv|json` (and `--json`) on every command that prints results;
//! - `query_cli`: `track query`'s default columns and `--columns`;
//! - `config_cli`: `track pipeline --config FILE --set KEY=VALUE`;
//! - `dashboard`: the web dashboard `track daemon` serves, in a real headless Chromium.

mod analysis_cli;
mod analysis_corpus;
mod checkpoint_cli;
mod config_cli;
mod dashboard;
mod export_cli;
mod format_cli;
mod hostile_images;
mod pipeline_cli;
mod query_cli;
mod tracker_cli;
mod train_cli;
mod util;
