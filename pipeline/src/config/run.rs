//! [`PipelineConfig`]: the pipeline's tables of a run config (`[data]`, `[transforms]`,
//! `[loader]`) and the run seed, read from TOML.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::data::DataConfig;
use super::loader::LoaderConfig;
use super::transforms::TransformsConfig;
use crate::error::{Error, Result};

/// Default run seed (augmentation and shuffling).
pub const DEFAULT_SEED: u64 = 42;

/// Everything the pipeline reads from a run config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PipelineConfig {
    /// `[data]`.
    pub data: DataConfig,
    /// `[transforms]`.
    pub transforms: TransformsConfig,
    /// `[loader]`.
    pub loader: LoaderConfig,
    /// Run seed: shuffling by (seed, epoch), augmentation by (seed, epoch, sample id).
    pub seed: u64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            data: DataConfig::default(),
            transforms: TransformsConfig::default(),
            loader: LoaderConfig::default(),
            seed: DEFAULT_SEED,
        }
    }
}

impl PipelineConfig {
    /// Parses the pipeline's tables of a run config (other tables are ignored) and validates.
    /// `origin` names the text in errors (a file path).
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self> {
        let table: toml::Table = toml::from_str(text).map_err(|e| Error::ConfigParse {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        let mut config = PipelineConfig::default();
        let parse_err = |key: &str, e: toml::de::Error| Error::ConfigParse {
            origin: format!("{origin} [{key}]"),
            message: e.message().to_string(),
        };
        if let Some(v) = table.get("data") {
            config.data = v.clone().try_into().map_err(|e| parse_err("data", e))?;
        }
        if let Some(v) = table.get("transforms") {
            config.transforms = v
                .clone()
                .try_into()
                .map_err(|e| parse_err("transforms", e))?;
        }
        if let Some(v) = table.get("loader") {
            config.loader = v.clone().try_into().map_err(|e| parse_err("loader", e))?;
        }
        if let Some(v) = table.get("seed") {
            config.seed = v
                .as_integer()
                .and_then(|i| u64::try_from(i).ok())
                .ok_or_else(|| {
                    Error::config("seed", format!("{v} is not a non-negative integer"))
                })?;
        }
        config.validate()?;
        Ok(config)
    }

    /// Reads and parses a run config file (see [`PipelineConfig::from_toml_str`]).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml_str(&text, &path.display().to_string())
    }

    /// Validates all three tables.
    pub fn validate(&self) -> Result<()> {
        self.data.validate()?;
        self.transforms.validate()?;
        self.loader.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Augment, Normalize, parse_transform_list};

    #[test]
    fn run_config_with_foreign_tables_parses_only_pipeline_tables() {
        let text = r#"
            seed = 7
            [model]
            layers = 3
            [optim]
            lr = 0.1
            [data]
            val_fraction = 0.2
            [transforms]
            augment = "none"
            normalize = { mean = [0.5], std = [0.25] }
            [loader]
            batch_size = 16
        "#;
        let c = PipelineConfig::from_toml_str(text, "run.toml").unwrap();
        assert_eq!(c.seed, 7);
        assert_eq!(c.data.val_fraction, 0.2);
        assert_eq!(c.transforms.augment, Augment::None);
        assert_eq!(
            c.transforms.normalize,
            Normalize::Given {
                mean: vec![0.5],
                std: vec![0.25]
            }
        );
        assert_eq!(c.loader.batch_size, 16);
    }

    #[test]
    fn unknown_key_in_own_table_is_an_error_naming_it() {
        let e =
            PipelineConfig::from_toml_str("[loader]\nbatch_sise = 3\n", "run.toml").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("batch_sise") && msg.contains("loader"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_transform_and_unknown_parameter_are_errors() {
        let e = PipelineConfig::from_toml_str(
            "[transforms]\naugment = \"custom\"\ntrain = [{ op = \"sharpen\" }]\n",
            "run.toml",
        )
        .unwrap_err();
        assert!(e.to_string().contains("sharpen"), "{e}");
        let e = parse_transform_list("hflip(q=0.5)").unwrap_err();
        assert!(e.to_string().contains('q'), "{e}");
    }

    #[test]
    fn out_of_range_parameter_names_the_key() {
        let e = parse_transform_list("hflip,rotation(degrees=400)").unwrap_err();
        assert!(e.to_string().contains("degrees"), "{e}");
        let e = PipelineConfig::from_toml_str("[data]\nval_fraction = 1.5\n", "f").unwrap_err();
        assert!(e.to_string().contains("data.val_fraction"), "{e}");
    }

    #[test]
    fn config_round_trips_through_toml() {
        let mut c = PipelineConfig::default();
        c.transforms.augment = Augment::Custom;
        c.transforms.train =
            parse_transform_list("resize(size=32),center_crop(size=28),vflip(p=0.1)").unwrap();
        let text = toml::to_string(&c).unwrap();
        assert_eq!(PipelineConfig::from_toml_str(&text, "x").unwrap(), c);
    }
}
