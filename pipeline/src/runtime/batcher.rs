//! The batch stage: one thread that puts the processed samples back in the epoch's order and
//! builds the Arrow batches from the buffers the augment workers wrote them into (and hashes
//! them into the loader's digest when it keeps one).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use crossbeam::channel::{Receiver, Sender};

use super::slots::BatchSlots;
use super::stages::{BATCH, Processed, Shared};
use crate::batch::{self, BatchDigest};
use crate::config::OnError;
use crate::error::{Error, Result};
use crate::report::Tally;
use crate::source::{Dataset, Sample};

/// The batch stage: restores the epoch's order, gives back a reorder token per item, counts
/// skips (stopping the epoch under `on_error = "fail"`) and builds the batches.
pub(super) struct Batcher {
    pub(super) dataset: Dataset,
    pub(super) samples: Arc<Vec<Sample>>,
    pub(super) schema: SchemaRef,
    pub(super) batch_size: usize,
    /// The epoch's batch buffers, which the augment workers write samples into.
    pub(super) slots: Arc<BatchSlots>,
    pub(super) drop_last: bool,
    pub(super) on_error: OnError,
    pub(super) shared: Arc<Shared>,
    pub(super) stop: Arc<AtomicBool>,
    /// The loader's digest of emitted batches, when it keeps one.
    pub(super) digest: Option<Arc<Mutex<BatchDigest>>>,
}

impl Batcher {
    /// Runs until its input closes, the consumer is gone or a bad sample fails the epoch.
    pub(super) fn run(
        self,
        rx: Receiver<Processed>,
        tx: Sender<Result<RecordBatch>>,
        tokens: Sender<()>,
    ) {
        let b = self.batch_size;
        let mut tally = Tally::default();
        let mut pending: BTreeMap<usize, Processed> = BTreeMap::new();
        let mut next = 0usize;
        // Samples out so far: the place out of the next good sample. Batch `j` is the slots
        // of positions `j·b .. (j+1)·b`, where samples after a skip are moved back to.
        let mut out = 0usize;
        let (mut labels, mut ids) = (Vec::new(), Vec::new());
        // The digest before the batch being filled: a batch that is never emitted (the last,
        // short one under `drop_last`, or one cut off by a stop) leaves no trace in it.
        let mut before_batch: Option<BatchDigest> = None;
        'outer: while let Some(item) = tally.recv(&rx) {
            let t = Instant::now();
            pending.insert(item.pos, item);
            while let Some(item) = pending.remove(&next) {
                let pos = next;
                next += 1;
                let _ = tokens.try_send(());
                tally.items += 1;
                let sample = &self.samples[item.index];
                match item.result {
                    Ok(()) => {
                        // SAFETY (both blocks): positions arrive at this thread alone, and
                        // `out` ≤ `pos` have both arrived (they are taken in order).
                        if out != pos {
                            #[allow(unsafe_code)]
                            unsafe {
                                self.slots.move_sample(pos, out);
                            }
                        }
                        if let Some(digest) = &self.digest {
                            let mut digest = lock(digest);
                            if labels.is_empty() {
                                before_batch = Some(digest.clone());
                            }
                            #[allow(unsafe_code)]
                            unsafe {
                                self.slots.with_sample(out, |v| digest.write_images(v));
                            }
                        }
                        out += 1;
                        labels.push(sample.label);
                        ids.push(sample.id);
                    }
                    Err(e) => {
                        let path = sample.display_path(&self.dataset);
                        // One line per file only at debug level; the epoch's counts are one
                        // warning when the loader is joined.
                        tracing::debug!(path = %path, reason = %e.reason, error = %e.detail, "sample skipped");
                        *self
                            .shared
                            .skipped
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .entry(e.reason)
                            .or_default() += 1;
                        if self.on_error == OnError::Fail {
                            let error = Error::BadSample {
                                path,
                                reason: e.reason,
                                detail: e.detail,
                            };
                            let copy = error.bad_sample_copy();
                            *self
                                .shared
                                .failure
                                .lock()
                                .unwrap_or_else(|p| p.into_inner()) = copy;
                            self.stop.store(true, Ordering::Relaxed);
                            tally.busy += t.elapsed();
                            let _ = tally.send(&tx, Err(error));
                            break 'outer;
                        }
                    }
                }
                if labels.len() == b {
                    // Full: its last position (`pos` or an earlier one) has arrived.
                    let images = self.slots.take((out - 1) / b, b);
                    if !self.emit(
                        &mut tally,
                        &tx,
                        images,
                        std::mem::take(&mut labels),
                        std::mem::take(&mut ids),
                        t,
                    ) {
                        break 'outer;
                    }
                }
                // A buffer whose positions have all arrived and which no batch will be built
                // in yet (skips put the batch being filled in an earlier one) is let go.
                if pos % b == b - 1 && pos / b > out / b {
                    self.slots.discard(pos / b);
                }
            }
            tally.busy += t.elapsed();
        }
        if !labels.is_empty() && !self.drop_last && !self.stop.load(Ordering::Relaxed) {
            let t = Instant::now();
            // The input has closed: every augment worker has ended.
            let images = self.slots.take((out - 1) / b, labels.len());
            self.emit(&mut tally, &tx, images, labels, ids, t);
        } else if let (false, Some(digest), Some(before)) =
            (labels.is_empty(), &self.digest, before_batch)
        {
            *lock(digest) = before;
        }
        tally.flush(&self.shared.stages[BATCH]);
    }

    /// Builds and sends one batch; false when the consumer is gone or building failed.
    fn emit(
        &self,
        tally: &mut Tally,
        tx: &Sender<Result<RecordBatch>>,
        images: Vec<f32>,
        labels: Vec<i32>,
        ids: Vec<u64>,
        t: Instant,
    ) -> bool {
        let n = labels.len() as u64;
        if let Some(digest) = &self.digest {
            lock(digest).write_labels_and_ids(&labels, &ids);
        }
        let built = batch::build(&self.schema, images, labels, ids);
        tally.busy += t.elapsed();
        let ok = built.is_ok();
        if !tally.send(tx, built) {
            return false;
        }
        self.shared.emitted.fetch_add(n, Ordering::Relaxed);
        self.shared.batches.fetch_add(1, Ordering::Relaxed);
        ok
    }
}

/// The digest, whether or not a thread panicked holding it (its bytes are then moot anyway).
fn lock(digest: &Mutex<BatchDigest>) -> std::sync::MutexGuard<'_, BatchDigest> {
    digest.lock().unwrap_or_else(|p| p.into_inner())
}
