//! The [`Loader`]: one split in a [`Mode`], kept across epochs (its decoded-image cache and its
//! buffers with it); [`Loader::epoch`] wires the stages with bounded channels and starts them.

use std::sync::atomic::AtomicBool;
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

use super::batcher::Batcher;
use super::cache::DecodedCache;
use super::running::Running;
use super::slots::BatchSlots;
use super::stages::{self, DecodedItem, Processed, ReadItem, Shared, StageContext};
use crate::augment;
use crate::batch::{self, BatchDigest};
use crate::config::{LoaderConfig, PipelineConfig};
use crate::error::{Error, Result};
use crate::normalize;
use crate::seed::mix_seed;
use crate::source::{Dataset, Sample, Split, seeded_subset};
use crate::transform::Chain;

/// How a loader treats its split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Training chain (augmentation), shuffled per epoch, `drop_last` honoured.
    Train,
    /// Evaluation chain (deterministic), source order.
    Eval,
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
    digest: Option<Arc<Mutex<BatchDigest>>>,
}

/// Buffers of consumed batches, kept from one epoch to the next: their pages are mapped
/// already, so the kernel need not zero fresh ones for every batch.
#[derive(Debug)]
struct Buffers {
    batches: (Sender<Vec<f32>>, Receiver<Vec<f32>>),
}

impl Buffers {
    fn new() -> Buffers {
        Buffers {
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
        let (mean, std) = normalize::normalization(
            &t.normalize,
            dataset,
            workers,
            config.loader.cache_dir.as_deref(),
        )?;
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
            cache: Arc::new(DecodedCache::new(
                (config.loader.cache_mb as usize).saturating_mul(1 << 20),
            )),
            buffers: Buffers::new(),
            digest: None,
        })
    }

    /// From now on, keeps the [`BatchDigest`] of every batch this loader's epochs emit, in
    /// order: what a consumer updating one with each batch it receives would hold, computed
    /// by the batch stage as it copies each sample in (while the sample is in cache) instead
    /// of by a second pass over every batch.
    pub fn keep_digest(&mut self) {
        self.digest.get_or_insert_default();
    }

    /// The kept digest (see [`Loader::keep_digest`]) as 32 hex digits, complete for the
    /// epochs whose [`Running`] has been joined; none when the loader keeps none.
    pub fn digest(&self) -> Option<String> {
        let digest = self.digest.as_ref()?;
        let digest = digest.lock().unwrap_or_else(|p| p.into_inner()).clone();
        Some(digest.finish())
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
        self.cache.bytes()
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
        let (recycle_tx, recycle_rx) = self.buffers.batches.clone();
        let slots = Arc::new(BatchSlots::new(
            self.config.batch_size,
            self.chain.sample_len(),
            recycle_rx,
        ));
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
        let ctx = Arc::new(StageContext {
            dataset: self.dataset.clone(),
            samples: self.samples.clone(),
            cache: self.cache.clone(),
            chain: self.chain.clone(),
            shared: shared.clone(),
            seed: self.seed,
            epoch,
        });
        {
            let (ctx, stop) = (ctx.clone(), stop.clone());
            handles.push(spawn(
                "read".into(),
                Box::new(move || stages::reader(&ctx, &order, &stop, &token_rx, read_tx)),
            )?);
        }
        for w in 0..decode_workers {
            let (ctx, rx, tx) = (ctx.clone(), read_rx.clone(), dec_tx.clone());
            handles.push(spawn(
                format!("decode-{w}"),
                Box::new(move || stages::decoder(&ctx, rx, tx)),
            )?);
        }
        drop((read_rx, dec_tx));
        for w in 0..augment_workers {
            let (ctx, rx, tx, slots) = (ctx.clone(), dec_rx.clone(), aug_tx.clone(), slots.clone());
            handles.push(spawn(
                format!("augment-{w}"),
                Box::new(move || stages::augmenter(&ctx, rx, tx, &slots)),
            )?);
        }
        drop((dec_rx, aug_tx));
        {
            let batcher = Batcher {
                dataset: self.dataset.clone(),
                samples: self.samples.clone(),
                schema: self.schema.clone(),
                batch_size: self.config.batch_size,
                slots,
                drop_last: self.drop_last(),
                on_error: self.dataset.config().on_error,
                shared: shared.clone(),
                stop: stop.clone(),
                digest: self.digest.clone(),
            };
            handles.push(spawn(
                "batch".into(),
                Box::new(move || batcher.run(aug_rx, out_tx, token_tx)),
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
