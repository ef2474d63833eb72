//! The fit loop: per epoch, train on augmented batches streamed by the pipeline, evaluate on a
//! fixed training subset and the validation split (no augmentation), record the metrics,
//! checkpoint, and let early stopping decide; at the end restore the best weights and evaluate
//! on the test split.
//!
//! Every epoch reports, through the [`Reporter`](crate::report::Reporter), the metrics of
//! [`EpochMetrics::NAMES`]: `train_loss`, `train_acc` (running means over
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
//!
//! # Layout
//! - `data`: the run's loaders, checked before anything is recorded.
//! - `plan`: [`prepare`] opens them and builds the model; [`Plan`], [`PlanWarning`],
//!   [`Prepared`].
//! - `options`: [`FitOptions`] (device, artifact directory, interrupt, resume), [`Progress`].
//! - `run`: [`fit`] and [`fit_prepared`], which end the run's record exactly once.
//! - `record`: the params, tags and config artifact of a new run; FAILED with the error.
//! - `learner`: the loop, `Learner::fit` over `Learner::epoch`, with resume.
//! - `pass`: one pass over a loader, training steps or evaluation.
//! - `checkpointer`: the best and last checkpoints of the loop.
//! - `metrics`: [`Evaluation`], [`EpochMetrics`] (the metric names, once), [`FitSummary`].

mod checkpointer;
mod data;
mod learner;
mod metrics;
mod options;
mod pass;
mod plan;
mod record;
mod run;

pub use metrics::{EpochMetrics, Evaluation, FitSummary};
pub use options::{FitOptions, NoProgress, Progress};
pub use plan::{Plan, PlanWarning, Prepared, WARN_PARAMS_PER_IMAGE, WARN_VAL_IMAGES, prepare};
pub use record::CONFIG_ARTIFACT;
pub use run::{fit, fit_prepared};
