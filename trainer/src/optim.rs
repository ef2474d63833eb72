//! Optimizers (Adam with L2, AdamW, SGD with momentum/Nesterov), learning-rate schedules,
//! gradient-norm clipping and cross-entropy with label smoothing.
//!
//! candle-nn has an `AdamW` and a momentum-less `SGD`, but no Adam-with-L2, no momentum, no
//! schedules, no clipping and no way to save optimizer state for an exact resume. So the three
//! update rules are written once here, with PyTorch's semantics, and their state (moments,
//! momentum buffers, step count) can be saved to and loaded from safetensors.

use std::collections::HashMap;
use std::path::Path;

use candle_core::backprop::GradStore;
use candle_core::{D, DType, Device, Tensor, Var};
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

/// One of the three update rules over a fixed, ordered list of variables.
pub struct Optimizer {
    config: OptimConfig,
    vars: Vec<(String, Var)>,
    /// First moment (Adam) or momentum buffer (SGD), per variable, created at the first step.
    first: Vec<Option<Tensor>>,
    /// Second moment (Adam), per variable.
    second: Vec<Option<Tensor>>,
    steps: u64,
    learning_rate: f64,
}

impl std::fmt::Debug for Optimizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Optimizer")
            .field("optimizer", &self.config.optimizer)
            .field("vars", &self.vars.len())
            .field("steps", &self.steps)
            .field("learning_rate", &self.learning_rate)
            .finish()
    }
}

impl Optimizer {
    /// An optimizer over `vars` (named, in a stable order) with `config`'s rule and rate.
    pub fn new(vars: Vec<(String, Var)>, config: &OptimConfig) -> Self {
        let n = vars.len();
        Self {
            config: config.clone(),
            vars,
            first: vec![None; n],
            second: vec![None; n],
            steps: 0,
            learning_rate: config.learning_rate,
        }
    }

    /// The current learning rate.
    pub fn learning_rate(&self) -> f64 {
        self.learning_rate
    }

    /// Sets the learning rate (the schedule calls this once per epoch).
    pub fn set_learning_rate(&mut self, lr: f64) {
        self.learning_rate = lr;
    }

    /// Number of steps taken (Adam's bias correction uses it).
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Computes the gradients of `loss`, clips them if configured, and applies one update.
    /// Returns the global gradient norm before clipping when clipping is on.
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<Option<f64>> {
        let mut grads = loss.backward()?;
        let norm = if self.config.grad_clip_norm > 0.0 {
            Some(clip_grad_norm(
                &mut grads,
                &self.vars,
                self.config.grad_clip_norm,
            )?)
        } else {
            None
        };
        self.step(&grads)?;
        Ok(norm)
    }

    /// Applies one update from `grads`; variables without a gradient are left alone.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.steps += 1;
        let c = &self.config;
        let (lr, wd) = (self.learning_rate, c.weight_decay);
        for (i, (_, var)) in self.vars.iter().enumerate() {
            let Some(grad) = grads.get(var.as_tensor()) else {
                continue;
            };
            // The update is arithmetic on plain values: computed from the variable itself, it
            // would be a tracked op, and the moments kept for the next step would chain every
            // step's intermediates to the next (memory growing with each batch). From detached
            // inputs, the moments are plain values too.
            let p = &var.as_tensor().detach();
            let grad = &grad.detach();
            match c.optimizer {
                OptimizerKind::Adam | OptimizerKind::Adamw => {
                    let decoupled = c.optimizer == OptimizerKind::Adamw;
                    let g = if !decoupled && wd > 0.0 {
                        (grad + p.affine(wd, 0.0)?)?
                    } else {
                        grad.clone()
                    };
                    let m = match &self.first[i] {
                        Some(m) => (m.affine(c.beta1, 0.0)? + g.affine(1.0 - c.beta1, 0.0)?)?,
                        None => g.affine(1.0 - c.beta1, 0.0)?,
                    };
                    let g2 = g.sqr()?.affine(1.0 - c.beta2, 0.0)?;
                    let v = match &self.second[i] {
                        Some(v) => (v.affine(c.beta2, 0.0)? + g2)?,
                        None => g2,
                    };
                    let t = self.steps as i32;
                    let bc1 = 1.0 - c.beta1.powi(t);
                    let bc2 = 1.0 - c.beta2.powi(t);
                    // p -= lr/bc1 * m / (sqrt(v/bc2) + eps)
                    let denom = v.affine(1.0 / bc2, 0.0)?.sqrt()?.affine(1.0, c.eps)?;
                    let update = m.div(&denom)?.affine(lr / bc1, 0.0)?;
                    let base = if decoupled && wd > 0.0 {
                        p.affine(1.0 - lr * wd, 0.0)?
                    } else {
                        p.clone()
                    };
                    var.set(&base.sub(&update)?)?;
                    self.first[i] = Some(m);
                    self.second[i] = Some(v);
                }
                OptimizerKind::Sgd => {
                    let g = if wd > 0.0 {
                        (grad + p.affine(wd, 0.0)?)?
                    } else {
                        grad.clone()
                    };
                    let direction = if c.momentum > 0.0 {
                        let buf = match &self.first[i] {
                            Some(b) => (b.affine(c.momentum, 0.0)? + &g)?,
                            None => g.clone(),
                        };
                        let d = if c.nesterov {
                            (&g + buf.affine(c.momentum, 0.0)?)?
                        } else {
                            buf.clone()
                        };
                        self.first[i] = Some(buf);
                        d
                    } else {
                        g
                    };
                    var.set(&p.sub(&direction.affine(lr, 0.0)?)?)?;
                }
            }
        }
        Ok(())
    }

    /// Writes the moments / momentum buffers to a safetensors file (the step count and rate are
    /// part of the trainer state, see [`Optimizer::restore`]).
    pub fn save_state(&self, path: &Path) -> Result<()> {
        let mut tensors: HashMap<String, Tensor> = HashMap::new();
        for (i, (name, _)) in self.vars.iter().enumerate() {
            if let Some(m) = &self.first[i] {
                tensors.insert(format!("{name}.first"), m.clone());
            }
            if let Some(v) = &self.second[i] {
                tensors.insert(format!("{name}.second"), v.clone());
            }
        }
        candle_core::safetensors::save(&tensors, path).map_err(|e| Error::Checkpoint {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }

    /// Loads what [`Optimizer::save_state`] wrote and sets the step count and learning rate, so
    /// the next step is the one an uninterrupted run would take.
    pub fn restore(
        &mut self,
        path: &Path,
        steps: u64,
        learning_rate: f64,
        device: &Device,
    ) -> Result<()> {
        let mut tensors =
            candle_core::safetensors::load(path, device).map_err(|e| Error::Checkpoint {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        for (i, (name, _)) in self.vars.iter().enumerate() {
            self.first[i] = tensors.remove(&format!("{name}.first"));
            self.second[i] = tensors.remove(&format!("{name}.second"));
        }
        self.steps = steps;
        self.learning_rate = learning_rate;
        Ok(())
    }
}

/// Scales every gradient of `vars` so that their global L2 norm is at most `max_norm`
/// (PyTorch `clip_grad_norm_`); returns the norm before clipping.
pub fn clip_grad_norm(grads: &mut GradStore, vars: &[(String, Var)], max_norm: f64) -> Result<f64> {
    let mut sum_sq = 0.0f64;
    for (_, var) in vars {
        if let Some(g) = grads.get(var.as_tensor()) {
            sum_sq += g
                .sqr()?
                .sum_all()?
                .to_dtype(DType::F64)?
                .to_scalar::<f64>()?;
        }
    }
    let norm = sum_sq.sqrt();
    let scale = max_norm / (norm + 1e-6);
    if scale < 1.0 {
        for (_, var) in vars {
            if let Some(g) = grads.get(var.as_tensor()) {
                let clipped = g.affine(scale, 0.0)?;
                grads.insert(var.as_tensor(), clipped);
            }
        }
    }
    Ok(norm)
}

/// Mean cross-entropy of `logits` [N, K] against `targets` [N] (u32), with label smoothing
/// `smoothing` (PyTorch `CrossEntropyLoss(label_smoothing=…)`: the target is
/// (1−ε)·one-hot + ε/K).
pub fn cross_entropy(logits: &Tensor, targets: &Tensor, smoothing: f64) -> Result<Tensor> {
    let log_p = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let nll = log_p
        .gather(&targets.unsqueeze(1)?, 1)?
        .squeeze(1)?
        .mean_all()?
        .neg()?;
    if smoothing == 0.0 {
        return Ok(nll);
    }
    let uniform = log_p.mean(D::Minus1)?.mean_all()?.neg()?;
    Ok((nll.affine(1.0 - smoothing, 0.0)? + uniform.affine(smoothing, 0.0)?)?)
}

/// The cross-entropy of each row of `logits` against its target (no smoothing), on the host:
/// evaluation keeps them to know the spread of the loss, not only its mean.
pub fn per_sample_nll(logits: &Tensor, targets: &Tensor) -> Result<Vec<f32>> {
    let log_p = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let nll = log_p.gather(&targets.unsqueeze(1)?, 1)?.squeeze(1)?.neg()?;
    Ok(nll.to_dtype(DType::F32)?.to_vec1::<f32>()?)
}

/// Number of rows of `logits` whose argmax equals the target.
pub fn correct_count(logits: &Tensor, targets: &Tensor) -> Result<usize> {
    let hits = logits
        .argmax(D::Minus1)?
        .eq(targets)?
        .to_dtype(DType::F32)?
        .sum_all()?
        .to_scalar::<f32>()?;
    Ok(hits as usize)
}

/// The learning-rate schedule's state: what changes from epoch to epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LrSchedule {
    kind: ScheduleKind,
    initial: f64,
    min: f64,
    factor: f64,
    step_size_epochs: usize,
    patience_epochs: usize,
    total_epochs: usize,
    /// The `plateau` schedule's current rate.
    plateau_lr: f64,
    /// The `plateau` schedule's best `val_loss` so far.
    plateau_best: Option<f64>,
    /// Epochs since `plateau_best` improved.
    plateau_wait: usize,
}

impl LrSchedule {
    /// The schedule of `config` over `total_epochs` epochs.
    pub fn new(config: &OptimConfig, total_epochs: usize) -> Self {
        Self {
            kind: config.schedule,
            initial: config.learning_rate,
            min: config.min_learning_rate,
            factor: config.lr_decay_factor,
            step_size_epochs: config.step_size_epochs.max(1),
            patience_epochs: config.plateau_patience_epochs.max(1),
            total_epochs: total_epochs.max(1),
            plateau_lr: config.learning_rate,
            plateau_best: None,
            plateau_wait: 0,
        }
    }

    /// The learning rate of epoch `epoch` (1-based).
    pub fn learning_rate(&self, epoch: usize) -> f64 {
        let e = epoch.saturating_sub(1);
        let lr = match self.kind {
            ScheduleKind::Constant => self.initial,
            ScheduleKind::Step => {
                self.initial * self.factor.powi((e / self.step_size_epochs) as i32)
            }
            ScheduleKind::Cosine => {
                let progress = e as f64 / self.total_epochs as f64;
                self.min
                    + (self.initial - self.min) * (1.0 + (std::f64::consts::PI * progress).cos())
                        / 2.0
            }
            ScheduleKind::Plateau => self.plateau_lr,
        };
        lr.max(self.min)
    }

    /// Feeds the epoch's `val_loss` to the `plateau` schedule (other schedules ignore it).
    pub fn observe(&mut self, val_loss: f64) {
        if self.kind != ScheduleKind::Plateau {
            return;
        }
        match self.plateau_best {
            Some(best) if val_loss >= best => {
                self.plateau_wait += 1;
                if self.plateau_wait >= self.patience_epochs {
                    self.plateau_lr = (self.plateau_lr * self.factor).max(self.min);
                    self.plateau_wait = 0;
                }
            }
            _ => {
                self.plateau_best = Some(val_loss);
                self.plateau_wait = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One variable p = [1, -2] with gradient g = [0.5, 0.25] (from loss = 0.5·p₀ + 0.25·p₁).
    fn one_step(config: OptimConfig, steps: usize) -> Result<Vec<f32>> {
        let var = Var::from_slice(&[1.0f32, -2.0], 2, &Device::Cpu)?;
        let mut opt = Optimizer::new(vec![("p".into(), var.clone())], &config);
        let coef = Tensor::from_slice(&[0.5f32, 0.25], 2, &Device::Cpu)?;
        for _ in 0..steps {
            let loss = var.as_tensor().mul(&coef)?.sum_all()?;
            opt.backward_step(&loss)?;
        }
        Ok(var.as_tensor().to_vec1::<f32>()?)
    }

    fn assert_close(got: &[f32], want: &[f64]) {
        for (g, w) in got.iter().zip(want) {
            assert!((*g as f64 - w).abs() < 1e-6, "got {got:?}, want {want:?}");
        }
    }

    #[test]
    fn adam_adds_l2_to_the_gradient() -> Result<()> {
        let config = OptimConfig {
            optimizer: OptimizerKind::Adam,
            learning_rate: 0.1,
            weight_decay: 0.1,
            ..OptimConfig::default()
        };
        // g' = g + wd·p = [0.6, 0.05]; first step: m̂ = g', v̂ = g'², p -= lr·g'/(|g'| + eps).
        let want: Vec<f64> = [(1.0, 0.6), (-2.0, 0.05)]
            .iter()
            .map(|&(p, g): &(f64, f64)| p - 0.1 * g / (g.abs() + 1e-8))
            .collect();
        assert_close(&one_step(config, 1)?, &want);
        Ok(())
    }

    /// The moments carried to the next step are plain values, not graph nodes: with weight
    /// decay on, each one used to hold the op that read the variable, and through it every
    /// earlier step's intermediates, so memory grew with every batch of an epoch.
    #[test]
    fn optimizer_state_holds_no_graph() -> Result<()> {
        for optimizer in [
            OptimizerKind::Adam,
            OptimizerKind::Adamw,
            OptimizerKind::Sgd,
        ] {
            let config = OptimConfig {
                optimizer,
                weight_decay: 0.1,
                momentum: 0.9,
                ..OptimConfig::default()
            };
            let var = Var::from_slice(&[1.0f32, -2.0], 2, &Device::Cpu)?;
            let mut opt = Optimizer::new(vec![("p".into(), var.clone())], &config);
            let coef = Tensor::from_slice(&[0.5f32, 0.25], 2, &Device::Cpu)?;
            for _ in 0..3 {
                let loss = var.as_tensor().mul(&coef)?.sum_all()?;
                opt.backward_step(&loss)?;
            }
            for state in opt.first.iter().chain(&opt.second).flatten() {
                // A tensor built from the variable by tracked ops has a gradient for it.
                let grads = state.sum_all()?.backward()?;
                assert!(
                    grads.get(var.as_tensor()).is_none(),
                    "{optimizer:?} keeps a graph back to the variable in its state"
                );
            }
        }
        Ok(())
    }

    #[test]
    fn adam_second_step_uses_bias_corrected_moments() -> Result<()> {
        let config = OptimConfig {
            learning_rate: 0.1,
            weight_decay: 0.0,
            ..OptimConfig::default()
        };
        // Constant gradient g: after two steps m̂ = g, v̂ = g², so each step moves lr·sign(g).
        assert_close(&one_step(config, 2)?, &[1.0 - 0.2, -2.0 - 0.2]);
        Ok(())
    }

    #[test]
    fn adamw_decays_the_weights_not_the_gradient() -> Result<()> {
        let config = OptimConfig {
            optimizer: OptimizerKind::Adamw,
            learning_rate: 0.1,
            weight_decay: 0.1,
            ..OptimConfig::default()
        };
        // p = p·(1 − lr·wd) − lr·g/(|g| + eps)
        let want: Vec<f64> = [(1.0, 0.5), (-2.0, 0.25)]
            .iter()
            .map(|&(p, g): &(f64, f64)| p * (1.0 - 0.01) - 0.1 * g / (g.abs() + 1e-8))
            .collect();
        assert_close(&one_step(config, 1)?, &want);
        Ok(())
    }

    #[test]
    fn sgd_momentum_and_nesterov_match_pytorch() -> Result<()> {
        let plain = OptimConfig {
            optimizer: OptimizerKind::Sgd,
            learning_rate: 0.1,
            weight_decay: 0.0,
            momentum: 0.0,
            ..OptimConfig::default()
        };
        assert_close(&one_step(plain.clone(), 1)?, &[0.95, -2.025]);
        // momentum 0.9, two steps of constant g: buf₁ = g, buf₂ = 1.9·g; p -= lr·(g + 1.9·g).
        let momentum = OptimConfig {
            momentum: 0.9,
            ..plain.clone()
        };
        assert_close(
            &one_step(momentum.clone(), 2)?,
            &[1.0 - 0.1 * 2.9 * 0.5, -2.0 - 0.1 * 2.9 * 0.25],
        );
        // Nesterov: direction = g + μ·buf: step 1 → 1.9·g, step 2 → g + 0.9·1.9·g = 2.71·g.
        let nesterov = OptimConfig {
            nesterov: true,
            ..momentum
        };
        assert_close(
            &one_step(nesterov, 2)?,
            &[1.0 - 0.1 * 4.61 * 0.5, -2.0 - 0.1 * 4.61 * 0.25],
        );
        // L2: g' = g + wd·p.
        let decay = OptimConfig {
            weight_decay: 0.5,
            ..plain
        };
        assert_close(
            &one_step(decay, 1)?,
            &[1.0 - 0.1 * 1.0, -2.0 - 0.1 * (0.25 - 1.0)],
        );
        Ok(())
    }

    #[test]
    fn clipping_scales_the_global_norm_down() -> Result<()> {
        let config = OptimConfig {
            optimizer: OptimizerKind::Sgd,
            learning_rate: 1.0,
            weight_decay: 0.0,
            momentum: 0.0,
            grad_clip_norm: 0.1,
            ..OptimConfig::default()
        };
        // |g| = √(0.25 + 0.0625) = 0.5590; clipped g = g · 0.1/0.5590.
        let s = 0.1 / (0.3125f64.sqrt() + 1e-6);
        assert_close(&one_step(config, 1)?, &[1.0 - 0.5 * s, -2.0 - 0.25 * s]);
        Ok(())
    }

    #[test]
    fn state_round_trip_continues_exactly() -> Result<()> {
        let dir = tempfile::tempdir()
            .map_err(|e| Error::Tensor(candle_core::Error::Msg(e.to_string())))?;
        let config = OptimConfig::default();
        let coef = Tensor::from_slice(&[0.5f32, 0.25], 2, &Device::Cpu)?;
        let run = |opt: &mut Optimizer, var: &Var| -> Result<()> {
            let loss = var.as_tensor().mul(&coef)?.sqr()?.sum_all()?;
            opt.backward_step(&loss)?;
            Ok(())
        };
        let a = Var::from_slice(&[1.0f32, -2.0], 2, &Device::Cpu)?;
        let mut opt_a = Optimizer::new(vec![("p".into(), a.clone())], &config);
        for _ in 0..3 {
            run(&mut opt_a, &a)?;
        }
        let path = dir.path().join("optim.safetensors");
        opt_a.save_state(&path)?;
        let b = Var::from_tensor(&a.as_tensor().copy()?)?;
        let mut opt_b = Optimizer::new(vec![("p".into(), b.clone())], &config);
        opt_b.restore(&path, opt_a.steps(), opt_a.learning_rate(), &Device::Cpu)?;
        run(&mut opt_a, &a)?;
        run(&mut opt_b, &b)?;
        assert_eq!(
            a.as_tensor().to_vec1::<f32>()?,
            b.as_tensor().to_vec1::<f32>()?
        );
        Ok(())
    }

    #[test]
    fn label_smoothing_matches_the_formula() -> Result<()> {
        let logits = Tensor::from_slice(&[2.0f32, 0.0, -1.0], (1, 3), &Device::Cpu)?;
        let target = Tensor::from_slice(&[0u32], 1, &Device::Cpu)?;
        let lse = (2.0f64.exp() + 1.0 + (-1.0f64).exp()).ln();
        let log_p = [2.0 - lse, -lse, -1.0 - lse];
        let want = 0.9 * -log_p[0] + 0.1 * -(log_p.iter().sum::<f64>() / 3.0);
        let got = cross_entropy(&logits, &target, 0.1)?.to_scalar::<f32>()?;
        assert!((got as f64 - want).abs() < 1e-6, "{got} vs {want}");
        let plain = cross_entropy(&logits, &target, 0.0)?.to_scalar::<f32>()?;
        assert!((plain as f64 + log_p[0]).abs() < 1e-6);
        assert_eq!(correct_count(&logits, &target)?, 1);
        Ok(())
    }

    #[test]
    fn schedules_follow_their_formulas() {
        let base = OptimConfig {
            learning_rate: 0.1,
            ..OptimConfig::default()
        };
        let step = LrSchedule::new(
            &OptimConfig {
                schedule: ScheduleKind::Step,
                step_size_epochs: 2,
                ..base.clone()
            },
            10,
        );
        let lrs: Vec<f64> = (1..=5).map(|e| step.learning_rate(e)).collect();
        assert_eq!(lrs, vec![0.1, 0.1, 0.1 * 0.1, 0.1 * 0.1, 0.1 * 0.1 * 0.1]);
        let cosine = LrSchedule::new(
            &OptimConfig {
                schedule: ScheduleKind::Cosine,
                ..base.clone()
            },
            4,
        );
        assert!((cosine.learning_rate(1) - 0.1).abs() < 1e-12);
        assert!((cosine.learning_rate(3) - 0.05).abs() < 1e-12);
        let mut plateau = LrSchedule::new(
            &OptimConfig {
                schedule: ScheduleKind::Plateau,
                plateau_patience_epochs: 2,
                ..base
            },
            10,
        );
        for loss in [1.0, 0.9, 0.95, 0.91] {
            plateau.observe(loss);
        }
        assert!((plateau.learning_rate(5) - 0.01).abs() < 1e-12);
    }
}
