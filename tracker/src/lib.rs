//! `tracker`: records every run and answers questions about them.
//!
//! Runs (params, tags, per-step metrics, status, artifacts) are kept in one SQLite file by
//! [`store::Store`]; [`api`] serves that store as the MLflow tracking REST API, so any
//! MLflow-instrumented script logs to gapwatch unchanged; [`client`] speaks the same API (or
//! writes to an embedded store); [`query`] is MLflow's search language compiled to
//! parameterized SQL; [`export`] writes Parquet; [`analysis`] and [`plot`] read runs back.
//!
//! # Data flow
//! ```text
//! trainer / MLflow client ──HTTP JSON──► api (axum) ──► Store ──► writer thread ──► SQLite (WAL)
//!                └──── embedded (sqlite:PATH) ──────────┘   └──► read pool ──► query / export / analysis
//! ```
//!
//! # Layout
//! Three wings, each in flow order; [`error`] is shared by all of them.
//! - record (what a run is and where it is kept):
//!   - [`entities`]: runs, experiments, metrics, params, tags, inputs (MLflow's data model);
//!   - [`store`]: the SQLite file, its writer thread, read pool and search-to-SQL compiler;
//!   - [`query`]: MLflow's search language (syntax tree, printer, parser), free of SQL;
//! - wire (how runs arrive and leave over HTTP):
//!   - [`api`]: the daemon, MLflow's tracking REST API over a store;
//!   - [`client`]: the same API from the caller's side, or an embedded store;
//!   - [`dashboard`]: the web dashboard the daemon serves at `/` (embedded page and assets,
//!     login, and the JSON its pages read: runs tables, downsampled series, comparisons);
//! - insight (what the runs say):
//!   - [`analysis`]: stored runs read into the pure `insight` crate's analysis (verdicts,
//!     causes, comparisons), re-exported here;
//!   - [`plot`]: learning curves drawn from analyses (`insight::plot`, re-exported);
//!   - [`export`]: the five Parquet tables (analysis included) for pandas, polars and DuckDB;
//! - [`error`]: the tracker's error type and MLflow's error codes ([`error::ErrorCode`]).
//!
//! Main types: [`store::Store`], [`entities::Run`], [`entities::Metric`], [`query::Filter`],
//! [`api::Daemon`], [`error::Error`].
//!
//! ```
//! use tracker::entities::Metric;
//! use tracker::store::{CreateRun, SearchRuns, Store};
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(dir.path().join("runs.db")).unwrap();
//! let experiment_id = store.get_or_create_experiment("demo").unwrap();
//! let run = store.create_run(CreateRun { experiment_id: experiment_id.clone(), ..Default::default() }).unwrap();
//! let point = Metric { key: "val_loss".into(), value: 0.25, timestamp: 0, step: 1 };
//! store.log_metric(&run.info.run_id, &point).unwrap();
//! let search = SearchRuns {
//!     experiment_ids: vec![experiment_id],
//!     filter: "metrics.val_loss < 0.5".into(),
//!     ..Default::default()
//! };
//! let (runs, _next_page) = store.search_runs(&search).unwrap();
//! assert_eq!(runs.len(), 1);
//! ```
#![warn(missing_docs)]

pub mod analysis;
pub mod api;
pub mod client;
pub mod dashboard;
pub mod entities;
pub mod error;
pub mod export;
pub mod plot;
pub mod query;
pub mod store;
