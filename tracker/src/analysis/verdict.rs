//! Reading the curves: best epoch, onset of overfitting and the verdict, each with its numbers.

use serde::{Deserialize, Serialize};

use super::series::smooth;

/// Fewest epochs with both a training and a validation loss before a verdict is given.
pub const DEFAULT_MIN_EPOCHS: usize = 5;
/// Window of the centered moving average applied to the losses before reading trends.
pub const DEFAULT_SMOOTHING_EPOCHS: usize = 3;
/// How far (relative to its minimum) smoothed validation loss must end above its minimum for
/// the rise to count as overfitting rather than noise.
pub const DEFAULT_ONSET_TOLERANCE: f64 = 0.05;
/// Training loss is unstable when the sum of its epoch-to-epoch rises exceeds this fraction of
/// its net drop (0.5: it climbed back half of what it descended).
pub const DEFAULT_UNSTABLE_RISE_RATIO: f64 = 0.5;
/// A run is still improving (underfitting: train longer) when smoothed validation loss fell by
/// more than this fraction per epoch over the last quarter of the run.
pub const DEFAULT_STILL_IMPROVING_PER_EPOCH: f64 = 0.01;

/// Which validation metric defines the best epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Monitor {
    /// Lowest validation loss (what early stopping watches by default).
    #[default]
    ValLoss,
    /// Highest validation accuracy (falls back to validation loss when a run has none).
    ValAcc,
}

/// The verdict on a run, with the numbers that support it. Serialized with a `label` field
/// holding the human label (`"good fit"`, `"not enough epochs to tell"`, ...).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "label")]
pub enum Verdict {
    /// The model has not learned what it could: losses still falling or barely moved.
    #[serde(rename = "underfitting")]
    Underfitting {
        /// Relative fall of smoothed validation loss per epoch over the last quarter of the run.
        val_loss_fall_per_epoch: f64,
        /// Relative fall of smoothed training loss per epoch over the same epochs.
        train_loss_fall_per_epoch: f64,
        /// Training loss, last epoch over first (1.0: it did not move).
        train_loss_last_over_first: f64,
        /// Validation loss at the last epoch.
        final_val_loss: f64,
    },
    /// Validation loss reached its minimum and stayed there; no sustained rise.
    #[serde(rename = "good fit")]
    GoodFit {
        /// The best epoch (by the monitored metric).
        best_epoch: i64,
        /// Validation loss at its lowest.
        best_val_loss: f64,
        /// Validation loss at the last epoch.
        final_val_loss: f64,
        /// Smoothed rise of validation loss after its minimum, relative to it (below tolerance).
        val_loss_rise_pct: f64,
    },
    /// Validation loss rose after `onset_epoch` while training loss kept falling.
    #[serde(rename = "overfitting")]
    Overfitting {
        /// The epoch after which smoothed validation loss rises (its minimum).
        onset_epoch: i64,
        /// The best epoch (by the monitored metric).
        best_epoch: i64,
        /// Validation loss at its lowest.
        best_val_loss: f64,
        /// Validation loss at the last epoch.
        final_val_loss: f64,
        /// Validation loss lost after the best epoch: final − best.
        val_loss_lost: f64,
        /// Smoothed rise of validation loss from the onset to the end, in % of its minimum.
        val_loss_rise_pct: f64,
        /// Smoothed fall of training loss from the onset to the end, in % of its onset value.
        train_loss_fall_after_onset_pct: f64,
        /// Epochs trained after the onset.
        epochs_after_onset: usize,
        /// Validation accuracy lost after its best epoch (best − final), when logged.
        val_acc_lost: Option<f64>,
    },
    /// Training loss oscillates or diverges (learning rate too high, inputs badly scaled).
    #[serde(rename = "unstable")]
    Unstable {
        /// Sum of the epoch-to-epoch rises of training loss over its net fall.
        train_loss_rise_ratio: f64,
        /// Training loss ended at or above where it started, or became NaN/infinite.
        diverged: bool,
        /// Training loss at the first epoch.
        first_train_loss: f64,
        /// Training loss at the last epoch.
        final_train_loss: f64,
    },
    /// Too few epochs to read a trend.
    #[serde(rename = "not enough epochs to tell")]
    NotEnoughEpochs {
        /// Epochs with both a training and a validation loss.
        epochs: usize,
        /// Epochs needed.
        needed: usize,
    },
}

impl Verdict {
    /// The human label: `underfitting`, `good fit`, `overfitting`, `unstable` or
    /// `not enough epochs to tell`.
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Underfitting { .. } => "underfitting",
            Verdict::GoodFit { .. } => "good fit",
            Verdict::Overfitting { .. } => "overfitting",
            Verdict::Unstable { .. } => "unstable",
            Verdict::NotEnoughEpochs { .. } => "not enough epochs to tell",
        }
    }

    /// The onset epoch of an overfitting verdict.
    pub fn onset_epoch(&self) -> Option<i64> {
        match self {
            Verdict::Overfitting { onset_epoch, .. } => Some(*onset_epoch),
            _ => None,
        }
    }

    /// One sentence with the supporting numbers.
    pub fn explain(&self) -> String {
        match self {
            Verdict::Underfitting {
                val_loss_fall_per_epoch,
                train_loss_last_over_first,
                final_val_loss,
                ..
            } => format!(
                "underfitting: validation loss is still falling {:.1}%/epoch at the end \
                 (final {final_val_loss:.4}); training loss ended at {:.0}% of its first value",
                val_loss_fall_per_epoch * 100.0,
                train_loss_last_over_first * 100.0
            ),
            Verdict::GoodFit {
                best_epoch,
                best_val_loss,
                final_val_loss,
                val_loss_rise_pct,
            } => format!(
                "good fit: validation loss bottomed at {best_val_loss:.4} (epoch {best_epoch}) \
                 and ended at {final_val_loss:.4} (smoothed rise {val_loss_rise_pct:.1}%, \
                 within tolerance)"
            ),
            Verdict::Overfitting {
                onset_epoch,
                best_epoch,
                best_val_loss,
                final_val_loss,
                val_loss_lost,
                val_loss_rise_pct,
                train_loss_fall_after_onset_pct,
                epochs_after_onset,
                ..
            } => format!(
                "overfitting from epoch {onset_epoch}: validation loss rose {val_loss_rise_pct:.0}% \
                 over the {epochs_after_onset} epochs after it while training loss fell \
                 {train_loss_fall_after_onset_pct:.0}%; best epoch {best_epoch} \
                 (val loss {best_val_loss:.4}), final {final_val_loss:.4}: \
                 {val_loss_lost:.4} lost"
            ),
            Verdict::Unstable {
                train_loss_rise_ratio,
                diverged,
                first_train_loss,
                final_train_loss,
            } => {
                if *diverged {
                    format!(
                        "unstable: training loss diverged ({first_train_loss:.4} at the first \
                         epoch, {final_train_loss:.4} at the last)"
                    )
                } else {
                    format!(
                        "unstable: training loss oscillates (its rises add up to \
                         {:.0}% of its net fall)",
                        train_loss_rise_ratio * 100.0
                    )
                }
            }
            Verdict::NotEnoughEpochs { epochs, needed } => format!(
                "not enough epochs to tell: {epochs} epoch(s) with training and validation loss, \
                 {needed} needed"
            ),
        }
    }
}

/// Thresholds the verdict is read with (see the `DEFAULT_*` constants).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Thresholds {
    pub min_epochs: usize,
    pub smoothing_epochs: usize,
    pub onset_tolerance: f64,
    pub unstable_rise_ratio: f64,
    pub still_improving_per_epoch: f64,
}

/// Training and validation loss per epoch, aligned; `best` is the index of the best epoch.
pub(crate) struct Curves<'a> {
    pub epochs: &'a [i64],
    pub train_loss: &'a [f64],
    pub val_loss: &'a [f64],
    pub val_acc: Option<&'a [f64]>,
    pub best: usize,
}

/// Reads the verdict from aligned curves.
pub(crate) fn judge(c: &Curves<'_>, t: &Thresholds) -> Verdict {
    let n = c.epochs.len();
    if n < t.min_epochs {
        return Verdict::NotEnoughEpochs {
            epochs: n,
            needed: t.min_epochs,
        };
    }
    let first_train = c.train_loss[0];
    let last_train = c.train_loss[n - 1];
    let rise_ratio = rise_ratio(c.train_loss);
    let non_finite = c
        .train_loss
        .iter()
        .chain(c.val_loss)
        .any(|v| !v.is_finite());
    let diverged = non_finite || last_train > first_train;
    if diverged || rise_ratio > t.unstable_rise_ratio {
        return Verdict::Unstable {
            train_loss_rise_ratio: rise_ratio,
            diverged,
            first_train_loss: first_train,
            final_train_loss: last_train,
        };
    }

    let sv = smooth(c.val_loss, t.smoothing_epochs);
    let st = smooth(c.train_loss, t.smoothing_epochs);
    let low = argmin(&sv);
    let rise = sv[n - 1] - sv[low];
    let rise_pct = 100.0 * rise / sv[low].abs().max(f64::EPSILON);
    let best_val_loss = c.val_loss[argmin(c.val_loss)];
    let final_val_loss = c.val_loss[n - 1];
    let train_falls = st[n - 1] < st[low];
    if n - 1 - low >= 2 && rise > t.onset_tolerance * sv[low].abs() && train_falls {
        let val_acc_lost = c.val_acc.map(|acc| {
            let best = acc.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            best - acc[n - 1]
        });
        // The centered average drags the minimum towards the shallower side: take the raw
        // minimum within the smoothing window around it.
        let half = t.smoothing_epochs / 2;
        let lo = low.saturating_sub(half);
        let onset = lo + argmin(&c.val_loss[lo..=(low + half).min(n - 1)]);
        return Verdict::Overfitting {
            onset_epoch: c.epochs[onset],
            best_epoch: c.epochs[c.best],
            best_val_loss,
            final_val_loss,
            val_loss_lost: final_val_loss - best_val_loss,
            val_loss_rise_pct: rise_pct,
            train_loss_fall_after_onset_pct: 100.0 * (st[low] - st[n - 1])
                / st[low].abs().max(f64::EPSILON),
            epochs_after_onset: n - 1 - onset,
            val_acc_lost,
        };
    }

    let k = (n / 4).max(2);
    let fall_per_epoch =
        |s: &[f64]| (s[n - 1 - k] - s[n - 1]) / (k as f64 * s[n - 1].abs().max(f64::EPSILON));
    let val_fall = fall_per_epoch(&sv);
    let train_fall = fall_per_epoch(&st);
    let last_over_first = last_train / first_train;
    if val_fall > t.still_improving_per_epoch || last_over_first > 0.9 {
        return Verdict::Underfitting {
            val_loss_fall_per_epoch: val_fall,
            train_loss_fall_per_epoch: train_fall,
            train_loss_last_over_first: last_over_first,
            final_val_loss,
        };
    }
    Verdict::GoodFit {
        best_epoch: c.epochs[c.best],
        best_val_loss,
        final_val_loss,
        val_loss_rise_pct: rise_pct,
    }
}

/// Sum of the rises of `values` from one epoch to the next over its net fall (first − min).
pub(crate) fn rise_ratio(values: &[f64]) -> f64 {
    let rises: f64 = values.windows(2).map(|w| (w[1] - w[0]).max(0.0)).sum();
    if rises == 0.0 {
        return 0.0;
    }
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    rises / (values[0] - min).max(f64::EPSILON)
}

/// Index of the first smallest value (NaN never wins).
pub(crate) fn argmin(values: &[f64]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v < values[best] || values[best].is_nan() {
            best = i;
        }
    }
    best
}

/// Index of the first largest value (NaN never wins).
pub(crate) fn argmax(values: &[f64]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] || values[best].is_nan() {
            best = i;
        }
    }
    best
}
