//! What a fit measures: the [`Evaluation`] of one pass, the [`EpochMetrics`] of an epoch (each
//! metric named once, in [`EpochMetrics::NAMES`]), and the [`FitSummary`] of the whole fit.

use crate::early_stopping::Monitor;
use crate::report::RunStatus;

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

/// The metrics of one epoch (see the [`crate::fit`] docs for their meaning).
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

/// A per-epoch metric: its name as logged and how to read it from [`EpochMetrics`].
type Metric = (&'static str, fn(&EpochMetrics) -> f64);

/// Every per-epoch metric, in the order logged: the one place a metric's name is spelled.
const METRICS: [Metric; 14] = [
    ("train_loss", |m| m.train_loss),
    ("train_acc", |m| m.train_acc),
    ("train_eval_loss", |m| m.train_eval_loss),
    ("train_eval_acc", |m| m.train_eval_acc),
    ("train_eval_loss_se", |m| m.train_eval_loss_se),
    ("val_loss", |m| m.val_loss),
    ("val_acc", |m| m.val_acc),
    ("val_loss_se", |m| m.val_loss_se),
    ("val_acc_se", |m| m.val_acc_se),
    ("lr", |m| m.lr),
    ("epoch_secs", |m| m.epoch_secs),
    ("images_per_sec", |m| m.images_per_sec),
    ("data_wait_secs", |m| m.data_wait_secs),
    ("skipped_samples", |m| m.skipped_samples as f64),
];

impl EpochMetrics {
    /// The name of every metric recorded per epoch, in the order they are logged.
    pub const NAMES: [&'static str; METRICS.len()] = {
        let mut names = [""; METRICS.len()];
        let mut i = 0;
        while i < METRICS.len() {
            names[i] = METRICS[i].0;
            i += 1;
        }
        names
    };

    /// The metrics as (name, value) pairs, in the order they are logged ([`Self::NAMES`]).
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, f64)> + '_ {
        METRICS.iter().map(move |(name, read)| (*name, read(self)))
    }

    /// The metrics as (name, value) pairs, in the order they are logged.
    pub fn pairs(&self) -> Vec<(&'static str, f64)> {
        self.iter().collect()
    }

    /// The value of the metric `name` (one of [`Self::NAMES`]).
    pub fn get(&self, name: &str) -> Option<f64> {
        METRICS
            .iter()
            .find(|(metric, _)| *metric == name)
            .map(|(_, read)| read(self))
    }

    /// The value of the monitored metric (`val_loss` or `val_acc`).
    pub fn monitored(&self, monitor: Monitor) -> f64 {
        match monitor {
            Monitor::ValLoss => self.val_loss,
            Monitor::ValAcc => self.val_acc,
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_named_once_and_read_from_its_own_field() {
        let metrics = EpochMetrics {
            epoch: 3,
            train_loss: 1.0,
            train_acc: 2.0,
            train_eval_loss: 3.0,
            train_eval_acc: 4.0,
            train_eval_loss_se: 5.0,
            val_loss: 6.0,
            val_acc: 7.0,
            val_loss_se: 8.0,
            val_acc_se: 9.0,
            lr: 10.0,
            epoch_secs: 11.0,
            images_per_sec: 12.0,
            data_wait_secs: 13.0,
            skipped_samples: 14,
        };
        let pairs = metrics.pairs();
        let names: Vec<&str> = pairs.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, EpochMetrics::NAMES);
        let values: Vec<f64> = pairs.iter().map(|(_, value)| *value).collect();
        assert_eq!(values, (1..=14).map(f64::from).collect::<Vec<_>>());
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(
            unique.len(),
            names.len(),
            "a name is listed twice: {names:?}"
        );
        assert_eq!(metrics.get("val_acc"), Some(7.0));
        assert_eq!(metrics.get("epoch"), None);
        for monitor in [Monitor::ValLoss, Monitor::ValAcc] {
            assert_eq!(
                metrics.get(monitor.metric_name()),
                Some(metrics.monitored(monitor))
            );
        }
    }
}
