//! The CNN: conv blocks, dropout, dense layers and a classifier, built from a [`ModelConfig`].
//!
//! Weights are initialized from a seeded RNG (PyTorch's default: uniform in ±1/√fan_in) and
//! dropout masks are drawn from a seeded RNG too, so the same seed gives the same run; candle's
//! own CPU RNG cannot be seeded.
//!
//! # Layout
//! - `config`: [`ModelConfig`] and [`Head`] (the `[model]` section), [`InputShape`] (the data's).
//! - `init`: seeded weight initialization; [`trainable_vars`], [`is_trainable`].
//! - `cnn`: [`Cnn`], built from the config with those weights; its forward pass and dropout.

mod cnn;
mod config;
mod init;

pub use cnn::Cnn;
pub use config::{
    AUTO_FLATTEN_MAX_SIDE, DEFAULT_CONV_CHANNELS, DEFAULT_CONV_DROPOUT, DEFAULT_DENSE_DROPOUT,
    DEFAULT_DENSE_UNITS, DEFAULT_KERNEL_SIZE, DEFAULT_PADDING, DEFAULT_POOL_SIZE, Head, InputShape,
    ModelConfig,
};
pub use init::{is_trainable, trainable_vars};
