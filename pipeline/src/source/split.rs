//! The seeded, stratified train/validation split and seeded subsets.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::sample::Sample;

/// Splits `samples` into (train, val): per class, a seeded shuffle puts round(n·fraction)
/// samples (at least one when the class has two or more) into validation. Both keep source order.
pub(crate) fn stratified_split(
    samples: Vec<Sample>,
    fraction: f64,
    seed: u64,
) -> (Vec<Sample>, Vec<Sample>) {
    let mut by_class: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
    for (i, s) in samples.iter().enumerate() {
        by_class.entry(s.label).or_default().push(i);
    }
    let mut is_val = vec![false; samples.len()];
    for (label, mut idx) in by_class {
        let mut rng =
            ChaCha8Rng::seed_from_u64(seed ^ (label as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        idx.shuffle(&mut rng);
        let n = idx.len();
        let mut take = (n as f64 * fraction).round() as usize;
        if take == 0 && n >= 2 {
            take = 1;
        }
        take = take.min(n.saturating_sub(1));
        for &i in &idx[..take] {
            is_val[i] = true;
        }
    }
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for (s, v) in samples.into_iter().zip(is_val) {
        if v { val.push(s) } else { train.push(s) }
    }
    (train, val)
}

/// At most `n` samples: a seeded random subset, kept in source order.
pub(crate) fn seeded_subset(samples: Vec<Sample>, n: usize, seed: u64) -> Vec<Sample> {
    if samples.len() <= n {
        return samples;
    }
    let mut order: Vec<usize> = (0..samples.len()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed.wrapping_add(0x5EED)));
    let mut keep = vec![false; samples.len()];
    for &i in &order[..n] {
        keep[i] = true;
    }
    samples
        .into_iter()
        .zip(keep)
        .filter_map(|(s, k)| k.then_some(s))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::sample::Location;

    fn samples(labels: &[i32]) -> Vec<Sample> {
        labels
            .iter()
            .enumerate()
            .map(|(i, &l)| Sample {
                id: i as u64,
                label: l,
                location: Location::Idx { set: 0, index: i },
            })
            .collect()
    }

    #[test]
    fn stratified_split_keeps_class_proportions_and_is_seeded() {
        let labels: Vec<i32> = (0..1000).map(|i| i % 4).collect();
        let (train, val) = stratified_split(samples(&labels), 0.2, 3);
        assert_eq!((train.len(), val.len()), (800, 200));
        for c in 0..4 {
            assert_eq!(val.iter().filter(|s| s.label == c).count(), 50);
        }
        let (_, val2) = stratified_split(samples(&labels), 0.2, 3);
        assert_eq!(
            val.iter().map(|s| s.id).collect::<Vec<_>>(),
            val2.iter().map(|s| s.id).collect::<Vec<_>>()
        );
        let (_, val3) = stratified_split(samples(&labels), 0.2, 4);
        assert_ne!(
            val.iter().map(|s| s.id).collect::<Vec<_>>(),
            val3.iter().map(|s| s.id).collect::<Vec<_>>()
        );
    }
}
