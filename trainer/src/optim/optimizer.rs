//! The three update rules (Adam with L2, AdamW, SGD with momentum/Nesterov) with PyTorch's
//! semantics, gradient-norm clipping, and the optimizer state saved for an exact resume.

use std::collections::HashMap;
use std::path::Path;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};

use super::adam::{self, AdamStep};
use super::config::{OptimConfig, OptimizerKind};
use crate::error::{Error, Result};

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
                    let step = AdamStep {
                        beta1: c.beta1,
                        beta2: c.beta2,
                        eps: c.eps,
                        lr,
                        weight_decay: wd,
                        decoupled: c.optimizer == OptimizerKind::Adamw,
                        t: self.steps as i32,
                    };
                    let (first, second) = (self.first[i].as_ref(), self.second[i].as_ref());
                    let (p, m, v) = adam::update(&step, p, grad, first, second)?;
                    var.set(&p)?;
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
        candle_core::safetensors::save(&tensors, path).map_err(|e| Error::checkpoint(path, e))
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
            candle_core::safetensors::load(path, device).map_err(|e| Error::checkpoint(path, e))?;
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
}
