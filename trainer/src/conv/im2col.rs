//! im2col and col2im: the shape arithmetic of one convolution ([`Geometry`]), the loops that
//! unfold an image batch into columns and fold columns back, and the candle ops over them.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use candle_nn::Conv2dConfig;
use rayon::prelude::*;

use crate::cpu_kernel::{Element, Kernel1, run1, zeros};

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
    let mut cols = zeros::<T>(g.rows() * width);
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
    let mut x = zeros::<T>(g.n * g.image_len());
    if g.image_len() == 0 {
        return x;
    }
    x.par_chunks_mut(g.image_len())
        .enumerate()
        .for_each(|(image, dst)| {
            fold_image(g, dst, |row| {
                &cols[row * width + image * g.pixels()..][..g.pixels()]
            })
        });
    x
}

/// col2im of one image: adds its columns (`row(r)`: the `oh·ow` values of column row `r` of
/// `c·kh·kw`) into `dst`, the image's `[c, h, w]` values.
pub(crate) fn fold_image<'a, T: Element>(
    g: &Geometry,
    dst: &mut [T],
    row: impl Fn(usize) -> &'a [T],
) {
    for (c, plane) in dst.chunks_exact_mut(g.h * g.w).enumerate() {
        for i in 0..g.kh {
            for j in 0..g.kw {
                let src = row((c * g.kh + i) * g.kw + j);
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
