//! The `[loader]` table: batching, parallelism, buffering, caching.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Default batch size.
pub const DEFAULT_BATCH_SIZE: usize = 64;
/// Default capacity of each inter-stage channel, in items.
pub const DEFAULT_CHANNEL_CAPACITY: usize = 32;
/// Default budget of the decoded-image cache, in MiB.
pub const DEFAULT_CACHE_MB: u64 = 1024;

/// The `[loader]` table: batching, parallelism, buffering, caching.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoaderConfig {
    /// Samples per batch (the last batch of an epoch may be smaller unless `drop_last`).
    pub batch_size: usize,
    /// Decode worker threads; 0: the machine's cores.
    pub decode_workers: usize,
    /// Augment+normalize worker threads; 0: the machine's cores.
    pub augment_workers: usize,
    /// Capacity of each inter-stage channel, in items (backpressure bound).
    pub channel_capacity: usize,
    /// Budget of the in-memory decoded-image cache, in MiB (0: no cache).
    pub cache_mb: u64,
    /// Drop the last batch of an epoch when it is smaller than `batch_size` (training only).
    pub drop_last: bool,
    /// Directory of the on-disk cache (the channel statistics of `normalize = "dataset"`);
    /// none: nothing is cached on disk. Not a config key: the program using the library sets it
    /// (`track` uses `GAPWATCH_CACHE_DIR`, else `$XDG_CACHE_HOME/gapwatch`, else
    /// `$HOME/.cache/gapwatch`).
    #[serde(skip)]
    pub cache_dir: Option<PathBuf>,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        LoaderConfig {
            batch_size: DEFAULT_BATCH_SIZE,
            decode_workers: 0,
            augment_workers: 0,
            channel_capacity: DEFAULT_CHANNEL_CAPACITY,
            cache_mb: DEFAULT_CACHE_MB,
            drop_last: false,
            cache_dir: None,
        }
    }
}

impl LoaderConfig {
    /// Checks `batch_size > 0` and `channel_capacity > 0`.
    pub fn validate(&self) -> Result<()> {
        if self.batch_size == 0 {
            return Err(Error::config("loader.batch_size", "must be > 0"));
        }
        if self.channel_capacity == 0 {
            return Err(Error::config("loader.channel_capacity", "must be > 0"));
        }
        Ok(())
    }

    /// Worker count for a stage: the configured one, or the machine's cores when 0.
    pub fn workers(configured: usize) -> usize {
        if configured > 0 {
            configured
        } else {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        }
    }
}
