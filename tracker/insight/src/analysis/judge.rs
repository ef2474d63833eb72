//! Reading the verdict from aligned curves: the onset of overfitting, instability, underfitting,
//! each measured against the run's noise (the [`Verdict`] types and their wording are in
//! `verdict`).

use super::noise::Noise;
use super::series::smooth;
use super::verdict::{MIN_BATCHES_FOR_OSCILLATION, UNDERFIT_LOSS_OVER_CHANCE, Verdict};

/// Thresholds the verdict is read with (see the `DEFAULT_*` constants).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Thresholds {
    pub min_epochs: usize,
    pub smoothing_epochs: usize,
    pub onset_tolerance: f64,
    pub unstable_rise_ratio: f64,
    pub still_improving_per_epoch: f64,
    pub significance_se: f64,
}

/// Training and validation loss per epoch, aligned; `best` is the index of the best epoch.
pub(crate) struct Curves<'a> {
    pub epochs: &'a [i64],
    /// The training loss trends are read from (running, or eval-mode where the run has no
    /// running loss).
    pub train_loss: &'a [f64],
    /// The training loss instability is judged on: `train_eval_loss` where logged, else the
    /// running loss; with its name and one epoch's noise, when known.
    pub stability: (&'a str, &'a [f64], Option<f64>),
    /// Batches per epoch of the running loss, when the run's params tell.
    pub batches_per_epoch: Option<f64>,
    /// Number of classes, when the run's params tell: chance level is 1/classes accuracy and
    /// ln(classes) loss.
    pub classes: Option<f64>,
    pub val_loss: &'a [f64],
    pub val_acc: Option<&'a [f64]>,
    pub best: usize,
    pub noise: &'a Noise,
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
    if let Some(unstable) = instability(c, t) {
        return unstable;
    }

    let se = c.noise.val_loss_se.filter(|s| *s > 0.0);
    let in_se = |x: f64| se.map(|s| x / s);
    let sv = smooth(c.val_loss, t.smoothing_epochs);
    let st = smooth(c.train_loss, t.smoothing_epochs);
    let low = argmin(&sv);
    let rise = sv[n - 1] - sv[low];
    let rise_pct = 100.0 * rise / sv[low].abs().max(f64::EPSILON);
    let best_val_loss = c.val_loss[argmin(c.val_loss)];
    let final_val_loss = c.val_loss[n - 1];
    let train_falls = st[n - 1] < st[low];
    let beyond_tolerance = rise > t.onset_tolerance * sv[low].abs();
    let significant = |x: f64| se.is_none_or(|s| x >= t.significance_se * s);
    // High bias: the model ends fitting its own training set (eval mode where logged) hardly
    // better than predicting the class frequencies; whatever validation loss does then, the
    // first thing to fix is that it learns.
    let train_loss_over_chance = c
        .classes
        .filter(|k| *k >= 2.0)
        .map(|k| c.stability.1[n - 1] / k.ln());
    let fits_poorly = train_loss_over_chance.is_some_and(|r| r >= UNDERFIT_LOSS_OVER_CHANCE);
    if beyond_tolerance && !fits_poorly {
        let epochs_after_minimum = n - 1 - low;
        if !(significant(rise) && train_falls && epochs_after_minimum >= 2) {
            return Verdict::Inconclusive {
                train_fell: train_falls,
                epochs_after_minimum,
                best_epoch: c.epochs[c.best],
                best_val_loss,
                final_val_loss,
                val_loss_rise: rise,
                rise_se: in_se(rise).unwrap_or(f64::INFINITY),
                val_loss_se: se.unwrap_or_default(),
            };
        }
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
            val_loss_rise: rise,
            rise_se: in_se(rise),
            val_loss_rise_pct: rise_pct,
            train_loss_fall_after_onset_pct: 100.0 * (st[low] - st[n - 1])
                / st[low].abs().max(f64::EPSILON),
            epochs_after_onset: n - 1 - onset,
            val_acc_lost,
        };
    }

    let k = (n / 4).max(2);
    let fall = |s: &[f64]| s[n - 1 - k] - s[n - 1];
    let per_epoch = |s: &[f64]| fall(s) / (k as f64 * s[n - 1].abs().max(f64::EPSILON));
    let val_fall = per_epoch(&sv);
    let train_fall = per_epoch(&st);
    let last_over_first = c.train_loss[n - 1] / c.train_loss[0];
    // Still improving: falling fast enough, beyond the noise, and the end is (within the noise)
    // the lowest point: a run whose final loss is above its best is not still improving.
    let at_its_lowest = rise <= se.unwrap_or(0.0).max(t.onset_tolerance * sv[low].abs());
    let still_improving =
        val_fall > t.still_improving_per_epoch && significant(fall(&sv)) && at_its_lowest;
    if still_improving || last_over_first > 0.9 || fits_poorly {
        return Verdict::Underfitting {
            still_falling: still_improving,
            train_loss_over_chance,
            val_loss_fall_per_epoch: val_fall,
            fall_se: in_se(fall(&sv)),
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
        rise_se: in_se(rise),
    }
}

/// An unstable verdict when the stability signal diverges or oscillates beyond its noise.
fn instability(c: &Curves<'_>, t: &Thresholds) -> Option<Verdict> {
    let (name, signal, noise) = c.stability;
    let n = signal.len();
    let non_finite = signal
        .iter()
        .chain(c.train_loss)
        .chain(c.val_loss)
        .any(|v| !v.is_finite());
    let (first, last) = (signal[0], signal[n - 1]);
    // Exploded, then stuck at chance: a step so large that the loss shot far above chance
    // level (ln classes) and the model ends predicting no better than chance.
    let exploded_to_chance = c.classes.filter(|k| *k >= 2.0).is_some_and(|k| {
        let chance_loss = k.ln();
        let peak = c
            .train_loss
            .iter()
            .chain(signal)
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        let at_chance_acc = c.val_acc.is_some_and(|acc| {
            let allowance = 2.0 * c.noise.val_acc_se.unwrap_or(0.02);
            acc[acc.len() - 1] <= 1.0 / k + allowance
        });
        peak >= 2.0 * chance_loss && at_chance_acc && last >= 0.9 * chance_loss
    });
    let diverged = non_finite || last > first || exploded_to_chance;
    // A running loss over a handful of batches moves by chance from epoch to epoch: do not
    // read its ups and downs as oscillation (divergence still counts).
    let too_noisy = name != "train_eval_loss"
        && noise.is_none()
        && c.batches_per_epoch
            .is_some_and(|b| b < MIN_BATCHES_FOR_OSCILLATION);
    let ratio = rise_ratio(signal, t.significance_se * noise.unwrap_or(0.0));
    if diverged || (!too_noisy && ratio > t.unstable_rise_ratio) {
        return Some(Verdict::Unstable {
            train_loss_rise_ratio: ratio,
            diverged,
            train_metric: name.to_string(),
            first_train_loss: first,
            final_train_loss: last,
        });
    }
    None
}

/// Sum of the rises of `values` from one epoch to the next, each less `allowance` (the noise
/// a rise may be), over its net fall (first − min).
pub(crate) fn rise_ratio(values: &[f64], allowance: f64) -> f64 {
    let rises: f64 = values
        .windows(2)
        .map(|w| (w[1] - w[0] - allowance).max(0.0))
        .sum();
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
