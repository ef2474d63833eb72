//! The staged runtime on the bundled IDX data: order, determinism, coverage, shutdown.

#![allow(clippy::unwrap_used)] // Test helpers: a panic is the failure report.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use pipeline::batch::{self, BatchDigest};
use pipeline::config::Augment;
use pipeline::{Dataset, Loader, Split};
use proptest::prelude::*;

mod common;
use common::bundled;

fn digest_of(loader: &Loader, epoch: u64) -> (String, Vec<u64>) {
    digest_over(loader, epoch..epoch + 1)
}

/// The consumer's digest of every batch of `epochs`, and the sample ids in batch order.
fn digest_over(loader: &Loader, epochs: std::ops::Range<u64>) -> (String, Vec<u64>) {
    let mut d = BatchDigest::new();
    let mut ids = Vec::new();
    for epoch in epochs {
        let mut running = loader.epoch(epoch).unwrap();
        for b in running.by_ref() {
            let b = b.unwrap();
            d.update(&b).unwrap();
            ids.extend_from_slice(batch::sample_ids(&b).unwrap());
        }
        running.join().unwrap();
    }
    (d.finish(), ids)
}

#[test]
fn same_seed_gives_identical_batches_with_1_and_4_workers() {
    let mut c = bundled(600);
    c.loader.batch_size = 50;
    let ds = Dataset::open(&c.data).unwrap();
    c.loader.decode_workers = 1;
    c.loader.augment_workers = 1;
    let one = digest_of(&Loader::train(&ds, &c).unwrap(), 3);
    c.loader.decode_workers = 4;
    c.loader.augment_workers = 4;
    c.loader.channel_capacity = 3;
    let four = digest_of(&Loader::train(&ds, &c).unwrap(), 3);
    assert_eq!(one, four);
    // Another epoch shuffles and augments differently; another seed too.
    let loader = Loader::train(&ds, &c).unwrap();
    assert_ne!(digest_of(&loader, 4).0, one.0);
    c.seed += 1;
    assert_ne!(digest_of(&Loader::train(&ds, &c).unwrap(), 3).0, one.0);
}

#[test]
fn the_loaders_kept_digest_is_the_consumers_digest_of_the_batches_it_received() {
    let mut c = bundled(430);
    c.loader.batch_size = 20;
    let ds = Dataset::open(&c.data).unwrap();
    let plain = Loader::train(&ds, &c).unwrap();
    assert_eq!(plain.digest(), None);
    assert_ne!(plain.len() % 20, 0, "the last batch must be short");
    for drop_last in [false, true] {
        c.loader.drop_last = drop_last;
        let mut loader = Loader::train(&ds, &c).unwrap();
        loader.keep_digest();
        let (consumer, ids) = digest_over(&loader, 0..2);
        // A dropped short batch was hashed sample by sample, then taken back out.
        let per_epoch = if drop_last {
            plain.len() / 20 * 20
        } else {
            plain.len()
        };
        assert_eq!(ids.len(), 2 * per_epoch);
        assert_eq!(loader.digest(), Some(consumer), "drop_last {drop_last}");
    }
}

#[test]
fn recycled_batches_change_no_byte_and_a_batch_kept_elsewhere_is_never_refilled() {
    let mut c = bundled(430); // 387 training samples: the last batch is short
    c.loader.batch_size = 20;
    let ds = Dataset::open(&c.data).unwrap();
    let loader = Loader::train(&ds, &c).unwrap();
    let plain = digest_of(&loader, 2);
    let mut digest = BatchDigest::new();
    let mut ids = Vec::new();
    let mut kept = Vec::new();
    let mut running = loader.epoch(2).unwrap();
    while let Some(b) = running.next() {
        let b = b.unwrap();
        digest.update(&b).unwrap();
        ids.extend_from_slice(batch::sample_ids(&b).unwrap());
        if kept.len() < 3 && ids.len() % 40 == 0 {
            let values = batch::image_values(&b).unwrap().to_vec();
            kept.push((b.clone(), values));
        }
        running.recycle(b);
    }
    running.join().unwrap();
    assert_eq!((digest.finish(), ids), plain);
    assert_eq!(kept.len(), 3);
    for (b, values) in &kept {
        assert_eq!(batch::image_values(b).unwrap(), &values[..]);
    }
}

#[test]
fn the_next_epoch_fills_a_buffer_recycled_in_this_one() {
    let mut c = bundled(430);
    c.loader.batch_size = 20;
    let ds = Dataset::open(&c.data).unwrap();
    let loader = Loader::train(&ds, &c).unwrap();
    let mut recycled = HashSet::new();
    let mut running = loader.epoch(0).unwrap();
    while let Some(b) = running.next() {
        let b = b.unwrap();
        recycled.insert(batch::image_values(&b).unwrap().as_ptr() as usize);
        running.recycle(b);
    }
    running.join().unwrap();
    // Batch-sized allocations held across the next epoch: had the recycled buffers been freed,
    // these would take their memory, and the next epoch's batches would get fresh addresses.
    let len = c.loader.batch_size * 28 * 28;
    let held: Vec<Vec<f32>> = (0..2 * recycled.len()).map(|_| vec![0.0; len]).collect();
    let mut running = loader.epoch(1).unwrap();
    let first = running.next().unwrap().unwrap();
    let at = batch::image_values(&first).unwrap().as_ptr() as usize;
    assert!(
        recycled.contains(&at),
        "the first batch of epoch 1 got a fresh buffer"
    );
    drop((first, running, held));
}

#[test]
fn cached_epoch_equals_uncached_epoch() {
    let mut c = bundled(300);
    let ds = Dataset::open(&c.data).unwrap();
    let cached = Loader::train(&ds, &c).unwrap();
    let first = digest_of(&cached, 0);
    let again = digest_of(&cached, 0); // served from the decoded cache
    c.loader.cache_mb = 0;
    let uncached = digest_of(&Loader::train(&ds, &c).unwrap(), 0);
    assert_eq!(first, again);
    assert_eq!(first, uncached);
}

#[test]
fn eval_loaders_are_deterministic_and_in_source_order() {
    let c = bundled(500);
    let ds = Dataset::open(&c.data).unwrap();
    let val = Loader::eval(&ds, Split::Val, &c).unwrap();
    let (d0, ids0) = digest_of(&val, 0);
    let (d1, ids1) = digest_of(&val, 7);
    assert_eq!((d0, &ids0), (d1, &ids1));
    let expected: Vec<u64> = ds.samples(Split::Val).iter().map(|s| s.id).collect();
    assert_eq!(ids0, expected);
    let test = Loader::eval(&ds, Split::Test, &c).unwrap();
    assert_eq!(test.len(), ds.len(Split::Test));
    // The training subset: fixed samples, all from the training split.
    let sub = Loader::train_subset(&ds, val.len(), &c).unwrap();
    assert_eq!(sub.len(), val.len());
    let train_ids: HashSet<u64> = ds.samples(Split::Train).iter().map(|s| s.id).collect();
    let (_, a) = digest_of(&sub, 0);
    let (_, b) = digest_of(&sub, 1);
    assert_eq!(a, b);
    assert!(a.iter().all(|id| train_ids.contains(id)));
}

#[test]
fn dropping_the_consumer_stops_every_stage_promptly() {
    let mut c = bundled(2000);
    c.loader.batch_size = 8;
    c.loader.channel_capacity = 2;
    let ds = Dataset::open(&c.data).unwrap();
    let loader = Loader::train(&ds, &c).unwrap();
    let mut running = loader.epoch(0).unwrap();
    let first = running.next().unwrap().unwrap();
    assert_eq!(first.num_rows(), 8);
    let t = Instant::now();
    drop(running);
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "drop took {:?}",
        t.elapsed()
    );
    // Drop joins every stage thread, so returning at all means none is left running.
    // join after a partial read also returns promptly with a report.
    let mut running = loader.epoch(1).unwrap();
    running.next().unwrap().unwrap();
    let report = running.join().unwrap();
    assert!(report.samples < 2000);
}

#[test]
fn augment_none_and_standard_presets_differ_on_training_only() {
    let mut c = bundled(200);
    let ds = Dataset::open(&c.data).unwrap();
    c.transforms.augment = Augment::None;
    let plain_train = digest_of(&Loader::train(&ds, &c).unwrap(), 0);
    let plain_val = digest_of(&Loader::eval(&ds, Split::Val, &c).unwrap(), 0);
    c.transforms.augment = Augment::Standard;
    let aug_train = digest_of(&Loader::train(&ds, &c).unwrap(), 0);
    let aug_val = digest_of(&Loader::eval(&ds, Split::Val, &c).unwrap(), 0);
    assert_eq!(plain_train.1, aug_train.1, "same shuffle");
    assert_ne!(plain_train.0, aug_train.0, "standard augments");
    assert_eq!(plain_val, aug_val, "validation is never augmented");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn every_sample_of_an_epoch_appears_exactly_once(
        limit in 1..300usize, batch_size in 1..70usize, workers in 1..4usize, epoch in 0..5u64, drop_last in any::<bool>(),
    ) {
        let mut c = bundled(limit);
        c.loader.batch_size = batch_size;
        c.loader.decode_workers = workers;
        c.loader.augment_workers = workers;
        c.loader.drop_last = drop_last;
        let ds = Dataset::open(&c.data).unwrap();
        let loader = Loader::train(&ds, &c).unwrap();
        let mut running = loader.epoch(epoch).unwrap();
        let mut ids = Vec::new();
        for b in running.by_ref() {
            let b = b.unwrap();
            prop_assert!(b.num_rows() <= batch_size);
            if drop_last {
                prop_assert_eq!(b.num_rows(), batch_size);
            }
            ids.extend_from_slice(batch::sample_ids(&b).unwrap());
        }
        let report = running.join().unwrap();
        let n = ds.len(Split::Train);
        let expected = if drop_last { n / batch_size * batch_size } else { n };
        prop_assert_eq!(ids.len(), expected);
        prop_assert_eq!(report.samples as usize, expected);
        let unique: HashSet<u64> = ids.iter().copied().collect();
        prop_assert_eq!(unique.len(), ids.len());
        let all: HashSet<u64> = ds.samples(Split::Train).iter().map(|s| s.id).collect();
        prop_assert!(unique.is_subset(&all));
    }
}
