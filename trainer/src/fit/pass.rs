//! One pass over a loader: the model with its optimizer ([`Stepper`]: the model owns the step)
//! runs training steps or evaluates, and [`Pass`] counts what the pass saw.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use candle_core::{Device, ModuleT};
use candle_nn::VarMap;
use pipeline::Loader;

use super::metrics::Evaluation;
use super::options::Progress;
use crate::error::{Error, Result};
use crate::model::Cnn;
use crate::optim::{Optimizer, correct_count, cross_entropy, per_sample_nll};
use crate::tensor::batch_to_tensors;

/// A model with its optimizer: what one training step needs.
pub(super) struct Stepper {
    /// The model.
    pub(super) model: Cnn,
    /// The model's variables (what checkpoints save and load).
    pub(super) varmap: VarMap,
    /// The optimizer over the model's trainable variables.
    pub(super) optimizer: Optimizer,
    /// The training loss's label smoothing.
    pub(super) label_smoothing: f64,
    /// Where the model lives.
    pub(super) device: Device,
    /// Number of classes.
    pub(super) classes: usize,
}

/// Counters of one pass over a loader.
#[derive(Default)]
pub(super) struct Pass {
    loss_sum: f64,
    /// Sum of the squared per-sample losses (evaluation passes only).
    loss_sq_sum: f64,
    correct: usize,
    /// Images seen.
    pub(super) images: usize,
    /// Seconds spent waiting for the pipeline.
    pub(super) wait_secs: f64,
    /// Samples the pipeline skipped.
    pub(super) skipped: u64,
    /// The interrupt flag stopped the pass before the loader's end.
    pub(super) interrupted: bool,
}

impl Pass {
    /// Loss, accuracy and their standard errors over the pass.
    pub(super) fn evaluation(&self) -> Evaluation {
        let n = self.images.max(1) as f64;
        let loss = self.loss_sum / n;
        let acc = self.correct as f64 / n;
        let loss_se = if self.images > 1 && self.loss_sq_sum > 0.0 {
            let variance = (self.loss_sq_sum - n * loss * loss).max(0.0) / (n - 1.0);
            (variance / n).sqrt()
        } else {
            0.0
        };
        Evaluation {
            loss,
            acc,
            images: self.images,
            loss_se,
            acc_se: (acc * (1.0 - acc) / n).sqrt(),
        }
    }
}

impl Stepper {
    /// One pass over `loader` at `epoch`: training steps when `train`, else evaluation.
    pub(super) fn pass(
        &mut self,
        loader: &Loader,
        epoch: usize,
        train: bool,
        interrupt: &AtomicBool,
        progress: &mut dyn Progress,
    ) -> Result<Pass> {
        let mut pass = Pass::default();
        let start = Instant::now();
        let mut running = loader.epoch(epoch as u64)?;
        for index in 0.. {
            if interrupt.load(Ordering::Relaxed) {
                pass.interrupted = true;
                break;
            }
            let waited = Instant::now();
            let Some(batch) = running.next() else { break };
            pass.wait_secs += waited.elapsed().as_secs_f64();
            let record = batch?;
            let batch = batch_to_tensors(&record, self.classes, &self.device)?;
            running.recycle(record); // the tensors hold their own copy
            let logits = self.model.forward_t(&batch.images, train)?;
            if !train {
                // Per-sample losses: their spread gives the standard error of the mean.
                let losses = per_sample_nll(&logits, &batch.labels)?;
                let (sum, sq_sum) = losses.iter().fold((0.0, 0.0), |(s, q), &l| {
                    let l = f64::from(l);
                    (s + l, q + l * l)
                });
                if !sum.is_finite() {
                    return Err(Error::NonFiniteLoss {
                        epoch,
                        batch: index,
                        value: sum,
                    });
                }
                pass.correct += correct_count(&logits, &batch.labels)?;
                pass.loss_sum += sum;
                pass.loss_sq_sum += sq_sum;
                pass.images += batch.len;
                continue;
            }
            let loss = cross_entropy(&logits, &batch.labels, self.label_smoothing)?;
            let value = f64::from(loss.to_scalar::<f32>()?);
            if !value.is_finite() {
                return Err(Error::NonFiniteLoss {
                    epoch,
                    batch: index,
                    value,
                });
            }
            pass.correct += correct_count(&logits, &batch.labels)?;
            pass.loss_sum += value * batch.len as f64;
            pass.images += batch.len;
            self.optimizer.backward_step(&loss)?;
            let e = pass.evaluation();
            let rate = pass.images as f64 / start.elapsed().as_secs_f64().max(1e-9);
            progress.batch_finished(index + 1, e.loss, e.acc, rate);
        }
        pass.skipped = running.join()?.skipped_total();
        Ok(pass)
    }
}
