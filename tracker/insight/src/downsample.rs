//! Long series thinned for drawing: min/max buckets that keep a curve's shape (its spikes, its
//! first and last point) in a bounded number of points.
//!
//! A chart a few thousand pixels wide cannot show 100,000 points apart; what it must not lose
//! is where the curve goes highest and lowest. [`min_max_indices`] cuts the interior of a
//! series into equal buckets and keeps, of each, the point with the smallest and the one with
//! the largest value, in their order; the first and last point are always kept. The result
//! names indices into the caller's arrays, so steps, timestamps and values stay together.
//!
//! ```
//! use insight::downsample::min_max_indices;
//! let values: Vec<f64> = (0..1000).map(|i| (i as f64 / 50.0).sin()).collect();
//! let kept = min_max_indices(&values, 100);
//! assert!(kept.len() <= 100);
//! assert_eq!((kept[0], kept[kept.len() - 1]), (0, 999));
//! ```

/// Fewest points for which [`min_max_indices`] keeps every bucket's extremes (the first point,
/// the last, and one bucket's minimum and maximum); with fewer it keeps only the ends.
pub const MIN_BUCKETED_POINTS: usize = 4;

/// The indices (ascending) of the points of `values` to keep so that at most `max_points`
/// remain: every index when `values.len() <= max_points`; otherwise the first and the last,
/// and of each of `(max_points - 2) / 2` equal buckets of the points between them, the index of
/// its smallest and of its largest value (NaN is neither; a bucket of NaNs keeps its first
/// point). So the series' global minimum and maximum are kept whenever
/// `max_points >= MIN_BUCKETED_POINTS`. Below that only the ends are kept (the first alone for
/// `max_points == 1`, nothing for 0).
pub fn min_max_indices(values: &[f64], max_points: usize) -> Vec<usize> {
    let n = values.len();
    if n <= max_points {
        return (0..n).collect();
    }
    match max_points {
        0 => return Vec::new(),
        1 => return vec![0],
        2 | 3 => return vec![0, n - 1],
        _ => {}
    }
    let interior = n - 2;
    let buckets = (max_points - 2) / 2;
    let mut kept = Vec::with_capacity(2 + 2 * buckets);
    kept.push(0);
    for bucket in 0..buckets {
        let start = 1 + bucket * interior / buckets;
        let end = 1 + (bucket + 1) * interior / buckets;
        if start >= end {
            continue;
        }
        let (low, high) = extremes(values, start, end);
        kept.push(low.min(high));
        if low != high {
            kept.push(low.max(high));
        }
    }
    kept.push(n - 1);
    kept
}

/// The indices of the smallest and the largest non-NaN value in `values[start..end]` (the
/// first index for both when every value there is NaN). Ties keep the earliest index.
fn extremes(values: &[f64], start: usize, end: usize) -> (usize, usize) {
    let (mut low, mut high): (Option<usize>, Option<usize>) = (None, None);
    for (i, value) in values.iter().enumerate().take(end).skip(start) {
        if value.is_nan() {
            continue;
        }
        if low.is_none_or(|l| *value < values[l]) {
            low = Some(i);
        }
        if high.is_none_or(|h| *value > values[h]) {
            high = Some(i);
        }
    }
    (low.unwrap_or(start), high.unwrap_or(start))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn series() -> impl Strategy<Value = Vec<f64>> {
        prop::collection::vec(
            prop_oneof![
                8 => -1.0e6f64..1.0e6,
                1 => Just(f64::NAN),
                1 => Just(f64::INFINITY),
                1 => Just(f64::NEG_INFINITY),
            ],
            0..3000,
        )
    }

    /// The smallest (or largest) non-NaN value.
    fn global(values: &[f64], smallest: bool) -> Option<f64> {
        values
            .iter()
            .copied()
            .filter(|v| !v.is_nan())
            .reduce(|a, b| if (b < a) == smallest && b != a { b } else { a })
    }

    proptest! {
        #[test]
        fn never_more_than_max_points(values in series(), max_points in 0usize..500) {
            prop_assert!(min_max_indices(&values, max_points).len() <= max_points);
        }

        #[test]
        fn the_first_and_last_points_are_kept(values in series(), max_points in 2usize..500) {
            prop_assume!(!values.is_empty());
            let kept = min_max_indices(&values, max_points);
            prop_assert_eq!(kept.first().copied(), Some(0));
            prop_assert_eq!(kept.last().copied(), Some(values.len() - 1));
        }

        #[test]
        fn the_global_minimum_and_maximum_are_kept(values in series(), max_points in 4usize..500) {
            let kept: Vec<f64> = min_max_indices(&values, max_points).iter().map(|&i| values[i]).collect();
            for smallest in [true, false] {
                if let Some(extreme) = global(&values, smallest) {
                    prop_assert!(kept.contains(&extreme), "{extreme} lost");
                }
            }
        }

        #[test]
        fn indices_ascend_so_the_order_is_kept(values in series(), max_points in 0usize..500) {
            let kept = min_max_indices(&values, max_points);
            prop_assert!(kept.windows(2).all(|w| w[0] < w[1]));
            prop_assert!(kept.iter().all(|&i| i < values.len()));
        }

        #[test]
        fn a_short_series_is_kept_whole(values in series(), extra in 0usize..100) {
            let kept = min_max_indices(&values, values.len() + extra);
            prop_assert_eq!(kept, (0..values.len()).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_long_series_fills_its_buckets() {
        let values: Vec<f64> = (0..100_000).map(|i| ((i * 7919) % 1000) as f64).collect();
        let kept = min_max_indices(&values, 2000);
        assert!(kept.len() > 1900 && kept.len() <= 2000, "{}", kept.len());
    }

    #[test]
    fn below_four_points_only_the_ends_are_kept() {
        let values = [3.0, 1.0, 9.0, 2.0, 5.0];
        assert_eq!(min_max_indices(&values, 0), Vec::<usize>::new());
        assert_eq!(min_max_indices(&values, 1), vec![0]);
        assert_eq!(min_max_indices(&values, 3), vec![0, 4]);
        assert_eq!(min_max_indices(&values, 4), vec![0, 1, 2, 4]);
    }
}
