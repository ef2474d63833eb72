//! A run's record as the analysis reads it: metric series by name, params, and the per-epoch
//! table built from them with the metric names resolved.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One recorded value of a metric at a step (for per-epoch metrics, the step is the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// The step the value was logged at: the epoch for per-epoch metrics.
    pub step: i64,
    /// The value.
    pub value: f64,
}

/// What the analysis reads of one run: its metric series and params. No I/O: build one by hand,
/// from the store (the `tracker` crate's `analysis::analyze_stored_run`) or from any other source.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunRecord {
    /// The run's id (empty for a record built by hand); errors and the analysis carry it.
    pub run_id: String,
    /// Every metric by key: its points in logging order. When a step was logged more than once,
    /// the last point of that step wins (as MLflow's "latest value" does).
    pub metrics: BTreeMap<String, Vec<Point>>,
    /// The run's params (`optim.learning_rate` → `0.001`, ...).
    pub params: BTreeMap<String, String>,
}

impl RunRecord {
    /// An empty record for the run `run_id`.
    pub fn new(run_id: impl Into<String>) -> Self {
        Self {
            run_id: run_id.into(),
            ..Self::default()
        }
    }

    /// Appends one value of metric `key` at `step`.
    pub fn push_metric(&mut self, key: &str, step: i64, value: f64) {
        self.metrics
            .entry(key.to_string())
            .or_default()
            .push(Point { step, value });
    }

    /// Appends a whole series of metric `key`, one value per step starting at `first_step`.
    pub fn push_series(&mut self, key: &str, first_step: i64, values: &[f64]) {
        for (step, value) in (first_step..).zip(values) {
            self.push_metric(key, step, *value);
        }
    }

    /// Sets param `key` to `value`.
    pub fn set_param(&mut self, key: &str, value: impl ToString) {
        self.params.insert(key.to_string(), value.to_string());
    }

    /// The series of metric `key` by step, the last value of each step kept.
    pub(crate) fn by_step(&self, key: &str) -> BTreeMap<i64, f64> {
        self.metrics
            .get(key)
            .map(|points| points.iter().map(|p| (p.step, p.value)).collect())
            .unwrap_or_default()
    }
}

/// The role a metric plays in the analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Loss on the training batches, averaged while training (dropout on, augmentation on).
    TrainLoss,
    /// Accuracy on the training batches, averaged while training.
    TrainAcc,
    /// Loss on the training set evaluated like the validation set (no dropout, no augmentation).
    TrainEvalLoss,
    /// Accuracy on the training set evaluated like the validation set.
    TrainEvalAcc,
    /// Loss on the validation set.
    ValLoss,
    /// Accuracy on the validation set.
    ValAcc,
}

impl Role {
    /// Every role, in a fixed order.
    pub const ALL: [Role; 6] = [
        Role::TrainLoss,
        Role::TrainAcc,
        Role::TrainEvalLoss,
        Role::TrainEvalAcc,
        Role::ValLoss,
        Role::ValAcc,
    ];

    /// The metric names recognised for this role, in order of preference: gapwatch's own first,
    /// then Keras/MLflow autolog (`loss`, `val_loss`, `accuracy`, `val_accuracy`, `acc`,
    /// `val_acc`), then other common spellings.
    pub fn known_names(self) -> &'static [&'static str] {
        match self {
            Role::TrainLoss => &[
                "train_loss",
                "loss",
                "training_loss",
                "train/loss",
                "epoch_loss",
            ],
            Role::TrainAcc => &[
                "train_acc",
                "accuracy",
                "acc",
                "train_accuracy",
                "training_accuracy",
                "train/acc",
                "train/accuracy",
                "epoch_accuracy",
            ],
            Role::TrainEvalLoss => &["train_eval_loss"],
            Role::TrainEvalAcc => &["train_eval_acc", "train_eval_accuracy"],
            Role::ValLoss => &[
                "val_loss",
                "validation_loss",
                "valid_loss",
                "eval_loss",
                "val/loss",
                "epoch_val_loss",
            ],
            Role::ValAcc => &[
                "val_acc",
                "val_accuracy",
                "validation_accuracy",
                "validation_acc",
                "valid_acc",
                "eval_accuracy",
                "val/acc",
                "val/accuracy",
                "epoch_val_accuracy",
            ],
        }
    }

    /// The role's name in configs and messages (`val_loss`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::TrainLoss => "train_loss",
            Role::TrainAcc => "train_acc",
            Role::TrainEvalLoss => "train_eval_loss",
            Role::TrainEvalAcc => "train_eval_acc",
            Role::ValLoss => "val_loss",
            Role::ValAcc => "val_acc",
        }
    }
}

/// The metric names a run's analysis used, by role (`None`: the run has no such metric).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MetricsUsed {
    /// Running training loss.
    pub train_loss: Option<String>,
    /// Running training accuracy.
    pub train_acc: Option<String>,
    /// Training-set loss evaluated like validation.
    pub train_eval_loss: Option<String>,
    /// Training-set accuracy evaluated like validation.
    pub train_eval_acc: Option<String>,
    /// Validation loss.
    pub val_loss: Option<String>,
    /// Validation accuracy.
    pub val_acc: Option<String>,
}

impl MetricsUsed {
    /// The name used for `role`.
    pub fn get(&self, role: Role) -> Option<&str> {
        match role {
            Role::TrainLoss => self.train_loss.as_deref(),
            Role::TrainAcc => self.train_acc.as_deref(),
            Role::TrainEvalLoss => self.train_eval_loss.as_deref(),
            Role::TrainEvalAcc => self.train_eval_acc.as_deref(),
            Role::ValLoss => self.val_loss.as_deref(),
            Role::ValAcc => self.val_acc.as_deref(),
        }
    }

    fn set(&mut self, role: Role, name: Option<String>) {
        let slot = match role {
            Role::TrainLoss => &mut self.train_loss,
            Role::TrainAcc => &mut self.train_acc,
            Role::TrainEvalLoss => &mut self.train_eval_loss,
            Role::TrainEvalAcc => &mut self.train_eval_acc,
            Role::ValLoss => &mut self.val_loss,
            Role::ValAcc => &mut self.val_acc,
        };
        *slot = name;
    }

    /// Resolves every role against the run's metric keys: the configured name where one is
    /// given (used only if the run has it), else the first known spelling the run has.
    pub fn resolve(record: &RunRecord, overrides: &BTreeMap<Role, String>) -> Self {
        let mut used = Self::default();
        for role in Role::ALL {
            let name = match overrides.get(&role) {
                Some(name) => record.metrics.contains_key(name).then(|| name.clone()),
                None => role
                    .known_names()
                    .iter()
                    .find(|name| record.metrics.contains_key(**name))
                    .map(|name| name.to_string()),
            };
            used.set(role, name);
        }
        used
    }
}

/// Which training numbers the gap is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GapBasis {
    /// `train_eval_*`: the training set evaluated like the validation set (the honest gap).
    TrainEval,
    /// The running training metrics (dropout and augmentation on): what a run logged by an
    /// MLflow/Keras script has. The gap reads smaller than the honest one when regularized.
    RunningTrain,
}

/// One epoch of a run, with its gap.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EpochRow {
    /// The epoch (the metrics' step).
    pub epoch: i64,
    /// Running training loss, if logged.
    pub train_loss: Option<f64>,
    /// Running training accuracy, if logged.
    pub train_acc: Option<f64>,
    /// Training-set loss evaluated like validation, if logged.
    pub train_eval_loss: Option<f64>,
    /// Training-set accuracy evaluated like validation, if logged.
    pub train_eval_acc: Option<f64>,
    /// Validation loss.
    pub val_loss: f64,
    /// Validation accuracy, if logged.
    pub val_acc: Option<f64>,
    /// `val_loss − train_eval_loss` (or `− train_loss` where no `train_eval_loss`).
    pub loss_gap: Option<f64>,
    /// `train_eval_acc − val_acc` (or `train_acc − val_acc` where no `train_eval_acc`).
    pub acc_gap: Option<f64>,
}

impl EpochRow {
    /// The training loss the trends are read from: the running one, else the evaluated one.
    pub fn trend_train_loss(&self) -> Option<f64> {
        self.train_loss.or(self.train_eval_loss)
    }
}

/// Builds one row per step at which validation loss was logged, ordered by step.
pub(crate) fn epoch_rows(record: &RunRecord, used: &MetricsUsed) -> Vec<EpochRow> {
    let series = |role: Role| {
        used.get(role)
            .map(|name| record.by_step(name))
            .unwrap_or_default()
    };
    let val_loss = series(Role::ValLoss);
    let train_loss = series(Role::TrainLoss);
    let train_acc = series(Role::TrainAcc);
    let train_eval_loss = series(Role::TrainEvalLoss);
    let train_eval_acc = series(Role::TrainEvalAcc);
    let val_acc = series(Role::ValAcc);
    val_loss
        .iter()
        .map(|(&epoch, &val_loss)| {
            let train_loss = train_loss.get(&epoch).copied();
            let train_acc = train_acc.get(&epoch).copied();
            let train_eval_loss = train_eval_loss.get(&epoch).copied();
            let train_eval_acc = train_eval_acc.get(&epoch).copied();
            let val_acc = val_acc.get(&epoch).copied();
            let loss_gap = train_eval_loss.or(train_loss).map(|t| val_loss - t);
            let acc_gap = match (train_eval_acc.or(train_acc), val_acc) {
                (Some(t), Some(v)) => Some(t - v),
                _ => None,
            };
            EpochRow {
                epoch,
                train_loss,
                train_acc,
                train_eval_loss,
                train_eval_acc,
                val_loss,
                val_acc,
                loss_gap,
                acc_gap,
            }
        })
        .collect()
}

/// Centered moving average over `window` epochs (clipped at both ends).
pub(crate) fn smooth(values: &[f64], window: usize) -> Vec<f64> {
    let half = window / 2;
    (0..values.len())
        .map(|i| {
            let lo = i.saturating_sub(half);
            let hi = (i + half).min(values.len().saturating_sub(1));
            let slice = &values[lo..=hi];
            slice.iter().sum::<f64>() / slice.len() as f64
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keras_names_resolve_to_roles() {
        let mut record = RunRecord::new("r");
        for key in ["loss", "val_loss", "accuracy", "val_accuracy"] {
            record.push_series(key, 0, &[1.0, 0.5]);
        }
        let used = MetricsUsed::resolve(&record, &BTreeMap::new());
        assert_eq!(used.train_loss.as_deref(), Some("loss"));
        assert_eq!(used.train_acc.as_deref(), Some("accuracy"));
        assert_eq!(used.val_loss.as_deref(), Some("val_loss"));
        assert_eq!(used.val_acc.as_deref(), Some("val_accuracy"));
        assert_eq!(used.train_eval_loss, None);
    }

    #[test]
    fn configured_name_wins_over_known_spellings() {
        let mut record = RunRecord::new("r");
        record.push_series("val_loss", 0, &[1.0]);
        record.push_series("holdout_nll", 0, &[2.0]);
        let overrides = BTreeMap::from([(Role::ValLoss, "holdout_nll".to_string())]);
        let used = MetricsUsed::resolve(&record, &overrides);
        assert_eq!(used.val_loss.as_deref(), Some("holdout_nll"));
    }

    #[test]
    fn gap_falls_back_to_running_train_metrics_per_epoch() {
        let mut record = RunRecord::new("r");
        record.push_series("train_loss", 1, &[1.0, 0.8]);
        record.push_series("train_eval_loss", 1, &[0.9]);
        record.push_series("val_loss", 1, &[1.2, 1.1]);
        let used = MetricsUsed::resolve(&record, &BTreeMap::new());
        let rows = epoch_rows(&record, &used);
        assert_eq!(rows.len(), 2);
        assert!((rows[0].loss_gap.unwrap_or(f64::NAN) - 0.3).abs() < 1e-12);
        assert!((rows[1].loss_gap.unwrap_or(f64::NAN) - 0.3).abs() < 1e-12);
    }

    #[test]
    fn last_value_of_a_repeated_step_wins() {
        let mut record = RunRecord::new("r");
        record.push_metric("val_loss", 3, 1.0);
        record.push_metric("val_loss", 3, 0.7);
        assert_eq!(record.by_step("val_loss").get(&3), Some(&0.7));
    }

    #[test]
    fn smoothing_keeps_length_and_averages_neighbours() {
        let s = smooth(&[0.0, 3.0, 0.0, 3.0], 3);
        assert_eq!(s, vec![1.5, 1.0, 2.0, 1.5]);
    }
}
