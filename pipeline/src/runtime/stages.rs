//! The worker stages of an epoch: read (one thread, the only stage with a stop flag), decode ×N
//! and augment+normalize ×N. Each runs the same [`stage_loop`] (receive, do the timed work,
//! send) over its own work, with the epoch's [`StageContext`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crossbeam::channel::{Receiver, Sender};

use super::cache::{CacheEntry, DecodedCache};
use super::slots::BatchSlots;
use crate::decode::{DecodeError, Image, SkipReason};
use crate::error::Error;
use crate::report::{StageCounters, Tally};
use crate::seed::sample_rng;
use crate::source::{Dataset, Payload, Sample};
use crate::transform::{Chain, Scratch};

/// Counters and outcomes every stage of an epoch writes to.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) stages: Vec<StageCounters>,
    pub(super) skipped: Mutex<BTreeMap<SkipReason, u64>>,
    pub(super) failure: Mutex<Option<Error>>,
    pub(super) emitted: AtomicU64,
    pub(super) batches: AtomicU64,
    pub(super) cache_hits: AtomicU64,
}

impl Shared {
    pub(super) fn new(stages: &[(&'static str, usize)]) -> Shared {
        Shared {
            stages: stages
                .iter()
                .map(|&(name, workers)| StageCounters {
                    name,
                    workers,
                    ..Default::default()
                })
                .collect(),
            skipped: Mutex::new(BTreeMap::new()),
            failure: Mutex::new(None),
            emitted: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
        }
    }
}

/// Index of the read stage in [`Shared::stages`].
pub(super) const READ: usize = 0;
/// Index of the decode stage.
pub(super) const DECODE: usize = 1;
/// Index of the augment stage.
pub(super) const AUGMENT: usize = 2;
/// Index of the batch stage.
pub(super) const BATCH: usize = 3;

/// What the read stage sends: the sample at position `pos` of the epoch's order.
pub(super) struct ReadItem {
    pos: usize,
    index: usize,
    payload: Payload,
}

/// What a decode worker sends.
pub(super) struct DecodedItem {
    pos: usize,
    index: usize,
    image: Result<Arc<Image>, DecodeError>,
}

/// What an augment worker sends: its sample is in the slot of its position (`BatchSlots`), or
/// why it is skipped.
pub(super) struct Processed {
    pub(super) pos: usize,
    pub(super) index: usize,
    pub(super) result: Result<(), DecodeError>,
}

/// What the stages of one epoch share.
#[derive(Debug)]
pub(super) struct StageContext {
    pub(super) dataset: Dataset,
    pub(super) samples: Arc<Vec<Sample>>,
    pub(super) cache: Arc<DecodedCache>,
    pub(super) chain: Arc<Chain>,
    pub(super) shared: Arc<Shared>,
    pub(super) seed: u64,
    pub(super) epoch: u64,
}

/// One stage worker: receive an item (`recv`; `None` ends the loop), do the `work` (timed as
/// busy), send the result; stops when the input ends or the output is gone, then adds its
/// counts to `counters`.
fn stage_loop<I, O>(
    counters: &StageCounters,
    mut recv: impl FnMut(&mut Tally) -> Option<I>,
    tx: &Sender<O>,
    mut work: impl FnMut(I) -> O,
) {
    let mut tally = Tally::default();
    while let Some(item) = recv(&mut tally) {
        let t = Instant::now();
        let out = work(item);
        tally.busy += t.elapsed();
        tally.items += 1;
        if !tally.send(tx, out) {
            break;
        }
    }
    tally.flush(counters);
}

/// The read stage: walks `order`, one token per item (the reorder window), until the order ends,
/// the tokens end or `stop` is set. Cached samples are not read again.
pub(super) fn reader(
    ctx: &StageContext,
    order: &[usize],
    stop: &AtomicBool,
    tokens: &Receiver<()>,
    tx: Sender<ReadItem>,
) {
    let mut order = order.iter().copied().enumerate();
    let recv = |tally: &mut Tally| {
        let next = order.next()?;
        tally.recv(tokens)?;
        (!stop.load(Ordering::Relaxed)).then_some(next)
    };
    stage_loop(&ctx.shared.stages[READ], recv, &tx, |(pos, index)| {
        let payload = match ctx.cache.get(ctx.samples[index].id) {
            Some(CacheEntry::Image(img)) => {
                ctx.shared.cache_hits.fetch_add(1, Ordering::Relaxed);
                Payload::Image(img)
            }
            Some(CacheEntry::Bad(e)) => Payload::Bad(e),
            None => ctx.dataset.read(&ctx.samples[index]),
        };
        ReadItem {
            pos,
            index,
            payload,
        }
    });
}

/// A decode worker: decodes file bytes (at a reduced scale where `data.decode_scale` and the
/// chain allow) and caches the outcome, passes decoded images on.
pub(super) fn decoder(ctx: &StageContext, rx: Receiver<ReadItem>, tx: Sender<DecodedItem>) {
    let recv = |tally: &mut Tally| tally.recv(&rx);
    stage_loop(&ctx.shared.stages[DECODE], recv, &tx, |item| {
        let sample = &ctx.samples[item.index];
        let image = match item.payload {
            Payload::Image(img) => Ok(img),
            Payload::Bytes(bytes) => {
                let decoded = ctx
                    .dataset
                    .decode_for(sample, &bytes, ctx.chain.min_decode_size())
                    .map(Arc::new);
                match &decoded {
                    Ok(img) => ctx.cache.insert(sample.id, CacheEntry::Image(img.clone())),
                    Err(e) => ctx.cache.insert(sample.id, CacheEntry::Bad(e.clone())),
                }
                decoded
            }
            Payload::Bad(e) => Err(e),
        };
        DecodedItem {
            pos: item.pos,
            index: item.index,
            image,
        }
    });
}

/// An augment worker: applies the chain (augmentation and normalization) with the sample's RNG,
/// straight into its position's slot of the epoch's batch buffers.
pub(super) fn augmenter(
    ctx: &StageContext,
    rx: Receiver<DecodedItem>,
    tx: Sender<Processed>,
    slots: &BatchSlots,
) {
    let mut scratch = Scratch::new();
    let recv = |tally: &mut Tally| tally.recv(&rx);
    stage_loop(&ctx.shared.stages[AUGMENT], recv, &tx, |item| {
        let result = match item.image {
            Ok(img) => {
                let mut rng = sample_rng(ctx.seed, ctx.epoch, ctx.samples[item.index].id);
                #[allow(unsafe_code)]
                // SAFETY: the reader sends each position of the epoch once, so this worker
                // alone processes `item.pos`; the slot is dropped below, before the message
                // for `item.pos` is sent.
                let mut slot = unsafe { slots.slot_for_worker(item.pos) };
                let applied = ctx.chain.apply(&img, &mut rng, &mut scratch, slot.values());
                drop(slot);
                applied.map_err(|e| DecodeError {
                    reason: SkipReason::NotAnImage,
                    detail: e.to_string(),
                })
            }
            Err(e) => Err(e),
        };
        Processed {
            pos: item.pos,
            index: item.index,
            result,
        }
    });
}
