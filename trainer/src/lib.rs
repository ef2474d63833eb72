//! `trainer`: trains a CNN from a run config on batches streamed by the `pipeline` crate, and
//! records the run through a small [`report::Reporter`] trait (the `track` binary implements it
//! with the tracker's client; this crate knows nothing of HTTP or SQLite).
//!
//! # Data flow
//!
//! ```text
//! run.toml + --set ─► config::RunConfig ─┬─► pipeline::Loader (train: augmented, shuffled)  ─┐
//!                                        │   pipeline::Loader (train subset, val, test: eval) ─┤ Arrow RecordBatch
//!                                        │                                                     ▼
//!                                        │                          tensor::batch_to_tensors (one copy)
//!                                        ▼                                                     ▼
//!                    model::Cnn + optim::Optimizer + optim::LrSchedule ◄──── fit::fit (epochs, interrupt flag)
//!                                                                                  │ early_stopping, checkpoint
//!                                                                                  ▼
//!                                          report::Reporter: params, tags, per-epoch metrics, artifacts, status
//! ```
//!
//! # Main types
//! - [`config::RunConfig`]: `[data]`, `[transforms]`, `[loader]` (the pipeline's), `[model]`,
//!   `[optim]`, `[early_stopping]`, `[train]`; [`config::apply_overrides`] for `--set`;
//!   [`config::RunConfig::flatten_params`] for the run record.
//! - [`model::Cnn`]: conv blocks, dropout, dense layers, classifier (`ModuleT`). On the CPU a
//!   block is one op ([`conv_block::conv_relu_pool`]) over [`conv`]'s matrix-product
//!   convolution, so forward and backward are gemms plus one pass each.
//! - [`optim::Optimizer`] (adam, adamw, sgd), [`optim::LrSchedule`], [`optim::cross_entropy`].
//! - [`early_stopping::EarlyStopping`] (Keras semantics), [`checkpoint`] (safetensors).
//! - [`fit::fit`]: the loop; [`fit::FitOptions`] (device, artifact directory, interrupt, resume).
//!
//! # Example
//!
//! ```
//! use trainer::config::RunConfig;
//! use trainer::fit::{FitOptions, NoProgress, fit};
//! use trainer::report::{MemoryReporter, RunStatus};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/fashion-mnist-mini");
//! let sets = [format!("data.path={data:?}"), "data.limit=64".into(), "train.epochs=1".into(),
//!             "model.conv_channels=[4]".into(), "model.dense_units=[]".into()];
//! let config = RunConfig::from_toml_str("", "example", &sets)?;
//! let dir = tempfile::tempdir()?;
//! let mut reporter = MemoryReporter::default();
//! let summary = fit(&config, &mut reporter, &mut NoProgress, &FitOptions::new(dir.path()))?;
//! assert_eq!(reporter.status, Some(RunStatus::Finished));
//! assert_eq!(reporter.series("val_acc").len(), 1);
//! assert!(summary.test.is_some());
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod activation;
pub mod checkpoint;
pub mod config;
pub mod conv;
pub mod conv_block;
mod cpu_kernel;
pub mod device;
pub mod early_stopping;
pub mod error;
pub mod fit;
pub mod model;
pub mod optim;
pub mod pool;
pub mod report;
pub mod tensor;

/// The tensor library the trainer is built on (for benches and callers that build batches).
pub use candle_core as candle;
pub use candle_nn;
pub use error::{Error, Result};
