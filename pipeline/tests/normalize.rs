//! Dataset normalization and its statistics cache: the library caches on disk only in the
//! directory its caller names, and reads the statistics back from there.

#![allow(clippy::unwrap_used)] // Test helpers: a panic is the failure report.

use std::path::{Path, PathBuf};

use pipeline::config::Normalize;
use pipeline::normalize;
use pipeline::stats::ChannelStats;
use pipeline::{Dataset, Loader};

mod common;
use common::bundled;

/// The one statistics file under `dir/stats`.
fn cached_file(dir: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(dir.join("stats"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "one statistics file: {files:?}");
    files.into_iter().next().unwrap()
}

#[test]
fn statistics_are_cached_in_the_callers_directory_and_read_back_from_it() {
    let config = bundled(300).data;
    let dir = tempfile::tempdir().unwrap();
    let computed = normalize::compute_uncached(&Dataset::open(&config).unwrap(), 2).unwrap();
    let first = normalize::compute(&Dataset::open(&config).unwrap(), 2, Some(dir.path())).unwrap();
    assert_eq!(first, computed);
    let file = cached_file(dir.path());
    let stored: ChannelStats = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(stored, computed);

    // A data set opened anew reads the file: a doctored mean comes back.
    let doctored = ChannelStats {
        mean: vec![0.123],
        ..computed.clone()
    };
    std::fs::write(&file, serde_json::to_vec(&doctored).unwrap()).unwrap();
    let again = normalize::compute(&Dataset::open(&config).unwrap(), 2, Some(dir.path())).unwrap();
    assert_eq!(again, doctored);
    // Without a directory nothing is read from disk.
    let uncached = normalize::compute(&Dataset::open(&config).unwrap(), 2, None).unwrap();
    assert_eq!(uncached, computed);
}

#[test]
fn a_loader_normalizes_with_the_statistics_of_its_configured_cache_dir() {
    let mut config = bundled(300);
    config.transforms.normalize = Normalize::Dataset;
    let dir = tempfile::tempdir().unwrap();
    config.loader.cache_dir = Some(dir.path().to_path_buf());
    let loader = Loader::train(&Dataset::open(&config.data).unwrap(), &config).unwrap();
    let (mean, _) = loader.normalization();
    let file = cached_file(dir.path());
    let stored: ChannelStats = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(mean, [stored.mean[0] as f32]);

    let doctored = ChannelStats {
        mean: vec![0.25],
        std: vec![0.5],
        ..stored
    };
    std::fs::write(&file, serde_json::to_vec(&doctored).unwrap()).unwrap();
    let loader = Loader::train(&Dataset::open(&config.data).unwrap(), &config).unwrap();
    assert_eq!(loader.normalization(), (&[0.25f32][..], &[0.5f32][..]));
}
