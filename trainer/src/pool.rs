//! Max pooling with a one-pass backward.
//!
//! candle 0.11 builds the max-pool gradient from about six full-size temporaries (upsample,
//! compare, average-pool, multiply, ...). [`max_pool2d`] is a custom op whose backward finds
//! each window's maximum again and routes the window's gradient to it, writing the input
//! gradient in one pass with no other temporary. Like PyTorch, a window whose maximum occurs
//! more than once sends its whole gradient to the first occurrence (row-major).
//!
//! CPU `f32`/`f64` tensors take this path; other devices and dtypes fall back to candle's
//! [`Tensor::max_pool2d_with_stride`].
//!
//! ```
//! use candle_core::{Device, Tensor};
//!
//! let x = Tensor::arange(0f32, 16., &Device::Cpu)?.reshape((1, 1, 4, 4))?;
//! let y = trainer::pool::max_pool2d(&x, 2)?;
//! assert_eq!(y.flatten_all()?.to_vec1::<f32>()?, [5., 7., 13., 15.]);
//! # Ok::<(), candle_core::Error>(())
//! ```

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use crate::cpu_kernel::{Element, Kernel1, Kernel2, run1, run2, runs_on_cpu_kernels, zeros};

/// Max pooling of an `[n, c, h, w]` batch over `kernel × kernel` windows with stride `kernel`
/// (output `[n, c, h / kernel, w / kernel]`, trailing rows and columns dropped).
pub fn max_pool2d(x: &Tensor, kernel: usize) -> Result<Tensor> {
    max_pool2d_with_stride(x, kernel, kernel)
}

/// Max pooling of an `[n, c, h, w]` batch over `kernel × kernel` windows `stride` apart
/// (output `[n, c, (h - kernel) / stride + 1, (w - kernel) / stride + 1]`).
///
/// Fails when `kernel` or `stride` is 0 or the window is larger than the image.
pub fn max_pool2d_with_stride(x: &Tensor, kernel: usize, stride: usize) -> Result<Tensor> {
    if !runs_on_cpu_kernels(x) {
        return x.max_pool2d_with_stride(kernel, stride);
    }
    let (n, c, h, w) = x.dims4()?;
    if kernel == 0 || stride == 0 || kernel > h || kernel > w {
        candle_core::bail!("max_pool2d: kernel {kernel}, stride {stride} on a {h}x{w} input");
    }
    let pool = MaxPool {
        planes: n * c,
        h,
        w,
        kernel,
        stride,
        oh: (h - kernel) / stride + 1,
        ow: (w - kernel) / stride + 1,
    };
    x.contiguous()?.apply_op1(pool)
}

/// Shape of one pooling: `planes` (`n·c`) images of `h × w`, pooled to `oh × ow`.
#[derive(Clone, Copy, Debug)]
struct MaxPool {
    planes: usize,
    h: usize,
    w: usize,
    kernel: usize,
    stride: usize,
    oh: usize,
    ow: usize,
}

impl MaxPool {
    /// The row-major offset (in the input plane) of the first maximum of window `(oy, ox)`,
    /// and that maximum.
    fn argmax<T: Element>(&self, plane: &[T], oy: usize, ox: usize) -> (usize, T) {
        let (y0, x0) = (oy * self.stride, ox * self.stride);
        let mut best = (y0 * self.w + x0, plane[y0 * self.w + x0]);
        for y in y0..y0 + self.kernel {
            let line = &plane[y * self.w + x0..][..self.kernel];
            for (dx, &v) in line.iter().enumerate() {
                if v > best.1 {
                    best = (y * self.w + x0 + dx, v);
                }
            }
        }
        best
    }

    fn input_len(&self) -> usize {
        self.planes * self.h * self.w
    }

    fn output_len(&self) -> usize {
        self.planes * self.oh * self.ow
    }
}

impl Kernel1 for MaxPool {
    fn run<T: Element>(&self, x: &[T]) -> Vec<T> {
        let mut y = zeros::<T>(self.output_len());
        if self.oh * self.ow == 0 {
            return y;
        }
        let plane_len = self.h * self.w;
        y.par_chunks_mut(self.oh * self.ow)
            .enumerate()
            .for_each(|(p, out)| {
                let plane = &x[p * plane_len..][..plane_len];
                for (oy, line) in out.chunks_exact_mut(self.ow).enumerate() {
                    for (ox, o) in line.iter_mut().enumerate() {
                        *o = self.argmax(plane, oy, ox).1;
                    }
                }
            });
        y
    }
}

impl CustomOp1 for MaxPool {
    fn name(&self) -> &'static str {
        "max-pool2d"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let y = run1(self, self.name(), (storage, layout), self.input_len())?;
        Ok((
            y,
            Shape::from((layout.dims()[0], layout.dims()[1], self.oh, self.ow)),
        ))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let grad_arg = arg.apply_op2_no_bwd(&grad.contiguous()?, &MaxPoolGrad(*self))?;
        Ok(Some(grad_arg))
    }
}

/// The backward of [`MaxPool`]: from the pooled input and the output gradient, the input
/// gradient, each window's gradient added at its first maximum.
#[derive(Clone, Copy, Debug)]
struct MaxPoolGrad(MaxPool);

impl Kernel2 for MaxPoolGrad {
    fn run<T: Element>(&self, x: &[T], grad: &[T]) -> Vec<T> {
        let pool = &self.0;
        let plane_len = pool.h * pool.w;
        let mut dx = zeros::<T>(pool.input_len());
        if plane_len == 0 {
            return dx;
        }
        dx.par_chunks_mut(plane_len)
            .enumerate()
            .for_each(|(p, dst)| {
                let plane = &x[p * plane_len..][..plane_len];
                let grad = &grad[p * pool.oh * pool.ow..][..pool.oh * pool.ow];
                for (oy, line) in grad.chunks_exact(pool.ow).enumerate() {
                    for (ox, &g) in line.iter().enumerate() {
                        let at = pool.argmax(plane, oy, ox).0;
                        dst[at] = dst[at] + g;
                    }
                }
            });
        dx
    }
}

impl CustomOp2 for MaxPoolGrad {
    fn name(&self) -> &'static str {
        "max-pool2d-grad"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_layout: &Layout,
        grad: &CpuStorage,
        grad_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let pool = &self.0;
        let dx = run2(
            self,
            self.name(),
            (x, x_layout, pool.input_len()),
            (grad, grad_layout, pool.output_len()),
        )?;
        Ok((dx, x_layout.shape().clone()))
    }
}
