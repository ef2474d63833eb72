//! Normalization values: the per-channel statistics pass over a training split (exact integer
//! sums, parallel over samples, cached in memory per data set and on disk in a cache directory
//! the caller names), and the (mean, std) each `normalize` setting gives.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::{Digest, Sha256};

use crate::config::{IMAGENET_MEAN, IMAGENET_STD, Normalize, OnError};
use crate::error::{Error, Result};
use crate::source::{Dataset, Split};
use crate::stats::{Accumulator, ChannelStats};

/// Per-channel (mean, std) in [0, 1] units for `normalize`; `dataset` runs (or loads, from
/// `cache_dir` when given) the statistics pass with `workers` threads.
pub fn normalization(
    normalize: &Normalize,
    dataset: &Dataset,
    workers: usize,
    cache_dir: Option<&Path>,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let c = dataset.channels() as usize;
    Ok(match normalize {
        Normalize::None => (vec![0.0; c], vec![1.0; c]),
        Normalize::Imagenet if c == 3 => (IMAGENET_MEAN.to_vec(), IMAGENET_STD.to_vec()),
        Normalize::Imagenet => (
            vec![IMAGENET_MEAN.iter().sum::<f32>() / 3.0],
            vec![IMAGENET_STD.iter().sum::<f32>() / 3.0],
        ),
        Normalize::Dataset => {
            let s = compute(dataset, workers, cache_dir)?;
            (
                s.mean.iter().map(|&m| m as f32).collect(),
                s.std.iter().map(|&d| (d as f32).max(1e-6)).collect(),
            )
        }
        Normalize::Given { mean, std } => (mean.clone(), std.clone()),
    })
}

/// Computes (or loads from the cache) the statistics of `dataset`'s training split, with
/// `workers` threads. With a `cache_dir`, the statistics are read from and written to
/// `<cache_dir>/stats/<key>.json`, whose key covers the data set path, its files' sizes and
/// modification times, the split and the colour mode; none: computed once per opened data set.
pub fn compute(
    dataset: &Dataset,
    workers: usize,
    cache_dir: Option<&Path>,
) -> Result<ChannelStats> {
    if let Some(s) = dataset.stats_cell().get() {
        return Ok(s.clone());
    }
    let cache = cache_dir.map(|dir| cache_path(dataset, dir));
    if let Some(path) = &cache
        && let Ok(text) = std::fs::read_to_string(path)
        && let Ok(stats) = serde_json::from_str::<ChannelStats>(&text)
    {
        tracing::debug!(path = %path.display(), "channel statistics loaded from cache");
        return Ok(dataset.stats_cell().get_or_init(|| stats).clone());
    }
    let stats = compute_uncached(dataset, workers)?;
    if let Some(path) = &cache {
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| {
                let tmp = path.with_extension("tmp");
                std::fs::write(&tmp, serde_json::to_vec(&stats).unwrap_or_default())?;
                std::fs::rename(&tmp, path)
            });
        if let Err(error) = written {
            tracing::warn!(path = %path.display(), %error, "cannot write the statistics cache");
        }
    }
    Ok(dataset.stats_cell().get_or_init(|| stats).clone())
}

/// One streaming pass over the training split, no cache.
pub fn compute_uncached(dataset: &Dataset, workers: usize) -> Result<ChannelStats> {
    let samples = dataset.samples(Split::Train);
    let next = AtomicUsize::new(0);
    let total = Mutex::new(Accumulator::default());
    let skipped = AtomicUsize::new(0);
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            scope.spawn(|| {
                let mut acc = Accumulator::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(sample) = samples.get(i) else { break };
                    match dataset.load(sample) {
                        Ok(img) => acc.add(&img),
                        Err(e) => {
                            skipped.fetch_add(1, Ordering::Relaxed);
                            if dataset.config().on_error == OnError::Fail {
                                let mut f = failure.lock().unwrap_or_else(|p| p.into_inner());
                                f.get_or_insert(Error::BadSample {
                                    path: sample.display_path(dataset),
                                    reason: e.reason,
                                    detail: e.detail,
                                });
                                next.store(samples.len(), Ordering::Relaxed);
                            }
                        }
                    }
                }
                total.lock().unwrap_or_else(|p| p.into_inner()).merge(&acc);
            });
        }
    });
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let acc = total.into_inner().unwrap_or_else(|p| p.into_inner());
    if acc.images() == 0 {
        return Err(Error::Dataset {
            path: dataset.path().to_path_buf(),
            message: "no decodable image in the training split".into(),
        });
    }
    Ok(acc.finish(skipped.load(Ordering::Relaxed) as u64))
}

/// `<cache dir>/stats/<sha256 of the data set's identity>.json`.
fn cache_path(dataset: &Dataset, base: &Path) -> PathBuf {
    let mut h = Sha256::new();
    let path =
        std::fs::canonicalize(dataset.path()).unwrap_or_else(|_| dataset.path().to_path_buf());
    h.update(path.to_string_lossy().as_bytes());
    h.update([dataset.channels()]);
    let c = dataset.config();
    h.update(format!(
        "{:?}|{}|{:?}|{:?}|{}|{:?}",
        c.format, c.val_fraction, c.val_source, c.val_path, c.split_seed, c.limit
    ));
    let mut seen_files = std::collections::BTreeSet::new();
    for s in dataset.samples(Split::Train) {
        h.update(s.id.to_le_bytes());
        h.update(s.label.to_le_bytes());
        let file = dataset.source_file(s).to_path_buf();
        if seen_files.insert(file.clone())
            && let Ok(meta) = std::fs::metadata(&file)
        {
            h.update(meta.len().to_le_bytes());
            if let Ok(t) = meta.modified().and_then(|t| {
                t.duration_since(std::time::UNIX_EPOCH)
                    .map_err(std::io::Error::other)
            }) {
                h.update(t.as_nanos().to_le_bytes());
            }
        }
    }
    let key: String = h
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    base.join("stats").join(format!("{key}.json"))
}
