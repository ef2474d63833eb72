//! The decoded-image cache of a [`Loader`](super::Loader): decoded images (and known-bad
//! samples) kept across epochs, within a byte budget, so epochs after the first skip decoding.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::decode::{DecodeError, Image};

/// Decoded images (and known-bad samples) kept across epochs, within a byte budget.
#[derive(Debug)]
pub(super) struct DecodedCache {
    entries: Mutex<HashMap<u64, CacheEntry>>,
    bytes: AtomicUsize,
    budget: usize,
}

/// What the cache holds for a sample id.
#[derive(Debug, Clone)]
pub(super) enum CacheEntry {
    /// The decoded image.
    Image(Arc<Image>),
    /// Why the sample could not be read or decoded.
    Bad(DecodeError),
}

impl DecodedCache {
    /// An empty cache of at most `budget` bytes (0: caches nothing).
    pub(super) fn new(budget: usize) -> DecodedCache {
        DecodedCache {
            entries: Mutex::new(HashMap::new()),
            bytes: AtomicUsize::new(0),
            budget,
        }
    }

    /// Bytes held.
    pub(super) fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    pub(super) fn get(&self, id: u64) -> Option<CacheEntry> {
        if self.budget == 0 {
            return None;
        }
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }

    pub(super) fn insert(&self, id: u64, entry: CacheEntry) {
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
