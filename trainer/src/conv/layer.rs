//! The convolution layer: [`Conv2d`] lowers a CPU convolution to unfold, one product and the
//! swap into images; other devices, dtypes and groups go to candle's own convolution.

use candle_core::{Module, Result, Tensor};
use candle_nn::Conv2dConfig;

use super::im2col::{Geometry, Unfold};
use super::product::{ToImages, WeightTimesColumns};
use crate::cpu_kernel::runs_on_cpu_kernels;

/// A 2-D convolution layer (NCHW) with the same parameters and initialization as
/// [`candle_nn::Conv2d`], computed by [`Conv2d::forward`] as `unfold` + matmul on the CPU.
#[derive(Clone, Debug)]
pub struct Conv2d {
    weight: Tensor,
    bias: Option<Tensor>,
    config: Conv2dConfig,
}

/// Builds a [`Conv2d`] from the variables `weight` `[out, in, k, k]` and `bias` `[out]` of `vb`,
/// initialized as [`candle_nn::conv2d`] does (Kaiming-normal weight, uniform bias in
/// `±1/√in_channels`), so checkpoints and seeds are interchangeable with candle-nn's layer.
pub fn conv2d(
    in_channels: usize,
    out_channels: usize,
    kernel_size: usize,
    cfg: Conv2dConfig,
    vb: candle_nn::VarBuilder,
) -> Result<Conv2d> {
    let weight = vb.get_with_hints(
        (
            out_channels,
            in_channels / cfg.groups.max(1),
            kernel_size,
            kernel_size,
        ),
        "weight",
        candle_nn::init::DEFAULT_KAIMING_NORMAL,
    )?;
    let bound = 1. / (in_channels as f64).sqrt();
    let bias = vb.get_with_hints(
        out_channels,
        "bias",
        candle_nn::Init::Uniform {
            lo: -bound,
            up: bound,
        },
    )?;
    Ok(Conv2d::new(weight, Some(bias), cfg))
}

impl Conv2d {
    /// A layer from an existing weight `[out, in / groups, kh, kw]` and optional bias `[out]`.
    pub fn new(weight: Tensor, bias: Option<Tensor>, config: Conv2dConfig) -> Self {
        Self {
            weight,
            bias,
            config,
        }
    }

    /// The weight, `[out, in / groups, kh, kw]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The bias, `[out]`, if any.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// The stride, padding, dilation and groups.
    pub fn config(&self) -> &Conv2dConfig {
        &self.config
    }

    /// Whether `x` takes the unfold + matmul path (else candle's own conv2d).
    pub(crate) fn lowers_to_matmul(&self, x: &Tensor) -> bool {
        runs_on_cpu_kernels(x)
            && self.config.groups == 1
            && x.dtype() == self.weight.dtype()
            && x.rank() == 4
    }

    /// candle's own convolution, for devices, dtypes and groups the fast path does not cover.
    fn forward_stock(&self, x: &Tensor) -> Result<Tensor> {
        let y = x.conv2d_with_algo(
            &self.weight,
            self.config.padding,
            self.config.stride,
            self.config.dilation,
            self.config.groups,
            self.config.cudnn_fwd_algo,
        )?;
        match &self.bias {
            None => Ok(y),
            Some(bias) => y.broadcast_add(&bias.reshape((1, bias.dims1()?, 1, 1))?),
        }
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if !self.lowers_to_matmul(x) {
            return self.forward_stock(x);
        }
        let (out_channels, in_channels, kh, kw) = self.weight.dims4()?;
        let geometry = Geometry::new(x.dims4()?, (kh, kw), &self.config)?;
        if in_channels != geometry.c {
            candle_core::bail!(
                "conv2d: input has {} channels, the weight expects {in_channels}",
                geometry.c
            );
        }
        let cols = x.contiguous()?.apply_op1(Unfold(geometry))?;
        let weight = self.weight.reshape((out_channels, geometry.rows()))?;
        let y = weight.apply_op2(&cols, WeightTimesColumns { images: geometry.n })?;
        let bias = match &self.bias {
            Some(bias) => bias.clone(),
            None => Tensor::zeros(out_channels, x.dtype(), x.device())?,
        };
        y.apply_op2(
            &bias,
            ToImages {
                channels: out_channels,
                images: geometry.n,
                oh: geometry.oh,
                ow: geometry.ow,
            },
        )
    }
}
