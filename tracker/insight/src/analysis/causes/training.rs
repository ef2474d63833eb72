//! The cause rules about optimization and schedule (learning rate, gradient clipping, batch
//! size, normalization, early stopping, epochs, a model too small, a validation set too small):
//! each reads the run's params in a situation and finds one cause, or none.

use std::collections::BTreeMap;

use super::keys::{self, is_off, lookup, lookup_f64, lookup_list};
use super::rules::{list, number};
use super::{Cause, CauseKind, LARGE_BATCH, SMALL_BATCH, Situation};

pub(super) fn learning_rate_high(
    s: &Situation<'_>,
    params: &BTreeMap<String, String>,
) -> Option<Cause> {
    if !s.unstable {
        return None;
    }
    let (key, lr) = lookup_f64(params, keys::LEARNING_RATE)?;
    let optimizer = lookup(params, keys::OPTIMIZER).map(|(_, v)| v.to_ascii_lowercase());
    let adaptive = optimizer.as_deref().is_none_or(|o| o.contains("adam"));
    let high = if adaptive { 3e-3 } else { 0.1 };
    let factor = if s.diverged || lr >= high { 10.0 } else { 3.0 };
    Some(Cause {
        kind: CauseKind::LearningRateTooHigh,
        score: if lr >= high { 0.95 } else { 0.7 },
        evidence: format!(
            "training loss {} at learning rate {}{}",
            if s.diverged { "diverges" } else { "oscillates" },
            number(lr),
            if lr >= high {
                " (high for this optimizer)"
            } else {
                ""
            }
        ),
        config_key: key.to_string(),
        current: Some(number(lr)),
        suggested: number(lr / factor),
    })
}

pub(super) fn learning_rate_low(
    s: &Situation<'_>,
    params: &BTreeMap<String, String>,
) -> Option<Cause> {
    if !s.underfitting {
        return None;
    }
    let (key, lr) = lookup_f64(params, keys::LEARNING_RATE)?;
    let optimizer = lookup(params, keys::OPTIMIZER).map(|(_, v)| v.to_ascii_lowercase());
    let adaptive = optimizer.as_deref().is_none_or(|o| o.contains("adam"));
    let low = if adaptive { 1e-4 } else { 1e-3 };
    let barely_moved = s.train_last_over_first.is_some_and(|r| r > 0.9);
    if !(barely_moved || lr < low) {
        return None;
    }
    let moved = s
        .train_last_over_first
        .map(|r| {
            format!(
                "training loss ended at {:.0}% of its first value",
                r * 100.0
            )
        })
        .unwrap_or_default();
    Some(Cause {
        kind: CauseKind::LearningRateTooLow,
        score: if lr < low { 0.9 } else { 0.6 },
        evidence: format!(
            "learning rate {}{}: {moved}",
            number(lr),
            if lr < low {
                " is low for this optimizer"
            } else {
                ""
            }
        ),
        config_key: key.to_string(),
        current: Some(number(lr)),
        suggested: number(if lr < low { lr * 10.0 } else { lr * 3.0 }),
    })
}

pub(super) fn gradient_clipping(
    s: &Situation<'_>,
    params: &BTreeMap<String, String>,
) -> Option<Cause> {
    if !s.unstable {
        return None;
    }
    let (key, clip) = lookup_f64(params, keys::GRAD_CLIP)?;
    (clip == 0.0).then(|| Cause {
        kind: CauseKind::NoGradientClipping,
        score: 0.35,
        evidence: format!(
            "training loss {} with no gradient clipping ({key} = 0)",
            if s.diverged { "diverges" } else { "oscillates" }
        ),
        config_key: key.to_string(),
        current: Some("0".to_string()),
        suggested: "1.0".to_string(),
    })
}

pub(super) fn batch_size(s: &Situation<'_>, params: &BTreeMap<String, String>) -> Option<Cause> {
    let (key, batch) = lookup_f64(params, keys::BATCH_SIZE)?;
    let (score, evidence, suggested) = if s.overfitting && batch >= LARGE_BATCH {
        (
            0.25,
            format!(
                "large batches ({batch:.0}) tend to generalize worse; {}",
                s.gap()
            ),
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

pub(super) fn normalization(
    _s: &Situation<'_>,
    params: &BTreeMap<String, String>,
) -> Option<Cause> {
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

pub(super) fn early_stopping(
    s: &Situation<'_>,
    params: &BTreeMap<String, String>,
) -> Option<Cause> {
    if !s.overfitting || s.facts.epochs_after_best < 2 {
        return None;
    }
    let (key, value) = lookup(params, keys::EARLY_STOPPING_ENABLED)
        .or_else(|| lookup(params, keys::EARLY_STOPPING_PATIENCE))?;
    if !is_off(value) {
        return None;
    }
    let share = s.facts.epochs_after_best as f64 / s.facts.epochs.max(1) as f64;
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
            s.facts.epochs_after_best, s.val_loss_lost
        ),
        config_key: key.to_string(),
        current: Some(value.to_string()),
        suggested: suggested.to_string(),
    })
}

pub(super) fn too_few_epochs(
    s: &Situation<'_>,
    params: &BTreeMap<String, String>,
) -> Option<Cause> {
    let (key, epochs) = lookup_f64(params, keys::EPOCHS)?;
    if s.inconclusive && !s.inconclusive_within_noise {
        // A rise beyond the noise that the run ended too soon after to read. When early
        // stopping ended it, more epochs do nothing: more patience does.
        let stopped_early =
            lookup(params, keys::EARLY_STOPPING_ENABLED).is_some_and(|(_, v)| !is_off(v));
        if stopped_early
            && let Some((key, patience)) = lookup_f64(params, keys::EARLY_STOPPING_PATIENCE)
        {
            return Some(Cause {
                kind: CauseKind::TooFewEpochs,
                score: 0.6,
                evidence: format!(
                    "validation loss rose beyond the noise only in the last epochs before early \
                     stopping ended the run after {} epochs, without training loss falling: a \
                     blip or a trend, the run cannot tell",
                    s.facts.epochs
                ),
                config_key: key.to_string(),
                current: Some(format!("{patience:.0}")),
                suggested: format!("{:.0}", patience + 3.0),
            });
        }
        return Some(Cause {
            kind: CauseKind::TooFewEpochs,
            score: 0.6,
            evidence: format!(
                "validation loss rose beyond the noise only at the end of {} epochs, without \
                 training loss falling: too few epochs after it to tell a trend from a blip",
                s.facts.epochs
            ),
            config_key: key.to_string(),
            current: Some(format!("{epochs:.0}")),
            suggested: format!("{:.0}", epochs + 5.0),
        });
    }
    let fall = s.still_falling?;
    Some(Cause {
        kind: CauseKind::TooFewEpochs,
        score: 0.85,
        evidence: format!(
            "validation loss was still falling {:.1}%/epoch when training ended after {} epochs",
            fall * 100.0,
            s.facts.epochs
        ),
        config_key: key.to_string(),
        current: Some(format!("{epochs:.0}")),
        suggested: format!("{:.0}", (epochs * 2.0).max(epochs + 5.0)),
    })
}

pub(super) fn model_too_small(
    s: &Situation<'_>,
    params: &BTreeMap<String, String>,
) -> Option<Cause> {
    if !s.underfitting {
        return None;
    }
    let acc = s.facts.final_train_eval_acc?;
    if acc >= 0.9 {
        return None;
    }
    let (key, channels) = lookup_list(params, keys::CONV_CHANNELS)?;
    let doubled: Vec<f64> = channels.iter().map(|c| c * 2.0).collect();
    Some(Cause {
        kind: CauseKind::ModelTooSmall,
        score: 0.3,
        evidence: format!(
            "the model fits only {:.1}% of its own training set",
            acc * 100.0
        ),
        config_key: key.to_string(),
        current: Some(list(&channels)),
        suggested: list(&doubled),
    })
}

pub(super) fn validation_too_small(
    s: &Situation<'_>,
    params: &BTreeMap<String, String>,
) -> Option<Cause> {
    if !s.inconclusive_within_noise {
        return None;
    }
    let noise = s.facts.noise;
    let se = noise.val_loss_se?;
    let images = noise
        .val_size
        .map(|n| format!("{n} validation images: "))
        .unwrap_or_default();
    let (key, current) = match lookup_f64(params, keys::VAL_FRACTION) {
        Some((key, f)) => (key, Some(f)),
        None => (keys::VAL_FRACTION[0], None),
    };
    let suggested = current.map_or(0.2, |f| (f * 2.0).min(0.3).max(f));
    Some(Cause {
        kind: CauseKind::ValidationTooSmall,
        score: 0.9,
        evidence: format!(
            "{images}one epoch's validation loss has a standard error of {se:.4} ({}), as large \
             as the changes the verdict would rest on",
            match noise.source {
                crate::analysis::NoiseSource::Logged => "from the per-sample losses",
                _ => "estimated from the curve",
            }
        ),
        config_key: key.to_string(),
        current: current.map(number),
        suggested: format!(
            "{} (or k-fold cross-validation, or repeats: track sweep --repeat 3)",
            number(suggested)
        ),
    })
}
