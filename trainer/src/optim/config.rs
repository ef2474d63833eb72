//! The `[optim]` section of the run config: which update rule, its hyper-parameters, the
//! learning-rate schedule, clipping and label smoothing, with their defaults and ranges.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Default optimizer.
pub const DEFAULT_OPTIMIZER: OptimizerKind = OptimizerKind::Adam;
/// Default (initial) learning rate.
pub const DEFAULT_LEARNING_RATE: f64 = 1e-3;
/// Default weight decay (L2 for `adam`/`sgd`, decoupled for `adamw`).
pub const DEFAULT_WEIGHT_DECAY: f64 = 1e-4;
/// Default Adam β₁.
pub const DEFAULT_BETA1: f64 = 0.9;
/// Default Adam β₂.
pub const DEFAULT_BETA2: f64 = 0.999;
/// Default Adam ε.
pub const DEFAULT_EPS: f64 = 1e-8;
/// Default SGD momentum.
pub const DEFAULT_MOMENTUM: f64 = 0.9;
/// Default epochs between decays of the `step` schedule.
pub const DEFAULT_STEP_SIZE_EPOCHS: usize = 5;
/// Default factor the `step` and `plateau` schedules multiply the learning rate by.
pub const DEFAULT_LR_DECAY_FACTOR: f64 = 0.1;
/// Default epochs without a lower `val_loss` before `plateau` decays the learning rate.
pub const DEFAULT_PLATEAU_PATIENCE_EPOCHS: usize = 2;

/// Which update rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adam with L2 weight decay added to the gradient (PyTorch `Adam(weight_decay=…)`).
    Adam,
    /// Adam with decoupled weight decay (PyTorch `AdamW`).
    Adamw,
    /// SGD with optional momentum and Nesterov (PyTorch `SGD`, dampening 0).
    Sgd,
}

/// How the learning rate changes from epoch to epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    /// The initial learning rate throughout.
    Constant,
    /// Multiplied by `lr_decay_factor` every `step_size_epochs` epochs.
    Step,
    /// Cosine annealing from the initial rate to `min_learning_rate` over `train.epochs`.
    Cosine,
    /// Multiplied by `lr_decay_factor` after `plateau_patience_epochs` epochs without a lower
    /// `val_loss` (PyTorch `ReduceLROnPlateau`, mode min).
    Plateau,
}

/// Optimizer, schedule, clipping and loss settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimConfig {
    /// `adam`, `adamw` or `sgd`.
    pub optimizer: OptimizerKind,
    /// Initial learning rate, > 0.
    pub learning_rate: f64,
    /// Weight decay, ≥ 0: L2 added to the gradient for `adam` and `sgd`, decoupled for `adamw`.
    pub weight_decay: f64,
    /// Adam β₁ in [0, 1).
    pub beta1: f64,
    /// Adam β₂ in [0, 1).
    pub beta2: f64,
    /// Adam ε, > 0.
    pub eps: f64,
    /// SGD momentum in [0, 1) (0 = plain SGD).
    pub momentum: f64,
    /// SGD Nesterov momentum (needs `momentum` > 0).
    pub nesterov: bool,
    /// Clip the global gradient L2 norm to this value; 0 = no clipping.
    pub grad_clip_norm: f64,
    /// Cross-entropy label smoothing in [0, 1).
    pub label_smoothing: f64,
    /// `constant`, `step`, `cosine` or `plateau`.
    pub schedule: ScheduleKind,
    /// `step` schedule: epochs between decays, ≥ 1.
    pub step_size_epochs: usize,
    /// `step` and `plateau` schedules: the factor in (0, 1) the rate is multiplied by.
    pub lr_decay_factor: f64,
    /// `plateau` schedule: epochs without a lower `val_loss` before decaying, ≥ 1.
    pub plateau_patience_epochs: usize,
    /// Floor of every schedule (and the end point of `cosine`), ≥ 0.
    pub min_learning_rate: f64,
}

impl Default for OptimConfig {
    fn default() -> Self {
        Self {
            optimizer: DEFAULT_OPTIMIZER,
            learning_rate: DEFAULT_LEARNING_RATE,
            weight_decay: DEFAULT_WEIGHT_DECAY,
            beta1: DEFAULT_BETA1,
            beta2: DEFAULT_BETA2,
            eps: DEFAULT_EPS,
            momentum: DEFAULT_MOMENTUM,
            nesterov: false,
            grad_clip_norm: 0.0,
            label_smoothing: 0.0,
            schedule: ScheduleKind::Constant,
            step_size_epochs: DEFAULT_STEP_SIZE_EPOCHS,
            lr_decay_factor: DEFAULT_LR_DECAY_FACTOR,
            plateau_patience_epochs: DEFAULT_PLATEAU_PATIENCE_EPOCHS,
            min_learning_rate: 0.0,
        }
    }
}

impl OptimConfig {
    /// Checks every range documented on the fields.
    pub fn validate(&self) -> Result<()> {
        let check = |ok: bool, key: &str, reason: &str| {
            if ok {
                Ok(())
            } else {
                Err(Error::ConfigValue {
                    key: format!("optim.{key}"),
                    reason: reason.to_string(),
                })
            }
        };
        let unit = |x: f64| (0.0..1.0).contains(&x);
        check(
            self.learning_rate > 0.0 && self.learning_rate.is_finite(),
            "learning_rate",
            "must be > 0",
        )?;
        check(self.weight_decay >= 0.0, "weight_decay", "must be >= 0")?;
        check(unit(self.beta1), "beta1", "must be in [0, 1)")?;
        check(unit(self.beta2), "beta2", "must be in [0, 1)")?;
        check(self.eps > 0.0, "eps", "must be > 0")?;
        check(unit(self.momentum), "momentum", "must be in [0, 1)")?;
        check(
            !self.nesterov || self.momentum > 0.0,
            "nesterov",
            "needs optim.momentum > 0",
        )?;
        check(
            self.grad_clip_norm >= 0.0,
            "grad_clip_norm",
            "must be >= 0 (0 = off)",
        )?;
        check(
            unit(self.label_smoothing),
            "label_smoothing",
            "must be in [0, 1)",
        )?;
        check(
            self.step_size_epochs >= 1,
            "step_size_epochs",
            "must be >= 1",
        )?;
        check(
            self.lr_decay_factor > 0.0 && self.lr_decay_factor < 1.0,
            "lr_decay_factor",
            "must be in (0, 1)",
        )?;
        check(
            self.plateau_patience_epochs >= 1,
            "plateau_patience_epochs",
            "must be >= 1",
        )?;
        check(
            self.min_learning_rate >= 0.0 && self.min_learning_rate <= self.learning_rate,
            "min_learning_rate",
            "must be in [0, optim.learning_rate]",
        )
    }
}
