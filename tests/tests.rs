//! End-to-end tests of the `track` binary and of the crates together: real files, a real daemon
//! on 127.0.0.1, real SQLite, real Parquet. One test binary; one module per area.

mod analysis_cli;
mod analysis_corpus;
mod checkpoint_cli;
mod export_cli;
mod hostile_images;
mod pipeline_cli;
mod tracker_cli;
mod train_cli;
