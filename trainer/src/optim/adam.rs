//! One Adam / AdamW update of one variable: as candle tensor ops on any device, and as one
//! pass over the values for contiguous `f32` tensors on the CPU.
//!
//! The tensor form is a dozen element-wise ops, each a pass over the variable with a fresh
//! result, most of them serial: a twentieth of a reference-CNN training step on 2 cores. The
//! fused pass does the same arithmetic in the same order, so both give the same bits.

use candle_core::{CpuStorage, Device, Layout, Storage, Tensor};
use rayon::prelude::*;

use crate::error::Result;

/// Elements per parallel chunk of the fused pass.
const CHUNK: usize = 1 << 14;

/// The constants of one step, already in the form the arithmetic uses.
#[derive(Clone, Copy, Debug)]
pub(super) struct AdamStep {
    pub(super) beta1: f64,
    pub(super) beta2: f64,
    pub(super) eps: f64,
    /// The step's learning rate.
    pub(super) lr: f64,
    pub(super) weight_decay: f64,
    /// AdamW: decay applied to the variable, not added to the gradient.
    pub(super) decoupled: bool,
    /// The step count, from 1: the bias corrections use it.
    pub(super) t: i32,
}

impl AdamStep {
    fn bias_corrections(&self) -> (f64, f64) {
        (1.0 - self.beta1.powi(self.t), 1.0 - self.beta2.powi(self.t))
    }
}

/// The updated variable, first and second moment: the fused pass where every operand is a
/// contiguous `f32` CPU tensor, else candle's ops. `m` and `v` are `None` at the first step.
pub(super) fn update(
    k: &AdamStep,
    p: &Tensor,
    grad: &Tensor,
    m: Option<&Tensor>,
    v: Option<&Tensor>,
) -> Result<(Tensor, Tensor, Tensor)> {
    if let Some(fused) = fused(k, p, grad, m, v)? {
        return Ok(fused);
    }
    with_tensor_ops(k, p, grad, m, v)
}

/// The update as candle ops (any device, any float dtype).
fn with_tensor_ops(
    k: &AdamStep,
    p: &Tensor,
    grad: &Tensor,
    m: Option<&Tensor>,
    v: Option<&Tensor>,
) -> Result<(Tensor, Tensor, Tensor)> {
    let (wd, lr) = (k.weight_decay, k.lr);
    let g = if !k.decoupled && wd > 0.0 {
        (grad + p.affine(wd, 0.0)?)?
    } else {
        grad.clone()
    };
    let m = match m {
        Some(m) => (m.affine(k.beta1, 0.0)? + g.affine(1.0 - k.beta1, 0.0)?)?,
        None => g.affine(1.0 - k.beta1, 0.0)?,
    };
    let g2 = g.sqr()?.affine(1.0 - k.beta2, 0.0)?;
    let v = match v {
        Some(v) => (v.affine(k.beta2, 0.0)? + g2)?,
        None => g2,
    };
    let (bc1, bc2) = k.bias_corrections();
    // p -= lr/bc1 * m / (sqrt(v/bc2) + eps)
    let denom = v.affine(1.0 / bc2, 0.0)?.sqrt()?.affine(1.0, k.eps)?;
    let update = m.div(&denom)?.affine(lr / bc1, 0.0)?;
    let base = if k.decoupled && wd > 0.0 {
        p.affine(1.0 - lr * wd, 0.0)?
    } else {
        p.clone()
    };
    Ok((base.sub(&update)?, m, v))
}

/// The contiguous `f32` values of a CPU tensor, or `None`.
fn cpu_f32<'a>(storage: &'a Storage, layout: &Layout) -> Option<&'a [f32]> {
    match (storage, layout.contiguous_offsets()) {
        (Storage::Cpu(CpuStorage::F32(data)), Some((start, end))) => Some(&data[start..end]),
        _ => None,
    }
}

/// The update in one pass, or `None` when an operand is not a contiguous `f32` CPU tensor of
/// the variable's shape.
fn fused(
    k: &AdamStep,
    p: &Tensor,
    grad: &Tensor,
    m: Option<&Tensor>,
    v: Option<&Tensor>,
) -> Result<Option<(Tensor, Tensor, Tensor)>> {
    let same_shape = |t: Option<&Tensor>| t.is_none_or(|t| t.shape() == p.shape());
    if !same_shape(Some(grad)) || !same_shape(m) || !same_shape(v) {
        return Ok(None);
    }
    let (p_storage, p_layout) = p.storage_and_layout();
    let (g_storage, g_layout) = grad.storage_and_layout();
    let m_guard = m.map(|m| m.storage_and_layout());
    let v_guard = v.map(|v| v.storage_and_layout());
    let (Some(p_values), Some(g_values)) =
        (cpu_f32(&p_storage, p_layout), cpu_f32(&g_storage, g_layout))
    else {
        return Ok(None);
    };
    let mut moments = [None, None];
    for (values, guard) in moments.iter_mut().zip([&m_guard, &v_guard]) {
        if let Some((storage, layout)) = guard {
            let Some(slice) = cpu_f32(storage, layout) else {
                return Ok(None);
            };
            *values = Some(slice);
        }
    }
    let [m_values, v_values] = moments;

    // candle's `affine(mul, add)` on f32 computes `x * (mul as f32) + (add as f32)`.
    let (bc1, bc2) = k.bias_corrections();
    let c = |x: f64| x as f32;
    let (wd, b1, b2) = (c(k.weight_decay), c(k.beta1), c(k.beta2));
    let (one_minus_b1, one_minus_b2) = (c(1.0 - k.beta1), c(1.0 - k.beta2));
    let (inv_bc2, eps, step) = (c(1.0 / bc2), c(k.eps), c(k.lr / bc1));
    let l2 = !k.decoupled && k.weight_decay > 0.0;
    let shrink = (k.decoupled && k.weight_decay > 0.0).then(|| c(1.0 - k.lr * k.weight_decay));

    // At the first step the moments are zero: `0 · β + x` is `x` to the bit, as `x` is never
    // -0 (each term ends in `+ 0.0`).
    let n = p_values.len();
    let zeros = match (m_values, v_values) {
        (Some(_), Some(_)) => Vec::new(),
        _ => vec![0f32; n],
    };
    let (m_values, v_values) = (m_values.unwrap_or(&zeros), v_values.unwrap_or(&zeros));
    let (mut new_p, mut new_m, mut new_v) = (vec![0f32; n], vec![0f32; n], vec![0f32; n]);
    let inputs = p_values
        .par_chunks(CHUNK)
        .zip(g_values.par_chunks(CHUNK))
        .zip(m_values.par_chunks(CHUNK).zip(v_values.par_chunks(CHUNK)));
    let outputs = new_p
        .par_chunks_mut(CHUNK)
        .zip(new_m.par_chunks_mut(CHUNK))
        .zip(new_v.par_chunks_mut(CHUNK));
    inputs
        .zip(outputs)
        .for_each(|(((p, grad), (m, v)), ((out_p, out_m), out_v))| {
            let inputs = p.iter().zip(grad).zip(m.iter().zip(v));
            let outputs = out_p.iter_mut().zip(out_m.iter_mut()).zip(out_v.iter_mut());
            for (((&p, &grad), (&m, &v)), ((out_p, out_m), out_v)) in inputs.zip(outputs) {
                let g = if l2 { grad + (p * wd + 0.0) } else { grad };
                let m = (m * b1 + 0.0) + (g * one_minus_b1 + 0.0);
                let v = (v * b2 + 0.0) + ((g * g) * one_minus_b2 + 0.0);
                let denom = (v * inv_bc2 + 0.0).sqrt() * 1.0 + eps;
                let update = (m / denom) * step + 0.0;
                let base = match shrink {
                    Some(shrink) => p * shrink + 0.0,
                    None => p,
                };
                (*out_p, *out_m, *out_v) = (base - update, m, v);
            }
        });
    let shape = p.shape();
    Ok(Some((
        Tensor::from_vec(new_p, shape, &Device::Cpu)?,
        Tensor::from_vec(new_m, shape, &Device::Cpu)?,
        Tensor::from_vec(new_v, shape, &Device::Cpu)?,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(n: usize, seed: u64, scale: f32) -> Result<Tensor> {
        let values = (0..n)
            .map(|i| {
                let x = ((i as u64 + 1) * 2_654_435_761 + seed * 40_503) % 10_007;
                (x as f32 / 10_007.0 - 0.5) * scale
            })
            .collect::<Vec<_>>();
        Ok(Tensor::from_vec(values, n, &Device::Cpu)?)
    }

    /// Three steps of each variant, over more than one parallel chunk: the fused pass gives
    /// exactly the bits of the tensor ops.
    #[test]
    fn the_fused_pass_gives_the_bits_of_the_tensor_ops() -> Result<()> {
        let n = 2 * CHUNK + 77;
        for (decoupled, weight_decay) in [(false, 0.0), (false, 1e-4), (true, 0.01)] {
            let (mut p_fused, mut p_ops) = (random(n, 1, 2.0)?, random(n, 1, 2.0)?);
            let (mut moments_fused, mut moments_ops): (Option<(Tensor, Tensor)>, _) = (None, None);
            for t in 1..=3 {
                let k = AdamStep {
                    beta1: 0.9,
                    beta2: 0.999,
                    eps: 1e-8,
                    lr: 1e-3,
                    weight_decay,
                    decoupled,
                    t,
                };
                let grad = random(n, 10 + t as u64, 0.1)?;
                let (m, v) = (
                    moments_fused.as_ref().map(|x| &x.0),
                    moments_fused.as_ref().map(|x| &x.1),
                );
                let Some((p, m, v)) = fused(&k, &p_fused, &grad, m, v)? else {
                    panic!("contiguous f32 CPU tensors take the fused pass");
                };
                (p_fused, moments_fused) = (p, Some((m, v)));
                let (m, v) = (
                    moments_ops.as_ref().map(|x: &(Tensor, Tensor)| &x.0),
                    moments_ops.as_ref().map(|x| &x.1),
                );
                let (p, m, v) = with_tensor_ops(&k, &p_ops, &grad, m, v)?;
                (p_ops, moments_ops) = (p, Some((m, v)));
            }
            let bits = |t: &Tensor| -> Result<Vec<u32>> {
                Ok(t.to_vec1::<f32>()?.iter().map(|x| x.to_bits()).collect())
            };
            assert_eq!(
                bits(&p_fused)?,
                bits(&p_ops)?,
                "decoupled {decoupled}, wd {weight_decay}"
            );
            let (fused_m, ops_m) = (moments_fused.as_ref(), moments_ops.as_ref());
            assert_eq!(
                bits(&fused_m.expect("moments").1)?,
                bits(&ops_m.expect("moments").1)?
            );
        }
        Ok(())
    }

    #[test]
    fn other_dtypes_take_the_tensor_ops() -> Result<()> {
        let p = random(10, 1, 1.0)?.to_dtype(candle_core::DType::F64)?;
        let grad = random(10, 2, 1.0)?.to_dtype(candle_core::DType::F64)?;
        let k = AdamStep {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            lr: 1e-3,
            weight_decay: 0.0,
            decoupled: false,
            t: 1,
        };
        assert!(fused(&k, &p, &grad, None, None)?.is_none());
        let (new_p, _, _) = update(&k, &p, &grad, None, None)?;
        assert_eq!(new_p.dtype(), candle_core::DType::F64);
        Ok(())
    }
}
