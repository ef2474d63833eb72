//! The run config: one TOML file with the tables `[data]`, `[transforms]`, `[loader]` (the
//! pipeline's), `[model]`, `[optim]`, `[early_stopping]` and `[train]`; `--set key=value`
//! overrides; validation; and the flattened `section.key` params a run records.
//!
//! ```
//! use trainer::config::RunConfig;
//! let config = RunConfig::from_toml_str("[optim]\nlearning_rate = 0.01", "run.toml", &["train.epochs=2".into()])?;
//! assert_eq!(config.optim.learning_rate, 0.01);
//! assert_eq!(config.train.epochs, 2);
//! let params = config.flatten_params()?;
//! assert!(params.iter().any(|(k, v)| k == "model.conv_channels" && v == "[32, 64]"));
//! # Ok::<(), trainer::Error>(())
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use crate::early_stopping::{EarlyStoppingConfig, Mode, Monitor};
pub use crate::model::{Head, ModelConfig};
pub use crate::optim::{OptimConfig, OptimizerKind, ScheduleKind};
pub use pipeline::config::{DataConfig, LoaderConfig, PipelineConfig, TransformsConfig};

use crate::error::{Error, Result};

/// Default number of epochs: `track train` with no arguments finishes in a few minutes on two
/// cores with the bundled data.
pub const DEFAULT_EPOCHS: usize = 5;
/// Default run seed: weights, dropout masks, shuffling and augmentation.
pub const DEFAULT_SEED: u64 = pipeline::config::DEFAULT_SEED;

/// The `[train]` table: how long and with which seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Maximum number of epochs (early stopping may end the run sooner), ≥ 1.
    pub epochs: usize,
    /// Run seed: weight init, dropout masks, shuffling and augmentation draws.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: DEFAULT_EPOCHS,
            seed: DEFAULT_SEED,
        }
    }
}

/// A whole run's configuration: everything that describes the experiment.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// Which data set and how it is split (the pipeline's `[data]`).
    pub data: DataConfig,
    /// Augmentation and normalization (the pipeline's `[transforms]`).
    pub transforms: TransformsConfig,
    /// Batch size and workers (the pipeline's `[loader]`).
    pub loader: LoaderConfig,
    /// The network.
    pub model: ModelConfig,
    /// Optimizer, schedule, clipping, loss.
    pub optim: OptimConfig,
    /// Early stopping and which epoch counts as best.
    pub early_stopping: EarlyStoppingConfig,
    /// Epochs and seed.
    pub train: TrainConfig,
}

/// The sections of a run config, in the order they are recorded.
pub const SECTIONS: [&str; 7] = [
    "data",
    "transforms",
    "loader",
    "model",
    "optim",
    "early_stopping",
    "train",
];

impl RunConfig {
    /// Reads `path` (or starts from the defaults when `None`), applies `sets`, and validates.
    pub fn load(path: Option<&Path>, sets: &[String]) -> Result<Self> {
        match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| Error::ConfigRead {
                    path: path.to_path_buf(),
                    source,
                })?;
                Self::from_toml_str(&text, &path.display().to_string(), sets)
            }
            None => Self::from_toml_str("", "defaults", sets),
        }
    }

    /// Parses TOML `text` (from `origin`, for messages), applies `sets`, and validates.
    pub fn from_toml_str(text: &str, origin: &str, sets: &[String]) -> Result<Self> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| Error::ConfigParse {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        apply_overrides(&mut table, sets)?;
        Self::from_table(table, origin)
    }

    /// Deserializes a TOML table section by section (so errors name the section) and validates.
    pub fn from_table(mut table: toml::Table, origin: &str) -> Result<Self> {
        fn section<T: serde::de::DeserializeOwned + Default>(
            table: &mut toml::Table,
            name: &str,
            origin: &str,
        ) -> Result<T> {
            match table.remove(name) {
                None => Ok(T::default()),
                Some(value) => value
                    .try_into()
                    .map_err(|e: toml::de::Error| Error::ConfigParse {
                        origin: format!("{origin} [{name}]"),
                        message: e.message().to_string(),
                    }),
            }
        }
        let config = RunConfig {
            data: section(&mut table, "data", origin)?,
            transforms: section(&mut table, "transforms", origin)?,
            loader: section(&mut table, "loader", origin)?,
            model: section(&mut table, "model", origin)?,
            optim: section(&mut table, "optim", origin)?,
            early_stopping: section(&mut table, "early_stopping", origin)?,
            train: section(&mut table, "train", origin)?,
        };
        if let Some(key) = table.keys().next() {
            return Err(Error::ConfigParse {
                origin: origin.to_string(),
                message: format!(
                    "unknown key `{key}`: expected one of the tables {}",
                    SECTIONS.join(", ")
                ),
            });
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks every section's invariants (see each config's `validate`).
    pub fn validate(&self) -> Result<()> {
        self.data.validate()?;
        self.transforms.validate()?;
        self.loader.validate()?;
        self.model.validate()?;
        self.optim.validate()?;
        self.early_stopping.validate()?;
        if self.train.epochs == 0 {
            return Err(Error::ConfigValue {
                key: "train.epochs".into(),
                reason: "must be at least 1".into(),
            });
        }
        Ok(())
    }

    /// The pipeline's part of the config, with the run seed.
    pub fn pipeline_config(&self) -> PipelineConfig {
        PipelineConfig {
            data: self.data.clone(),
            transforms: self.transforms.clone(),
            loader: self.loader.clone(),
            seed: self.train.seed,
        }
    }

    /// The config as TOML (every key, defaults included): the run's `config.toml` artifact.
    pub fn to_toml_string(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| Error::ConfigParse {
            origin: "run config".into(),
            message: e.to_string(),
        })
    }

    /// Every config value as a `section.key` → string param, in section order then key order:
    /// `data.path`, ..., `train.seed`. Strings are unquoted; numbers, booleans, arrays and
    /// tables are written as TOML (`[32, 64]`). Unset optional keys are left out.
    pub fn flatten_params(&self) -> Result<Vec<(String, String)>> {
        let value = toml::Value::try_from(self).map_err(|e| Error::ConfigParse {
            origin: "run config".into(),
            message: e.to_string(),
        })?;
        let mut params = Vec::new();
        if let toml::Value::Table(table) = value {
            for name in SECTIONS {
                if let Some(section) = table.get(name) {
                    flatten_into(name, section, &mut params);
                }
            }
        }
        Ok(params)
    }
}

fn flatten_into(prefix: &str, value: &toml::Value, out: &mut Vec<(String, String)>) {
    match value {
        toml::Value::Table(table) => {
            for (key, value) in table {
                flatten_into(&format!("{prefix}.{key}"), value, out);
            }
        }
        toml::Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

/// Applies `key=value` overrides to a config table before it is deserialized.
///
/// `key` is a dotted path (`optim.learning_rate`, `model.conv_channels`); missing tables are
/// created. `value` is read as a TOML value (`0.01`, `true`, `[32, 64]`, `"adamw"`,
/// `{ op = "hflip" }`); anything that is not valid TOML is taken as a string (`adamw`,
/// `data/cifar`). An empty key, a missing `=` or a path through a non-table value is an error
/// naming the override.
pub fn apply_overrides(table: &mut toml::Table, sets: &[String]) -> Result<()> {
    for assignment in sets {
        let reject = |reason: &str| Error::Override {
            assignment: assignment.clone(),
            reason: reason.to_string(),
        };
        let (key, raw) = assignment
            .split_once('=')
            .ok_or_else(|| reject("expected key=value"))?;
        let key = key.trim();
        let path: Vec<&str> = key.split('.').map(str::trim).collect();
        if path.iter().any(|p| p.is_empty()) {
            return Err(reject("the key is empty or has an empty part"));
        }
        let value = parse_value(raw.trim());
        let (last, parents) = path.split_last().ok_or_else(|| reject("empty key"))?;
        let mut current = &mut *table;
        for (depth, part) in parents.iter().enumerate() {
            let entry = current
                .entry(part.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            current = match entry {
                toml::Value::Table(t) => t,
                _ => {
                    return Err(reject(&format!(
                        "`{}` is a value, not a table",
                        path[..=depth].join(".")
                    )));
                }
            };
        }
        current.insert(last.to_string(), value);
    }
    Ok(())
}

fn parse_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn overrides_win_over_the_file_and_parse_as_toml() -> Result<()> {
        let text = "[optim]\nlearning_rate = 0.1\noptimizer = \"sgd\"\n";
        let sets = [
            "optim.learning_rate=0.5",
            "optim.optimizer=adamw",
            "model.conv_channels=[8, 16, 32]",
            "model.batch_norm=true",
            "data.limit=100",
        ]
        .map(String::from);
        let config = RunConfig::from_toml_str(text, "run.toml", &sets)?;
        assert_eq!(config.optim.learning_rate, 0.5);
        assert_eq!(config.optim.optimizer, OptimizerKind::Adamw);
        assert_eq!(config.model.conv_channels, vec![8, 16, 32]);
        assert!(config.model.batch_norm);
        assert_eq!(config.data.limit, Some(100));
        Ok(())
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let err =
            RunConfig::from_toml_str("[model]\nchanels = [1]\n", "run.toml", &[]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("[model]") && msg.contains("chanels"), "{msg}");
        let err =
            RunConfig::from_toml_str("", "defaults", &["optm.learning_rate=1".into()]).unwrap_err();
        assert!(err.to_string().contains("optm"), "{err}");
        let err = RunConfig::from_toml_str("", "defaults", &["optim.learning_rate=-1".into()])
            .unwrap_err();
        assert!(err.to_string().contains("optim.learning_rate"), "{err}");
        let sets = ["train.epochs=3".into(), "train.epochs.x=1".into()];
        let err = RunConfig::from_toml_str("", "defaults", &sets).unwrap_err();
        assert!(
            err.to_string().contains("`train.epochs` is a value"),
            "{err}"
        );
        let err =
            RunConfig::from_toml_str("[train]\nepochs = \"many\"\n", "run.toml", &[]).unwrap_err();
        assert!(err.to_string().contains("run.toml [train]"), "{err}");
        let err = RunConfig::from_toml_str("", "defaults", &["nokey".into()]).unwrap_err();
        assert!(err.to_string().contains("nokey"), "{err}");
    }

    #[test]
    fn params_cover_every_section_and_round_trip_through_toml() -> Result<()> {
        let config = RunConfig::default();
        let params = config.flatten_params()?;
        for section in SECTIONS {
            assert!(
                params
                    .iter()
                    .any(|(k, _)| k.starts_with(&format!("{section}."))),
                "{section}"
            );
        }
        let get = |key: &str| {
            params
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("optim.optimizer"), Some("adam"));
        assert_eq!(get("optim.learning_rate"), Some("0.001"));
        assert_eq!(get("early_stopping.monitor"), Some("val_loss"));
        assert_eq!(get("train.seed"), Some(DEFAULT_SEED.to_string().as_str()));
        let text = config.to_toml_string()?;
        assert_eq!(RunConfig::from_toml_str(&text, "round trip", &[])?, config);
        Ok(())
    }

    #[test]
    fn the_example_config_documents_the_defaults() -> Result<()> {
        let text = include_str!("../../examples/run.toml");
        assert_eq!(
            RunConfig::from_toml_str(text, "examples/run.toml", &[])?,
            RunConfig::default()
        );
        // Every key of every section appears in the example.
        for (key, _) in RunConfig::default().flatten_params()? {
            let leaf = key.rsplit('.').next().unwrap_or(&key);
            assert!(
                text.contains(&format!("{leaf} =")),
                "examples/run.toml lacks {key}"
            );
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn any_numeric_override_lands_in_its_field(lr in 1e-6f64..10.0, epochs in 1usize..1000, seed in any::<u32>()) {
            let sets = vec![
                format!("optim.learning_rate={lr:?}"),
                format!("train.epochs={epochs}"),
                format!("train.seed={seed}"),
            ];
            let config = RunConfig::from_toml_str("", "defaults", &sets).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(config.optim.learning_rate, lr);
            prop_assert_eq!(config.train.epochs, epochs);
            prop_assert_eq!(config.train.seed, seed as u64);
        }
    }
}
