//! Likely causes of what the verdict found, ranked, read from the run's own params, in the terms
//! of the usual advice, each with the number that points at it, the config key to change and
//! one value to try:
//! - overfitting: a model too large for the data (first: it is what a small data set can
//!   change), a limited training set, no augmentation, no dropout, no weight decay, no early
//!   stopping, large batches;
//! - underfitting: too few epochs while still improving, too low a learning rate, too much
//!   regularization, too small a model;
//! - instability: too high a learning rate, no gradient clipping, small batches;
//! - inconclusive: too small a validation set;
//! - any verdict: inputs not normalized.
//!
//! Advice never contradicts itself: each config key appears at most once, and no rule of one
//! verdict fires for another (an overfitting run is never told to grow its model).

use std::collections::BTreeMap;

use serde::Serialize;

use super::noise::Noise;
use super::verdict::Verdict;

/// Below this many training samples, overfitting is the rule for a CNN whatever the
/// regularization (the seed's "less than 10,000 images consistently led to overfitting").
pub const SMALL_TRAINING_SET: f64 = 10_000.0;
/// Dropout rates at or above this lose too much information.
pub const HIGH_DROPOUT: f64 = 0.7;
/// More parameters per training sample than this make the model the first suspect of
/// overfitting.
pub const PARAMS_PER_SAMPLE_LARGE: f64 = 10.0;
/// Batches at or above this size tend to generalize worse.
pub const LARGE_BATCH: f64 = 256.0;
/// Batches at or below this size give noisy gradients.
pub const SMALL_BATCH: f64 = 16.0;

/// What a cause is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CauseKind {
    /// Far more parameters than training samples: the model is too large for the data.
    ModelTooLarge,
    /// The training set was limited (`data.limit`) below what is available.
    TooLittleData,
    /// No augmentation of the training images.
    NoAugmentation,
    /// Only a weak or hand-made augmentation.
    WeakAugmentation,
    /// Dropout disabled.
    NoDropout,
    /// Dropout so high that the model cannot learn.
    DropoutTooHigh,
    /// No weight decay (L2 regularization).
    NoWeightDecay,
    /// Weight decay so strong that it holds the model back.
    WeightDecayTooHigh,
    /// Learning rate too high: loss oscillates or diverges.
    LearningRateTooHigh,
    /// Learning rate too low: loss barely moves.
    LearningRateTooLow,
    /// No gradient clipping while the loss jumps.
    NoGradientClipping,
    /// Batch size too large (worse generalization) or too small (noisy steps).
    BatchSize,
    /// Inputs not normalized.
    InputsNotNormalized,
    /// Trained well past the best epoch with no early stopping.
    NoEarlyStopping,
    /// Still improving when training ended.
    TooFewEpochs,
    /// Too small a model to fit the training set.
    ModelTooSmall,
    /// Too few validation samples to tell a change from noise.
    ValidationTooSmall,
}

/// One likely cause, with its evidence and what to change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cause {
    /// What the cause is about.
    pub kind: CauseKind,
    /// How much it likely contributes, 0–1; causes are sorted by it, highest first.
    pub score: f64,
    /// The numbers from the run's record that point at it.
    pub evidence: String,
    /// The config key to change (`--set KEY=VALUE` of `track train`).
    pub config_key: String,
    /// The run's value of that key, if recorded.
    pub current: Option<String>,
    /// A value to try.
    pub suggested: String,
}

pub mod keys;
mod rules;
mod training;

use rules::*;
use training::*;

/// What the run's curves say, beyond the verdict, as the cause rules need it.
#[derive(Debug, Clone, Copy)]
pub struct RunFacts<'a> {
    /// Epochs trained after the best one.
    pub epochs_after_best: usize,
    /// Epochs analysed.
    pub epochs: usize,
    /// Loss gap at the last epoch.
    pub final_loss_gap: Option<f64>,
    /// Training accuracy (eval mode where logged) at the last epoch.
    pub final_train_eval_acc: Option<f64>,
    /// The run's noise.
    pub noise: &'a Noise,
}

/// What the verdict found, as the cause rules need it.
struct Situation<'a> {
    overfitting: bool,
    unstable: bool,
    underfitting: bool,
    inconclusive: bool,
    diverged: bool,
    /// Underfitting because validation loss was still falling at the end.
    still_falling: Option<f64>,
    /// Inconclusive because the rise is within the noise (not because of how it ended).
    inconclusive_within_noise: bool,
    /// Training loss, last over first.
    train_last_over_first: Option<f64>,
    val_loss_lost: f64,
    facts: &'a RunFacts<'a>,
}

impl Situation<'_> {
    /// "final gap +0.80": the overfitting evidence every regularization cause quotes.
    fn gap(&self) -> String {
        self.facts
            .final_loss_gap
            .map(|g| format!("final loss gap {g:+.3}"))
            .unwrap_or_else(|| format!("validation loss lost {:.4}", self.val_loss_lost))
    }
}

/// One cause rule: the cause it finds in a situation, given the run's params.
type Rule = fn(&Situation<'_>, &BTreeMap<String, String>) -> Option<Cause>;

/// Ranks the likely causes of `verdict` from the run's `params` and `facts`. A good fit or too
/// short a run gets none; a cause whose params the run did not record is not guessed. Each
/// config key appears at most once (the highest-scoring cause keeps it).
pub fn likely_causes(
    verdict: &Verdict,
    params: &BTreeMap<String, String>,
    facts: &RunFacts<'_>,
) -> Vec<Cause> {
    let situation = Situation {
        overfitting: matches!(verdict, Verdict::Overfitting { .. }),
        unstable: matches!(verdict, Verdict::Unstable { .. }),
        underfitting: matches!(verdict, Verdict::Underfitting { .. }),
        inconclusive: matches!(verdict, Verdict::Inconclusive { .. }),
        diverged: matches!(verdict, Verdict::Unstable { diverged: true, .. }),
        still_falling: match verdict {
            Verdict::Underfitting {
                still_falling: true,
                val_loss_fall_per_epoch,
                ..
            } => Some(*val_loss_fall_per_epoch),
            _ => None,
        },
        inconclusive_within_noise: matches!(
            verdict,
            Verdict::Inconclusive { rise_se, .. } if *rise_se < super::DEFAULT_SIGNIFICANCE_SE
        ),
        train_last_over_first: match verdict {
            Verdict::Underfitting {
                train_loss_last_over_first,
                ..
            } => Some(*train_loss_last_over_first),
            _ => None,
        },
        val_loss_lost: match verdict {
            Verdict::Overfitting { val_loss_lost, .. } => *val_loss_lost,
            _ => 0.0,
        },
        facts,
    };
    if !(situation.overfitting
        || situation.unstable
        || situation.underfitting
        || situation.inconclusive)
    {
        return Vec::new();
    }
    let rules: [Rule; 16] = [
        model_too_large,
        too_little_data,
        augmentation,
        dropout,
        weight_decay,
        early_stopping,
        learning_rate_high,
        gradient_clipping,
        batch_size,
        normalization,
        too_few_epochs,
        learning_rate_low,
        too_much_dropout,
        too_much_weight_decay,
        model_too_small,
        validation_too_small,
    ];
    let mut causes: Vec<Cause> = rules
        .iter()
        .filter_map(|rule| rule(&situation, params))
        .collect();
    causes.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.kind.cmp(&b.kind)));
    let mut seen = std::collections::BTreeSet::new();
    causes.retain(|c| seen.insert(c.config_key.clone()));
    causes
}
