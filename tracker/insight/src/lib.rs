//! `insight`: what a run's curves say, computed from values alone.
//!
//! The overfitting analysis of gapwatch, with no database, server or file format in it: the
//! caller gathers a run's metric series and params into an [`analysis::RunRecord`] (the
//! `tracker` crate reads them from its SQLite store or from a daemon), [`analysis::analyze`]
//! reads the verdict, its causes and their evidence, [`analysis::compare`] lines several runs
//! up, and [`plot`] draws them. No dependency on SQLite, axum, tokio or Arrow: the compiler
//! keeps the analysis pure.
//!
//! # Layout
//! - [`analysis`]: `RunRecord` (series, params) → per-epoch rows and gaps → noise → verdict →
//!   likely causes → [`analysis::Analysis`]; then the comparison of several runs.
//! - [`table`]: rows under named columns, written as an aligned text table, CSV or JSON (the
//!   comparison's table; the CLI's run tables).
//! - [`plot`]: analyses drawn as training curves (PNG or SVG).
//! - [`downsample`]: long series thinned for drawing (min/max buckets), as the dashboard's
//!   charts get them.
//! - [`error`]: the crate's error type.
//!
//! ```
//! use insight::analysis::{analyze, AnalysisConfig, RunRecord};
//!
//! let mut run = RunRecord::new("demo");
//! run.push_series("loss", 0, &[1.0, 0.7, 0.5, 0.4, 0.3, 0.22, 0.16, 0.12, 0.09, 0.07]);
//! run.push_series("val_loss", 0, &[1.0, 0.8, 0.65, 0.6, 0.62, 0.66, 0.72, 0.8, 0.88, 0.95]);
//! let analysis = analyze(&run, &AnalysisConfig::default()).unwrap();
//! assert_eq!(analysis.verdict.label(), "overfitting");
//! ```
#![warn(missing_docs)]

pub mod analysis;
pub mod downsample;
pub mod error;
pub mod plot;
pub mod table;

pub use error::{Error, Result};
