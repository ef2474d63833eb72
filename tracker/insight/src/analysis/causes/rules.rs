//! The cause rules about capacity and regularization (model and data size, augmentation,
//! dropout, weight decay): each reads the run's params in a situation and finds one cause, or
//! none. The rules about optimization and schedule are in `training`.

use std::collections::BTreeMap;

use super::keys::{self, is_off, lookup, lookup_f64, lookup_list};
use super::{
    Cause, CauseKind, HIGH_DROPOUT, PARAMS_PER_SAMPLE_LARGE, SMALL_TRAINING_SET, Situation,
};

/// Layer sizes as a list: `[64, 32]`.
pub(super) fn list(values: &[f64]) -> String {
    let items: Vec<String> = values.iter().map(|v| format!("{v:.0}")).collect();
    format!("[{}]", items.join(", "))
}

/// A number for advice: `0.0003`, `5e-5`, `1000`.
pub(super) fn number(x: f64) -> String {
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
