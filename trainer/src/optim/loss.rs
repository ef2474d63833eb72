//! The loss and the counts the fit loop reads from logits: cross-entropy with label
//! smoothing, per-sample losses for evaluation, correct predictions.

use candle_core::{D, DType, Tensor};

use crate::error::Result;

/// Mean cross-entropy of `logits` `[N, K]` against `targets` `[N]` (u32), with label smoothing
/// `smoothing` (PyTorch `CrossEntropyLoss(label_smoothing=…)`: the target is
/// (1−ε)·one-hot + ε/K).
pub fn cross_entropy(logits: &Tensor, targets: &Tensor, smoothing: f64) -> Result<Tensor> {
    let log_p = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let nll = log_p
        .gather(&targets.unsqueeze(1)?, 1)?
        .squeeze(1)?
        .mean_all()?
        .neg()?;
    if smoothing == 0.0 {
        return Ok(nll);
    }
    let uniform = log_p.mean(D::Minus1)?.mean_all()?.neg()?;
    Ok((nll.affine(1.0 - smoothing, 0.0)? + uniform.affine(smoothing, 0.0)?)?)
}

/// The cross-entropy of each row of `logits` against its target (no smoothing), on the host:
/// evaluation keeps them to know the spread of the loss, not only its mean.
pub fn per_sample_nll(logits: &Tensor, targets: &Tensor) -> Result<Vec<f32>> {
    let log_p = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let nll = log_p.gather(&targets.unsqueeze(1)?, 1)?.squeeze(1)?.neg()?;
    Ok(nll.to_dtype(DType::F32)?.to_vec1::<f32>()?)
}

/// Number of rows of `logits` whose argmax equals the target.
pub fn correct_count(logits: &Tensor, targets: &Tensor) -> Result<usize> {
    let hits = logits
        .argmax(D::Minus1)?
        .eq(targets)?
        .to_dtype(DType::F32)?
        .sum_all()?
        .to_scalar::<f32>()?;
    Ok(hits as usize)
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    #[test]
    fn label_smoothing_matches_the_formula() -> Result<()> {
        let logits = Tensor::from_slice(&[2.0f32, 0.0, -1.0], (1, 3), &Device::Cpu)?;
        let target = Tensor::from_slice(&[0u32], 1, &Device::Cpu)?;
        let lse = (2.0f64.exp() + 1.0 + (-1.0f64).exp()).ln();
        let log_p = [2.0 - lse, -lse, -1.0 - lse];
        let want = 0.9 * -log_p[0] + 0.1 * -(log_p.iter().sum::<f64>() / 3.0);
        let got = cross_entropy(&logits, &target, 0.1)?.to_scalar::<f32>()?;
        assert!((got as f64 - want).abs() < 1e-6, "{got} vs {want}");
        let plain = cross_entropy(&logits, &target, 0.0)?.to_scalar::<f32>()?;
        assert!((plain as f64 + log_p[0]).abs() < 1e-6);
        assert_eq!(correct_count(&logits, &target)?, 1);
        Ok(())
    }
}
