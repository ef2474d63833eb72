//! Overfitting analysis: pure functions over a run's metric series and params.
//!
//! # Data flow
//!
//! ```text
//! RunRecord (metric series + params) ──► resolve metric names ──► per-epoch rows + gaps
//!        ──► Noise (logged standard errors, or estimated) ──► smoothed curves
//!        ──► best epoch, onset, Verdict (in standard errors) ──► likely Causes ──► Analysis
//! ```
//!
//! [`analyze`] does no I/O: build a [`RunRecord`] by hand or from any store (the `tracker`
//! crate's `analyze_stored_run` gathers a stored run's series first).
//!
//! - The **gap** per epoch is `val_loss − train_eval_loss` and `train_eval_acc − val_acc`,
//!   falling back to the running training metrics (`train_loss`, or Keras's `loss`) where a run
//!   has no `train_eval_*` ([`GapBasis`]).
//! - The **noise** ([`Noise`]) is one epoch's standard error of validation loss and accuracy:
//!   logged by gapwatch's trainer from the per-sample values, or estimated (from the
//!   validation-set size, or from the curve's scatter around its trend) for runs logged by
//!   other tools, and said to be an estimate.
//! - The **onset** of overfitting is the epoch of the smoothed validation-loss minimum, when
//!   smoothed validation loss ends more than a tolerance and more than
//!   [`DEFAULT_SIGNIFICANCE_SE`] standard errors above it while training loss kept falling; a
//!   rise beyond the tolerance but within the noise is [`Verdict::Inconclusive`].
//! - **Instability** is read on `train_eval_loss` (eval mode, fixed subset) where a run has
//!   it, with rises within its noise discounted; a running loss over few batches per epoch is
//!   not called oscillating.
//! - The [`Verdict`] carries the numbers that support it and their strength in standard
//!   errors; [`Cause`]s are ranked from the run's params, each with its evidence number, the
//!   config key to change and a value to try.
//!
//! ```
//! use insight::analysis::{analyze, AnalysisConfig, RunRecord};
//!
//! let mut run = RunRecord::new("demo");
//! run.push_series("loss", 0, &[1.0, 0.7, 0.5, 0.4, 0.3, 0.22, 0.16, 0.12, 0.09, 0.07]);
//! run.push_series("val_loss", 0, &[1.0, 0.8, 0.65, 0.6, 0.62, 0.66, 0.72, 0.8, 0.88, 0.95]);
//! run.set_param("transforms.augment", "none");
//! let analysis = analyze(&run, &AnalysisConfig::default()).unwrap();
//! assert_eq!(analysis.verdict.label(), "overfitting");
//! assert_eq!(analysis.onset_epoch, Some(3));
//! assert_eq!(analysis.causes[0].config_key, "transforms.augment");
//! ```

mod causes;
mod compare;
mod judge;
mod noise;
mod series;
mod verdict;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub use causes::{Cause, CauseKind, RunFacts, keys, likely_causes};
pub use compare::{CompareInput, ComparedRun, Comparison, compare};
pub use noise::{Noise, NoiseSource, VAL_ACC_SE, VAL_LOSS_SE, VAL_SIZE_KEYS};
pub use series::{EpochRow, GapBasis, MetricsUsed, Point, Role, RunRecord};
pub use verdict::{
    DEFAULT_MIN_EPOCHS, DEFAULT_ONSET_TOLERANCE, DEFAULT_SIGNIFICANCE_SE, DEFAULT_SMOOTHING_EPOCHS,
    DEFAULT_STILL_IMPROVING_PER_EPOCH, DEFAULT_UNSTABLE_RISE_RATIO, MIN_BATCHES_FOR_OSCILLATION,
    Monitor, UNDERFIT_LOSS_OVER_CHANCE, Verdict,
};

/// How runs are analysed: metric names and the thresholds of the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalysisConfig {
    /// Metric names by role (`val_loss = "holdout_nll"`); a role not given is found among the
    /// common spellings ([`Role::known_names`]).
    pub metric_names: BTreeMap<Role, String>,
    /// Which validation metric defines the best epoch.
    pub monitor: Monitor,
    /// Fewest epochs before a verdict other than "not enough epochs to tell" (≥ 3).
    pub min_epochs: usize,
    /// Window of the centered moving average, in epochs (≥ 1; 1: no smoothing).
    pub smoothing_epochs: usize,
    /// Relative rise of smoothed validation loss above its minimum that counts as overfitting
    /// (0 < x < 1).
    pub onset_tolerance: f64,
    /// Rises of training loss, over its net fall, above which a run is unstable (> 0).
    pub unstable_rise_ratio: f64,
    /// Relative fall of validation loss per epoch at the end above which a run is still
    /// improving, i.e. underfitting (≥ 0).
    pub still_improving_per_epoch: f64,
    /// Standard errors of one epoch's value a rise or fall must reach to count (> 0).
    pub significance_se: f64,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        Self {
            metric_names: BTreeMap::new(),
            monitor: Monitor::default(),
            min_epochs: DEFAULT_MIN_EPOCHS,
            smoothing_epochs: DEFAULT_SMOOTHING_EPOCHS,
            onset_tolerance: DEFAULT_ONSET_TOLERANCE,
            unstable_rise_ratio: DEFAULT_UNSTABLE_RISE_RATIO,
            still_improving_per_epoch: DEFAULT_STILL_IMPROVING_PER_EPOCH,
            significance_se: DEFAULT_SIGNIFICANCE_SE,
        }
    }
}

impl AnalysisConfig {
    /// Checks the invariants listed on each field.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, value: &dyn std::fmt::Display, want: &str| {
            Err(Error::invalid(format!(
                "analysis config: {key} = {value}: expected {want}"
            )))
        };
        if self.min_epochs < 3 {
            return bad("min_epochs", &self.min_epochs, "at least 3");
        }
        if self.smoothing_epochs < 1 {
            return bad("smoothing_epochs", &self.smoothing_epochs, "at least 1");
        }
        if !(self.onset_tolerance > 0.0 && self.onset_tolerance < 1.0) {
            return bad(
                "onset_tolerance",
                &self.onset_tolerance,
                "a fraction in (0, 1)",
            );
        }
        if !(self.unstable_rise_ratio > 0.0 && self.unstable_rise_ratio.is_finite()) {
            return bad(
                "unstable_rise_ratio",
                &self.unstable_rise_ratio,
                "a positive number",
            );
        }
        if !(self.still_improving_per_epoch >= 0.0 && self.still_improving_per_epoch.is_finite()) {
            return bad(
                "still_improving_per_epoch",
                &self.still_improving_per_epoch,
                "a non-negative number",
            );
        }
        if !(self.significance_se > 0.0 && self.significance_se.is_finite()) {
            return bad(
                "significance_se",
                &self.significance_se,
                "a positive number",
            );
        }
        Ok(())
    }
}

/// The best epoch by the monitored metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BestEpoch {
    /// The epoch.
    pub epoch: i64,
    /// The metric name it was chosen by.
    pub metric: String,
    /// Its value there.
    pub value: f64,
    /// Validation loss there.
    pub val_loss: f64,
    /// Validation accuracy there, if logged.
    pub val_acc: Option<f64>,
    /// One standard error of `value` (the run's [`Noise`] for the monitored metric), when known.
    pub se: Option<f64>,
}

/// Everything the analysis says about one run. Serializes to the JSON of `track analyze --json`
/// and of `GET /api/2.0/gapwatch/runs/analysis`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    /// The run.
    pub run_id: String,
    /// Epochs with both a training and a validation loss.
    pub epochs: usize,
    /// The metric names used, by role.
    pub metrics: MetricsUsed,
    /// What the gap is measured against at the last epoch.
    pub gap_basis: GapBasis,
    /// The best epoch by the monitored metric.
    pub best: BestEpoch,
    /// One epoch's noise in the validation numbers: the unit of the verdict's strength.
    pub noise: Noise,
    /// The epoch after which the run overfit, if it did.
    pub onset_epoch: Option<i64>,
    /// Loss gap at the last epoch.
    pub final_loss_gap: Option<f64>,
    /// Accuracy gap at the last epoch (fraction, not %).
    pub final_acc_gap: Option<f64>,
    /// Largest loss gap over the run.
    pub max_loss_gap: Option<f64>,
    /// The verdict and its numbers.
    pub verdict: Verdict,
    /// One sentence: the verdict, its numbers and their strength in standard errors.
    pub summary: String,
    /// Likely causes with what to change, most likely first (empty for a good fit).
    pub causes: Vec<Cause>,
    /// The per-epoch table the verdict was read from.
    pub per_epoch: Vec<EpochRow>,
}

impl Analysis {
    /// Keeps at most `rows` rows of the per-epoch table (at least the best epoch and the
    /// onset, the first and last `rows / 2` otherwise): what a page shows of a run of 100,000
    /// epochs, without shipping all of them. Returns how many rows there were.
    pub fn thin_per_epoch(&mut self, rows: usize) -> usize {
        let total = self.per_epoch.len();
        if total > rows {
            let (head, tail) = (rows / 2, total - (rows - rows / 2));
            let (best, onset) = (self.best.epoch, self.onset_epoch);
            let mut index = 0;
            self.per_epoch.retain(|row| {
                let keep =
                    index < head || index >= tail || row.epoch == best || Some(row.epoch) == onset;
                index += 1;
                keep
            });
        }
        total
    }

    /// The best value of the monitored metric (lower is better for loss, higher for accuracy),
    /// as a number that sorts ascending from best to worst.
    pub fn sort_key(&self) -> f64 {
        if self.best.metric == self.metrics.val_acc.as_deref().unwrap_or_default() {
            -self.best.value
        } else {
            self.best.value
        }
    }
}

/// Analyses one run: gap per epoch, best epoch, onset of overfitting, verdict and likely causes.
///
/// Errors when the config is invalid, or when the run has no validation loss or no training
/// loss (the error lists the names looked for and the metrics the run has).
pub fn analyze(record: &RunRecord, config: &AnalysisConfig) -> Result<Analysis> {
    config.validate()?;
    let used = MetricsUsed::resolve(record, &config.metric_names);
    let missing = |role: Role| {
        let looked_for = match config.metric_names.get(&role) {
            Some(name) => name.clone(),
            None => role.known_names().join(", "),
        };
        Error::invalid(format!(
            "run {:?} has no {} metric (looked for: {looked_for}; it has: {})",
            record.run_id,
            role.as_str(),
            record
                .metrics
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ))
    };
    if used.val_loss.is_none() {
        return Err(missing(Role::ValLoss));
    }
    if used.train_loss.is_none() && used.train_eval_loss.is_none() {
        return Err(missing(Role::TrainLoss));
    }
    let rows: Vec<EpochRow> = series::epoch_rows(record, &used)
        .into_iter()
        .filter(|row| row.trend_train_loss().is_some())
        .collect();
    let Some(last) = rows.last() else {
        return Err(Error::invalid(format!(
            "run {:?}: training and validation loss share no step",
            record.run_id
        )));
    };
    let epochs: Vec<i64> = rows.iter().map(|r| r.epoch).collect();
    let train: Vec<f64> = rows.iter().filter_map(EpochRow::trend_train_loss).collect();
    let val: Vec<f64> = rows.iter().map(|r| r.val_loss).collect();
    let val_acc: Option<Vec<f64>> = rows.iter().map(|r| r.val_acc).collect();
    let noise = Noise::of(record, &epochs, &val, val_acc.as_deref());
    let (best, best_metric, best_value, best_se) = match (config.monitor, &val_acc, &used.val_acc) {
        (Monitor::ValAcc, Some(acc), Some(name)) => {
            let i = judge::argmax(acc);
            (i, name.clone(), acc[i], noise.val_acc_se)
        }
        _ => {
            let i = judge::argmin(&val);
            let se = record
                .by_step(noise::VAL_LOSS_SE)
                .get(&epochs[i])
                .copied()
                .or(noise.val_loss_se);
            (i, used.val_loss.clone().unwrap_or_default(), val[i], se)
        }
    };
    // Instability is judged on the eval-mode training loss where the run has it for every
    // epoch: the running loss of augmented, dropped-out batches moves by chance.
    let train_eval: Option<Vec<f64>> = rows.iter().map(|r| r.train_eval_loss).collect();
    let stability_name = match &train_eval {
        Some(_) => "train_eval_loss",
        None => "training loss",
    };
    let stability_noise = match &train_eval {
        Some(_) => {
            let logged = record.by_step(noise::TRAIN_EVAL_LOSS_SE);
            let values: Vec<f64> = epochs
                .iter()
                .filter_map(|e| logged.get(e).copied())
                .collect();
            noise::median(&values)
        }
        None => None,
    };
    let number = |keys: &[&'static str]| keys::lookup_f64(&record.params, keys).map(|(_, v)| v);
    let batches_per_epoch = match (number(keys::TRAIN_SAMPLES), number(keys::BATCH_SIZE)) {
        (Some(samples), Some(batch)) if batch > 0.0 => Some((samples / batch).ceil()),
        _ => None,
    };
    let classes = number(keys::NUM_CLASSES);
    let curves = judge::Curves {
        epochs: &epochs,
        train_loss: &train,
        stability: (
            stability_name,
            train_eval.as_deref().unwrap_or(&train),
            stability_noise,
        ),
        batches_per_epoch,
        classes,
        val_loss: &val,
        val_acc: val_acc.as_deref(),
        best,
        noise: &noise,
    };
    let thresholds = judge::Thresholds {
        min_epochs: config.min_epochs,
        smoothing_epochs: config.smoothing_epochs,
        onset_tolerance: config.onset_tolerance,
        unstable_rise_ratio: config.unstable_rise_ratio,
        still_improving_per_epoch: config.still_improving_per_epoch,
        significance_se: config.significance_se,
    };
    let verdict = judge::judge(&curves, &thresholds);
    let causes = likely_causes(
        &verdict,
        &record.params,
        &causes::RunFacts {
            epochs_after_best: rows.len() - 1 - best,
            epochs: rows.len(),
            final_loss_gap: last.loss_gap,
            final_train_eval_acc: last.train_eval_acc.or(last.train_acc),
            noise: &noise,
        },
    );
    let gap_basis = if last.train_eval_loss.is_some() {
        GapBasis::TrainEval
    } else {
        GapBasis::RunningTrain
    };
    let max_loss_gap = rows
        .iter()
        .filter_map(|r| r.loss_gap)
        .fold(None, |m: Option<f64>, g| Some(m.map_or(g, |m| m.max(g))));
    Ok(Analysis {
        run_id: record.run_id.clone(),
        epochs: rows.len(),
        gap_basis,
        best: BestEpoch {
            epoch: epochs[best],
            metric: best_metric,
            value: best_value,
            val_loss: val[best],
            val_acc: rows[best].val_acc,
            se: best_se,
        },
        onset_epoch: verdict.onset_epoch(),
        final_loss_gap: last.loss_gap,
        final_acc_gap: last.acc_gap,
        max_loss_gap,
        summary: verdict.explain(&noise),
        noise,
        verdict,
        causes,
        metrics: used,
        per_epoch: rows,
    })
}
