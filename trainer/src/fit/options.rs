//! How to run a fit besides the experiment's config ([`FitOptions`]: device, artifact
//! directory, interrupt, resume) and who hears of its progress within an epoch ([`Progress`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use candle_core::Device;

use super::metrics::EpochMetrics;

/// How to run a fit (what is not part of the experiment's config).
#[derive(Debug, Clone)]
pub struct FitOptions {
    /// Where the model lives.
    pub device: Device,
    /// The run's artifact directory: checkpoints and `config.toml` are written there.
    pub artifact_dir: PathBuf,
    /// Set it (Ctrl-C) to stop at the next batch: the run ends KILLED with the metrics of
    /// every finished epoch and the best checkpoint kept.
    pub interrupt: Arc<AtomicBool>,
    /// Continue from the last checkpoint in `artifact_dir` instead of starting afresh.
    pub resume: bool,
}

impl FitOptions {
    /// CPU, a fresh run, no interrupt yet.
    pub fn new(artifact_dir: impl Into<PathBuf>) -> Self {
        Self {
            device: Device::Cpu,
            artifact_dir: artifact_dir.into(),
            interrupt: Arc::new(AtomicBool::new(false)),
            resume: false,
        }
    }
}

/// Receives progress within an epoch (progress bars); every method defaults to nothing.
pub trait Progress {
    /// An epoch starts with `batches` training batches.
    fn epoch_started(&mut self, _epoch: usize, _epochs: usize, _batches: usize) {}
    /// A training batch finished; the running loss and accuracy of the epoch so far.
    fn batch_finished(
        &mut self,
        _batch: usize,
        _running_loss: f64,
        _running_acc: f64,
        _images_per_sec: f64,
    ) {
    }
    /// An epoch finished with these metrics.
    fn epoch_finished(&mut self, _metrics: &EpochMetrics) {}
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {}
