//! The cause rules: each reads the run's params in a situation and finds one cause, or none.

use std::collections::BTreeMap;

use super::keys::{self, is_off, lookup, lookup_f64, lookup_list};
use super::{
    Cause, CauseKind, HIGH_DROPOUT, LARGE_BATCH, PARAMS_PER_SAMPLE_LARGE, SMALL_BATCH,
    SMALL_TRAINING_SET, Situation,
};

fn list(values: &[f64]) -> String {
    let items: Vec<String> = values.iter().map(|v| format!("{v:.0}")).collect();
    format!("[{}]", items.join(", "))
}

/// A number for advice: `0.0003`, `5e-5`, `1000`.
fn number(x: f64) -> String {
    if x != 0.0 && (x.abs() < 1e-3 || x.abs() >= 1e6) {
        format!("{x:.0e}")
    } else {
        let s = format!("{x:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Parameters per training sample, with both numbers.
pub(super) fn params_per_sample(params: &BTreeMap<String, String>) -> Option<(f64, f64, f64)> {
    let (_, samples) = lookup_f64(params, keys::TRAIN_SAMPLES)?;
    let (_, num_params) = lookup_f64(params, keys::NUM_PARAMS)?;
    Some((samples, num_params, num_params / samples.max(1.0)))
}

pub(super) fn model_too_large(
    s: &Situation<'_>,
    params: &BTreeMap<String, String>,
) -> Option<Cause> {
    if !s.overfitting {
        return None;
    }
    let (samples, num_params, per_sample) = params_per_sample(params)?;
    if per_sample <= PARAMS_PER_SAMPLE_LARGE {
        return None;
    }
    let evidence = format!(
        "{samples:.0} training samples for {num_params:.0} parameters ({per_sample:.0} parameters \
         per sample): the model is far too large for the data"
    );
    // Heavily oversized (100+ per sample) ranks above every regularization cause.
    let score = 0.6 + 0.35 * (per_sample.log10() / 3.0).min(1.0);
    let cause = |key: &str, current: String, suggested: String| Cause {
        kind: CauseKind::ModelTooLarge,
        score,
        evidence: evidence.clone(),
        config_key: key.to_string(),
        current: Some(current),
        suggested,
    };
    if let Some((key, head)) = lookup(params, keys::HEAD)
        && head == "flatten"
    {
        return Some(cause(key, head.to_string(), "global_avg_pool".into()));
    }
    if let Some((key, units)) = lookup_list(params, keys::DENSE_UNITS)
        && units.iter().any(|&u| u > 16.0)
    {
        let halved: Vec<f64> = units.iter().map(|u| (u / 2.0).floor().max(1.0)).collect();
        return Some(cause(key, list(&units), list(&halved)));
    }
    if let Some((key, channels)) = lookup_list(params, keys::CONV_CHANNELS)
        && channels.iter().any(|&c| c > 8.0)
    {
        let halved: Vec<f64> = channels
            .iter()
            .map(|c| (c / 2.0).floor().max(1.0))
            .collect();
        return Some(cause(key, list(&channels), list(&halved)));
    }
    let (key, _) = lookup(params, keys::NUM_PARAMS)?;
    Some(cause(
        key,
        format!("{num_params:.0}"),
        format!(
            "{} or fewer ({PARAMS_PER_SAMPLE_LARGE:.0} per training sample)",
            number((samples * PARAMS_PER_SAMPLE_LARGE).round())
        ),
    ))
}

pub(super) fn too_little_data(
    s: &Situation<'_>,
    params: &BTreeMap<String, String>,
) -> Option<Cause> {
    if !s.overfitting {
        return None;
    }
    // Only a limit the run set can be lifted: advice to use more data than exists is useless.
    let (key, limit) = lookup(params, keys::TRAIN_LIMIT)?;
    if is_off(limit) {
        return None;
    }
    let limit: f64 = limit.parse().ok()?;
    let samples = lookup_f64(params, keys::TRAIN_SAMPLES).map_or(limit, |(_, n)| n);
    let small = samples < SMALL_TRAINING_SET;
    Some(Cause {
        kind: CauseKind::TooLittleData,
        score: if small { 0.6 } else { 0.3 },
        evidence: format!(
            "the training set is limited to {samples:.0} samples ({key} = {limit:.0}) and the run \
             overfit ({})",
            s.gap()
        ),
        config_key: key.to_string(),
        current: Some(format!("{limit:.0}")),
        suggested: format!("{:.0} (or remove the limit)", limit * 4.0),
    })
}

pub(super) fn augmentation(s: &Situation<'_>, params: &BTreeMap<String, String>) -> Option<Cause> {
    if !s.overfitting {
        return None;
    }
    let (key, value) = lookup(params, keys::AUGMENT)?;
    let (kind, score, evidence) = if is_off(value) {
        (
            CauseKind::NoAugmentation,
            0.8,
            format!("no augmentation ({key} = {value}); {}", s.gap()),
        )
    } else if value == "custom" {
        (
            CauseKind::WeakAugmentation,
            0.35,
            format!(
                "a custom augmentation chain ({key} = custom) did not prevent it ({}): check \
                 it is strong enough",
                s.gap()
            ),
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

/// Every dropout rate the run recorded, by key.
pub(super) fn dropout_rates(params: &BTreeMap<String, String>) -> Vec<(&'static str, f64)> {
    keys::DROPOUT
        .iter()
        .filter_map(|k| {
            params
                .get(*k)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .map(|v| (*k, v))
        })
        .collect()
}

pub(super) fn dropout(s: &Situation<'_>, params: &BTreeMap<String, String>) -> Option<Cause> {
    if !s.overfitting {
        return None;
    }
    let rates = dropout_rates(params);
    let (key, _) = *rates.last()?;
    if rates.iter().any(|(_, r)| *r > 0.0) {
        return None;
    }
    let listed = rates
        .iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect::<Vec<_>>()
        .join(", ");
    Some(Cause {
        kind: CauseKind::NoDropout,
        score: 0.65,
        evidence: format!("dropout is off ({listed}); {}", s.gap()),
        config_key: key.to_string(),
        current: Some("0".to_string()),
        suggested: "0.5".to_string(),
    })
}

pub(super) fn too_much_dropout(
    s: &Situation<'_>,
    params: &BTreeMap<String, String>,
) -> Option<Cause> {
    if !(s.underfitting || s.overfitting) {
        return None;
    }
    let rates = dropout_rates(params);
    let (key, rate) =
        rates
            .iter()
            .copied()
            .fold(None, |best: Option<(&str, f64)>, r| match best {
                Some(b) if b.1 >= r.1 => Some(b),
                _ => Some(r),
            })?;
    // Overfitting with very high dropout: dropout is not the cure, and so high it costs
    // accuracy. Underfitting: any dropout of 0.5 or more holds the model back.
    let threshold = if s.underfitting { 0.5 } else { HIGH_DROPOUT };
    if rate < threshold {
        return None;
    }
    let what = if s.underfitting {
        "holds back a model that underfits"
    } else {
        "drops most activations and the run still overfit"
    };
    Some(Cause {
        kind: CauseKind::DropoutTooHigh,
        score: if s.underfitting {
            if rate >= HIGH_DROPOUT { 0.8 } else { 0.55 }
        } else {
            0.3
        },
        evidence: format!("dropout {rate} {what} ({key} = {rate})"),
        config_key: key.to_string(),
        current: Some(rate.to_string()),
        suggested: if s.underfitting { "0.2" } else { "0.5" }.to_string(),
    })
}

pub(super) fn weight_decay(s: &Situation<'_>, params: &BTreeMap<String, String>) -> Option<Cause> {
    if !s.overfitting {
        return None;
    }
    let (key, value) = lookup(params, keys::WEIGHT_DECAY)?;
    let decay: f64 = value.parse().ok()?;
    (decay == 0.0).then(|| Cause {
        kind: CauseKind::NoWeightDecay,
        score: 0.55,
        evidence: format!("no weight decay ({key} = {value}); {}", s.gap()),
        config_key: key.to_string(),
        current: Some(value.to_string()),
        suggested: "5e-4".to_string(),
    })
}

pub(super) fn too_much_weight_decay(
    s: &Situation<'_>,
    params: &BTreeMap<String, String>,
) -> Option<Cause> {
    if !s.underfitting {
        return None;
    }
    let (key, decay) = lookup_f64(params, keys::WEIGHT_DECAY)?;
    (decay >= 1e-3).then(|| Cause {
        kind: CauseKind::WeightDecayTooHigh,
        score: 0.45,
        evidence: format!(
            "weight decay {} is strong for a model that underfits",
            number(decay)
        ),
        config_key: key.to_string(),
        current: Some(number(decay)),
        suggested: number(decay / 10.0),
    })
}

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
