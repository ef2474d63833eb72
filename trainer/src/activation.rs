//! ReLU with a one-pass backward.
//!
//! candle 0.11's ReLU gradient builds a zero tensor, a comparison mask, its float copy and a
//! product. [`relu`] is a custom op whose backward writes `grad · [y > 0]` in one pass from the
//! forward output `y` (PyTorch's convention: no gradient at exactly 0).
//!
//! CPU `f32`/`f64` tensors take this path; other devices and dtypes fall back to candle's
//! [`Tensor::relu`].
//!
//! ```
//! use candle_core::{Device, Tensor};
//!
//! let x = Tensor::new(&[-1f32, 0., 2.], &Device::Cpu)?;
//! assert_eq!(trainer::activation::relu(&x)?.to_vec1::<f32>()?, [0., 0., 2.]);
//! # Ok::<(), candle_core::Error>(())
//! ```

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use crate::cpu_kernel::{Element, Kernel1, Kernel2, run1, run2, runs_on_cpu_kernels, zeros};

/// Elements per parallel task: big enough that the split costs little next to the work.
const CHUNK_LEN: usize = 1 << 16;

/// `max(x, 0)` elementwise, with a one-pass backward on the CPU.
pub fn relu(x: &Tensor) -> Result<Tensor> {
    if !runs_on_cpu_kernels(x) {
        return x.relu();
    }
    x.contiguous()?.apply_op1(Relu)
}

/// The ReLU op.
#[derive(Clone, Copy, Debug)]
struct Relu;

impl Kernel1 for Relu {
    fn run<T: Element>(&self, x: &[T]) -> Vec<T> {
        let mut y = zeros::<T>(x.len());
        y.par_chunks_mut(CHUNK_LEN)
            .zip(x.par_chunks(CHUNK_LEN))
            .for_each(|(y, x)| {
                for (y, &x) in y.iter_mut().zip(x) {
                    if x > T::default() {
                        *y = x;
                    }
                }
            });
        y
    }
}

impl CustomOp1 for Relu {
    fn name(&self) -> &'static str {
        "relu"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let y = run1(
            self,
            self.name(),
            (storage, layout),
            layout.shape().elem_count(),
        )?;
        Ok((y, layout.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(res.apply_op2_no_bwd(&grad.contiguous()?, &ReluGrad)?))
    }
}

/// The backward of [`Relu`]: `grad` where the output is positive, else 0.
#[derive(Clone, Copy, Debug)]
struct ReluGrad;

impl Kernel2 for ReluGrad {
    fn run<T: Element>(&self, y: &[T], grad: &[T]) -> Vec<T> {
        let mut dx = zeros::<T>(y.len());
        let inputs = y.par_chunks(CHUNK_LEN).zip(grad.par_chunks(CHUNK_LEN));
        dx.par_chunks_mut(CHUNK_LEN)
            .zip(inputs)
            .for_each(|(dx, (y, grad))| {
                for ((dx, &y), &g) in dx.iter_mut().zip(y).zip(grad) {
                    if y > T::default() {
                        *dx = g;
                    }
                }
            });
        dx
    }
}

impl CustomOp2 for ReluGrad {
    fn name(&self) -> &'static str {
        "relu-grad"
    }

    fn cpu_fwd(
        &self,
        y: &CpuStorage,
        y_layout: &Layout,
        grad: &CpuStorage,
        grad_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let len = y_layout.shape().elem_count();
        let dx = run2(
            self,
            self.name(),
            (y, y_layout, len),
            (grad, grad_layout, len),
        )?;
        Ok((dx, y_layout.shape().clone()))
    }
}
