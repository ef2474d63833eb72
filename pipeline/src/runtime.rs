//! The staged runtime: read → decode ×N → augment+normalize ×N → batch, joined by bounded
//! crossbeam channels, one [`Running`] per epoch of a persistent [`Loader`].
//!
//! Ordering and determinism: the reader walks the epoch's order (a shuffle seeded by
//! (seed, epoch)); every item carries its position; the batcher restores the order with a
//! reorder buffer whose size is bounded by a token window (the reader takes a token per item,
//! the batcher gives it back when the item leaves the buffer). Each sample's random choices come
//! from an RNG seeded by (seed, epoch, sample id), so batches are byte-identical whatever the
//! worker counts.
//!
//! Shutdown: only the reader has a stop flag; every other stage stops when its input closes or
//! its output is gone. Dropping [`Running`] sets the flag, drops the output receiver and joins
//! every thread.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use crossbeam::channel::{self, Receiver, Sender};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::augment;
use crate::batch;
use crate::config::{LoaderConfig, OnError, PipelineConfig};
use crate::decode::{self, DecodeError, Image, SkipReason};
use crate::error::{Error, Result};
pub use crate::report::{PipelineReport, StageReport};
use crate::report::{StageCounters, Tally, bottleneck, stage_reports};
use crate::source::{Dataset, Location, Sample, Split, seeded_subset};
use crate::transform::{Chain, Scratch};

/// How a loader treats its split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Training chain (augmentation), shuffled per epoch, `drop_last` honoured.
    Train,
    /// Evaluation chain (deterministic), source order.
    Eval,
}

/// Derives a 64-bit seed from parts (splitmix64 over each part).
pub fn mix_seed(parts: &[u64]) -> u64 {
    let mut x: u64 = 0x243F_6A88_85A3_08D3;
    for &p in parts {
        x ^= p;
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x = z ^ (z >> 31);
    }
    x
}

/// The RNG of one sample's augmentation in one epoch.
pub fn sample_rng(seed: u64, epoch: u64, sample_id: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix_seed(&[seed, epoch, sample_id]))
}

/// Reads and decodes one sample (no cache, no transforms).
pub fn load_sample(dataset: &Dataset, sample: &Sample) -> Result<Image, DecodeError> {
    match read(dataset, sample) {
        Payload::Image(img) => Ok(Arc::unwrap_or_clone(img)),
        Payload::Bytes(bytes) => decode_bytes(dataset, sample, &bytes),
        Payload::Bad(e) => Err(e),
    }
}

enum Payload {
    Bytes(Vec<u8>),
    Image(Arc<Image>),
    Bad(DecodeError),
}

fn read(dataset: &Dataset, sample: &Sample) -> Payload {
    match &sample.location {
        Location::Idx { set, index } => {
            let idx = &dataset.inner.idx_sets[*set];
            let gray = idx.image(*index).to_vec();
            let data = if dataset.channels() == 1 {
                gray
            } else {
                gray.iter().flat_map(|&v| [v, v, v]).collect()
            };
            Payload::Image(Arc::new(Image {
                width: idx.cols,
                height: idx.rows,
                channels: dataset.channels(),
                data,
            }))
        }
        Location::File(path) => {
            let max_bytes = dataset.config().max_file_mb.saturating_mul(1 << 20);
            match decode::read_file(path, max_bytes) {
                Ok(bytes) => Payload::Bytes(bytes),
                Err(e) => Payload::Bad(e),
            }
        }
    }
}

fn decode_bytes(dataset: &Dataset, sample: &Sample, bytes: &[u8]) -> Result<Image, DecodeError> {
    let expected = match &sample.location {
        Location::File(p) => p
            .extension()
            .and_then(|e| e.to_str())
            .and_then(decode::format_of_extension),
        Location::Idx { .. } => None,
    };
    let config = dataset.config();
    decode::decode_with(
        bytes,
        expected,
        dataset.channels(),
        &decode::DecodeLimits {
            max_pixels: config.max_pixels,
            max_aspect_ratio: config.max_aspect_ratio,
        },
    )
}

/// Decoded images (and known-bad samples) kept across epochs, within a byte budget.
#[derive(Debug)]
struct DecodedCache {
    entries: Mutex<HashMap<u64, CacheEntry>>,
    bytes: AtomicUsize,
    budget: usize,
}

#[derive(Debug, Clone)]
enum CacheEntry {
    Image(Arc<Image>),
    Bad(DecodeError),
}

impl DecodedCache {
    fn get(&self, id: u64) -> Option<CacheEntry> {
        if self.budget == 0 {
            return None;
        }
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }

    fn insert(&self, id: u64, entry: CacheEntry) {
        let size = match &entry {
            CacheEntry::Image(img) => img.bytes() + 64,
            CacheEntry::Bad(e) => e.detail.len() + 64,
        };
        if self.bytes.load(Ordering::Relaxed) + size > self.budget {
            return;
        }
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if map.insert(id, entry).is_none() {
            self.bytes.fetch_add(size, Ordering::Relaxed);
        }
    }
}

/// A loader for one split and mode: persists across epochs and owns the decoded-image cache.
#[derive(Debug)]
pub struct Loader {
    dataset: Dataset,
    split: Split,
    mode: Mode,
    samples: Arc<Vec<Sample>>,
    chain: Arc<Chain>,
    mean: Vec<f32>,
    std: Vec<f32>,
    config: LoaderConfig,
    seed: u64,
    schema: SchemaRef,
    cache: Arc<DecodedCache>,
    buffers: Buffers,
}

/// Output buffers of consumed samples and batches, kept from one epoch to the next: their
/// pages are mapped already, so the kernel need not zero fresh ones for every batch.
#[derive(Debug)]
struct Buffers {
    samples: (Sender<Vec<f32>>, Receiver<Vec<f32>>),
    batches: (Sender<Vec<f32>>, Receiver<Vec<f32>>),
}

impl Buffers {
    fn new(config: &LoaderConfig) -> Buffers {
        Buffers {
            samples: channel::bounded(window(config)),
            batches: channel::bounded(RECYCLED_BATCHES),
        }
    }
}

/// Samples in flight at most: the reader waits for a token per sample.
fn window(config: &LoaderConfig) -> usize {
    let workers = LoaderConfig::workers(config.decode_workers)
        + LoaderConfig::workers(config.augment_workers);
    2 * config.channel_capacity + 2 * workers + 4
}

impl Loader {
    /// A loader of `split` in `mode` (the split's samples, all of them).
    ///
    /// Errors: an invalid config, a chain whose output size is not fixed, train and eval chains
    /// of different output shapes, or (for `normalize = "dataset"`) a failed statistics pass.
    pub fn new(
        dataset: &Dataset,
        split: Split,
        mode: Mode,
        config: &PipelineConfig,
    ) -> Result<Loader> {
        Self::with_samples(
            dataset,
            split,
            mode,
            config,
            dataset.samples(split).to_vec(),
        )
    }

    /// Training: augmentation and a per-epoch shuffle.
    pub fn train(dataset: &Dataset, config: &PipelineConfig) -> Result<Loader> {
        Self::new(dataset, Split::Train, Mode::Train, config)
    }

    /// Evaluation of `split` (validation or test): deterministic transforms, source order.
    pub fn eval(dataset: &Dataset, split: Split, config: &PipelineConfig) -> Result<Loader> {
        Self::new(dataset, split, Mode::Eval, config)
    }

    /// Evaluation on a fixed subset of the training split of (at most) `size` samples, seeded
    /// by the run seed: the same samples every epoch (for train-vs-validation metrics).
    pub fn train_subset(dataset: &Dataset, size: usize, config: &PipelineConfig) -> Result<Loader> {
        let subset = seeded_subset(
            dataset.samples(Split::Train).to_vec(),
            size,
            mix_seed(&[config.seed, 0x7E57]),
        );
        Self::with_samples(dataset, Split::Train, Mode::Eval, config, subset)
    }

    fn with_samples(
        dataset: &Dataset,
        split: Split,
        mode: Mode,
        config: &PipelineConfig,
        samples: Vec<Sample>,
    ) -> Result<Loader> {
        config.validate()?;
        let t = &config.transforms;
        let workers = LoaderConfig::workers(config.loader.decode_workers);
        let (mean, std) = augment::normalization(&t.normalize, dataset, workers)?;
        let native = dataset.native_size();
        let eval = Chain::new(
            augment::eval_chain(t, dataset),
            dataset.channels(),
            &mean,
            &std,
            native,
            "transforms.eval",
        )?;
        let train = Chain::new(
            augment::train_chain(t, dataset),
            dataset.channels(),
            &mean,
            &std,
            native,
            "transforms.train",
        )?;
        if train.shape() != eval.shape() {
            return Err(Error::config(
                "transforms",
                format!(
                    "training chain outputs {:?} but evaluation chain outputs {:?}",
                    train.shape(),
                    eval.shape()
                ),
            ));
        }
        let chain = if mode == Mode::Train { train } else { eval };
        let schema = batch::schema(chain.shape());
        Ok(Loader {
            dataset: dataset.clone(),
            split,
            mode,
            samples: Arc::new(samples),
            chain: Arc::new(chain),
            mean,
            std,
            config: config.loader.clone(),
            seed: config.seed,
            schema,
            cache: Arc::new(DecodedCache {
                entries: Mutex::new(HashMap::new()),
                bytes: AtomicUsize::new(0),
                budget: (config.loader.cache_mb as usize).saturating_mul(1 << 20),
            }),
            buffers: Buffers::new(&config.loader),
        })
    }

    /// Samples per epoch (before skips).
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether the loader has no samples.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Batches per epoch when nothing is skipped.
    pub fn batches_per_epoch(&self) -> usize {
        let (n, b) = (self.len(), self.config.batch_size);
        if self.drop_last() {
            n / b
        } else {
            n.div_ceil(b)
        }
    }

    fn drop_last(&self) -> bool {
        self.config.drop_last && self.mode == Mode::Train
    }

    /// The Arrow schema of the batches.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Image shape `[C, H, W]`.
    pub fn shape(&self) -> [usize; 3] {
        self.chain.shape()
    }

    /// The transform chain this loader applies.
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// Per-channel normalization (mean, std) in [0, 1] units (to denormalize for display).
    pub fn normalization(&self) -> (&[f32], &[f32]) {
        (&self.mean, &self.std)
    }

    /// The split and mode.
    pub fn split(&self) -> (Split, Mode) {
        (self.split, self.mode)
    }

    /// Bytes held by the decoded-image cache.
    pub fn cache_bytes(&self) -> usize {
        self.cache.bytes.load(Ordering::Relaxed)
    }

    /// Starts epoch `epoch`: spawns the stages and returns the batch iterator.
    pub fn epoch(&self, epoch: u64) -> Result<Running> {
        let mut order: Vec<usize> = (0..self.samples.len()).collect();
        if self.mode == Mode::Train {
            order.shuffle(&mut ChaCha8Rng::seed_from_u64(mix_seed(&[
                self.seed,
                epoch,
                u64::MAX,
            ])));
        }
        let decode_workers = LoaderConfig::workers(self.config.decode_workers);
        let augment_workers = LoaderConfig::workers(self.config.augment_workers);
        let cap = self.config.channel_capacity;
        let window = window(&self.config);
        let shared = Arc::new(Shared::new(&[
            ("read", 1),
            ("decode", decode_workers),
            ("augment", augment_workers),
            ("batch", 1),
        ]));
        let stop = Arc::new(AtomicBool::new(false));
        let (token_tx, token_rx) = channel::bounded::<()>(window);
        for _ in 0..window {
            let _ = token_tx.send(());
        }
        let (read_tx, read_rx) = channel::bounded::<ReadItem>(cap);
        let (dec_tx, dec_rx) = channel::bounded::<DecodedItem>(cap);
        let (aug_tx, aug_rx) = channel::bounded::<Processed>(cap);
        let (out_tx, out_rx) = channel::bounded::<Result<RecordBatch>>(2);
        let (pool_tx, pool_rx) = self.buffers.samples.clone();
        let (recycle_tx, recycle_rx) = self.buffers.batches.clone();
        let mut handles = Vec::new();
        let spawn =
            |name: String, f: Box<dyn FnOnce() + Send>| -> Result<(String, JoinHandle<()>)> {
                std::thread::Builder::new()
                    .name(format!("pipeline-{name}"))
                    .spawn(f)
                    .map(|h| (name.clone(), h))
                    .map_err(|e| Error::StagePanicked {
                        stage: format!("{name} (spawn: {e})"),
                    })
            };
        {
            let (dataset, samples, cache, stop, shared) = (
                self.dataset.clone(),
                self.samples.clone(),
                self.cache.clone(),
                stop.clone(),
                shared.clone(),
            );
            handles.push(spawn(
                "read".into(),
                Box::new(move || {
                    reader(
                        &dataset, &samples, &order, &cache, &stop, &shared, &token_rx, read_tx,
                    )
                }),
            )?);
        }
        for w in 0..decode_workers {
            let (dataset, samples, cache, shared, rx, tx) = (
                self.dataset.clone(),
                self.samples.clone(),
                self.cache.clone(),
                shared.clone(),
                read_rx.clone(),
                dec_tx.clone(),
            );
            handles.push(spawn(
                format!("decode-{w}"),
                Box::new(move || decoder(&dataset, &samples, &cache, &shared, rx, tx)),
            )?);
        }
        drop((read_rx, dec_tx));
        for w in 0..augment_workers {
            let (samples, chain, shared, rx, tx, pool) = (
                self.samples.clone(),
                self.chain.clone(),
                shared.clone(),
                dec_rx.clone(),
                aug_tx.clone(),
                pool_rx.clone(),
            );
            let seed = self.seed;
            handles.push(spawn(
                format!("augment-{w}"),
                Box::new(move || augmenter(&samples, &chain, seed, epoch, &shared, rx, tx, &pool)),
            )?);
        }
        drop((dec_rx, aug_tx, pool_rx));
        {
            let batcher = Batcher {
                dataset: self.dataset.clone(),
                samples: self.samples.clone(),
                schema: self.schema.clone(),
                batch_size: self.config.batch_size,
                sample_len: self.chain.sample_len(),
                drop_last: self.drop_last(),
                on_error: self.dataset.config().on_error,
                shared: shared.clone(),
                stop: stop.clone(),
            };
            handles.push(spawn(
                "batch".into(),
                Box::new(move || batcher.run(aug_rx, out_tx, token_tx, pool_tx, recycle_rx)),
            )?);
        }
        Ok(Running {
            rx: Some(out_rx),
            recycle: recycle_tx,
            handles,
            stop,
            shared,
            start: Instant::now(),
            epoch,
            split: self.split,
            failed: false,
        })
    }
}

/// Consumed batch buffers waiting for the batch stage to refill them.
const RECYCLED_BATCHES: usize = 2;

#[derive(Debug)]
struct Shared {
    stages: Vec<StageCounters>,
    skipped: Mutex<BTreeMap<SkipReason, u64>>,
    failure: Mutex<Option<Error>>,
    emitted: AtomicU64,
    batches: AtomicU64,
    cache_hits: AtomicU64,
}

impl Shared {
    fn new(stages: &[(&'static str, usize)]) -> Shared {
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

const READ: usize = 0;
const DECODE: usize = 1;
const AUGMENT: usize = 2;
const BATCH: usize = 3;

struct ReadItem {
    pos: usize,
    index: usize,
    payload: Payload,
}

struct DecodedItem {
    pos: usize,
    index: usize,
    image: Result<Arc<Image>, DecodeError>,
}

struct Processed {
    pos: usize,
    index: usize,
    result: Result<Vec<f32>, DecodeError>,
}

#[allow(clippy::too_many_arguments)]
fn reader(
    dataset: &Dataset,
    samples: &[Sample],
    order: &[usize],
    cache: &DecodedCache,
    stop: &AtomicBool,
    shared: &Shared,
    tokens: &Receiver<()>,
    tx: Sender<ReadItem>,
) {
    let mut tally = Tally::default();
    for (pos, &index) in order.iter().enumerate() {
        if tally.recv(tokens).is_none() || stop.load(Ordering::Relaxed) {
            break;
        }
        let t = Instant::now();
        let payload = match cache.get(samples[index].id) {
            Some(CacheEntry::Image(img)) => {
                shared.cache_hits.fetch_add(1, Ordering::Relaxed);
                Payload::Image(img)
            }
            Some(CacheEntry::Bad(e)) => Payload::Bad(e),
            None => read(dataset, &samples[index]),
        };
        tally.busy += t.elapsed();
        tally.items += 1;
        if !tally.send(
            &tx,
            ReadItem {
                pos,
                index,
                payload,
            },
        ) {
            break;
        }
    }
    tally.flush(&shared.stages[READ]);
}

fn decoder(
    dataset: &Dataset,
    samples: &[Sample],
    cache: &DecodedCache,
    shared: &Shared,
    rx: Receiver<ReadItem>,
    tx: Sender<DecodedItem>,
) {
    let mut tally = Tally::default();
    while let Some(item) = tally.recv(&rx) {
        let t = Instant::now();
        let sample = &samples[item.index];
        let image = match item.payload {
            Payload::Image(img) => Ok(img),
            Payload::Bytes(bytes) => {
                let decoded = decode_bytes(dataset, sample, &bytes).map(Arc::new);
                match &decoded {
                    Ok(img) => cache.insert(sample.id, CacheEntry::Image(img.clone())),
                    Err(e) => cache.insert(sample.id, CacheEntry::Bad(e.clone())),
                }
                decoded
            }
            Payload::Bad(e) => Err(e),
        };
        tally.busy += t.elapsed();
        tally.items += 1;
        if !tally.send(
            &tx,
            DecodedItem {
                pos: item.pos,
                index: item.index,
                image,
            },
        ) {
            break;
        }
    }
    tally.flush(&shared.stages[DECODE]);
}

#[allow(clippy::too_many_arguments)]
fn augmenter(
    samples: &[Sample],
    chain: &Chain,
    seed: u64,
    epoch: u64,
    shared: &Shared,
    rx: Receiver<DecodedItem>,
    tx: Sender<Processed>,
    pool: &Receiver<Vec<f32>>,
) {
    let mut tally = Tally::default();
    let mut scratch = Scratch::new();
    let len = chain.sample_len();
    while let Some(item) = tally.recv(&rx) {
        let t = Instant::now();
        let result = match item.image {
            Ok(img) => {
                let mut out = pool.try_recv().unwrap_or_default();
                out.resize(len, 0.0);
                let mut rng = sample_rng(seed, epoch, samples[item.index].id);
                match chain.apply(&img, &mut rng, &mut scratch, &mut out) {
                    Ok(()) => Ok(out),
                    Err(e) => Err(DecodeError {
                        reason: SkipReason::NotAnImage,
                        detail: e.to_string(),
                    }),
                }
            }
            Err(e) => Err(e),
        };
        tally.busy += t.elapsed();
        tally.items += 1;
        if !tally.send(
            &tx,
            Processed {
                pos: item.pos,
                index: item.index,
                result,
            },
        ) {
            break;
        }
    }
    tally.flush(&shared.stages[AUGMENT]);
}

struct Batcher {
    dataset: Dataset,
    samples: Arc<Vec<Sample>>,
    schema: SchemaRef,
    batch_size: usize,
    sample_len: usize,
    drop_last: bool,
    on_error: OnError,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
}

impl Batcher {
    fn run(
        self,
        rx: Receiver<Processed>,
        tx: Sender<Result<RecordBatch>>,
        tokens: Sender<()>,
        pool: Sender<Vec<f32>>,
        recycled: Receiver<Vec<f32>>,
    ) {
        let mut tally = Tally::default();
        let mut pending: BTreeMap<usize, Processed> = BTreeMap::new();
        let mut next = 0usize;
        // A recycled buffer's pages are already mapped: no fresh 10s of MB for the kernel to
        // zero per batch.
        let buffer = || match recycled.try_recv() {
            Ok(mut images) => {
                images.clear();
                images.reserve(self.batch_size * self.sample_len);
                images
            }
            Err(_) => Vec::with_capacity(self.batch_size * self.sample_len),
        };
        let mut images: Vec<f32> = buffer();
        let (mut labels, mut ids) = (Vec::new(), Vec::new());
        'outer: while let Some(item) = tally.recv(&rx) {
            let t = Instant::now();
            pending.insert(item.pos, item);
            while let Some(item) = pending.remove(&next) {
                next += 1;
                let _ = tokens.try_send(());
                tally.items += 1;
                let sample = &self.samples[item.index];
                match item.result {
                    Ok(values) => {
                        images.extend_from_slice(&values);
                        let _ = pool.try_send(values);
                        labels.push(sample.label);
                        ids.push(sample.id);
                    }
                    Err(e) => {
                        let path = sample.display_path(&self.dataset);
                        // One line per file only at debug level; the epoch's counts are one
                        // warning when the loader is joined.
                        tracing::debug!(path = %path, reason = %e.reason, error = %e.detail, "sample skipped");
                        *self
                            .shared
                            .skipped
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .entry(e.reason)
                            .or_default() += 1;
                        if self.on_error == OnError::Fail {
                            let error = Error::BadSample {
                                path,
                                reason: e.reason,
                                detail: e.detail,
                            };
                            let copy = error.bad_sample_copy();
                            *self
                                .shared
                                .failure
                                .lock()
                                .unwrap_or_else(|p| p.into_inner()) = copy;
                            self.stop.store(true, Ordering::Relaxed);
                            tally.busy += t.elapsed();
                            let _ = tally.send(&tx, Err(error));
                            break 'outer;
                        }
                    }
                }
                if labels.len() == self.batch_size {
                    let full = std::mem::replace(&mut images, buffer());
                    if !self.emit(
                        &mut tally,
                        &tx,
                        full,
                        std::mem::take(&mut labels),
                        std::mem::take(&mut ids),
                        t,
                    ) {
                        break 'outer;
                    }
                }
            }
            tally.busy += t.elapsed();
        }
        if !labels.is_empty() && !self.drop_last && !self.stop.load(Ordering::Relaxed) {
            let t = Instant::now();
            self.emit(&mut tally, &tx, images, labels, ids, t);
        }
        tally.flush(&self.shared.stages[BATCH]);
    }

    /// Builds and sends one batch; false when the consumer is gone or building failed.
    fn emit(
        &self,
        tally: &mut Tally,
        tx: &Sender<Result<RecordBatch>>,
        images: Vec<f32>,
        labels: Vec<i32>,
        ids: Vec<u64>,
        t: Instant,
    ) -> bool {
        let n = labels.len() as u64;
        let built = batch::build(&self.schema, images, labels, ids);
        tally.busy += t.elapsed();
        let ok = built.is_ok();
        if !tally.send(tx, built) {
            return false;
        }
        self.shared.emitted.fetch_add(n, Ordering::Relaxed);
        self.shared.batches.fetch_add(1, Ordering::Relaxed);
        ok
    }
}

/// A running epoch: an iterator of batches, in order. Dropping it stops every stage.
#[derive(Debug)]
pub struct Running {
    rx: Option<Receiver<Result<RecordBatch>>>,
    recycle: Sender<Vec<f32>>,
    handles: Vec<(String, JoinHandle<()>)>,
    stop: Arc<AtomicBool>,
    shared: Arc<Shared>,
    start: Instant,
    epoch: u64,
    split: Split,
    failed: bool,
}

impl Iterator for Running {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let item = self.rx.as_ref()?.recv().ok()?;
        if item.is_err() {
            self.failed = true;
        }
        Some(item)
    }
}

impl Running {
    /// Hands a consumed batch back so that a later batch (of this epoch or the loader's next)
    /// reuses its image buffer instead of a fresh allocation. Optional: a batch still
    /// referenced elsewhere (a clone, a slice, a column kept) is simply dropped, so no buffer is
    /// ever reused while something reads it.
    pub fn recycle(&self, batch: RecordBatch) {
        if let Some(images) = batch::take_image_buffer(batch) {
            let _ = self.recycle.try_send(images);
        }
    }

    /// Stops the stages (if the consumer did not drain them), waits for every thread and
    /// returns the report. Errors: a stage panicked, or a bad sample under `on_error = "fail"`.
    pub fn join(mut self) -> Result<PipelineReport> {
        self.shutdown()?;
        if let Some(e) = self
            .shared
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(Error::bad_sample_copy)
        {
            return Err(e);
        }
        let wall = self.start.elapsed().as_secs_f64().max(1e-9);
        let stages = stage_reports(&self.shared.stages, wall);
        let bottleneck = bottleneck(&stages);
        let samples = self.shared.emitted.load(Ordering::Relaxed);
        let skipped = self
            .shared
            .skipped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let total: u64 = skipped.values().sum();
        if total > 0 {
            let reasons = skipped
                .iter()
                .map(|(reason, count)| format!("{reason} {count}"))
                .collect::<Vec<_>>()
                .join(", ");
            tracing::warn!(
                epoch = self.epoch,
                split = ?self.split,
                skipped = total,
                %reasons,
                "samples skipped (each path at debug level: --log pipeline=debug)"
            );
        }
        Ok(PipelineReport {
            epoch: self.epoch,
            split: self.split,
            samples,
            batches: self.shared.batches.load(Ordering::Relaxed),
            wall_secs: wall,
            images_per_sec: samples as f64 / wall,
            stages,
            bottleneck,
            skipped,
            cache_hits: self.shared.cache_hits.load(Ordering::Relaxed),
        })
    }

    fn shutdown(&mut self) -> Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        self.rx = None;
        let mut panicked = None;
        for (name, handle) in self.handles.drain(..) {
            if handle.join().is_err() {
                panicked.get_or_insert(name);
            }
        }
        match panicked {
            Some(stage) => Err(Error::StagePanicked { stage }),
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}
