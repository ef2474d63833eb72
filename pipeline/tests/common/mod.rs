//! Helpers shared by the pipeline's integration tests: paths in the repository and the config
//! of the bundled IDX data.

// Each test binary uses some of these helpers, not all.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use pipeline::config::{Normalize, PipelineConfig};

/// `path` relative to the repository root.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// The bundled Fashion-MNIST subset, at most `limit` samples per split, normalized with given
/// values (no statistics pass).
pub fn bundled(limit: usize) -> PipelineConfig {
    let mut c = PipelineConfig::default();
    c.data.path = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/fashion-mnist-mini").into();
    c.data.limit = Some(limit);
    c.transforms.normalize = Normalize::Given {
        mean: vec![0.5],
        std: vec![0.5],
    };
    c
}
