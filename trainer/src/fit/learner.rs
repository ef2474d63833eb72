//! The fit loop: [`Learner`] owns the model's [`Stepper`], the data, the schedule, early
//! stopping and the checkpoints, and trains epoch by epoch ([`Learner::fit`], one
//! [`Learner::epoch`] at a time); a resume restores the last checkpoint into it first.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use super::checkpointer::Checkpointer;
use super::data::Data;
use super::metrics::{EpochMetrics, FitSummary};
use super::options::{FitOptions, NoProgress, Progress};
use super::pass::Stepper;
use super::plan::Prepared;
use super::record::record_run;
use crate::checkpoint::TrainerState;
use crate::config::RunConfig;
use crate::device::device_name;
use crate::early_stopping::EarlyStopping;
use crate::error::{Error, Result};
use crate::model::trainable_vars;
use crate::optim::{LrSchedule, Optimizer};
use crate::report::{Reporter, RunStatus};

/// A prepared run being trained: what changes from epoch to epoch, and the loop over epochs.
pub(super) struct Learner {
    config: RunConfig,
    data: Data,
    step: Stepper,
    schedule: LrSchedule,
    early: EarlyStopping,
    checkpointer: Checkpointer,
    /// The first epoch this session trains (after a resume: the one after the checkpoint).
    first_epoch: usize,
    /// Early stopping ended the run (after a resume: before this session).
    stopped_early: bool,
}

/// How an epoch ended.
enum EpochEnd {
    /// The epoch finished and was recorded; `stop`: early stopping ends the run after it.
    Finished {
        /// The epoch's metrics.
        metrics: EpochMetrics,
        /// Early stopping decided to stop.
        stop: bool,
    },
    /// The interrupt flag was set: nothing of the epoch was recorded.
    Interrupted,
}

impl Learner {
    /// A fresh learner for `prepared`, checkpointing into `options.artifact_dir`; errors when
    /// `options.device` is not the device the run was prepared for.
    pub(super) fn new(prepared: Prepared, options: &FitOptions) -> Result<Self> {
        let Prepared {
            config,
            data,
            model,
            varmap,
            device,
            ..
        } = prepared;
        if !device.same_device(&options.device) {
            return Err(Error::Device {
                device: device_name(&options.device),
                reason: format!(
                    "the run was prepared for {}; prepare it for the device it trains on",
                    device_name(&device)
                ),
            });
        }
        let optimizer = Optimizer::new(trainable_vars(&varmap), &config.optim);
        let step = Stepper {
            model,
            varmap,
            optimizer,
            label_smoothing: config.optim.label_smoothing,
            device,
            classes: data.classes,
        };
        Ok(Self {
            schedule: LrSchedule::new(&config.optim, config.train.epochs),
            early: EarlyStopping::new(&config.early_stopping),
            checkpointer: Checkpointer::new(&options.artifact_dir),
            first_epoch: 1,
            stopped_early: false,
            config,
            data,
            step,
        })
    }

    /// Continues from the last checkpoint: weights, optimizer, schedule, early stopping and
    /// the next epoch as an uninterrupted run would have them.
    fn resume(&mut self) -> Result<()> {
        let step = &mut self.step;
        let state =
            self.checkpointer
                .restore_last(&mut step.varmap, &mut step.optimizer, &step.device)?;
        self.schedule = state.schedule;
        self.early = state.early_stopping;
        self.first_epoch = state.epoch + 1;
        self.stopped_early = state.stopped;
        tracing::info!(epoch = state.epoch, dir = %self.checkpointer.dir().display(), "resuming");
        Ok(())
    }

    /// Trains every epoch left (a new run is recorded first, a resumed one restored), then
    /// restores the best weights and evaluates on the test split.
    pub(super) fn fit(
        mut self,
        reporter: &mut dyn Reporter,
        progress: &mut dyn Progress,
        options: &FitOptions,
    ) -> Result<FitSummary> {
        if options.resume {
            self.resume()?;
        } else {
            let num_params = self.step.model.num_params();
            let (config, data, dir) = (&self.config, &self.data, self.checkpointer.dir());
            record_run(config, data, num_params, &self.step.device, reporter, dir)?;
        }
        let mut history = Vec::new();
        let mut killed = false;
        let last_epoch = if self.stopped_early {
            self.first_epoch - 1
        } else {
            self.config.train.epochs
        };
        for epoch in self.first_epoch..=last_epoch {
            match self.epoch(epoch, reporter, progress, &options.interrupt)? {
                EpochEnd::Interrupted => {
                    killed = true;
                    break;
                }
                EpochEnd::Finished { metrics, stop } => {
                    history.push(metrics);
                    if stop {
                        self.stopped_early = true;
                        tracing::info!(epoch, best = ?self.early.best(), "early stopping");
                        break;
                    }
                }
            }
        }
        self.finish(history, killed, reporter, &options.interrupt)
    }

    /// One epoch: train, evaluate on the training subset and the validation split, then let
    /// the schedule and early stopping see it, checkpoint, and record its metrics.
    fn epoch(
        &mut self,
        epoch: usize,
        reporter: &mut dyn Reporter,
        progress: &mut dyn Progress,
        interrupt: &AtomicBool,
    ) -> Result<EpochEnd> {
        let started = Instant::now();
        let lr = self.schedule.learning_rate(epoch);
        let (step, data, config) = (&mut self.step, &self.data, &self.config);
        step.optimizer.set_learning_rate(lr);
        step.model.reseed_dropout(pipeline::seed::mix_seed(&[
            config.train.seed,
            epoch as u64,
            0xD20B,
        ]));
        progress.epoch_started(epoch, config.train.epochs, data.train.batches_per_epoch());
        let train = step.pass(&data.train, epoch, true, interrupt, progress)?;
        let train_secs = started.elapsed().as_secs_f64();
        if train.interrupted {
            return Ok(EpochEnd::Interrupted);
        }
        let train_eval = step.pass(&data.train_eval, epoch, false, interrupt, progress)?;
        let val = step.pass(&data.val, epoch, false, interrupt, progress)?;
        if train_eval.interrupted || val.interrupted {
            return Ok(EpochEnd::Interrupted);
        }
        let (t, te, v) = (
            train.evaluation(),
            train_eval.evaluation(),
            val.evaluation(),
        );
        let metrics = EpochMetrics {
            epoch,
            train_loss: t.loss,
            train_acc: t.acc,
            train_eval_loss: te.loss,
            train_eval_acc: te.acc,
            train_eval_loss_se: te.loss_se,
            val_loss: v.loss,
            val_acc: v.acc,
            val_loss_se: v.loss_se,
            val_acc_se: v.acc_se,
            lr,
            epoch_secs: started.elapsed().as_secs_f64(),
            images_per_sec: t.images as f64 / train_secs.max(1e-9),
            data_wait_secs: train.wait_secs + train_eval.wait_secs + val.wait_secs,
            skipped_samples: train.skipped + train_eval.skipped + val.skipped,
        };
        self.schedule.observe(metrics.val_loss);
        let monitor = self.config.early_stopping.monitor;
        let decision = self.early.update(epoch, metrics.monitored(monitor));
        let state = TrainerState {
            epoch,
            optimizer_steps: self.step.optimizer.steps(),
            learning_rate: lr,
            schedule: self.schedule.clone(),
            early_stopping: self.early.clone(),
            stopped: decision.stop,
        };
        let written = self.checkpointer.save(
            &self.step.varmap,
            &self.step.optimizer,
            &state,
            decision.improved,
        )?;
        for name in written {
            reporter
                .log_artifact(name, &self.checkpointer.path(name))
                .map_err(Error::Report)?;
        }
        let pairs: Vec<(&str, f64)> = metrics.iter().collect();
        reporter
            .log_metrics(epoch as u64, &pairs)
            .map_err(Error::Report)?;
        tracing::info!(
            epoch,
            train_loss = metrics.train_loss,
            val_loss = metrics.val_loss,
            val_acc = metrics.val_acc,
            epoch_secs = metrics.epoch_secs,
            "epoch finished"
        );
        progress.epoch_finished(&metrics);
        Ok(EpochEnd::Finished {
            metrics,
            stop: decision.stop,
        })
    }

    /// After the epochs: unless `killed`, put back the best weights (when configured) and
    /// evaluate them on the validation and test splits, recording `best_epoch` and the test
    /// metrics at the last epoch's step.
    fn finish(
        mut self,
        history: Vec<EpochMetrics>,
        killed: bool,
        reporter: &mut dyn Reporter,
        interrupt: &AtomicBool,
    ) -> Result<FitSummary> {
        let best = self.early.best().map(|(value, epoch)| (epoch, value));
        let mut summary = FitSummary {
            status: if killed {
                RunStatus::Killed
            } else {
                RunStatus::Finished
            },
            history,
            best,
            stopped_early: self.stopped_early,
            final_val: None,
            test: None,
            num_params: self.step.model.num_params(),
            train_size: self.data.train.len(),
            classes: self.data.classes,
        };
        if killed {
            return Ok(summary);
        }
        let final_step = summary
            .history
            .last()
            .map_or(self.first_epoch - 1, |m| m.epoch)
            .max(1) as u64;
        let (step, data) = (&mut self.step, &self.data);
        if self.config.early_stopping.restore_best_weights
            && self.checkpointer.restore_best(&mut step.varmap)?
        {
            let never = AtomicBool::new(false);
            let val = step.pass(
                &data.val,
                final_step as usize,
                false,
                &never,
                &mut NoProgress,
            )?;
            summary.final_val = Some(val.evaluation());
        }
        let mut end_metrics: Vec<(&str, f64)> = Vec::new();
        if let Some((epoch, _)) = best {
            end_metrics.push(("best_epoch", epoch as f64));
        }
        if let Some(test_loader) = &data.test {
            let test = step.pass(
                test_loader,
                final_step as usize,
                false,
                interrupt,
                &mut NoProgress,
            )?;
            if test.interrupted {
                summary.status = RunStatus::Killed;
            } else {
                let e = test.evaluation();
                end_metrics.push(("test_loss", e.loss));
                end_metrics.push(("test_acc", e.acc));
                summary.test = Some(e);
            }
        }
        reporter
            .log_metrics(final_step, &end_metrics)
            .map_err(Error::Report)?;
        Ok(summary)
    }
}
