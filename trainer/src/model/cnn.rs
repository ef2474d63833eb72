//! The CNN: conv blocks, dropout, dense layers and a classifier, built from a [`ModelConfig`].
//!
//! Weights are initialized from a seeded RNG (PyTorch's default: uniform in ±1/√fan_in) and
//! dropout masks are drawn from a seeded RNG too, so the same seed gives the same run; candle's
//! own CPU RNG cannot be seeded.

use std::sync::Mutex;

use candle_core::{DType, Device, Module, ModuleT, Tensor};
use candle_nn::{BatchNorm, Conv2dConfig, Linear, VarBuilder, VarMap};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::config::{Head, InputShape, ModelConfig};
use super::init::{seeded_linear, seeded_uniform, trainable_vars};
use crate::error::{Error, Result};

/// The conv layer the model uses: im2col + gemm with its own backward (see [`crate::conv`]).
type ConvLayer = crate::conv::Conv2d;

struct ConvBlock {
    conv: ConvLayer,
    norm: Option<BatchNorm>,
}

/// A CNN built from a [`ModelConfig`]; its weights live in the [`VarMap`] it was built with.
pub struct Cnn {
    blocks: Vec<ConvBlock>,
    head: Head,
    pool_size: usize,
    conv_dropout: f32,
    dense: Vec<Linear>,
    dense_dropout: f32,
    classifier: Linear,
    dropout_rng: Mutex<ChaCha8Rng>,
    num_params: usize,
}

impl std::fmt::Debug for Cnn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cnn")
            .field("conv_blocks", &self.blocks.len())
            .field("head", &self.head)
            .field("dense_layers", &self.dense.len())
            .field("num_params", &self.num_params)
            .finish()
    }
}

impl Cnn {
    /// Builds the model for `input`, creating its variables in `varmap` on `device`.
    ///
    /// Variables already in `varmap` (same name and shape) are reused, so a model built into a
    /// map loaded from a checkpoint continues from it. New weights are drawn from `seed`.
    /// Fails when the conv stack shrinks the image to nothing.
    pub fn new(
        config: &ModelConfig,
        input: InputShape,
        varmap: &VarMap,
        device: &Device,
        seed: u64,
    ) -> Result<Self> {
        config.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let vb = VarBuilder::from_varmap(varmap, DType::F32, device);
        let (k, pad, pool) = (config.kernel_size, config.padding, config.pool_size);
        let (mut channels, mut height, mut width) = (input.channels, input.height, input.width);
        let mut blocks = Vec::with_capacity(config.conv_channels.len());
        for (i, &out) in config.conv_channels.iter().enumerate() {
            let name = format!("conv{i}");
            let fan_in = channels * k * k;
            seeded_uniform(
                varmap,
                &format!("{name}.weight"),
                &[out, channels, k, k],
                fan_in,
                device,
                &mut rng,
            )?;
            seeded_uniform(
                varmap,
                &format!("{name}.bias"),
                &[out],
                fan_in,
                device,
                &mut rng,
            )?;
            let cfg = Conv2dConfig {
                padding: pad,
                ..Default::default()
            };
            let conv = crate::conv::conv2d(channels, out, k, cfg, vb.pp(&name))?;
            let norm = if config.batch_norm {
                Some(candle_nn::batch_norm(
                    out,
                    candle_nn::BatchNormConfig::default(),
                    vb.pp(format!("bn{i}")),
                )?)
            } else {
                None
            };
            blocks.push(ConvBlock { conv, norm });
            let conv_out = |size: usize| (size + 2 * pad).checked_sub(k).map(|s| s + 1);
            let (h, w) = match (conv_out(height), conv_out(width)) {
                (Some(h), Some(w)) if h / pool > 0 && w / pool > 0 => (h / pool, w / pool),
                _ => {
                    return Err(Error::ConfigValue {
                        key: "model.conv_channels".into(),
                        reason: format!(
                            "block {i} shrinks the {}x{} input to nothing: use fewer blocks, more padding or a smaller pool",
                            input.height, input.width
                        ),
                    });
                }
            };
            (channels, height, width) = (out, h, w);
        }
        let head = config.head.resolve(input.height, input.width);
        let mut features = match head {
            Head::GlobalAvgPool => channels,
            Head::Flatten | Head::Auto => channels * height * width,
        };
        let mut dense = Vec::with_capacity(config.dense_units.len());
        for (i, &units) in config.dense_units.iter().enumerate() {
            dense.push(seeded_linear(
                varmap,
                &vb,
                &format!("dense{i}"),
                features,
                units,
                device,
                &mut rng,
            )?);
            features = units;
        }
        let classifier = seeded_linear(
            varmap,
            &vb,
            "classifier",
            features,
            input.classes,
            device,
            &mut rng,
        )?;
        let num_params = trainable_vars(varmap)
            .iter()
            .map(|(_, v)| v.elem_count())
            .sum();
        Ok(Self {
            blocks,
            head,
            pool_size: pool,
            conv_dropout: config.conv_dropout as f32,
            dense,
            dense_dropout: config.dense_dropout as f32,
            classifier,
            dropout_rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_d20b)),
            num_params,
        })
    }

    /// Number of trainable parameters (421,642 for the reference CNN on 28×28×1, 10 classes).
    pub fn num_params(&self) -> usize {
        self.num_params
    }

    /// The head in use ([`Head::Auto`] resolved for the input).
    pub fn head(&self) -> Head {
        self.head
    }

    /// Restarts the dropout masks' RNG: the fit loop calls it at each epoch with (seed, epoch),
    /// so a resumed run draws the same masks as an uninterrupted one.
    pub fn reseed_dropout(&self, seed: u64) {
        if let Ok(mut rng) = self.dropout_rng.lock() {
            *rng = ChaCha8Rng::seed_from_u64(seed);
        }
    }

    fn dropout(&self, xs: &Tensor, rate: f32, train: bool) -> candle_core::Result<Tensor> {
        if !train || rate == 0.0 {
            return Ok(xs.clone());
        }
        let keep = 1.0 - rate;
        let scale = 1.0 / keep;
        let mask: Vec<f32> = {
            let mut rng = self
                .dropout_rng
                .lock()
                .map_err(|_| candle_core::Error::Msg("dropout RNG lock poisoned".into()))?;
            // `scale` or 0 without a branch: which it is is a coin toss, and a mispredicted
            // branch per element cost more than drawing the number.
            (0..xs.elem_count())
                .map(|_| f32::from(u8::from(rng.random::<f32>() < keep)) * scale)
                .collect()
        };
        let mask = Tensor::from_vec(mask, xs.shape(), xs.device())?;
        xs.mul(&mask)
    }
}

impl ModuleT for Cnn {
    fn forward_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let mut xs = xs.clone();
        for block in &self.blocks {
            let Some(norm) = &block.norm else {
                xs = crate::conv_block::conv_relu_pool(&xs, &block.conv, self.pool_size)?;
                continue;
            };
            xs = norm.forward_t(&block.conv.forward(&xs)?, train)?;
            xs = crate::activation::relu(&xs)?;
            if self.pool_size > 1 {
                xs = crate::pool::max_pool2d(&xs, self.pool_size)?;
            }
        }
        let features = match self.head {
            Head::GlobalAvgPool => xs.flatten_from(2)?.mean(2)?,
            Head::Flatten | Head::Auto => xs.flatten_from(1)?,
        };
        let mut xs = self.dropout(&features, self.conv_dropout, train)?;
        for layer in &self.dense {
            xs = self.dropout(
                &crate::activation::relu(&layer.forward(&xs)?)?,
                self.dense_dropout,
                train,
            )?;
        }
        self.classifier.forward(&xs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::is_trainable;

    const FMNIST: InputShape = InputShape {
        channels: 1,
        height: 28,
        width: 28,
        classes: 10,
    };

    #[test]
    fn reference_cnn_has_the_pytorch_parameter_count() -> Result<()> {
        let varmap = VarMap::new();
        let model = Cnn::new(&ModelConfig::default(), FMNIST, &varmap, &Device::Cpu, 0)?;
        assert_eq!(model.num_params(), 421_642);
        let logits = model.forward_t(
            &Tensor::zeros((3, 1, 28, 28), DType::F32, &Device::Cpu)?,
            true,
        )?;
        assert_eq!(logits.dims(), &[3, 10]);
        Ok(())
    }

    #[test]
    fn same_seed_same_weights_and_batch_norm_stats_are_not_trainable() -> Result<()> {
        let config = ModelConfig {
            batch_norm: true,
            ..ModelConfig::default()
        };
        let (a, b) = (VarMap::new(), VarMap::new());
        Cnn::new(&config, FMNIST, &a, &Device::Cpu, 7)?;
        Cnn::new(&config, FMNIST, &b, &Device::Cpu, 7)?;
        let (va, vb) = (trainable_vars(&a), trainable_vars(&b));
        assert!(va.iter().all(|(n, _)| is_trainable(n)));
        assert!(va.iter().any(|(n, _)| n == "bn0.weight"));
        for ((na, ta), (nb, tb)) in va.iter().zip(&vb) {
            assert_eq!(na, nb);
            let diff = ta.sub(tb)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert_eq!(diff, 0.0, "{na}");
        }
        Ok(())
    }

    #[test]
    fn the_default_head_flattens_small_inputs_and_pools_photos() -> Result<()> {
        let photo = InputShape {
            channels: 3,
            height: 64,
            width: 64,
            classes: 3,
        };
        let config = ModelConfig::default();
        let pooled = Cnn::new(&config, photo, &VarMap::new(), &Device::Cpu, 0)?;
        assert_eq!(pooled.head(), Head::GlobalAvgPool);
        // conv 3→32, conv 32→64, dense 64→128, classifier 128→3.
        let expected = (3 * 32 * 9 + 32) + (32 * 64 * 9 + 64) + (64 * 128 + 128) + (128 * 3 + 3);
        assert_eq!(pooled.num_params(), expected);
        // The pooled head does not grow with the input; the flatten head does.
        let big = InputShape {
            height: 128,
            width: 128,
            ..photo
        };
        let pooled_big = Cnn::new(&config, big, &VarMap::new(), &Device::Cpu, 0)?;
        assert_eq!(pooled_big.num_params(), expected);
        let flatten = ModelConfig {
            head: Head::Flatten,
            ..ModelConfig::default()
        };
        let flat = Cnn::new(&flatten, photo, &VarMap::new(), &Device::Cpu, 0)?;
        assert_eq!(flat.num_params() - expected, (16 * 16 * 64 - 64) * 128);
        let logits = pooled.forward_t(
            &Tensor::zeros((2, 3, 64, 64), DType::F32, &Device::Cpu)?,
            true,
        )?;
        assert_eq!(logits.dims(), &[2, 3]);
        let small = Cnn::new(&config, FMNIST, &VarMap::new(), &Device::Cpu, 0)?;
        assert_eq!(small.head(), Head::Flatten);
        Ok(())
    }

    #[test]
    fn a_stack_that_shrinks_the_image_to_nothing_is_rejected() {
        let config = ModelConfig {
            conv_channels: vec![8; 6],
            ..ModelConfig::default()
        };
        let err = Cnn::new(&config, FMNIST, &VarMap::new(), &Device::Cpu, 0).unwrap_err();
        assert!(err.to_string().contains("model.conv_channels"), "{err}");
    }
}
