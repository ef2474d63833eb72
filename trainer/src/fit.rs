//! The fit loop: per epoch, train on augmented batches streamed by the pipeline, evaluate on a
//! fixed training subset and the validation split (no augmentation), record the metrics,
//! checkpoint, and let early stopping decide; at the end restore the best weights and evaluate
//! on the test split.
//!
//! Every epoch reports, through the [`Reporter`]: `train_loss`, `train_acc` (running means over
//! the epoch's training batches, dropout and augmentation on, as Keras reports them),
//! `train_eval_loss`, `train_eval_acc` (eval mode on a fixed training subset the size of the
//! validation split), `val_loss`, `val_acc`, `val_loss_se`, `val_acc_se`, `train_eval_loss_se`
//! (the standard errors of those losses and accuracy, from the per-sample values: how far
//! chance alone moves them on a set this size), `lr`, `epoch_secs` (the whole epoch, evaluation
//! included), `images_per_sec` (training images per second of the training phase),
//! `data_wait_secs` (time spent waiting for the pipeline) and `skipped_samples`.
//! The end adds `test_loss`/`test_acc` (when there is a test split) and `best_epoch`.
//!
//! [`prepare`] opens the data and sizes the model before anything is recorded, so a setup that
//! cannot train (one class, no data) fails with no run, and the caller can show the [`Plan`]
//! (input shape, parameters per training image, warnings) first; [`fit_prepared`] then trains.

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
use crate::model::{Cnn, Head, InputShape, trainable_vars};
use crate::optim::{LrSchedule, Optimizer, correct_count, cross_entropy, per_sample_nll};
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
    /// Standard error of `loss`: the per-sample losses' standard deviation over √images
    /// (0 for a training pass, which does not keep per-sample losses).
    pub loss_se: f64,
    /// Standard error of `acc`: √(acc·(1 − acc) / images).
    pub acc_se: f64,
}

/// More trainable parameters than this per training image draws a warning before training:
/// far beyond what the data can pin down (the reference CNN on the bundled 9,000 images has 47,
/// on the full Fashion-MNIST 8).
pub const WARN_PARAMS_PER_IMAGE: f64 = 1_000.0;
/// Fewer validation images than this draws a warning with the noise band of one epoch's
/// validation accuracy.
pub const WARN_VAL_IMAGES: usize = 200;

/// What a run will train, known before it starts: the caller shows it and its warnings.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Channels, height, width of the model's input.
    pub input: InputShape,
    /// The model's head, `auto` resolved.
    pub head: Head,
    /// Trainable parameters.
    pub num_params: usize,
    /// Training images per epoch.
    pub train_size: usize,
    /// Validation images.
    pub val_size: usize,
    /// Test images (0: no test split).
    pub test_size: usize,
    /// The class names.
    pub class_names: Vec<String>,
    /// What looks wrong with this setup, most serious first (training goes ahead).
    pub warnings: Vec<PlanWarning>,
}

impl Plan {
    /// Trainable parameters per training image.
    pub fn params_per_image(&self) -> f64 {
        self.num_params as f64 / self.train_size.max(1) as f64
    }
}

/// A setup that trains, but whose results will mislead without care.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanWarning {
    /// Far more parameters than the training set can support.
    ModelTooLarge {
        /// Parameters per training image.
        params_per_image: f64,
        /// The config key to change first and a value to try.
        key: &'static str,
        /// The value to try.
        suggested: String,
    },
    /// So few validation images that one epoch's accuracy moves by `acc_se_pts` points (one
    /// standard error, at 50% accuracy) by chance alone.
    SmallValidation {
        /// Validation images.
        images: usize,
        /// One standard error of validation accuracy at 50%, in points.
        acc_se_pts: f64,
    },
}

impl std::fmt::Display for PlanWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanWarning::ModelTooLarge {
                params_per_image,
                key,
                suggested,
            } => write!(
                f,
                "{params_per_image:.0} parameters per training image, far more than the data can \
                 support (above {WARN_PARAMS_PER_IMAGE:.0}): expect overfitting; make the model \
                 smaller first, e.g. --set {key}={suggested}"
            ),
            PlanWarning::SmallValidation { images, acc_se_pts } => write!(
                f,
                "only {images} validation images: one epoch's validation accuracy moves by up to \
                 ±{acc_se_pts:.1} points by chance alone (one standard error), so differences \
                 under about {:.0} points cannot be told from noise; hold out more \
                 (data.val_fraction), or repeat runs with other seeds (track sweep --repeat)",
                2.0 * acc_se_pts
            ),
        }
    }
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
    /// Standard error of `train_eval_loss` (per-sample standard deviation over √images).
    pub train_eval_loss_se: f64,
    /// Validation loss.
    pub val_loss: f64,
    /// Validation accuracy.
    pub val_acc: f64,
    /// Standard error of the validation loss (per-sample standard deviation over √images).
    pub val_loss_se: f64,
    /// Standard error of the validation accuracy (√(acc·(1 − acc) / images)).
    pub val_acc_se: f64,
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
            ("train_eval_loss_se", self.train_eval_loss_se),
            ("val_loss", self.val_loss),
            ("val_acc", self.val_acc),
            ("val_loss_se", self.val_loss_se),
            ("val_acc_se", self.val_acc_se),
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
    match prepare(config, &options.device) {
        Ok(prepared) => fit_prepared(prepared, reporter, progress, options),
        Err(error) => {
            record_failure(reporter, &error);
            Err(error)
        }
    }
}

/// A run's data opened and its model built, before anything is recorded: see [`prepare`].
pub struct Prepared {
    config: RunConfig,
    data: Data,
    plan: Plan,
    model: Cnn,
    varmap: VarMap,
    device: Device,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("plan", &self.plan)
            .finish()
    }
}

impl Prepared {
    /// What will be trained, with its warnings.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The config that will be trained and recorded (`model.head = "auto"` resolved).
    pub fn config(&self) -> &RunConfig {
        &self.config
    }

    /// The device the model was built on (where it trains).
    pub fn device(&self) -> &Device {
        &self.device
    }
}

/// Opens the data of `config` and builds its model on `device` (the one [`fit_prepared`] then
/// trains), recording nothing.
///
/// Errors, before any run exists, when the config is invalid, the data path is missing or has
/// no images, the data has fewer than two classes, or the training or validation split is
/// empty. Setups that train but mislead (far more parameters than images, a validation split
/// too small to judge) come back as [`Plan::warnings`].
pub fn prepare(config: &RunConfig, device: &Device) -> Result<Prepared> {
    config.validate()?;
    let data = Data::open(config)?;
    let mut config = config.clone();
    let head = config
        .model
        .head
        .resolve(data.input.height, data.input.width);
    config.model.head = head;
    let varmap = VarMap::new();
    let model = Cnn::new(
        &config.model,
        data.input,
        &varmap,
        device,
        config.train.seed,
    )?;
    let mut plan = Plan {
        input: data.input,
        head,
        num_params: model.num_params(),
        train_size: data.train.len(),
        val_size: data.val.len(),
        test_size: data.test.as_ref().map_or(0, Loader::len),
        class_names: data.class_names.clone(),
        warnings: Vec::new(),
    };
    if plan.params_per_image() > WARN_PARAMS_PER_IMAGE {
        let (key, suggested) = smaller_model(&config);
        plan.warnings.push(PlanWarning::ModelTooLarge {
            params_per_image: plan.params_per_image(),
            key,
            suggested,
        });
    }
    if plan.val_size < WARN_VAL_IMAGES {
        plan.warnings.push(PlanWarning::SmallValidation {
            images: plan.val_size,
            acc_se_pts: 100.0 * (0.25 / plan.val_size.max(1) as f64).sqrt(),
        });
    }
    Ok(Prepared {
        config,
        data,
        plan,
        model,
        varmap,
        device: device.clone(),
    })
}

/// The first change that makes `config`'s model much smaller: the pooled head if it flattens,
/// else half the dense units, else half the channels.
fn smaller_model(config: &RunConfig) -> (&'static str, String) {
    let m = &config.model;
    if m.head == Head::Flatten && !m.conv_channels.is_empty() {
        return ("model.head", Head::GlobalAvgPool.as_str().to_string());
    }
    let halve = |v: &[usize]| {
        let halved: Vec<String> = v.iter().map(|u| (u / 2).max(1).to_string()).collect();
        format!("[{}]", halved.join(","))
    };
    if m.dense_units.iter().any(|&u| u > 16) {
        return ("model.dense_units", halve(&m.dense_units));
    }
    ("model.conv_channels", halve(&m.conv_channels))
}

/// Trains a [`prepare`]d run on the device it was prepared for, recording it through `reporter`
/// (see [`fit`]); `options.device` must be that device.
pub fn fit_prepared(
    prepared: Prepared,
    reporter: &mut dyn Reporter,
    progress: &mut dyn Progress,
    options: &FitOptions,
) -> Result<FitSummary> {
    match run(prepared, reporter, progress, options) {
        Ok(summary) => {
            reporter.finish(&summary.status).map_err(Error::Report)?;
            Ok(summary)
        }
        Err(error) => {
            record_failure(reporter, &error);
            Err(error)
        }
    }
}

/// Records FAILED with the error's message; the error itself goes back to the caller, which
/// prints it (so it is not logged here a second time).
fn record_failure(reporter: &mut dyn Reporter, error: &Error) {
    let message = error_chain(error);
    tracing::debug!(error = %message, "training failed");
    if let Err(report_error) = reporter.finish(&RunStatus::Failed { error: message }) {
        tracing::warn!(error = %report_error, "could not record the FAILED status");
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
    class_names: Vec<String>,
    input: InputShape,
}

impl Data {
    fn open(config: &RunConfig) -> Result<Self> {
        let pipeline_config = config.pipeline_config();
        let dataset = Dataset::open(&config.data)?;
        if dataset.classes().len() < 2 {
            return Err(Error::ConfigValue {
                key: "data.path".into(),
                reason: format!(
                    "{}: {} class{} ({}); a classifier needs at least two (one folder of images \
                     per class)",
                    dataset.path().display(),
                    dataset.classes().len(),
                    if dataset.classes().len() == 1 {
                        ""
                    } else {
                        "es"
                    },
                    dataset.classes().join(", ")
                ),
            });
        }
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
            class_names: dataset.classes().to_vec(),
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
    /// Sum of the squared per-sample losses (evaluation passes only).
    loss_sq_sum: f64,
    correct: usize,
    images: usize,
    wait_secs: f64,
    skipped: u64,
    interrupted: bool,
}

impl Pass {
    fn evaluation(&self) -> Evaluation {
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

    fn save_last(&self, dir: &std::path::Path, state: &TrainerState) -> Result<()> {
        checkpoint::save_weights(&self.varmap, &dir.join(checkpoint::LAST_WEIGHTS))?;
        self.optimizer
            .save_state(&dir.join(checkpoint::LAST_OPTIMIZER))?;
        checkpoint::save_state(state, &dir.join(checkpoint::LAST_STATE))
    }
}

fn run(
    prepared: Prepared,
    reporter: &mut dyn Reporter,
    progress: &mut dyn Progress,
    options: &FitOptions,
) -> Result<FitSummary> {
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
            device: crate::device::device_name(&options.device),
            reason: format!(
                "the run was prepared for {}; prepare it for the device it trains on",
                crate::device::device_name(&device)
            ),
        });
    }
    let config = &config;
    let dir = &options.artifact_dir;
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
