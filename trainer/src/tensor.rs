//! Arrow batches from the pipeline → candle tensors, with at most one copy.
//!
//! The pipeline's batch schema ([`pipeline::batch::schema`]): `image` is a
//! `FixedSizeList<Float32>` of C·H·W values per row in CHW order, with `[C, H, W]` in the field
//! metadata; `label` is `Int32`. The image values of a batch are one contiguous `f32` slice, so
//! [`Tensor::from_slice`] copies them once into an [N, C, H, W] tensor (candle must own its
//! storage; ~16 µs for 64×784 floats, nothing next to a training step).

use arrow::array::RecordBatch;
use candle_core::{Device, Tensor};

use crate::error::{Error, Result};

/// One batch as tensors.
#[derive(Debug, Clone)]
pub struct BatchTensors {
    /// Images, f32 [N, C, H, W].
    pub images: Tensor,
    /// Class indices, u32 `[N]`.
    pub labels: Tensor,
    /// N.
    pub len: usize,
}

/// Converts a pipeline batch into tensors on `device`: images f32 [N, C, H, W] (the shape read
/// from the schema), labels u32 `[N]`.
///
/// Errors name the column: a missing column or shape, another type, or a label outside
/// `0..classes`.
pub fn batch_to_tensors(
    batch: &RecordBatch,
    classes: usize,
    device: &Device,
) -> Result<BatchTensors> {
    let [c, h, w] = pipeline::batch::image_shape(&batch.schema())?;
    let n = batch.num_rows();
    let pixels = pipeline::batch::image_values(batch)?;
    let images = Tensor::from_slice(pixels, (n, c, h, w), device)?;
    let labels = pipeline::batch::labels(batch)?
        .iter()
        .map(|&l| {
            u32::try_from(l)
                .ok()
                .filter(|&l| (l as usize) < classes)
                .ok_or_else(|| Error::BatchSchema {
                    column: pipeline::batch::LABEL_COLUMN.into(),
                    reason: format!("label {l} is outside 0..{classes}"),
                })
        })
        .collect::<Result<Vec<u32>>>()?;
    let labels = Tensor::from_vec(labels, n, device)?;
    Ok(BatchTensors {
        images,
        labels,
        len: n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(rows: usize, shape: [usize; 3], labels: Vec<i32>) -> Result<RecordBatch> {
        let len: usize = shape.iter().product();
        let values: Vec<f32> = (0..rows * len).map(|i| i as f32 * 0.5).collect();
        let ids = (0..rows as u64).collect();
        Ok(pipeline::batch::build(
            &pipeline::batch::schema(shape),
            values,
            labels,
            ids,
        )?)
    }

    #[test]
    fn images_become_nchw_with_the_same_values() -> Result<()> {
        let b = batch(3, [2, 2, 3], vec![0, 4, 1])?;
        let t = batch_to_tensors(&b, 5, &Device::Cpu)?;
        assert_eq!(t.images.dims(), &[3, 2, 2, 3]);
        assert_eq!(t.len, 3);
        // Row 1, channel 1, y 0, x 2 is flat index 12 + 6 + 2 = 20 → 10.0.
        let v = t
            .images
            .get(1)?
            .get(1)?
            .get(0)?
            .get(2)?
            .to_scalar::<f32>()?;
        assert_eq!(v, 10.0);
        let all = t.images.flatten_all()?.to_vec1::<f32>()?;
        assert_eq!(all, (0..36).map(|i| i as f32 * 0.5).collect::<Vec<_>>());
        assert_eq!(t.labels.to_vec1::<u32>()?, vec![0, 4, 1]);
        Ok(())
    }

    #[test]
    fn a_label_outside_the_classes_is_named() -> Result<()> {
        let b = batch(2, [1, 2, 2], vec![0, 7])?;
        let err = batch_to_tensors(&b, 5, &Device::Cpu).unwrap_err();
        assert!(err.to_string().contains("label 7"), "{err}");
        let err = batch_to_tensors(&batch(1, [1, 2, 2], vec![-1])?, 5, &Device::Cpu).unwrap_err();
        assert!(err.to_string().contains("label -1"), "{err}");
        Ok(())
    }
}
