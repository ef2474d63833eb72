//! Plumbing shared by the CPU custom ops of [`crate::conv`], [`crate::pool`] and
//! [`crate::activation`]: the element types they handle and the dispatch from a candle
//! [`CpuStorage`] to a kernel written once over `&[T]`.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, DType, Layout, Result, Tensor};
use rayon::prelude::*;

/// The element types the custom CPU kernels handle.
pub(crate) trait Element:
    Copy + Default + PartialOrd + Send + Sync + std::ops::Add<Output = Self> + 'static
{
    /// The multiplicative identity.
    const ONE: Self;
}

impl Element for f32 {
    const ONE: f32 = 1.0;
}
impl Element for f64 {
    const ONE: f64 = 1.0;
}

/// Buffers of at least this many elements are filled on rayon's pool.
const PARALLEL_FILL: usize = 1 << 16;

/// `n` copies of `value`. A buffer of megabytes (a column matrix, a product's gradient) is
/// filled on rayon's pool: the fill is bound by memory bandwidth, and on one thread, with the
/// other cores idle, it took 7% of a reference-CNN training step's profile.
pub(crate) fn filled<T: Copy + Send + Sync>(n: usize, value: T) -> Vec<T> {
    if n < PARALLEL_FILL {
        return vec![value; n];
    }
    let mut v = Vec::with_capacity(n);
    v.par_extend(rayon::iter::repeat_n(value, n));
    v
}

/// `n` zeros (see [`filled`]).
pub(crate) fn zeros<T: Element>(n: usize) -> Vec<T> {
    filled(n, T::default())
}

/// A strided matrix operand of [`product`]: where its first element is, and how many elements
/// lie between consecutive rows and between consecutive columns.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Strided<T> {
    pub(crate) at: *const T,
    pub(crate) row: usize,
    pub(crate) col: usize,
}

/// `dst = lhs · rhs`, or `dst += lhs · rhs` when `accumulate`: `[m, k] · [k, n]` into a row-major
/// `dst` with `dst_row` elements between its rows, on gemm's kernels and the calling thread
/// alone (the callers run as tasks on rayon's pool already).
///
/// # Safety
/// Every element the shapes and strides address lies in the memory behind its pointer, `dst`
/// is valid for writes (and for reads when `accumulate`), and `dst` overlaps neither operand.
#[allow(unsafe_code)]
pub(crate) unsafe fn product<T: Element>(
    (m, n, k): (usize, usize, usize),
    (dst, dst_row): (*mut T, usize),
    lhs: Strided<T>,
    rhs: Strided<T>,
    accumulate: bool,
) {
    let keep = if accumulate { T::ONE } else { T::default() };
    // SAFETY: the caller's contract, which is gemm's.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_row as isize,
            accumulate,
            lhs.at,
            lhs.col as isize,
            lhs.row as isize,
            rhs.at,
            rhs.col as isize,
            rhs.row as isize,
            keep,
            T::ONE,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// Whether `x` lives where the custom kernels run: on the CPU, as `f32` or `f64`.
pub(crate) fn runs_on_cpu_kernels(x: &Tensor) -> bool {
    x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64)
}

/// A kernel of one contiguous input.
pub(crate) trait Kernel1 {
    /// The output of the kernel on `x`.
    fn run<T: Element>(&self, x: &[T]) -> Vec<T>;
}

/// A kernel of two contiguous inputs of the same element type.
pub(crate) trait Kernel2 {
    /// The output of the kernel on `a` and `b`.
    fn run<T: Element>(&self, a: &[T], b: &[T]) -> Vec<T>;
}

/// The contiguous data of a storage laid out by `layout`, checked to hold `expected_len`
/// elements, or an error naming `op`.
pub(crate) fn contiguous<'a, T>(
    data: &'a [T],
    layout: &Layout,
    expected_len: usize,
    op: &str,
) -> Result<&'a [T]> {
    let len = layout.shape().elem_count();
    if len != expected_len {
        candle_core::bail!(
            "{op}: input {:?} has {len} elements, expected {expected_len}",
            layout.shape()
        );
    }
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("{op}: input {:?} is not contiguous", layout.shape()),
    }
}

/// Runs `kernel` on an `f32` or `f64` storage of `expected_len` contiguous elements.
pub(crate) fn run1(
    kernel: &impl Kernel1,
    op: &str,
    (storage, layout): (&CpuStorage, &Layout),
    expected_len: usize,
) -> Result<CpuStorage> {
    Ok(match storage {
        CpuStorage::F32(x) => CpuStorage::F32(kernel.run(contiguous(x, layout, expected_len, op)?)),
        CpuStorage::F64(x) => CpuStorage::F64(kernel.run(contiguous(x, layout, expected_len, op)?)),
        other => candle_core::bail!("{op}: unsupported dtype {:?}", other.dtype()),
    })
}

/// Runs `kernel` on two `f32` or two `f64` storages of the given contiguous lengths.
pub(crate) fn run2(
    kernel: &impl Kernel2,
    op: &str,
    (a, a_layout, a_len): (&CpuStorage, &Layout, usize),
    (b, b_layout, b_len): (&CpuStorage, &Layout, usize),
) -> Result<CpuStorage> {
    Ok(match (a, b) {
        (CpuStorage::F32(a), CpuStorage::F32(b)) => CpuStorage::F32(kernel.run(
            contiguous(a, a_layout, a_len, op)?,
            contiguous(b, b_layout, b_len, op)?,
        )),
        (CpuStorage::F64(a), CpuStorage::F64(b)) => CpuStorage::F64(kernel.run(
            contiguous(a, a_layout, a_len, op)?,
            contiguous(b, b_layout, b_len, op)?,
        )),
        (a, b) => candle_core::bail!(
            "{op}: unsupported dtypes {:?} and {:?}",
            a.dtype(),
            b.dtype()
        ),
    })
}
