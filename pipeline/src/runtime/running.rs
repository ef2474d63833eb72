//! [`Running`]: one epoch in progress, an iterator of its batches in order; joining it (or
//! dropping it) stops and joins every stage and gives the [`PipelineReport`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use arrow::array::RecordBatch;
use crossbeam::channel::{Receiver, Sender};

use super::stages::Shared;
use crate::batch;
use crate::error::{Error, Result};
use crate::report::{PipelineReport, bottleneck, stage_reports};
use crate::source::Split;

/// A running epoch: an iterator of batches, in order. Dropping it stops every stage.
#[derive(Debug)]
pub struct Running {
    pub(super) rx: Option<Receiver<Result<RecordBatch>>>,
    pub(super) recycle: Sender<Vec<f32>>,
    pub(super) handles: Vec<(String, JoinHandle<()>)>,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) shared: Arc<Shared>,
    pub(super) start: Instant,
    pub(super) epoch: u64,
    pub(super) split: Split,
    pub(super) failed: bool,
}

impl Iterator for Running {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let item = self.rx.as_ref()?.recv().ok()?;
        if item.is_err() {
            self.failed = true;
        }
        Some(item)
    }
}

impl Running {
    /// Hands a consumed batch back so that a later batch (of this epoch or the loader's next)
    /// reuses its image buffer instead of a fresh allocation. Optional: a batch still
    /// referenced elsewhere (a clone, a slice, a column kept) is simply dropped, so no buffer is
    /// ever reused while something reads it.
    pub fn recycle(&self, batch: RecordBatch) {
        if let Some(images) = batch::take_image_buffer(batch) {
            let _ = self.recycle.try_send(images);
        }
    }

    /// Stops the stages (if the consumer did not drain them), waits for every thread and
    /// returns the report. Errors: a stage panicked, or a bad sample under `on_error = "fail"`.
    pub fn join(mut self) -> Result<PipelineReport> {
        self.shutdown()?;
        if let Some(e) = self
            .shared
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(Error::bad_sample_copy)
        {
            return Err(e);
        }
        let wall = self.start.elapsed().as_secs_f64().max(1e-9);
        let stages = stage_reports(&self.shared.stages, wall);
        let bottleneck = bottleneck(&stages);
        let samples = self.shared.emitted.load(Ordering::Relaxed);
        let skipped = self
            .shared
            .skipped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let total: u64 = skipped.values().sum();
        if total > 0 {
            let reasons = skipped
                .iter()
                .map(|(reason, count)| format!("{reason} {count}"))
                .collect::<Vec<_>>()
                .join(", ");
            tracing::warn!(
                epoch = self.epoch,
                split = ?self.split,
                skipped = total,
                %reasons,
                "samples skipped (each path at debug level: --log pipeline=debug)"
            );
        }
        Ok(PipelineReport {
            epoch: self.epoch,
            split: self.split,
            samples,
            batches: self.shared.batches.load(Ordering::Relaxed),
            wall_secs: wall,
            images_per_sec: samples as f64 / wall,
            stages,
            bottleneck,
            skipped,
            cache_hits: self.shared.cache_hits.load(Ordering::Relaxed),
        })
    }

    fn shutdown(&mut self) -> Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        self.rx = None;
        let mut panicked = None;
        for (name, handle) in self.handles.drain(..) {
            if handle.join().is_err() {
                panicked.get_or_insert(name);
            }
        }
        match panicked {
            Some(stage) => Err(Error::StagePanicked { stage }),
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}
