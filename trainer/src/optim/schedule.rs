//! The learning-rate schedules (constant, step, cosine, plateau) and their state across epochs,
//! saved with the trainer state for `--resume`.

use serde::{Deserialize, Serialize};

use super::config::{OptimConfig, ScheduleKind};

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
