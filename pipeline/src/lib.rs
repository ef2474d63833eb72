//! `pipeline`: gapwatch's image data pipeline.
//!
//! It turns images on disk (IDX files, an ImageFolder tree, a CSV/TSV manifest) into Arrow
//! [`RecordBatch`](arrow::array::RecordBatch)es of normalized `f32` images, with the
//! augmentations that fight overfitting on the training split and only deterministic
//! transforms on validation and test, fast and reproducibly.
//!
//! # Data flow
//!
//! ```text
//!  Dataset::open(&DataConfig)            Loader (one split + mode, persists across epochs)
//!  IDX / ImageFolder / manifest ──►  read ──► decode ×N ──► augment+normalize ×N ──► batch ──► RecordBatch
//!  stratified train/val split        │ (bounded crossbeam channels: backpressure)      │ in order
//!                                    └── decoded-image cache (epochs ≥ 2 skip decode) ──┘ Running::join → PipelineReport
//! ```
//!
//! # Main types
//! - [`config::PipelineConfig`] with [`config::DataConfig`] (`[data]`),
//!   [`config::TransformsConfig`] (`[transforms]`), [`config::LoaderConfig`] (`[loader]`).
//! - [`Dataset`]: classes, channels, the samples of each [`Split`].
//! - [`Loader`]: one split in a [`Mode`]; [`Loader::epoch`] returns a [`Running`] iterator of
//!   batches whose [`Running::join`] gives a [`PipelineReport`] (per-stage counters, skips);
//!   [`Running::recycle`] hands a consumed batch back so a later one reuses its buffer.
//! - [`batch::schema`] defines the batch schema once; [`batch::image_shape`] reads `[C, H, W]` back.
//!
//! # Layout
//!
//! One line per module, in the order data flows through them:
//! - [`config`]: the `[data]`, `[transforms]` and `[loader]` tables and the run seed.
//! - [`source`]: IDX, folder and manifest listings, the split, [`Dataset`] ([`Dataset::load`]).
//! - [`decode`]: bounded file reads and PNG/JPEG decoding into an [`decode::Image`] (large
//!   JPEGs at a reduced DCT scale with `data.decode_scale = "auto"`).
//! - [`stats`]: per-channel statistics and their exact accumulator.
//! - [`normalize`]: the (cached) statistics pass and the (mean, std) of each `normalize` setting.
//! - [`geometry`]: resizes, crops, flips and rotations of one image.
//! - [`color`]: colour jitter and the final normalization into `f32`.
//! - [`transform`]: a transform chain compiled for one input shape, applied per sample; the
//!   smallest decoded image it takes.
//! - [`augment`]: the augmentation presets: `[transforms]` resolved into the two chains.
//! - [`seed`]: seeds derived from parts; the per-sample augmentation RNG.
//! - [`batch`]: the Arrow batch schema, building batches and reading them back.
//! - [`report`]: per-stage counters and the [`PipelineReport`] of an epoch.
//! - [`runtime`]: [`Loader`] → stages → batcher → [`Running`] epoch; the decoded-image cache.
//! - [`preview`]: a PNG grid of a batch, for looking at what the model sees.
//! - [`error`]: the crate's [`Error`].
//! - `fixtures` (unit tests only): small test images.
//!
//! # Example
//!
//! ```
//! use pipeline::{Dataset, Loader, Split, config::PipelineConfig};
//!
//! # fn main() -> pipeline::Result<()> {
//! let mut config = PipelineConfig::default();
//! config.data.path = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/fashion-mnist-mini").into();
//! config.data.limit = Some(100);
//! config.loader.batch_size = 32;
//! let dataset = Dataset::open(&config.data)?;
//! let loader = Loader::train(&dataset, &config)?;
//! assert_eq!(loader.shape(), [1, 28, 28]);
//! let mut running = loader.epoch(0)?;
//! let first = running.next().expect("a batch")?;
//! assert_eq!(first.num_rows(), 32);
//! assert_eq!(pipeline::batch::image_shape(&first.schema())?, [1, 28, 28]);
//! running.recycle(first); // optional: saves the next batch a fresh allocation
//! let report = running.join()?; // stops the remaining stages
//! assert_eq!(report.skipped_total(), 0);
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod augment;
pub mod batch;
pub mod color;
pub mod config;
pub mod decode;
pub mod error;
#[cfg(test)]
mod fixtures;
pub mod geometry;
pub mod normalize;
mod prefault;
pub mod preview;
pub mod report;
pub mod runtime;
pub mod seed;
pub mod source;
pub mod stats;
pub mod transform;

pub use error::{Error, Result};
pub use runtime::{Loader, Mode, PipelineReport, Running, StageReport};
pub use source::{Dataset, Sample, Split};
