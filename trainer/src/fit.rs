//! The fit loop: per epoch, train on augmented batches streamed by the pipeline, evaluate on a
//! fixed training subset and the validation split (no augmentation), record the metrics,
//! checkpoint, and let early stopping decide; at the end restore the best weights and evaluate
//! on the test split.
//!
//! Every epoch reports, through the [`Reporter`]: `train_loss`, `train_acc` (running means over
//! the epoch's training batches, dropout and augmentation on, as Keras reports them),
//! `train_eval_loss`, `train_eval_acc` (eval mode on a fixed training subset the size of the
//! validation split), `val_loss`, `val_acc`, `lr`, `epoch_secs` (the whole epoch, evaluation
//! included), `images_per_sec` (training images per second of the training phase),
//! `data_wait_secs` (time spent waiting for the pipeline) and `skipped_samples`.
//! The end adds `test_loss`/`test_acc` (when there is a test split) and `best_epoch`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use candle_core::{Device, ModuleT};
use candle_nn::VarMap;
use pipeline::{Dataset, Loader, Split};

use crate::checkpoint::{self, TrainerState};
use crate::config::RunConfig;
use crate::device::device_name;
use crate::early_stopping::EarlyStopping;
use crate::error::{Error, Result};
use crate::model::{Cnn, InputShape, trainable_vars};
use crate::optim::{LrSchedule, Optimizer, correct_count, cross_entropy};
use crate::report::{Reporter, RunStatus};
use crate::tensor::batch_to_tensors;

/// The run config as recorded in the artifact directory.
pub const CONFIG_ARTIFACT: &str = "config.toml";

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

/// Loss and accuracy over a set of images.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// Mean cross-entropy (without label smoothing).
    pub loss: f64,
    /// Fraction of correct predictions.
    pub acc: f64,
    /// Images evaluated.
    pub images: usize,
}

/// The metrics of one epoch (see the module docs for their meaning).
#[derive(Debug, Clone, PartialEq)]
pub struct EpochMetrics {
    /// The epoch, 1-based.
    pub epoch: usize,
    /// Running mean training loss of the epoch.
    pub train_loss: f64,
    /// Running training accuracy of the epoch.
    pub train_acc: f64,
    /// Loss on the fixed training subset, eval mode.
    pub train_eval_loss: f64,
    /// Accuracy on the fixed training subset, eval mode.
    pub train_eval_acc: f64,
    /// Validation loss.
    pub val_loss: f64,
    /// Validation accuracy.
    pub val_acc: f64,
    /// Learning rate of the epoch.
    pub lr: f64,
    /// Wall seconds of the whole epoch.
    pub epoch_secs: f64,
    /// Training images per second of the training phase.
    pub images_per_sec: f64,
    /// Seconds spent waiting for the pipeline (training and evaluation).
    pub data_wait_secs: f64,
    /// Samples the pipeline skipped this epoch (unreadable or undecodable).
    pub skipped_samples: u64,
}

impl EpochMetrics {
    /// The metrics as (name, value) pairs, in the order they are logged.
    pub fn pairs(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("train_loss", self.train_loss),
            ("train_acc", self.train_acc),
            ("train_eval_loss", self.train_eval_loss),
            ("train_eval_acc", self.train_eval_acc),
            ("val_loss", self.val_loss),
            ("val_acc", self.val_acc),
            ("lr", self.lr),
            ("epoch_secs", self.epoch_secs),
            ("images_per_sec", self.images_per_sec),
            ("data_wait_secs", self.data_wait_secs),
            ("skipped_samples", self.skipped_samples as f64),
        ]
    }

    /// The value of the monitored metric (`val_loss` or `val_acc`).
    pub fn monitored(&self, monitor: crate::early_stopping::Monitor) -> f64 {
        match monitor {
            crate::early_stopping::Monitor::ValLoss => self.val_loss,
            crate::early_stopping::Monitor::ValAcc => self.val_acc,
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

/// What a fit did.
#[derive(Debug, Clone)]
pub struct FitSummary {
    /// FINISHED or KILLED (a failure is returned as `Err`, after the reporter recorded FAILED).
    pub status: RunStatus,
    /// Every finished epoch's metrics (on resume: the epochs of this session).
    pub history: Vec<EpochMetrics>,
    /// The best epoch by the monitored metric and its value.
    pub best: Option<(usize, f64)>,
    /// Early stopping ended the run before `train.epochs`.
    pub stopped_early: bool,
    /// Validation after restoring the best weights (equal to the best epoch's).
    pub final_val: Option<Evaluation>,
    /// Test split evaluation with the final weights, when the data has a test split.
    pub test: Option<Evaluation>,
    /// Trainable parameters.
    pub num_params: usize,
    /// Training images per epoch.
    pub train_size: usize,
    /// Number of classes.
    pub classes: usize,
}

/// Trains `config` on `options.device`, recording the run through `reporter`.
///
/// The reporter's [`finish`](Reporter::finish) is called exactly once: FINISHED, KILLED (the
/// interrupt flag was set), or FAILED with the error's message, after which the error is
/// returned.
pub fn fit(
    config: &RunConfig,
    reporter: &mut dyn Reporter,
    progress: &mut dyn Progress,
    options: &FitOptions,
) -> Result<FitSummary> {
    match run(config, reporter, progress, options) {
        Ok(summary) => {
            reporter.finish(&summary.status).map_err(Error::Report)?;
            Ok(summary)
        }
        Err(error) => {
            let message = error_chain(&error);
            tracing::error!(error = %message, "training failed");
            if let Err(report_error) = reporter.finish(&RunStatus::Failed { error: message }) {
                tracing::warn!(error = %report_error, "could not record the FAILED status");
            }
            Err(error)
        }
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// The loaders of one run.
struct Data {
    train: Loader,
    train_eval: Loader,
    val: Loader,
    test: Option<Loader>,
    classes: usize,
    input: InputShape,
}

impl Data {
    fn open(config: &RunConfig) -> Result<Self> {
        let pipeline_config = config.pipeline_config();
        let dataset = Dataset::open(&config.data)?;
        let train = Loader::train(&dataset, &pipeline_config)?;
        let val = Loader::eval(&dataset, Split::Val, &pipeline_config)?;
        if train.is_empty() || val.is_empty() {
            return Err(Error::ConfigValue {
                key: "data".into(),
                reason: format!(
                    "{}: {} training and {} validation samples; both must be non-empty",
                    dataset.path().display(),
                    train.len(),
                    val.len()
                ),
            });
        }
        let train_eval = Loader::train_subset(&dataset, val.len(), &pipeline_config)?;
        let test = if dataset.has_test() && dataset.len(Split::Test) > 0 {
            Some(Loader::eval(&dataset, Split::Test, &pipeline_config)?)
        } else {
            None
        };
        let [channels, height, width] = train.shape();
        let classes = dataset.classes().len();
        Ok(Self {
            train,
            train_eval,
            val,
            test,
            classes,
            input: InputShape {
                channels,
                height,
                width,
                classes,
            },
        })
    }
}

/// A model with its optimizer: what one training step needs.
struct Learner {
    model: Cnn,
    varmap: VarMap,
    optimizer: Optimizer,
    label_smoothing: f64,
    device: Device,
    classes: usize,
}

/// Counters of one pass over a loader.
#[derive(Default)]
struct Pass {
    loss_sum: f64,
    correct: usize,
    images: usize,
    wait_secs: f64,
    skipped: u64,
    interrupted: bool,
}

impl Pass {
    fn evaluation(&self) -> Evaluation {
        let n = self.images.max(1) as f64;
        Evaluation {
            loss: self.loss_sum / n,
            acc: self.correct as f64 / n,
            images: self.images,
        }
    }
}

impl Learner {
    /// One pass over `loader` at `epoch`: training steps when `train`, else evaluation.
    fn pass(
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
            let smoothing = if train { self.label_smoothing } else { 0.0 };
            let loss = cross_entropy(&logits, &batch.labels, smoothing)?;
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
            if train {
                self.optimizer.backward_step(&loss)?;
                let e = pass.evaluation();
                let rate = pass.images as f64 / start.elapsed().as_secs_f64().max(1e-9);
                progress.batch_finished(index + 1, e.loss, e.acc, rate);
            }
        }
        pass.skipped = running.join()?.skipped_total();
        Ok(pass)
    }

    fn save_last(&self, dir: &std::path::Path, state: &TrainerState) -> Result<()> {
        checkpoint::save_weights(&self.varmap, &dir.join(checkpoint::LAST_WEIGHTS))?;
        self.optimizer
            .save_state(&dir.join(checkpoint::LAST_OPTIMIZER))?;
        checkpoint::save_state(state, &dir.join(checkpoint::LAST_STATE))
    }
}

fn run(
    config: &RunConfig,
    reporter: &mut dyn Reporter,
    progress: &mut dyn Progress,
    options: &FitOptions,
) -> Result<FitSummary> {
    config.validate()?;
    let dir = &options.artifact_dir;
    let data = Data::open(config)?;
    let device = options.device.clone();
    let varmap = VarMap::new();
    let model = Cnn::new(
        &config.model,
        data.input,
        &varmap,
        &device,
        config.train.seed,
    )?;
    let num_params = model.num_params();
    let optimizer = Optimizer::new(trainable_vars(&varmap), &config.optim);
    let mut learner = Learner {
        model,
        varmap,
        optimizer,
        label_smoothing: config.optim.label_smoothing,
        device: device.clone(),
        classes: data.classes,
    };
    let mut schedule = LrSchedule::new(&config.optim, config.train.epochs);
    let mut early = EarlyStopping::new(&config.early_stopping);
    let mut first_epoch = 1;
    let mut stopped_early = false;
    if options.resume {
        let state = checkpoint::load_state(&dir.join(checkpoint::LAST_STATE))?;
        checkpoint::load_weights(&mut learner.varmap, &dir.join(checkpoint::LAST_WEIGHTS))?;
        learner.optimizer.restore(
            &dir.join(checkpoint::LAST_OPTIMIZER),
            state.optimizer_steps,
            state.learning_rate,
            &device,
        )?;
        schedule = state.schedule;
        early = state.early_stopping;
        first_epoch = state.epoch + 1;
        stopped_early = state.stopped;
        tracing::info!(epoch = state.epoch, dir = %dir.display(), "resuming");
    } else {
        record_run(config, &data, num_params, &device, reporter, dir)?;
    }

    let monitor = config.early_stopping.monitor;
    let mut history = Vec::new();
    let mut killed = false;
    let last_epoch = if stopped_early {
        first_epoch - 1
    } else {
        config.train.epochs
    };
    for epoch in first_epoch..=last_epoch {
        let started = Instant::now();
        let lr = schedule.learning_rate(epoch);
        learner.optimizer.set_learning_rate(lr);
        learner.model.reseed_dropout(pipeline::runtime::mix_seed(&[
            config.train.seed,
            epoch as u64,
            0xD20B,
        ]));
        progress.epoch_started(epoch, config.train.epochs, data.train.batches_per_epoch());
        let train = learner.pass(&data.train, epoch, true, &options.interrupt, progress)?;
        let train_secs = started.elapsed().as_secs_f64();
        if train.interrupted {
            killed = true;
            break;
        }
        let train_eval =
            learner.pass(&data.train_eval, epoch, false, &options.interrupt, progress)?;
        let val = learner.pass(&data.val, epoch, false, &options.interrupt, progress)?;
        if train_eval.interrupted || val.interrupted {
            killed = true;
            break;
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
            val_loss: v.loss,
            val_acc: v.acc,
            lr,
            epoch_secs: started.elapsed().as_secs_f64(),
            images_per_sec: t.images as f64 / train_secs.max(1e-9),
            data_wait_secs: train.wait_secs + train_eval.wait_secs + val.wait_secs,
            skipped_samples: train.skipped + train_eval.skipped + val.skipped,
        };
        schedule.observe(metrics.val_loss);
        let decision = early.update(epoch, metrics.monitored(monitor));
        let mut written = vec![
            checkpoint::LAST_WEIGHTS,
            checkpoint::LAST_OPTIMIZER,
            checkpoint::LAST_STATE,
        ];
        if decision.improved {
            checkpoint::save_weights(&learner.varmap, &dir.join(checkpoint::BEST_WEIGHTS))?;
            written.push(checkpoint::BEST_WEIGHTS);
        }
        let state = TrainerState {
            epoch,
            optimizer_steps: learner.optimizer.steps(),
            learning_rate: lr,
            schedule: schedule.clone(),
            early_stopping: early.clone(),
            stopped: decision.stop,
        };
        learner.save_last(dir, &state)?;
        for name in written {
            reporter
                .log_artifact(name, &dir.join(name))
                .map_err(Error::Report)?;
        }
        reporter
            .log_metrics(epoch as u64, &metrics.pairs())
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
        history.push(metrics);
        if decision.stop {
            stopped_early = true;
            tracing::info!(epoch, best = ?early.best(), "early stopping");
            break;
        }
    }

    let best = early.best().map(|(value, epoch)| (epoch, value));
    let mut summary = FitSummary {
        status: if killed {
            RunStatus::Killed
        } else {
            RunStatus::Finished
        },
        history,
        best,
        stopped_early,
        final_val: None,
        test: None,
        num_params,
        train_size: data.train.len(),
        classes: data.classes,
    };
    let best_path = dir.join(checkpoint::BEST_WEIGHTS);
    if killed {
        return Ok(summary);
    }
    let final_step = summary
        .history
        .last()
        .map_or(first_epoch - 1, |m| m.epoch)
        .max(1) as u64;
    if config.early_stopping.restore_best_weights && best_path.is_file() {
        checkpoint::load_weights(&mut learner.varmap, &best_path)?;
        let never = AtomicBool::new(false);
        let val = learner.pass(
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
        let test = learner.pass(
            test_loader,
            final_step as usize,
            false,
            &options.interrupt,
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

/// Params, tags and the config artifact of a new run.
fn record_run(
    config: &RunConfig,
    data: &Data,
    num_params: usize,
    device: &Device,
    reporter: &mut dyn Reporter,
    dir: &std::path::Path,
) -> Result<()> {
    let mut params = config.flatten_params()?;
    let [c, h, w] = data.train.shape();
    params.extend([
        ("train_size".to_string(), data.train.len().to_string()),
        ("val_size".to_string(), data.val.len().to_string()),
        (
            "train_eval_size".to_string(),
            data.train_eval.len().to_string(),
        ),
        (
            "test_size".to_string(),
            data.test.as_ref().map_or(0, Loader::len).to_string(),
        ),
        ("num_classes".to_string(), data.classes.to_string()),
        ("image_shape".to_string(), format!("[{c}, {h}, {w}]")),
        ("num_params".to_string(), num_params.to_string()),
        ("device".to_string(), device_name(device)),
        ("seed".to_string(), config.train.seed.to_string()),
        (
            "gapwatch_version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
    ]);
    reporter.log_params(&params).map_err(Error::Report)?;
    let toml = config.to_toml_string()?;
    let path = dir.join(CONFIG_ARTIFACT);
    checkpoint::write_atomically(&path, |tmp| {
        std::fs::write(tmp, &toml).map_err(|source| Error::Artifact {
            path: tmp.to_path_buf(),
            source,
        })
    })?;
    reporter
        .set_tags(&[
            ("gapwatch.config".to_string(), toml),
            (
                "gapwatch.artifact_dir".to_string(),
                dir.display().to_string(),
            ),
        ])
        .map_err(Error::Report)?;
    reporter
        .log_artifact(CONFIG_ARTIFACT, &path)
        .map_err(Error::Report)
}
