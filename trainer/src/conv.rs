//! 2-D convolution whose forward pass and both gradients are matrix products.
//!
//! candle 0.11's CPU convolution backward is slow: the input gradient goes through a direct
//! `conv_transpose2d` loop and the input gradient of the first layer is computed although
//! nothing needs it. [`Conv2d`] instead lowers the convolution to one matrix product on candle's
//! gemm:
//!
//! ```text
//! x [N, C, H, W] --unfold--> cols [C·kh·kw, N·oh·ow]
//! weight [O, C·kh·kw] · cols --> y [O, N·oh·ow] --to_images (+ bias)--> [N, O, oh, ow]
//! ```
//!
//! `unfold` (im2col) and `fold` (col2im) are candle custom ops, each the other's backward; the
//! product is a custom op on candle's gemm whose backward is two more gemms, the weight gradient
//! `dy · colsᵀ` and the column gradient `weightᵀ · dy`, each computed only when its operand is
//! tracked. When the input is not tracked (the first layer's images), `unfold`'s result is not
//! tracked either, so neither the column gradient nor `fold` ever runs. The loops run on
//! rayon's pool, the one candle's gemm uses, so `RAYON_NUM_THREADS` bounds both.
//!
//! The fast path covers `f32`/`f64` tensors on the CPU with `groups == 1`; anything else falls
//! back to candle's own [`Tensor::conv2d`], so the same model runs on CUDA.
//!
//! ```
//! use candle_core::{DType, Device, Module, Tensor};
//! use candle_nn::{Conv2dConfig, VarBuilder, VarMap};
//!
//! let varmap = VarMap::new();
//! let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
//! let cfg = Conv2dConfig { padding: 1, ..Default::default() };
//! let conv = trainer::conv::conv2d(1, 8, 3, cfg, vb.pp("conv1"))?;
//! let x = Tensor::zeros((2, 1, 28, 28), DType::F32, &Device::Cpu)?;
//! assert_eq!(conv.forward(&x)?.dims(), &[2, 8, 28, 28]);
//! # Ok::<(), candle_core::Error>(())
//! ```

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Module, Result, Shape, Tensor};
use candle_nn::Conv2dConfig;
use rayon::prelude::*;

use crate::cpu_kernel::{Element, Kernel1, Kernel2, run1, run2, runs_on_cpu_kernels};

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
        let y = weight.apply_op2(&cols, WeightTimesColumns)?;
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

/// Shape arithmetic of one convolution: input `[n, c, h, w]`, kernel `kh × kw`, output
/// `oh × ow` pixels per image and channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub(crate) n: usize,
    pub(crate) c: usize,
    pub(crate) h: usize,
    pub(crate) w: usize,
    kh: usize,
    kw: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
    pub(crate) oh: usize,
    pub(crate) ow: usize,
}

impl Geometry {
    /// The geometry of a convolution of an `[n, c, h, w]` input with a `kh × kw` kernel.
    ///
    /// Fails when the stride or dilation is 0, or the dilated kernel does not fit the padded
    /// input.
    pub fn new(
        (n, c, h, w): (usize, usize, usize, usize),
        (kh, kw): (usize, usize),
        cfg: &Conv2dConfig,
    ) -> Result<Self> {
        let (stride, padding, dilation) = (cfg.stride, cfg.padding, cfg.dilation);
        if stride == 0 || dilation == 0 || kh == 0 || kw == 0 {
            candle_core::bail!(
                "conv2d: stride {stride}, dilation {dilation} and kernel {kh}x{kw} must be positive"
            );
        }
        let extent = |input: usize, k: usize| {
            let span = dilation * (k - 1) + 1;
            (input + 2 * padding)
                .checked_sub(span)
                .map(|room| room / stride + 1)
        };
        match (extent(h, kh), extent(w, kw)) {
            (Some(oh), Some(ow)) => Ok(Self {
                n,
                c,
                h,
                w,
                kh,
                kw,
                stride,
                padding,
                dilation,
                oh,
                ow,
            }),
            _ => candle_core::bail!(
                "conv2d: kernel {kh}x{kw} (dilation {dilation}) larger than the {h}x{w} input \
                 padded by {padding}"
            ),
        }
    }

    /// The output size `(oh, ow)` per image and channel.
    pub fn out_size(&self) -> (usize, usize) {
        (self.oh, self.ow)
    }

    /// Rows of the column matrix: `c · kh · kw`.
    pub(crate) fn rows(&self) -> usize {
        self.c * self.kh * self.kw
    }

    /// Output pixels per image and channel: `oh · ow`.
    pub(crate) fn pixels(&self) -> usize {
        self.oh * self.ow
    }

    /// Elements of one input image: `c · h · w`.
    pub(crate) fn image_len(&self) -> usize {
        self.c * self.h * self.w
    }

    /// The outputs `lo..hi` (of `out_len`) whose input coordinate `o · stride + offset -
    /// padding` lies in `0..in_len`, where `offset` is the kernel tap times the dilation.
    fn valid_outputs(&self, out_len: usize, in_len: usize, offset: usize) -> (usize, usize) {
        let s = self.stride;
        let lo = self.padding.saturating_sub(offset).div_ceil(s);
        let hi = (in_len + self.padding)
            .saturating_sub(offset)
            .div_ceil(s)
            .min(out_len);
        (lo.min(hi), hi)
    }

    /// The input coordinate read by output `o` at kernel offset `offset` (a valid output).
    fn input_at(&self, o: usize, offset: usize) -> usize {
        o * self.stride + offset - self.padding
    }

    /// For kernel tap `(i, j)`: the valid output rows and columns.
    fn tap_ranges(&self, i: usize, j: usize) -> ((usize, usize), (usize, usize)) {
        let d = self.dilation;
        (
            self.valid_outputs(self.oh, self.h, i * d),
            self.valid_outputs(self.ow, self.w, j * d),
        )
    }
}

/// im2col of a contiguous `[n, c, h, w]` input into `[c·kh·kw, n·oh·ow]` columns.
fn unfold_slice<T: Element>(g: &Geometry, x: &[T]) -> Vec<T> {
    let width = g.n * g.pixels();
    let mut cols = vec![T::default(); g.rows() * width];
    if width == 0 {
        return cols;
    }
    cols.par_chunks_mut(width)
        .enumerate()
        .for_each(|(row, dst)| {
            let (c, tap) = (row / (g.kh * g.kw), row % (g.kh * g.kw));
            let (i, j) = (tap / g.kw, tap % g.kw);
            let ((ylo, yhi), (xlo, xhi)) = g.tap_ranges(i, j);
            if xlo >= xhi {
                // This tap reads only padding: its row stays zero.
                return;
            }
            let x_offset = j * g.dilation;
            for (image, dst) in dst.chunks_exact_mut(g.pixels()).enumerate() {
                let plane = &x[(image * g.c + c) * g.h * g.w..][..g.h * g.w];
                for oy in ylo..yhi {
                    let src = &plane[g.input_at(oy, i * g.dilation) * g.w..][..g.w];
                    let dst = &mut dst[oy * g.ow..][xlo..xhi];
                    if g.stride == 1 {
                        dst.copy_from_slice(&src[xlo + x_offset - g.padding..][..xhi - xlo]);
                    } else {
                        let src = src[g.input_at(xlo, x_offset)..].iter().step_by(g.stride);
                        dst.iter_mut().zip(src).for_each(|(d, s)| *d = *s);
                    }
                }
            }
        });
    cols
}

/// col2im: sums `[c·kh·kw, n·oh·ow]` columns back into a `[n, c, h, w]` image batch.
fn fold_slice<T: Element>(g: &Geometry, cols: &[T]) -> Vec<T> {
    let width = g.n * g.pixels();
    let mut x = vec![T::default(); g.n * g.image_len()];
    if g.image_len() == 0 {
        return x;
    }
    x.par_chunks_mut(g.image_len())
        .enumerate()
        .for_each(|(image, dst)| {
            for (c, plane) in dst.chunks_exact_mut(g.h * g.w).enumerate() {
                for i in 0..g.kh {
                    for j in 0..g.kw {
                        let row = (c * g.kh + i) * g.kw + j;
                        let src = &cols[row * width + image * g.pixels()..][..g.pixels()];
                        let ((ylo, yhi), (xlo, xhi)) = g.tap_ranges(i, j);
                        if xlo >= xhi {
                            continue; // this tap reads only padding
                        }
                        let x_offset = j * g.dilation;
                        for oy in ylo..yhi {
                            let line = &mut plane[g.input_at(oy, i * g.dilation) * g.w..][..g.w];
                            let src = &src[oy * g.ow..][xlo..xhi];
                            if g.stride == 1 {
                                let line = &mut line[xlo + x_offset - g.padding..][..xhi - xlo];
                                line.iter_mut().zip(src).for_each(|(d, s)| *d = *d + *s);
                            } else {
                                let line = line[g.input_at(xlo, x_offset)..].iter_mut();
                                line.step_by(g.stride)
                                    .zip(src)
                                    .for_each(|(d, s)| *d = *d + *s);
                            }
                        }
                    }
                }
            }
        });
    x
}

/// im2col as a candle op: `[n, c, h, w]` → `[c·kh·kw, n·oh·ow]`; its backward is [`Fold`].
#[derive(Clone, Copy, Debug)]
pub struct Unfold(
    /// The convolution this unfolds for.
    pub Geometry,
);

impl Kernel1 for Unfold {
    fn run<T: Element>(&self, x: &[T]) -> Vec<T> {
        unfold_slice(&self.0, x)
    }
}

impl CustomOp1 for Unfold {
    fn name(&self) -> &'static str {
        "conv-unfold"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = &self.0;
        let cols = run1(self, self.name(), (storage, layout), g.n * g.image_len())?;
        Ok((cols, Shape::from((g.rows(), g.n * g.pixels()))))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.contiguous()?.apply_op1(Fold(self.0))?))
    }
}

/// col2im as a candle op: `[c·kh·kw, n·oh·ow]` → `[n, c, h, w]`, summing overlapping
/// windows; its backward is [`Unfold`].
#[derive(Clone, Copy, Debug)]
pub struct Fold(
    /// The convolution this folds for.
    pub Geometry,
);

impl Kernel1 for Fold {
    fn run<T: Element>(&self, cols: &[T]) -> Vec<T> {
        fold_slice(&self.0, cols)
    }
}

impl CustomOp1 for Fold {
    fn name(&self) -> &'static str {
        "conv-fold"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = &self.0;
        let x = run1(
            self,
            self.name(),
            (storage, layout),
            g.rows() * g.n * g.pixels(),
        )?;
        Ok((x, Shape::from((g.n, g.c, g.h, g.w))))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.contiguous()?.apply_op1(Unfold(self.0))?))
    }
}

/// `weight [o, k] · cols [k, n]` on candle's gemm, whose backward computes only the gradients
/// of tracked operands: the first layer's column gradient `weightᵀ · dy` is never computed
/// (candle's own matmul backward always computes both).
#[derive(Clone, Copy, Debug)]
struct WeightTimesColumns;

impl CustomOp2 for WeightTimesColumns {
    fn name(&self) -> &'static str {
        "conv-weight-times-columns"
    }

    fn cpu_fwd(
        &self,
        weight: &CpuStorage,
        weight_layout: &Layout,
        cols: &CpuStorage,
        cols_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let ((m, k), (k2, n)) = (weight_layout.shape().dims2()?, cols_layout.shape().dims2()?);
        if k != k2 {
            candle_core::bail!(
                "{}: weight [{m}, {k}] times columns [{k2}, {n}]",
                self.name()
            );
        }
        let y = weight.matmul(cols, (1, m, n, k), weight_layout, cols_layout)?;
        Ok((y, Shape::from((m, n))))
    }

    fn bwd(
        &self,
        weight: &Tensor,
        cols: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad_weight = match weight.track_op() {
            true => Some(grad.matmul(&cols.t()?)?),
            false => None,
        };
        let grad_cols = match cols.track_op() {
            true => Some(weight.t()?.matmul(grad)?),
            false => None,
        };
        Ok((grad_weight, grad_cols))
    }
}

/// Swaps the two leading axes of a contiguous `[a, b, p]` array into `[b, a, p]`, adding
/// `bias[i]` to every element of `src[i]` when `bias` is not empty.
fn swap_leading<T: Element>(src: &[T], (a, b, p): (usize, usize, usize), bias: &[T]) -> Vec<T> {
    let mut dst = vec![T::default(); a * b * p];
    if a * p == 0 {
        return dst;
    }
    dst.par_chunks_mut(a * p)
        .enumerate()
        .for_each(|(outer, dst)| {
            for (inner, dst) in dst.chunks_exact_mut(p).enumerate() {
                let src = &src[(inner * b + outer) * p..][..p];
                match bias.get(inner) {
                    Some(&bias) => dst.iter_mut().zip(src).for_each(|(d, s)| *d = *s + bias),
                    None => dst.copy_from_slice(src),
                }
            }
        });
    dst
}

/// The matmul result `[channels, images·oh·ow]` plus `bias[channels]`, as an image batch
/// `[images, channels, oh, ow]`; its backward swaps the gradient back with [`ToColumns`].
#[derive(Clone, Copy, Debug)]
struct ToImages {
    channels: usize,
    images: usize,
    oh: usize,
    ow: usize,
}

impl ToImages {
    fn len(&self) -> usize {
        self.channels * self.images * self.oh * self.ow
    }
}

impl Kernel2 for ToImages {
    fn run<T: Element>(&self, y: &[T], bias: &[T]) -> Vec<T> {
        swap_leading(y, (self.channels, self.images, self.oh * self.ow), bias)
    }
}

impl CustomOp2 for ToImages {
    fn name(&self) -> &'static str {
        "conv-to-images"
    }

    fn cpu_fwd(
        &self,
        y: &CpuStorage,
        y_layout: &Layout,
        bias: &CpuStorage,
        bias_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let images = run2(
            self,
            self.name(),
            (y, y_layout, self.len()),
            (bias, bias_layout, self.channels),
        )?;
        Ok((
            images,
            Shape::from((self.images, self.channels, self.oh, self.ow)),
        ))
    }

    fn bwd(
        &self,
        _y: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad_y = grad.contiguous()?.apply_op1_no_bwd(&ToColumns(*self))?;
        let grad_bias = if bias.track_op() {
            Some(grad_y.sum(1)?)
        } else {
            None
        };
        Ok((Some(grad_y), grad_bias))
    }
}

/// The inverse of [`ToImages`] without the bias: `[images, channels, oh, ow]` →
/// `[channels, images·oh·ow]`.
#[derive(Clone, Copy, Debug)]
struct ToColumns(ToImages);

impl Kernel1 for ToColumns {
    fn run<T: Element>(&self, images: &[T]) -> Vec<T> {
        let g = &self.0;
        swap_leading(images, (g.images, g.channels, g.oh * g.ow), &[])
    }
}

impl CustomOp1 for ToColumns {
    fn name(&self) -> &'static str {
        "conv-to-columns"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = &self.0;
        let cols = run1(self, self.name(), (storage, layout), g.len())?;
        Ok((cols, Shape::from((g.channels, g.images * g.oh * g.ow))))
    }
}
