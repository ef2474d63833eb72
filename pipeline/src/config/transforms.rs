//! The `[transforms]` table: the augmentation preset, the output size, the training and
//! evaluation chains and the normalization.

use serde::{Deserialize, Serialize};

use super::transform_spec::TransformSpec;
use crate::error::{Error, Result};

/// Default output side for sources of varying image size (ImageFolder, manifest): small enough
/// that a CNN trains from scratch on a few hundred photos at a useful speed on a CPU (the
/// ImageNet-pretrained models' 224 costs about 12 times the compute per image).
pub const DEFAULT_FOLDER_IMAGE_SIZE: u32 = 64;
/// ImageNet per-channel mean (RGB).
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet per-channel standard deviation (RGB).
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Which augmentation the training split gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Augment {
    /// No augmentation: training gets the evaluation chain.
    None,
    /// The preset that fights overfitting for the data: small gray images (≤ 64 px) get
    /// random crop with padding 2 + horizontal flip; larger images get random resized crop +
    /// horizontal flip + rotation 15° + color jitter 0.2.
    #[default]
    Standard,
    /// The ordered list in `transforms.train`.
    Custom,
}

/// Per-channel normalization applied last: `(x / 255 - mean) / std`.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Normalize {
    /// Only scale to [0, 1].
    None,
    /// ImageNet's mean/std (RGB; their average for gray).
    Imagenet,
    /// The training split's own per-channel mean/std (one streaming pass, cached per data set).
    #[default]
    Dataset,
    /// Given per-channel values (one entry per channel, or one for all).
    Given {
        /// Means, in [0, 1] units.
        mean: Vec<f32>,
        /// Standard deviations, in [0, 1] units (> 0).
        std: Vec<f32>,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum NormalizeRepr {
    Name(String),
    Given { mean: Vec<f32>, std: Vec<f32> },
}

impl Serialize for Normalize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let repr = match self {
            Normalize::None => NormalizeRepr::Name("none".into()),
            Normalize::Imagenet => NormalizeRepr::Name("imagenet".into()),
            Normalize::Dataset => NormalizeRepr::Name("dataset".into()),
            Normalize::Given { mean, std } => NormalizeRepr::Given {
                mean: mean.clone(),
                std: std.clone(),
            },
        };
        repr.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Normalize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        match NormalizeRepr::deserialize(d).map_err(|_| {
            D::Error::custom(
                "expected \"none\", \"imagenet\", \"dataset\" or { mean = [..], std = [..] }",
            )
        })? {
            NormalizeRepr::Name(name) => match name.as_str() {
                "none" => Ok(Normalize::None),
                "imagenet" => Ok(Normalize::Imagenet),
                "dataset" => Ok(Normalize::Dataset),
                other => Err(D::Error::custom(format!(
                    "unknown normalization `{other}`: expected none, imagenet, dataset or {{ mean, std }}"
                ))),
            },
            NormalizeRepr::Given { mean, std } => Ok(Normalize::Given { mean, std }),
        }
    }
}

/// The `[transforms]` table: the training and evaluation chains and the normalization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransformsConfig {
    /// Training augmentation: `none`, `standard` (the preset for the data) or `custom` (`train`).
    pub augment: Augment,
    /// Output side in pixels; none: the native size of IDX data, [`DEFAULT_FOLDER_IMAGE_SIZE`]
    /// (64) for image files.
    pub size: Option<u32>,
    /// The ordered training chain used when `augment = "custom"` (normalization is appended).
    pub train: Vec<TransformSpec>,
    /// The deterministic evaluation chain (resize, center crop); empty: derived from `size`
    /// (image files: resize the shorter side to size·256/224, center crop `size`).
    pub eval: Vec<TransformSpec>,
    /// Per-channel normalization, last in both chains.
    pub normalize: Normalize,
}

impl Default for TransformsConfig {
    fn default() -> Self {
        TransformsConfig {
            augment: Augment::Standard,
            size: None,
            train: Vec::new(),
            eval: Vec::new(),
            normalize: Normalize::Dataset,
        }
    }
}

impl TransformsConfig {
    /// Checks every transform's parameters, that `eval` is deterministic, that `custom` has a
    /// `train` list and that given mean/std are sane.
    pub fn validate(&self) -> Result<()> {
        if self.size == Some(0) {
            return Err(Error::config("transforms.size", "must be > 0"));
        }
        for (i, t) in self.train.iter().enumerate() {
            t.validate(&format!("transforms.train[{i}]"))?;
        }
        for (i, t) in self.eval.iter().enumerate() {
            let key = format!("transforms.eval[{i}]");
            t.validate(&key)?;
            if t.is_random() {
                return Err(Error::config(
                    key,
                    "evaluation transforms must be deterministic (resize, center_crop)",
                ));
            }
        }
        if self.augment == Augment::Custom && self.train.is_empty() {
            return Err(Error::config(
                "transforms.train",
                "augment = \"custom\" needs a non-empty `train` list",
            ));
        }
        if let Normalize::Given { mean, std } = &self.normalize {
            if mean.is_empty() || mean.len() != std.len() || mean.len() > 3 {
                return Err(Error::config(
                    "transforms.normalize",
                    "mean and std need the same length: 1 or one per channel",
                ));
            }
            if std.iter().any(|s| !(*s > 0.0 && s.is_finite())) {
                return Err(Error::config(
                    "transforms.normalize.std",
                    "every std must be > 0",
                ));
            }
        }
        Ok(())
    }
}
