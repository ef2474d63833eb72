//! Which data and pipeline config a data command (`track pipeline`, `track stats`) reads: the
//! bundled data set, a run config file and `--set` overrides, then the flags.

use std::path::{Path, PathBuf};

use anyhow::Context;
use pipeline::config::{OnError, PipelineConfig};

/// The bundled data set, relative to the working directory.
const BUNDLED_DATA: &str = "data/fashion-mnist-mini";
/// The bundled data set in the source tree this binary was built from.
const BUNDLED_DATA_BUILT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/fashion-mnist-mini");

/// Flags shared by `track pipeline` and `track stats`: which data and config.
#[derive(Debug, Clone, clap::Args)]
pub struct DataArgs {
    /// Data set: an IDX folder, an ImageFolder root (or a flat folder of images), or a CSV/TSV
    /// manifest (`path,label`). Default: `[data] path` of --config, else the bundled
    /// Fashion-MNIST subset.
    #[arg(long, value_name = "PATH")]
    pub data: Option<PathBuf>,
    /// A run config (TOML); only its `[data]`, `[transforms]`, `[loader]` tables and `seed` are read.
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Override a config key after the file is read, as `track train --set`, e.g.
    /// `--set loader.batch_size=64` (repeatable; the value is TOML, a bare word is a string).
    /// The other flags are shorthands applied after it.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Use at most N samples of each split (a seeded subset).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// What to do with an unreadable or undecodable sample: skip (count and log it) or fail.
    #[arg(long, value_name = "skip|fail")]
    pub on_error: Option<OnError>,
    /// Worker threads per stage (decode and augment); default: the machine's cores.
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// No validation split: the training split holds every sample (to measure a whole folder).
    #[arg(long)]
    pub no_val: bool,
}

impl DataArgs {
    /// The pipeline config: --config (or defaults), its --set overrides, then the flags, with
    /// the data path resolved.
    pub fn resolve(&self) -> anyhow::Result<PipelineConfig> {
        let mut config = self.load()?;
        match &self.data {
            Some(path) => config.data.path = path.clone(),
            None if config.data.path == Path::new(pipeline::config::DEFAULT_DATA_PATH) => {
                config.data.path = bundled_data()?;
            }
            None => {}
        }
        if let Some(limit) = self.limit {
            config.data.limit = Some(limit);
        }
        if let Some(policy) = self.on_error {
            config.data.on_error = policy;
        }
        if self.no_val {
            config.data.val_source = pipeline::config::ValSource::None;
        }
        if let Some(workers) = self.workers {
            config.loader.decode_workers = workers;
            config.loader.augment_workers = workers;
        }
        config.loader.cache_dir = crate::cache_dir::resolve();
        Ok(config)
    }

    /// --config (or the defaults) with the --set overrides applied.
    fn load(&self) -> anyhow::Result<PipelineConfig> {
        if self.sets.is_empty() {
            return Ok(match &self.config {
                Some(path) => PipelineConfig::load(path)?,
                None => PipelineConfig::default(),
            });
        }
        let (text, origin) = match &self.config {
            Some(path) => (
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading the config {}", path.display()))?,
                path.display().to_string(),
            ),
            None => (String::new(), "defaults".to_string()),
        };
        let mut table: toml::Table =
            toml::from_str(&text).with_context(|| format!("parsing the config {origin}"))?;
        trainer::config::apply_overrides(&mut table, &self.sets)?;
        let text = toml::to_string(&table).context("writing the overridden config")?;
        Ok(PipelineConfig::from_toml_str(
            &text,
            &format!("{origin} with --set"),
        )?)
    }
}

/// `data/fashion-mnist-mini` under the working directory, else in the source tree.
pub fn bundled_data() -> anyhow::Result<PathBuf> {
    [PathBuf::from(BUNDLED_DATA), PathBuf::from(BUNDLED_DATA_BUILT)]
        .into_iter()
        .find(|p| p.is_dir())
        .with_context(|| {
            format!("no bundled data: neither ./{BUNDLED_DATA} nor {BUNDLED_DATA_BUILT} exists; pass --data PATH")
        })
}
