//! A convolution block — convolution, bias, ReLU, max pooling — as one op.
//!
//! Built from separate ops, a block leaves four full-size tensors in the autograd graph: the
//! product, the biased images, the ReLU output and, in every block after the first, the
//! column matrix. candle's backward pass accumulates the gradient of each such tensor into a
//! fresh zero tensor with one more addition, besides each op's own pass and temporaries.
//! [`conv_relu_pool`] computes the whole block in one op whose only graph inputs are the
//! block's input, weight and bias:
//!
//! ```text
//! forward:  cols = unfold(x)              [c·kh·kw, n·oh·ow]
//!           y_i  = weight · cols_i         [o, oh·ow]    (a gemm per few images, in cache)
//!           out  = maxpool(relu(y_i + b))  [n, o, oh/k, ow/k], keeping each window's winner
//! backward: dy   = the output gradient placed at the winners that passed the ReLU
//!           db   = Σ dy,  dW = Σ_images dy_i · cols_iᵀ  (a gemm per image),
//!           dx = fold(weightᵀ · dy)  (a gemm and a fold per image, only when x is tracked:
//!           never for the first block's images)
//! ```
//!
//! The result and all three gradients are those of [`crate::conv::Conv2d`] followed by
//! [`crate::activation::relu`] and [`crate::pool::max_pool2d`], ties included: a window's
//! gradient goes to its first maximum (row-major), and nowhere when that maximum is not
//! positive. Other devices and dtypes, and a layer without bias, take that composed path.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use candle_nn::{Conv2dConfig, VarBuilder, VarMap};
//!
//! let varmap = VarMap::new();
//! let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
//! let cfg = Conv2dConfig { padding: 1, ..Default::default() };
//! let conv = trainer::conv::conv2d(1, 8, 3, cfg, vb.pp("conv1"))?;
//! let x = Tensor::zeros((2, 1, 28, 28), DType::F32, &Device::Cpu)?;
//! let y = trainer::conv_block::conv_relu_pool(&x, &conv, 2)?;
//! assert_eq!(y.dims(), &[2, 8, 14, 14]);
//! # Ok::<(), candle_core::Error>(())
//! ```

use std::sync::OnceLock;

use candle_core::backend::BackendStorage;
use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, CustomOp3, Device, Layout, Module, Result, Shape, Tensor,
};
use rayon::prelude::*;

use crate::conv::{Conv2d, Geometry, Unfold, WeightGradient, fold_image};
use crate::cpu_kernel::{
    Element, Kernel1, Kernel2, Strided, contiguous, filled, product, run1, run2, zeros,
};

/// A window whose maximum is not positive: the ReLU passes it no gradient.
const NO_WINNER: u32 = u32::MAX;

/// The size of the product one forward task computes and pools while it is in cache (see
/// [`ConvReluPool::forward`]).
const PRODUCT_BYTES: usize = 128 << 10;

/// Images whose product one forward task computes and pools: as many as keep the product
/// `[o, images·oh·ow]`, `product_len` elements an image, within [`PRODUCT_BYTES`]; at least one.
fn images_per_product<T>(product_len: usize) -> usize {
    (PRODUCT_BYTES / (product_len * std::mem::size_of::<T>()).max(1)).max(1)
}

/// `max_pool2d(relu(conv(x)), pool)`: the convolution block of a CNN, `[n, c, h, w]` →
/// `[n, o, oh / pool, ow / pool]` (windows `pool × pool`, stride `pool`, trailing rows and
/// columns dropped; `pool == 1` is no pooling).
///
/// Fails when `pool` is 0 or larger than the convolution's output.
pub fn conv_relu_pool(x: &Tensor, conv: &Conv2d, pool: usize) -> Result<Tensor> {
    let (out_channels, in_channels, kh, kw) = conv.weight().dims4()?;
    let geometry = match conv.lowers_to_matmul(x) {
        true => Some(Geometry::new(x.dims4()?, (kh, kw), conv.config())?),
        false => None,
    };
    let (Some(g), Some(bias)) = (geometry, conv.bias()) else {
        return composed(x, conv, pool);
    };
    if pool == 0 || pool > g.oh || pool > g.ow {
        candle_core::bail!(
            "conv block: pool {pool} on a {}x{} convolution output",
            g.oh,
            g.ow
        );
    }
    if in_channels != g.c {
        candle_core::bail!(
            "conv2d: input has {} channels, the weight expects {in_channels}",
            g.c
        );
    }
    if g.pixels() >= NO_WINNER as usize {
        return composed(x, conv, pool);
    }
    let op = ConvReluPool {
        g,
        out_channels,
        pool,
        saved: OnceLock::new(),
    };
    x.contiguous()?
        .apply_op3(&conv.weight().contiguous()?, &bias.contiguous()?, op)
}

/// The same block from separate ops.
fn composed(x: &Tensor, conv: &Conv2d, pool: usize) -> Result<Tensor> {
    let y = crate::activation::relu(&conv.forward(x)?)?;
    match pool {
        1 => Ok(y),
        _ => crate::pool::max_pool2d(&y, pool),
    }
}

/// The fused block; `saved` holds what the forward pass leaves for the backward one.
#[derive(Debug)]
struct ConvReluPool {
    g: Geometry,
    out_channels: usize,
    pool: usize,
    saved: OnceLock<Saved>,
}

/// The column matrix (for the weight gradient) and, per output, its window's winner: the
/// offset of the first maximum in its `oh × ow` plane, or [`NO_WINNER`].
#[derive(Debug)]
struct Saved {
    cols: Tensor,
    winners: Vec<u32>,
}

impl ConvReluPool {
    /// Pooled rows per plane.
    fn ph(&self) -> usize {
        self.g.oh / self.pool
    }

    /// Pooled columns per plane.
    fn pw(&self) -> usize {
        self.g.ow / self.pool
    }

    /// Elements of one pooled output plane.
    fn pooled_len(&self) -> usize {
        self.ph() * self.pw()
    }

    /// Elements of the output `[n, o, ph, pw]`.
    fn output_len(&self) -> usize {
        self.g.n * self.out_channels * self.pooled_len()
    }

    /// Columns of the product `y`: `n · oh · ow`.
    fn width(&self) -> usize {
        self.g.n * self.g.pixels()
    }

    /// `maxpool(relu(weight · cols + bias))`, with each window's winner, a few images at a
    /// time: each task multiplies the weight by its images' columns into a product of its own,
    /// `[o, images·oh·ow]` of at most [`PRODUCT_BYTES`] (one image, 100 KB, in the reference
    /// CNN's first block; two, 50 KB each, in its second), and pools it while it is in cache.
    /// One product over the whole batch instead wrote `[o, n·oh·ow]` (6.4 MB in the first block)
    /// to memory and read it back. `cargo bench --bench conv`, batch 64, 2 cores of an AMD EPYC
    /// Zen 4, the bench binaries alternating: the first block's forward pass took 1.03–1.50 ms
    /// against 0.75–0.85, the second's 4.4–6.5 against 4.2–5.2 (a noisy host).
    fn forward<T: Element>(&self, weight: &[T], cols: &[T], bias: &[T]) -> (Vec<T>, Vec<u32>) {
        let (g, o, plane) = (&self.g, self.out_channels, self.pooled_len());
        let (rows, pixels, width) = (g.rows(), g.pixels(), self.width());
        let mut out = zeros::<T>(self.output_len());
        let mut winners = filled(self.output_len(), NO_WINNER);
        if o * plane == 0 {
            return (out, winners);
        }
        assert!(weight.len() == o * rows && cols.len() == rows * width && bias.len() == o);
        let group = images_per_product::<T>(o * pixels);
        let span = group * pixels;
        out.par_chunks_mut(group * o * plane)
            .zip(winners.par_chunks_mut(group * o * plane))
            .enumerate()
            .for_each_init(
                || zeros::<T>(o * span),
                |y, (task, (out, winners))| {
                    // The group's images (the last group may be short) and their columns, which
                    // lie side by side in each row of `cols`.
                    let images = out.len() / (o * plane);
                    let n = images * pixels;
                    if rows > 0 {
                        #[allow(unsafe_code)]
                        // SAFETY: gemm writes y (i, j) at `i·n + j` < o·n <= y.len(), reads
                        // weight (i, p) at `i·rows + p` < o·rows = weight.len() and cols (p, j)
                        // at `p·width + task·span + j` < rows·width = cols.len() (the group's
                        // columns end at or before the row's end); y is this task's own buffer.
                        unsafe {
                            product(
                                (o, n, rows),
                                (y.as_mut_ptr(), n),
                                Strided {
                                    at: weight.as_ptr(),
                                    row: rows,
                                    col: 1,
                                },
                                Strided {
                                    at: cols.as_ptr().add(task * span),
                                    row: width,
                                    col: 1,
                                },
                                false,
                            );
                        }
                    }
                    let planes = out
                        .chunks_exact_mut(plane)
                        .zip(winners.chunks_exact_mut(plane));
                    for (index, (out, winners)) in planes.enumerate() {
                        let (image, channel) = (index / o, index % o);
                        let src = &y[channel * n + image * pixels..][..pixels];
                        let rows = out
                            .chunks_exact_mut(self.pw())
                            .zip(winners.chunks_exact_mut(self.pw()));
                        for (py, (out, winners)) in rows.enumerate() {
                            match self.pool {
                                2 => self.pool_row_2x2(src, bias[channel], py, out, winners),
                                _ => self.pool_row(src, bias[channel], py, out, winners),
                            }
                        }
                    }
                },
            );
        (out, winners)
    }

    /// One pooled row `py` of any window size: each window's first maximum (row-major) of
    /// `src + b`, kept with its offset in the plane when positive.
    fn pool_row<T: Element>(&self, src: &[T], b: T, py: usize, out: &mut [T], wins: &mut [u32]) {
        let (k, ow) = (self.pool, self.g.ow);
        for (px, (out, winner)) in out.iter_mut().zip(wins).enumerate() {
            let first = py * k * ow + px * k;
            let mut best = (first, src[first] + b);
            for row in (0..k).map(|dy| first + dy * ow) {
                for (at, &v) in src[row..row + k].iter().enumerate() {
                    let v = v + b;
                    if v > best.1 {
                        best = (row + at, v);
                    }
                }
            }
            if best.1 > T::default() {
                *out = best.1;
                *winner = best.0 as u32;
            }
        }
    }

    /// [`Self::pool_row`] for 2×2 windows, the common case, written without data-dependent
    /// branches: which of a window's four values wins is as good as random, and a mispredicted
    /// branch per comparison cost more than the rest of the block's forward pass.
    fn pool_row_2x2<T: Element>(
        &self,
        src: &[T],
        b: T,
        py: usize,
        out: &mut [T],
        wins: &mut [u32],
    ) {
        let ow = self.g.ow;
        let top = &src[2 * py * ow..][..2 * out.len()];
        let bottom = &src[(2 * py + 1) * ow..][..2 * out.len()];
        let windows = top.chunks_exact(2).zip(bottom.chunks_exact(2));
        for (px, ((out, winner), (t, d))) in out.iter_mut().zip(wins).zip(windows).enumerate() {
            // Strictly greater replaces, so ties keep the first in row-major order.
            let (mut best, mut at) = (t[0] + b, 0);
            for (v, offset) in [(t[1] + b, 1), (d[0] + b, ow), (d[1] + b, ow + 1)] {
                let better = v > best;
                best = if better { v } else { best };
                at = if better { offset } else { at };
            }
            let positive = best > T::default();
            *out = if positive { best } else { T::default() };
            let first = 2 * py * ow + 2 * px;
            *winner = if positive {
                (first + at) as u32
            } else {
                NO_WINNER
            };
        }
    }
}

impl CustomOp3 for ConvReluPool {
    fn name(&self) -> &'static str {
        "conv-relu-pool"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_layout: &Layout,
        weight: &CpuStorage,
        weight_layout: &Layout,
        bias: &CpuStorage,
        bias_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (g, o) = (&self.g, self.out_channels);
        let cols = run1(&Unfold(*g), self.name(), (x, x_layout), g.n * g.image_len())?;
        let (weight_len, name) = (o * g.rows(), self.name());
        let (out, winners) = match (&cols, weight, bias) {
            (CpuStorage::F32(cols), CpuStorage::F32(weight), CpuStorage::F32(bias)) => {
                let (out, winners) = self.forward(
                    contiguous(weight, weight_layout, weight_len, name)?,
                    cols,
                    contiguous(bias, bias_layout, o, name)?,
                );
                (CpuStorage::F32(out), winners)
            }
            (CpuStorage::F64(cols), CpuStorage::F64(weight), CpuStorage::F64(bias)) => {
                let (out, winners) = self.forward(
                    contiguous(weight, weight_layout, weight_len, name)?,
                    cols,
                    contiguous(bias, bias_layout, o, name)?,
                );
                (CpuStorage::F64(out), winners)
            }
            (cols, weight, bias) => candle_core::bail!(
                "{}: unsupported dtypes {:?}, {:?} and {:?}",
                self.name(),
                cols.dtype(),
                weight.dtype(),
                bias.dtype()
            ),
        };
        let shape = (g.rows(), self.width());
        let cols = match cols {
            CpuStorage::F32(cols) => Tensor::from_vec(cols, shape, &Device::Cpu)?,
            CpuStorage::F64(cols) => Tensor::from_vec(cols, shape, &Device::Cpu)?,
            other => candle_core::bail!("{}: unsupported dtype {:?}", self.name(), other.dtype()),
        };
        if self.saved.set(Saved { cols, winners }).is_err() {
            candle_core::bail!("{}: forward ran twice", self.name());
        }
        Ok((out, Shape::from((g.n, o, self.ph(), self.pw()))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let Some(saved) = self.saved.get() else {
            candle_core::bail!("{}: backward before forward", self.name());
        };
        let dy = grad.contiguous()?.apply_op1_no_bwd(&ToWinners {
            block: self,
            winners: &saved.winners,
        })?;
        let grad_bias = match bias.track_op() {
            true => Some(dy.sum(1)?),
            false => None,
        };
        let grad_weight = match weight.track_op() {
            true => Some(
                saved
                    .cols
                    .apply_op2_no_bwd(
                        &dy,
                        &WeightGradient {
                            out_channels: self.out_channels,
                            rows: self.g.rows(),
                            images: self.g.n,
                            pixels: self.g.pixels(),
                        },
                    )?
                    .reshape(weight.shape())?,
            ),
            false => None,
        };
        let grad_x = match x.track_op() {
            true => Some(
                weight
                    .detach()
                    .contiguous()?
                    .apply_op2_no_bwd(&dy, &InputGrad { block: self })?,
            ),
            false => None,
        };
        Ok((grad_x, grad_weight, grad_bias))
    }
}

/// The backward of the ReLU and the pooling together: the output gradient `[n, o, ph, pw]`
/// placed at each window's winner in a zero `[o, n·oh·ow]` product gradient.
struct ToWinners<'a> {
    block: &'a ConvReluPool,
    winners: &'a [u32],
}

impl Kernel1 for ToWinners<'_> {
    fn run<T: Element>(&self, grad: &[T]) -> Vec<T> {
        let (block, g) = (self.block, &self.block.g);
        let mut dy = zeros::<T>(block.out_channels * block.width());
        let plane = block.pooled_len();
        if g.pixels() == 0 {
            return dy;
        }
        dy.par_chunks_mut(g.pixels())
            .enumerate()
            .for_each(|(row, dst)| {
                let (channel, image) = (row / g.n, row % g.n);
                let at = (image * block.out_channels + channel) * plane;
                let grad = &grad[at..][..plane];
                for (&g, &winner) in grad.iter().zip(&self.winners[at..][..plane]) {
                    if winner != NO_WINNER {
                        let d = &mut dst[winner as usize];
                        *d = *d + g;
                    }
                }
            });
        dy
    }
}

/// The input gradient `fold(weightᵀ · dy)`, image by image: each image's column gradient
/// (`[c·kh·kw, oh·ow]`) is a product into a per-task buffer that the fold reads while it is in
/// cache, instead of one `[c·kh·kw, n·oh·ow]` matrix zeroed, written and read back (14 MB per
/// step in the reference CNN's second block).
struct InputGrad<'a> {
    block: &'a ConvReluPool,
}

impl Kernel2 for InputGrad<'_> {
    fn run<T: Element>(&self, weight: &[T], dy: &[T]) -> Vec<T> {
        let (g, o) = (&self.block.g, self.block.out_channels);
        let (rows, pixels, width) = (g.rows(), g.pixels(), self.block.width());
        let mut x = zeros::<T>(g.n * g.image_len());
        if g.image_len() == 0 || pixels == 0 || rows == 0 {
            return x;
        }
        assert!(weight.len() == o * rows && dy.len() == o * width);
        x.par_chunks_mut(g.image_len()).enumerate().for_each_init(
            || vec![T::default(); rows * pixels],
            |cols, (image, dst)| {
                #[allow(unsafe_code)]
                // SAFETY: gemm reads lhs (r, k) at `k·rows + r` < o·rows = weight.len(), rhs
                // (k, p) at `k·width + image·pixels + p` < o·width = dy.len() (image < n,
                // p < pixels), and writes dst (r, p) at `r·pixels + p` < rows·pixels =
                // cols.len(); `read_dst = false`, so dst's old values are never read. The
                // three slices do not overlap (cols is this task's own buffer).
                unsafe {
                    product(
                        (rows, pixels, o),
                        (cols.as_mut_ptr(), pixels),
                        Strided {
                            at: weight.as_ptr(),
                            row: 1,
                            col: rows,
                        },
                        Strided {
                            at: dy.as_ptr().add(image * pixels),
                            row: width,
                            col: 1,
                        },
                        false,
                    );
                }
                fold_image(g, dst, |row| &cols[row * pixels..][..pixels]);
            },
        );
        x
    }
}

impl CustomOp2 for InputGrad<'_> {
    fn name(&self) -> &'static str {
        "conv-relu-pool-input-grad"
    }

    fn cpu_fwd(
        &self,
        weight: &CpuStorage,
        weight_layout: &Layout,
        dy: &CpuStorage,
        dy_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (block, g) = (self.block, &self.block.g);
        let x = run2(
            self,
            self.name(),
            (weight, weight_layout, block.out_channels * g.rows()),
            (dy, dy_layout, block.out_channels * block.width()),
        )?;
        Ok((x, Shape::from((g.n, g.c, g.h, g.w))))
    }
}

impl CustomOp1 for ToWinners<'_> {
    fn name(&self) -> &'static str {
        "conv-relu-pool-grad"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let block = self.block;
        let dy = run1(self, self.name(), (storage, layout), block.output_len())?;
        Ok((dy, Shape::from((block.out_channels, block.width()))))
    }
}
