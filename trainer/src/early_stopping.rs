//! Early stopping with Keras semantics: stop after `patience_epochs` epochs without an
//! improvement of the monitored metric by more than `min_delta`, and restore the best weights.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Default epochs without improvement before stopping.
pub const DEFAULT_PATIENCE_EPOCHS: usize = 3;

/// The metric early stopping (and checkpointing of the best epoch) watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Monitor {
    /// Validation loss (lower is better).
    ValLoss,
    /// Validation accuracy (higher is better).
    ValAcc,
}

impl Monitor {
    /// The metric's name as logged: `val_loss` or `val_acc`.
    pub fn metric_name(self) -> &'static str {
        match self {
            Monitor::ValLoss => "val_loss",
            Monitor::ValAcc => "val_acc",
        }
    }
}

/// Whether lower or higher values of the monitored metric are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// From the metric: `min` for `val_loss`, `max` for `val_acc` (Keras `auto`).
    Auto,
    /// Lower is better.
    Min,
    /// Higher is better.
    Max,
}

/// Early-stopping settings. The best epoch (by `monitor`) is checkpointed whether or not
/// early stopping is enabled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EarlyStoppingConfig {
    /// Stop early at all; when false every epoch runs.
    pub enabled: bool,
    /// `val_loss` or `val_acc`.
    pub monitor: Monitor,
    /// `auto`, `min` or `max`.
    pub mode: Mode,
    /// Epochs without improvement before stopping (0 = stop at the first epoch that does not
    /// improve).
    pub patience_epochs: usize,
    /// The smallest change that counts as an improvement, ≥ 0.
    pub min_delta: f64,
    /// At the end of training, put back the weights of the best epoch.
    pub restore_best_weights: bool,
}

impl Default for EarlyStoppingConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            monitor: Monitor::ValLoss,
            mode: Mode::Auto,
            patience_epochs: DEFAULT_PATIENCE_EPOCHS,
            min_delta: 0.0,
            restore_best_weights: true,
        }
    }
}

impl EarlyStoppingConfig {
    /// Checks: `min_delta` is finite and ≥ 0.
    pub fn validate(&self) -> Result<()> {
        if !(self.min_delta >= 0.0 && self.min_delta.is_finite()) {
            return Err(Error::ConfigValue {
                key: "early_stopping.min_delta".into(),
                reason: "must be a finite number >= 0".into(),
            });
        }
        Ok(())
    }

    /// Whether higher values are better, resolving `auto`.
    pub fn higher_is_better(&self) -> bool {
        match self.mode {
            Mode::Max => true,
            Mode::Min => false,
            Mode::Auto => self.monitor == Monitor::ValAcc,
        }
    }
}

/// What [`EarlyStopping::update`] decided about an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The epoch improved on the best so far (checkpoint it as best).
    pub improved: bool,
    /// Training should stop after this epoch.
    pub stop: bool,
}

/// The state of early stopping across epochs (saved with the checkpoint for `--resume`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    config: EarlyStoppingConfig,
    /// The best value so far and its epoch (1-based).
    best: Option<(f64, usize)>,
    /// Epochs since the last improvement.
    wait: usize,
}

impl EarlyStopping {
    /// A fresh state for `config`.
    pub fn new(config: &EarlyStoppingConfig) -> Self {
        Self {
            config: config.clone(),
            best: None,
            wait: 0,
        }
    }

    /// The best value and its epoch, once one epoch has been seen.
    pub fn best(&self) -> Option<(f64, usize)> {
        self.best
    }

    /// Feeds the monitored value of `epoch` (1-based).
    pub fn update(&mut self, epoch: usize, value: f64) -> Decision {
        let delta = self.config.min_delta;
        let improved = match self.best {
            None => true,
            Some((best, _)) if self.config.higher_is_better() => value - delta > best,
            Some((best, _)) => value + delta < best,
        };
        if improved {
            self.best = Some((value, epoch));
            self.wait = 0;
        } else {
            self.wait += 1;
        }
        let stop = self.config.enabled && !improved && self.wait >= self.config.patience_epochs;
        Decision { improved, stop }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(config: &EarlyStoppingConfig, values: &[f64]) -> (Option<usize>, Option<(f64, usize)>) {
        let mut es = EarlyStopping::new(config);
        for (i, &v) in values.iter().enumerate() {
            if es.update(i + 1, v).stop {
                return (Some(i + 1), es.best());
            }
        }
        (None, es.best())
    }

    #[test]
    fn stops_after_patience_epochs_without_improvement() {
        let config = EarlyStoppingConfig {
            patience_epochs: 2,
            ..Default::default()
        };
        assert_eq!(
            run(&config, &[1.0, 0.8, 0.9, 0.85, 0.7]),
            (Some(4), Some((0.8, 2)))
        );
        let zero = EarlyStoppingConfig {
            patience_epochs: 0,
            ..Default::default()
        };
        assert_eq!(run(&zero, &[1.0, 1.1]).0, Some(2));
    }

    #[test]
    fn min_delta_and_mode_follow_keras() {
        let config = EarlyStoppingConfig {
            monitor: Monitor::ValAcc,
            patience_epochs: 1,
            min_delta: 0.05,
            ..Default::default()
        };
        // 0.53 is not > 0.5 + 0.05: no improvement, stop.
        assert_eq!(run(&config, &[0.5, 0.53]), (Some(2), Some((0.5, 1))));
        assert_eq!(run(&config, &[0.5, 0.6, 0.66]).1, Some((0.66, 3)));
        let disabled = EarlyStoppingConfig {
            enabled: false,
            ..config
        };
        assert_eq!(run(&disabled, &[0.5, 0.4, 0.3]), (None, Some((0.5, 1))));
    }
}
