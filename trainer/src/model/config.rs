//! The model's shape: the `[model]` section of the run config ([`ModelConfig`], [`Head`], their
//! defaults and checks) and what the data says about the input ([`InputShape`]).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Default channels per conv block: the reference CNN's two blocks.
pub const DEFAULT_CONV_CHANNELS: [usize; 2] = [32, 64];
/// Default conv kernel size (square).
pub const DEFAULT_KERNEL_SIZE: usize = 3;
/// Default zero padding of each conv (1 keeps the size with a 3×3 kernel).
pub const DEFAULT_PADDING: usize = 1;
/// Default max-pool window and stride after each conv block.
pub const DEFAULT_POOL_SIZE: usize = 2;
/// Default dropout rate after the conv stack.
pub const DEFAULT_CONV_DROPOUT: f64 = 0.5;
/// Default units of the dense hidden layers.
pub const DEFAULT_DENSE_UNITS: [usize; 1] = [128];
/// Default dropout rate after each dense hidden layer.
pub const DEFAULT_DENSE_DROPOUT: f64 = 0.5;
/// Largest input side that [`Head::Auto`] flattens: small images (Fashion-MNIST, CIFAR) keep
/// the reference CNN's flatten head; larger ones get global average pooling.
pub const AUTO_FLATTEN_MAX_SIDE: usize = 32;

/// How the conv features reach the dense layers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Head {
    /// [`Head::Flatten`] for inputs up to [`AUTO_FLATTEN_MAX_SIDE`] pixels a side (the reference
    /// CNN on Fashion-MNIST), [`Head::GlobalAvgPool`] above.
    #[default]
    Auto,
    /// Every conv feature of every position feeds the first dense layer: its weights grow with
    /// the input's area (64×64 photos: 2.1 M parameters in that one layer).
    Flatten,
    /// The mean of each channel over the feature map: the dense layers see one value per
    /// channel whatever the input size, as modern small CNNs do.
    GlobalAvgPool,
}

impl Head {
    /// The head used for an input of `height`×`width`: [`Head::Auto`] resolved.
    pub fn resolve(self, height: usize, width: usize) -> Head {
        match self {
            Head::Auto if height.max(width) <= AUTO_FLATTEN_MAX_SIDE => Head::Flatten,
            Head::Auto => Head::GlobalAvgPool,
            other => other,
        }
    }

    /// The config spelling (`auto`, `flatten`, `global_avg_pool`).
    pub fn as_str(self) -> &'static str {
        match self {
            Head::Auto => "auto",
            Head::Flatten => "flatten",
            Head::GlobalAvgPool => "global_avg_pool",
        }
    }
}

/// The network's shape. Defaults give the reference CNN on small inputs:
/// conv 32 → pool → conv 64 → pool → flatten → dropout → dense 128 → dropout → dense classes;
/// on inputs larger than [`AUTO_FLATTEN_MAX_SIDE`] the flatten becomes a global average pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// How the conv features reach the dense layers: `auto`, `flatten` or `global_avg_pool`.
    pub head: Head,
    /// Output channels of each conv block (conv → [batch norm] → ReLU → max-pool); may be empty.
    pub conv_channels: Vec<usize>,
    /// Square kernel size of every conv.
    pub kernel_size: usize,
    /// Zero padding on each side of every conv.
    pub padding: usize,
    /// Batch normalization after each conv (before the ReLU).
    pub batch_norm: bool,
    /// Max-pool window and stride after each conv block (1 = no pooling).
    pub pool_size: usize,
    /// Dropout rate applied to the conv features after the head, in [0, 1).
    pub conv_dropout: f64,
    /// Units of each dense hidden layer (dense → ReLU → dropout); may be empty.
    pub dense_units: Vec<usize>,
    /// Dropout rate after each dense hidden layer, in [0, 1).
    pub dense_dropout: f64,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            head: Head::Auto,
            conv_channels: DEFAULT_CONV_CHANNELS.to_vec(),
            kernel_size: DEFAULT_KERNEL_SIZE,
            padding: DEFAULT_PADDING,
            batch_norm: false,
            pool_size: DEFAULT_POOL_SIZE,
            conv_dropout: DEFAULT_CONV_DROPOUT,
            dense_units: DEFAULT_DENSE_UNITS.to_vec(),
            dense_dropout: DEFAULT_DENSE_DROPOUT,
        }
    }
}

impl ModelConfig {
    /// Checks: kernel ≥ 1, pool ≥ 1, no zero-width layer, dropout rates in [0, 1).
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, reason: &str| {
            Err(Error::ConfigValue {
                key: format!("model.{key}"),
                reason: reason.to_string(),
            })
        };
        if self.kernel_size == 0 {
            return bad("kernel_size", "must be at least 1");
        }
        if self.pool_size == 0 {
            return bad("pool_size", "must be at least 1 (1 = no pooling)");
        }
        if self.conv_channels.contains(&0) {
            return bad("conv_channels", "every block needs at least 1 channel");
        }
        if self.dense_units.contains(&0) {
            return bad("dense_units", "every dense layer needs at least 1 unit");
        }
        for (key, rate) in [
            ("conv_dropout", self.conv_dropout),
            ("dense_dropout", self.dense_dropout),
        ] {
            if !(0.0..1.0).contains(&rate) {
                return bad(key, "must be in [0, 1)");
            }
        }
        Ok(())
    }
}

/// What the data says about the model's input and output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputShape {
    /// Image channels (1 for gray).
    pub channels: usize,
    /// Image height in pixels.
    pub height: usize,
    /// Image width in pixels.
    pub width: usize,
    /// Number of classes.
    pub classes: usize,
}
