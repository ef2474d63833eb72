//! Per-channel statistics of a training split: one streaming pass over decoded pixels (exact
//! integer sums, parallel over samples), cached in memory and on disk per data set.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::decode::Image;
use crate::error::{Error, Result};
use crate::runtime::load_sample;
use crate::source::{Dataset, Location, Split};

/// Per-channel mean and standard deviation of pixel values scaled to [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelStats {
    /// Mean per channel.
    pub mean: Vec<f64>,
    /// Population standard deviation per channel.
    pub std: Vec<f64>,
    /// Images the statistics cover.
    pub images: u64,
    /// Pixels per channel the statistics cover.
    pub pixels: u64,
    /// Images skipped as unreadable or undecodable.
    pub skipped: u64,
}

/// Exact running sums of a set of images.
#[derive(Debug, Clone, Default)]
pub struct Accumulator {
    sum: [u64; 3],
    sum_sq: [u64; 3],
    pixels: u64,
    images: u64,
    channels: usize,
}

impl Accumulator {
    /// Adds one image.
    pub fn add(&mut self, img: &Image) {
        let c = img.channels as usize;
        self.channels = c;
        for px in img.data.chunks_exact(c) {
            for (i, &v) in px.iter().enumerate() {
                self.sum[i] += u64::from(v);
                self.sum_sq[i] += u64::from(v) * u64::from(v);
            }
        }
        self.pixels += (img.width as u64) * (img.height as u64);
        self.images += 1;
    }

    /// Merges another accumulator.
    pub fn merge(&mut self, other: &Accumulator) {
        for i in 0..3 {
            self.sum[i] += other.sum[i];
            self.sum_sq[i] += other.sum_sq[i];
        }
        self.pixels += other.pixels;
        self.images += other.images;
        self.channels = self.channels.max(other.channels);
    }

    /// Mean and std in [0, 1] units.
    pub fn finish(&self, skipped: u64) -> ChannelStats {
        let n = self.pixels.max(1) as f64;
        let (mut mean, mut std) = (Vec::new(), Vec::new());
        for i in 0..self.channels {
            let m = self.sum[i] as f64 / n;
            let var = (self.sum_sq[i] as f64 / n - m * m).max(0.0);
            mean.push(m / 255.0);
            std.push(var.sqrt() / 255.0);
        }
        ChannelStats {
            mean,
            std,
            images: self.images,
            pixels: self.pixels,
            skipped,
        }
    }
}

/// Computes (or loads from the cache) the statistics of `dataset`'s training split, with
/// `workers` threads. The on-disk cache key covers the data set path, its files' sizes and
/// modification times, the split and the colour mode.
pub fn compute(dataset: &Dataset, workers: usize) -> Result<ChannelStats> {
    if let Some(s) = dataset.inner.stats.get() {
        return Ok(s.clone());
    }
    let cache = cache_path(dataset);
    if let Some(path) = &cache
        && let Ok(text) = std::fs::read_to_string(path)
        && let Ok(stats) = serde_json::from_str::<ChannelStats>(&text)
    {
        tracing::debug!(path = %path.display(), "channel statistics loaded from cache");
        return Ok(dataset.inner.stats.get_or_init(|| stats).clone());
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
    Ok(dataset.inner.stats.get_or_init(|| stats).clone())
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
                    match load_sample(dataset, sample) {
                        Ok(img) => acc.add(&img),
                        Err(e) => {
                            skipped.fetch_add(1, Ordering::Relaxed);
                            if dataset.config().on_error == crate::config::OnError::Fail {
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
    if acc.images == 0 {
        return Err(Error::Dataset {
            path: dataset.path().to_path_buf(),
            message: "no decodable image in the training split".into(),
        });
    }
    Ok(acc.finish(skipped.load(Ordering::Relaxed) as u64))
}

/// `<cache dir>/gapwatch/stats/<sha256 of the data set's identity>.json`; none without a cache dir.
fn cache_path(dataset: &Dataset) -> Option<PathBuf> {
    let base = std::env::var_os("GAPWATCH_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("gapwatch")))
        .or_else(|| std::env::var_os("HOME").map(|d| PathBuf::from(d).join(".cache/gapwatch")))?;
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
        let file = match &s.location {
            Location::File(p) => p.clone(),
            Location::Idx { set, .. } => dataset.inner.idx_sets[*set].path.clone(),
        };
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
    Some(base.join("stats").join(format!("{key}.json")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accumulator_is_exact_on_a_known_image() {
        let img = Image {
            width: 2,
            height: 1,
            channels: 3,
            data: vec![0, 255, 51, 255, 255, 51],
        };
        let mut acc = Accumulator::default();
        acc.add(&img);
        let s = acc.finish(0);
        assert_eq!(s.mean, vec![0.5, 1.0, 0.2]);
        assert!((s.std[0] - 0.5).abs() < 1e-12 && s.std[1] == 0.0 && s.std[2] == 0.0);
    }
}
