//! Likely causes of what the verdict found, ranked, read from the run's own params, in the terms
//! of the usual advice (too little data, no augmentation, dropout, weight decay, learning rate,
//! batch size, normalization, early stopping), each with the config key to change.

use std::collections::BTreeMap;

use serde::Serialize;

use super::verdict::Verdict;

/// Below this many training samples, overfitting is the rule for a CNN whatever the
/// regularization (the seed's "less than 10,000 images consistently led to overfitting").
pub const SMALL_TRAINING_SET: f64 = 10_000.0;
/// Dropout rates at or above this lose too much information.
pub const HIGH_DROPOUT: f64 = 0.7;
/// Batches at or above this size tend to generalize worse.
pub const LARGE_BATCH: f64 = 256.0;
/// Batches at or below this size give noisy gradients.
pub const SMALL_BATCH: f64 = 16.0;

/// What a cause is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CauseKind {
    /// Too few training samples for the model's parameters.
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
    /// Learning rate too high: loss oscillates or diverges.
    LearningRateTooHigh,
    /// Batch size too large (worse generalization) or too small (noisy steps).
    BatchSize,
    /// Inputs not normalized.
    InputsNotNormalized,
    /// Trained well past the best epoch with no early stopping.
    NoEarlyStopping,
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

/// The param keys each cause reads, in order of preference: gapwatch's trainer first, then
/// common spellings of other trainers (Keras/MLflow scripts log `lr`, `batch_size`, ...).
pub mod keys {
    /// Training-set size.
    pub const TRAIN_SAMPLES: &[&str] = &[
        "train_size",
        "data.train_samples",
        "train_samples",
        "data.train_size",
        "num_train_samples",
        "n_train",
    ];
    /// The config key that limits the training set.
    pub const TRAIN_LIMIT: &[&str] = &["data.limit", "data.train_limit", "data.subset"];
    /// Trainable parameter count.
    pub const NUM_PARAMS: &[&str] = &[
        "num_params",
        "model.num_params",
        "trainable_params",
        "params",
    ];
    /// Augmentation preset (`none` | `standard` | `custom`).
    pub const AUGMENT: &[&str] = &["transforms.augment", "augment", "augmentation"];
    /// Dropout rates (every one of these present is read).
    pub const DROPOUT: &[&str] = &[
        "model.conv_dropout",
        "model.dense_dropout",
        "model.dropout",
        "dropout",
        "dropout_rate",
    ];
    /// Weight decay.
    pub const WEIGHT_DECAY: &[&str] = &["optim.weight_decay", "weight_decay", "l2"];
    /// Learning rate.
    pub const LEARNING_RATE: &[&str] = &[
        "optim.learning_rate",
        "optim.lr",
        "learning_rate",
        "lr",
        "opt_learning_rate",
    ];
    /// Optimizer name.
    pub const OPTIMIZER: &[&str] = &["optim.optimizer", "optimizer", "opt_name"];
    /// Batch size.
    pub const BATCH_SIZE: &[&str] = &[
        "loader.batch_size",
        "data.batch_size",
        "train.batch_size",
        "batch_size",
    ];
    /// Input normalization.
    pub const NORMALIZE: &[&str] = &["transforms.normalize", "normalize"];
    /// Early stopping on/off (gapwatch's trainer records it).
    pub const EARLY_STOPPING_ENABLED: &[&str] = &["early_stopping.enabled", "early_stopping"];
    /// Early-stopping patience, read only when no on/off key is recorded (0 or none: off).
    pub const EARLY_STOPPING_PATIENCE: &[&str] = &[
        "early_stopping.patience_epochs",
        "early_stopping.patience",
        "patience",
    ];
}

/// The first of `candidates` the run has, with its value.
fn lookup<'a>(
    params: &'a BTreeMap<String, String>,
    candidates: &[&'static str],
) -> Option<(&'static str, &'a str)> {
    candidates
        .iter()
        .find_map(|k| params.get(*k).map(|v| (*k, v.trim())))
}

fn lookup_f64(
    params: &BTreeMap<String, String>,
    candidates: &[&'static str],
) -> Option<(&'static str, f64)> {
    lookup(params, candidates).and_then(|(k, v)| v.parse::<f64>().ok().map(|x| (k, x)))
}

fn is_off(value: &str) -> bool {
    matches!(
        value.to_ascii_lowercase().as_str(),
        "" | "none" | "false" | "off" | "0" | "no" | "null"
    )
}

/// What the verdict found, as the cause rules need it.
struct Situation {
    overfitting: bool,
    unstable: bool,
    underfitting: bool,
    /// Epochs trained after the best one, and all epochs.
    epochs_after_best: usize,
    epochs: usize,
    val_loss_lost: f64,
}

/// One cause rule: the cause it finds in a situation, given the run's params.
type Rule = fn(&Situation, &BTreeMap<String, String>) -> Option<Cause>;

/// Ranks the likely causes of `verdict` from the run's `params`. A good fit or too short a run
/// gets none; a cause whose params the run did not record is not guessed.
pub fn likely_causes(
    verdict: &Verdict,
    params: &BTreeMap<String, String>,
    epochs_after_best: usize,
    epochs: usize,
) -> Vec<Cause> {
    let situation = Situation {
        overfitting: matches!(verdict, Verdict::Overfitting { .. }),
        unstable: matches!(verdict, Verdict::Unstable { .. }),
        underfitting: matches!(verdict, Verdict::Underfitting { .. }),
        epochs_after_best,
        epochs,
        val_loss_lost: match verdict {
            Verdict::Overfitting { val_loss_lost, .. } => *val_loss_lost,
            _ => 0.0,
        },
    };
    if !(situation.overfitting || situation.unstable || situation.underfitting) {
        return Vec::new();
    }
    let rules: [Rule; 8] = [
        too_little_data,
        augmentation,
        dropout,
        weight_decay,
        learning_rate,
        batch_size,
        normalization,
        early_stopping,
    ];
    let mut causes: Vec<Cause> = rules
        .iter()
        .filter_map(|rule| rule(&situation, params))
        .collect();
    causes.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.kind.cmp(&b.kind)));
    causes
}

fn too_little_data(s: &Situation, params: &BTreeMap<String, String>) -> Option<Cause> {
    if !s.overfitting {
        return None;
    }
    let (_, samples) = lookup_f64(params, keys::TRAIN_SAMPLES)?;
    let per_sample = lookup_f64(params, keys::NUM_PARAMS).map(|(_, p)| p / samples.max(1.0));
    let small = samples < SMALL_TRAINING_SET;
    let heavy = per_sample.is_some_and(|p| p > 10.0);
    if !small && !heavy {
        return None;
    }
    let mut score = if small { 0.6 } else { 0.3 };
    if let Some(p) = per_sample {
        score += (p.max(1.0).log10() / 3.0).min(1.0) * 0.3;
    }
    let limit = lookup(params, keys::TRAIN_LIMIT);
    let evidence = match per_sample {
        Some(p) => format!(
            "{samples:.0} training samples for {:.0} parameters ({p:.0} parameters per sample)",
            p * samples
        ),
        None => format!("{samples:.0} training samples"),
    };
    Some(Cause {
        kind: CauseKind::TooLittleData,
        score,
        evidence,
        config_key: limit.map_or(keys::TRAIN_LIMIT[0], |(k, _)| k).to_string(),
        current: limit.map(|(_, v)| v.to_string()),
        suggested: format!(
            "{:.0} or more (or no limit)",
            (samples * 2.0).max(SMALL_TRAINING_SET)
        ),
    })
}

fn augmentation(s: &Situation, params: &BTreeMap<String, String>) -> Option<Cause> {
    if !s.overfitting {
        return None;
    }
    let (key, value) = lookup(params, keys::AUGMENT)?;
    let (kind, score, evidence) = if is_off(value) {
        (
            CauseKind::NoAugmentation,
            0.8,
            format!("no augmentation ({key} = {value})"),
        )
    } else if value == "custom" {
        (
            CauseKind::WeakAugmentation,
            0.35,
            format!("a custom augmentation chain ({key} = custom): check it is strong enough"),
        )
    } else {
        return None;
    };
    Some(Cause {
        kind,
        score,
        evidence,
        config_key: key.to_string(),
        current: Some(value.to_string()),
        suggested: "standard".to_string(),
    })
}

fn dropout(s: &Situation, params: &BTreeMap<String, String>) -> Option<Cause> {
    let rates: Vec<(&str, f64)> = keys::DROPOUT
        .iter()
        .filter_map(|k| {
            params
                .get(*k)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .map(|v| (*k, v))
        })
        .collect();
    if rates.is_empty() {
        return None;
    }
    let listed = rates
        .iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect::<Vec<_>>()
        .join(", ");
    let max = rates.iter().map(|(_, v)| *v).fold(0.0, f64::max);
    if s.overfitting && max == 0.0 {
        return Some(Cause {
            kind: CauseKind::NoDropout,
            score: 0.65,
            evidence: format!("dropout is off ({listed})"),
            config_key: rates[rates.len() - 1].0.to_string(),
            current: Some("0".to_string()),
            suggested: "0.3 to 0.5".to_string(),
        });
    }
    let (key, rate) = rates
        .iter()
        .copied()
        .fold(rates[0], |a, b| if b.1 > a.1 { b } else { a });
    if rate >= HIGH_DROPOUT && (s.underfitting || s.overfitting) {
        return Some(Cause {
            kind: CauseKind::DropoutTooHigh,
            score: if s.underfitting { 0.8 } else { 0.3 },
            evidence: format!("dropout {rate} drops most activations ({listed})"),
            config_key: key.to_string(),
            current: Some(rate.to_string()),
            suggested: "0.3 to 0.5".to_string(),
        });
    }
    None
}

fn weight_decay(s: &Situation, params: &BTreeMap<String, String>) -> Option<Cause> {
    if !s.overfitting {
        return None;
    }
    let (key, value) = lookup(params, keys::WEIGHT_DECAY)?;
    let decay: f64 = value.parse().ok()?;
    (decay == 0.0).then(|| Cause {
        kind: CauseKind::NoWeightDecay,
        score: 0.55,
        evidence: format!("no weight decay ({key} = {value})"),
        config_key: key.to_string(),
        current: Some(value.to_string()),
        suggested: "1e-4 to 5e-4".to_string(),
    })
}

fn learning_rate(s: &Situation, params: &BTreeMap<String, String>) -> Option<Cause> {
    if !s.unstable {
        return None;
    }
    let (key, lr) = lookup_f64(params, keys::LEARNING_RATE)?;
    let optimizer = lookup(params, keys::OPTIMIZER).map(|(_, v)| v.to_ascii_lowercase());
    let adaptive = optimizer.as_deref().is_none_or(|o| o.contains("adam"));
    let high = if adaptive { 3e-3 } else { 0.1 };
    Some(Cause {
        kind: CauseKind::LearningRateTooHigh,
        score: if lr >= high { 0.95 } else { 0.7 },
        evidence: format!(
            "training loss oscillates or diverges at learning rate {lr}{}",
            if lr >= high {
                " (high for this optimizer)"
            } else {
                ""
            }
        ),
        config_key: key.to_string(),
        current: Some(lr.to_string()),
        suggested: format!("{}", lr / 3.0),
    })
}

fn batch_size(s: &Situation, params: &BTreeMap<String, String>) -> Option<Cause> {
    let (key, batch) = lookup_f64(params, keys::BATCH_SIZE)?;
    let (score, evidence, suggested) = if s.overfitting && batch >= LARGE_BATCH {
        (
            0.25,
            format!("large batches ({batch:.0}) tend to generalize worse"),
            "64",
        )
    } else if s.unstable && batch <= SMALL_BATCH {
        (
            0.4,
            format!("small batches ({batch:.0}) give noisy gradient steps"),
            "64",
        )
    } else {
        return None;
    };
    Some(Cause {
        kind: CauseKind::BatchSize,
        score,
        evidence,
        config_key: key.to_string(),
        current: Some(format!("{batch:.0}")),
        suggested: suggested.to_string(),
    })
}

fn normalization(_s: &Situation, params: &BTreeMap<String, String>) -> Option<Cause> {
    let (key, value) = lookup(params, keys::NORMALIZE)?;
    is_off(value).then(|| Cause {
        kind: CauseKind::InputsNotNormalized,
        score: 0.45,
        evidence: format!("inputs are not normalized ({key} = {value})"),
        config_key: key.to_string(),
        current: Some(value.to_string()),
        suggested: "dataset".to_string(),
    })
}

fn early_stopping(s: &Situation, params: &BTreeMap<String, String>) -> Option<Cause> {
    if !s.overfitting || s.epochs_after_best < 2 {
        return None;
    }
    let (key, value) = lookup(params, keys::EARLY_STOPPING_ENABLED)
        .or_else(|| lookup(params, keys::EARLY_STOPPING_PATIENCE))?;
    if !is_off(value) {
        return None;
    }
    let share = s.epochs_after_best as f64 / s.epochs.max(1) as f64;
    let suggested = if keys::EARLY_STOPPING_ENABLED.contains(&key) {
        "true (with early_stopping.patience_epochs = 3, restoring the best weights)"
    } else {
        "3 (and keep the best checkpoint)"
    };
    Some(Cause {
        kind: CauseKind::NoEarlyStopping,
        score: 0.4 + 0.4 * share,
        evidence: format!(
            "trained {} epochs past the best one with no early stopping; validation loss lost {:.4}",
            s.epochs_after_best, s.val_loss_lost
        ),
        config_key: key.to_string(),
        current: Some(value.to_string()),
        suggested: suggested.to_string(),
    })
}
