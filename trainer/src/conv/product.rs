//! The product `weight · columns` on candle's gemm, and the swap of its `[channels, pixels]`
//! result into an image batch with the bias added; each op's backward computes only what a
//! tracked operand needs.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use crate::cpu_kernel::{Element, Kernel1, Kernel2, run1, run2, zeros};

/// `weight [o, k] · cols [k, n]` on candle's gemm, whose backward computes only the gradients
/// of tracked operands: the first layer's column gradient `weightᵀ · dy` is never computed
/// (candle's own matmul backward always computes both).
#[derive(Clone, Copy, Debug)]
pub(super) struct WeightTimesColumns;

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
