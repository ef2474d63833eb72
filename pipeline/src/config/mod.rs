//! Configuration: the `[data]`, `[transforms]` and `[loader]` tables of a run config, plus `seed`.
//!
//! A run config file holds tables the pipeline does not own (`[model]`, `[optim]`, ...);
//! [`PipelineConfig::from_toml_str`] reads only its own tables and ignores the others, but every
//! table it owns denies unknown keys, so a typo is an error naming the key.
//!
//! ```toml
//! seed = 7
//! [data]
//! path = "data/fashion-mnist-mini"
//! val_fraction = 0.1
//! [transforms]
//! augment = "standard"          # "none" | "standard" | "custom" (uses `train`)
//! normalize = "dataset"         # "none" | "imagenet" | "dataset" | { mean = [..], std = [..] }
//! train = [{ op = "random_crop", size = 28, padding = 2 }, { op = "hflip", p = 0.5 }]
//! [loader]
//! batch_size = 64
//! ```
//!
//! One file per table: [`data`](DataConfig), [`transforms`](TransformsConfig) (with the
//! transforms themselves, [`TransformSpec`]), [`loader`](LoaderConfig); [`PipelineConfig`] holds
//! them with the seed.

mod data;
mod loader;
mod run;
mod transform_spec;
mod transforms;

pub use data::*;
pub use loader::*;
pub use run::*;
pub use transform_spec::*;
pub use transforms::*;
