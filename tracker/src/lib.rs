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
pub mod entities;
pub mod error;
pub mod export;
pub mod plot;
pub mod query;
pub mod store;
