//! The product `weight · columns` on candle's gemm, and the swap of its `[channels, pixels]`
//! result into an image batch with the bias added; each op's backward computes only what a
//! tracked operand needs.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use crate::cpu_kernel::{Element, Kernel1, Kernel2, Strided, product, run1, run2, zeros};

/// `weight [o, k] · cols [k, images·pixels]` on candle's gemm, whose backward computes only the
/// gradients of tracked operands: the first layer's column gradient `weightᵀ · dy` is never
/// computed (candle's own matmul backward always computes both), and the weight gradient is a
/// [`WeightGradient`], image by image.
#[derive(Clone, Copy, Debug)]
pub(super) struct WeightTimesColumns {
    /// The images whose pixels the columns hold, one after another.
    pub(super) images: usize,
}

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
            true => {
                let ((out_channels, rows), (_, width)) = (weight.dims2()?, cols.dims2()?);
                let gradient = WeightGradient {
                    out_channels,
                    rows,
                    images: self.images,
                    pixels: width.checked_div(self.images).unwrap_or(0),
                };
                Some(
                    cols.contiguous()?
                        .apply_op2_no_bwd(&grad.contiguous()?, &gradient)?,
                )
            }
            false => None,
        };
        let grad_cols = match cols.track_op() {
            true => Some(weight.t()?.matmul(grad)?),
            false => None,
        };
        Ok((grad_weight, grad_cols))
    }
}

/// The weight gradient of `weight [o, rows] · cols [rows, images·pixels]`: `Σ_images dy_i ·
/// cols_iᵀ` (`[o, rows]`) from the columns and the product's gradient `dy [o, images·pixels]`,
/// image by image: each task accumulates its images' products into a sum of its own, reading one
/// image's columns (`[rows, pixels]`: 225 KB in the reference CNN's second block) while they are
/// in cache. One product over the whole column matrix instead spent most of its time packing
/// operands whose rows lie `images·pixels` apart. `cargo bench --bench conv`, batch 64, 2 cores
/// of an AMD EPYC Zen 4, the bench binaries alternating: the first conv block's forward and
/// backward took 7.7–8.0 ms against 3.1–3.8, the second's 13.6–14.5 against 11.7–11.8; the
/// second convolution alone (the path of batch-normalized models) 24.5 against 16.1–16.4.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WeightGradient {
    pub(crate) out_channels: usize,
    pub(crate) rows: usize,
    pub(crate) images: usize,
    pub(crate) pixels: usize,
}

/// Images per partial sum of the weight gradient: 16 sums for a batch of 64, work for up to 16
/// threads.
const IMAGES_PER_SUM: usize = 4;

impl Kernel2 for WeightGradient {
    fn run<T: Element>(&self, cols: &[T], dy: &[T]) -> Vec<T> {
        let (o, rows, images, pixels) = (self.out_channels, self.rows, self.images, self.pixels);
        let width = images * pixels;
        if o * rows == 0 || width == 0 {
            return zeros::<T>(o * rows);
        }
        assert!(cols.len() == rows * width && dy.len() == o * width);
        // The longer side of the product as gemm's rows, its vectorized dimension: the
        // columns' rows in the second block (288 against 64 channels; 10.8–11.1 ms against
        // 12.2–12.9 for the block), the channels in the first (32 against 9).
        let by_rows = rows >= o;
        let ((lhs, m), (rhs, n)) = match by_rows {
            true => ((cols, rows), (dy, o)),
            false => ((dy, o), (cols, rows)),
        };
        // Sums of a fixed number of images, added in order: the gradient does not depend on
        // how many threads computed it.
        let sums: Vec<Vec<T>> = (0..images.div_ceil(IMAGES_PER_SUM))
            .into_par_iter()
            .map(|task| {
                let mut sum = zeros::<T>(m * n);
                let first = task * IMAGES_PER_SUM;
                for image in first..(first + IMAGES_PER_SUM).min(images) {
                    #[allow(unsafe_code)]
                    // SAFETY: gemm reads lhs (i, p) at `i·width + image·pixels + p` <
                    // m·width = lhs.len(), rhs (p, j) at `j·width + image·pixels + p` <
                    // n·width = rhs.len() (image < images, p < pixels), and reads and writes
                    // dst (i, j) at `i·n + j` < m·n = sum.len(); sum is this task's own buffer,
                    // so it overlaps neither operand.
                    unsafe {
                        product(
                            (m, n, pixels),
                            (sum.as_mut_ptr(), n),
                            Strided {
                                at: lhs.as_ptr().add(image * pixels),
                                row: width,
                                col: 1,
                            },
                            Strided {
                                at: rhs.as_ptr().add(image * pixels),
                                row: 1,
                                col: width,
                            },
                            true,
                        );
                    }
                }
                sum
            })
            .collect();
        let mut sums = sums.into_iter();
        let mut total = sums.next().unwrap_or_else(|| zeros::<T>(m * n));
        for sum in sums {
            total.iter_mut().zip(&sum).for_each(|(t, s)| *t = *t + *s);
        }
        if !by_rows {
            return total;
        }
        let mut weight = zeros::<T>(o * rows);
        for (r, row) in total.chunks_exact(o).enumerate() {
            for (i, &v) in row.iter().enumerate() {
                weight[i * rows + r] = v;
            }
        }
        weight
    }
}

impl CustomOp2 for WeightGradient {
    fn name(&self) -> &'static str {
        "conv-weight-gradient"
    }

    fn cpu_fwd(
        &self,
        cols: &CpuStorage,
        cols_layout: &Layout,
        dy: &CpuStorage,
        dy_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let width = self.images * self.pixels;
        let w = run2(
            self,
            self.name(),
            (cols, cols_layout, self.rows * width),
            (dy, dy_layout, self.out_channels * width),
        )?;
        Ok((w, Shape::from((self.out_channels, self.rows))))
    }
}

/// Swaps the two leading axes of a contiguous `[a, b, p]` array into `[b, a, p]`, adding
/// `bias[i]` to every element of `src[i]` when `bias` is not empty.
fn swap_leading<T: Element>(src: &[T], (a, b, p): (usize, usize, usize), bias: &[T]) -> Vec<T> {
    let mut dst = zeros::<T>(a * b * p);
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
pub(super) struct ToImages {
    pub(super) channels: usize,
    pub(super) images: usize,
    pub(super) oh: usize,
    pub(super) ow: usize,
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
