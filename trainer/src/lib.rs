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
//! - [`fit::prepare`] then [`fit::fit_prepared`] (or [`fit::fit`]): the run, its loop owned by a
//!   learner; [`fit::FitOptions`] (device, artifact directory, interrupt, resume),
//!   [`fit::EpochMetrics`] (every per-epoch metric, named once).
//!
//! # Layout
//! In the order data flows through a run:
//! - [`config`]: the run config, `--set` overrides, the params a run records.
//! - [`device`]: `cpu`, `cuda` or `cuda:N` as a device.
//! - [`tensor`]: an Arrow batch from the pipeline as image and label tensors.
//! - `cpu_kernel`: the custom ops' element types and dispatch from CPU storage to a slice kernel.
//! - [`conv`]: the convolution as unfold + one matrix product, with its backward.
//! - [`activation`]: ReLU with a one-pass backward.
//! - [`pool`]: max pooling with a one-pass backward.
//! - [`conv_block`]: convolution, bias, ReLU and max pooling as one op on the CPU.
//! - [`model`]: the CNN from `[model]`, seeded weights, trainable variables.
//! - [`optim`]: the loss, the optimizers and the learning-rate schedules.
//! - [`early_stopping`]: when to stop, which epoch is best.
//! - [`checkpoint`]: weights, optimizer and trainer state on disk.
//! - [`report`]: the [`report::Reporter`] trait a run is recorded through.
//! - [`fit`]: prepare, the learner's loop over epochs, the metrics it records.
//! - [`error`]: the crate's [`Error`] and [`Result`].
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
