//! Reading the curves: best epoch, onset of overfitting and the verdict, each with its numbers.

use serde::{Deserialize, Serialize};

use super::noise::Noise;

/// Fewest epochs with both a training and a validation loss before a verdict is given.
pub const DEFAULT_MIN_EPOCHS: usize = 5;
/// Window of the centered moving average applied to the losses before reading trends.
pub const DEFAULT_SMOOTHING_EPOCHS: usize = 3;
/// How far (relative to its minimum) smoothed validation loss must end above its minimum for
/// the rise to count as overfitting rather than noise.
pub const DEFAULT_ONSET_TOLERANCE: f64 = 0.05;
/// Training loss is unstable when the sum of its epoch-to-epoch rises beyond the noise exceeds
/// this fraction of its net drop (0.5: it climbed back half of what it descended).
pub const DEFAULT_UNSTABLE_RISE_RATIO: f64 = 0.5;
/// A rise or fall counts only when it is at least this many standard errors of one epoch's
/// value: smaller ones are within what chance alone does on the run's validation set.
pub const DEFAULT_SIGNIFICANCE_SE: f64 = 2.0;
/// A running training loss averaged over fewer batches per epoch than this is too noisy to call
/// its ups and downs oscillation (runs with `train_eval_loss` are read on that instead).
pub const MIN_BATCHES_FOR_OSCILLATION: f64 = 20.0;
/// A model whose final training loss is at least this share of chance level (ln classes)
/// underfits: it fits its own training set hardly better than the class frequencies.
pub const UNDERFIT_LOSS_OVER_CHANCE: f64 = 0.5;
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

/// The verdict on a run, with the numbers that support it and their strength in standard errors
/// of the run's own noise. Serialized with a `label` field holding the human label
/// (`"good fit"`, `"inconclusive"`, `"not enough epochs to tell"`, ...).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "label")]
pub enum Verdict {
    /// The model has not learned what it could: losses still falling beyond the noise at the
    /// end, training loss barely moved, or the model fits its own training set hardly better
    /// than chance.
    #[serde(rename = "underfitting")]
    Underfitting {
        /// Validation loss was still falling beyond the noise at the end (train longer).
        still_falling: bool,
        /// Final training loss (eval mode where logged) over chance level ln(classes), when
        /// the classes are known.
        train_loss_over_chance: Option<f64>,
        /// Relative fall of smoothed validation loss per epoch over the last quarter of the run.
        val_loss_fall_per_epoch: f64,
        /// That fall over the last quarter, in standard errors of one epoch's validation loss
        /// (`None`: noise unknown).
        fall_se: Option<f64>,
        /// Relative fall of smoothed training loss per epoch over the same epochs.
        train_loss_fall_per_epoch: f64,
        /// Training loss, last epoch over first (1.0: it did not move).
        train_loss_last_over_first: f64,
        /// Validation loss at the last epoch.
        final_val_loss: f64,
    },
    /// Validation loss reached its minimum and stayed there; no rise beyond the noise.
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
        /// That rise in standard errors of one epoch's validation loss (`None`: noise unknown).
        rise_se: Option<f64>,
    },
    /// Validation loss rose beyond the noise after `onset_epoch` while training loss kept
    /// falling.
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
        /// Smoothed rise of validation loss from its minimum to the end (absolute).
        val_loss_rise: f64,
        /// That rise in standard errors of one epoch's validation loss (`None`: noise unknown).
        rise_se: Option<f64>,
        /// Smoothed rise of validation loss from the onset to the end, in % of its minimum.
        val_loss_rise_pct: f64,
        /// Smoothed fall of training loss from the onset to the end, in % of its onset value.
        train_loss_fall_after_onset_pct: f64,
        /// Epochs trained after the onset.
        epochs_after_onset: usize,
        /// Validation accuracy lost after its best epoch (best − final), when logged.
        val_acc_lost: Option<f64>,
    },
    /// Validation loss rose by more than the tolerance, but the run cannot say whether it
    /// overfit: the rise is within the noise of the validation set, or training loss did not
    /// keep falling meanwhile, or it came in the last epoch only.
    #[serde(rename = "inconclusive")]
    Inconclusive {
        /// Training loss kept falling after the validation minimum.
        train_fell: bool,
        /// Epochs after the smoothed validation minimum.
        epochs_after_minimum: usize,
        /// The best epoch (by the monitored metric).
        best_epoch: i64,
        /// Validation loss at its lowest.
        best_val_loss: f64,
        /// Validation loss at the last epoch.
        final_val_loss: f64,
        /// Smoothed rise of validation loss from its minimum to the end (absolute).
        val_loss_rise: f64,
        /// That rise in standard errors of one epoch's validation loss (infinite, serialized as
        /// null, when the noise is unknown).
        rise_se: f64,
        /// One standard error of one epoch's validation loss (0 when unknown).
        val_loss_se: f64,
    },
    /// Training loss oscillates beyond its noise or diverges (learning rate too high, inputs
    /// badly scaled).
    #[serde(rename = "unstable")]
    Unstable {
        /// Sum of the epoch-to-epoch rises of training loss beyond the noise, over its net fall.
        train_loss_rise_ratio: f64,
        /// Training loss ended at or above where it started, or became NaN/infinite.
        diverged: bool,
        /// The training metric read: `train_eval_loss` (eval mode) or the running loss.
        train_metric: String,
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
    /// The human label: `underfitting`, `good fit`, `overfitting`, `inconclusive`, `unstable`
    /// or `not enough epochs to tell`.
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Underfitting { .. } => "underfitting",
            Verdict::GoodFit { .. } => "good fit",
            Verdict::Overfitting { .. } => "overfitting",
            Verdict::Inconclusive { .. } => "inconclusive",
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

    /// One sentence with the supporting numbers and their strength; `noise` says where the
    /// standard errors come from.
    pub fn explain(&self, noise: &Noise) -> String {
        let se = noise.val_loss_se;
        let strength = |z: &Option<f64>| match (z, se) {
            (Some(z), Some(se)) => format!("{z:.1} standard errors of {se:.4}"),
            _ => "noise unknown".to_string(),
        };
        match self {
            Verdict::Underfitting {
                still_falling: true,
                val_loss_fall_per_epoch,
                fall_se,
                train_loss_last_over_first,
                final_val_loss,
                ..
            } => format!(
                "underfitting: validation loss is still falling {:.1}%/epoch at the end \
                 ({} over the last quarter; final {final_val_loss:.4}); training loss ended \
                 at {:.0}% of its first value",
                val_loss_fall_per_epoch * 100.0,
                strength(fall_se),
                train_loss_last_over_first * 100.0
            ),
            Verdict::Underfitting {
                train_loss_over_chance: Some(ratio),
                final_val_loss,
                ..
            } if *ratio >= UNDERFIT_LOSS_OVER_CHANCE => format!(
                "underfitting: the model fits its own training set poorly (training loss ends \
                 at {:.0}% of chance level, final validation loss {final_val_loss:.4}): it \
                 cannot learn the task as set up",
                ratio * 100.0
            ),
            Verdict::Underfitting {
                train_loss_last_over_first,
                final_val_loss,
                ..
            } => format!(
                "underfitting: training loss barely moved (it ended at {:.0}% of its first \
                 value; final validation loss {final_val_loss:.4})",
                train_loss_last_over_first * 100.0
            ),
            Verdict::GoodFit {
                best_epoch,
                best_val_loss,
                final_val_loss,
                val_loss_rise_pct,
                rise_se,
            } => format!(
                "good fit: validation loss bottomed at {best_val_loss:.4} (epoch {best_epoch}) \
                 and ended at {final_val_loss:.4} (smoothed rise {val_loss_rise_pct:.1}%, {}: \
                 within the tolerance)",
                strength(rise_se)
            ),
            Verdict::Overfitting {
                onset_epoch,
                best_epoch,
                best_val_loss,
                final_val_loss,
                val_loss_lost,
                val_loss_rise,
                rise_se,
                val_loss_rise_pct,
                train_loss_fall_after_onset_pct,
                epochs_after_onset,
                ..
            } => format!(
                "overfitting from epoch {onset_epoch}: validation loss rose {val_loss_rise:.4} \
                 above its best ({}; +{val_loss_rise_pct:.0}%) over the {epochs_after_onset} \
                 epochs after it while training loss fell {train_loss_fall_after_onset_pct:.0}%; \
                 best epoch {best_epoch} (val loss {best_val_loss:.4}), final \
                 {final_val_loss:.4}: {val_loss_lost:.4} lost",
                strength(rise_se)
            ),
            Verdict::Inconclusive {
                train_fell,
                epochs_after_minimum,
                best_epoch,
                best_val_loss,
                final_val_loss,
                val_loss_rise,
                rise_se,
                val_loss_se,
            } => {
                let strength = if rise_se.is_finite() && *val_loss_se > 0.0 {
                    format!(
                        "{rise_se:.1} standard errors of {val_loss_se:.4} ({})",
                        noise.describe()
                    )
                } else {
                    "noise unknown".to_string()
                };
                let head = format!(
                    "inconclusive: validation loss ended {val_loss_rise:.4} above its best \
                     ({best_val_loss:.4} at epoch {best_epoch}, final {final_val_loss:.4}), \
                     {strength}"
                );
                if *rise_se < DEFAULT_SIGNIFICANCE_SE {
                    format!(
                        "{head}: within what chance alone does; a larger validation split, \
                         k-fold cross-validation or repeated runs would tell"
                    )
                } else if *epochs_after_minimum < 2 {
                    format!("{head}, in the last epoch only: train a few more epochs to tell")
                } else if !*train_fell {
                    format!(
                        "{head}, but training loss did not keep falling meanwhile: not the \
                         pattern of overfitting (a noisy end); train longer or repeat with \
                         other seeds to tell"
                    )
                } else {
                    head
                }
            }
            Verdict::Unstable {
                train_loss_rise_ratio,
                diverged,
                train_metric,
                first_train_loss,
                final_train_loss,
            } => {
                if *diverged {
                    format!(
                        "unstable: {train_metric} diverged or blew up to chance level \
                         ({first_train_loss:.4} at the first epoch, {final_train_loss:.4} at the \
                         last)"
                    )
                } else {
                    format!(
                        "unstable: {train_metric} oscillates (its rises beyond the noise add \
                         up to {:.0}% of its net fall)",
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
