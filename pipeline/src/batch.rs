//! Arrow batches: the schema (defined once here), batch assembly, reading the image shape back,
//! and the digest of batch bytes used for reproducibility checks.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, FixedSizeListArray, Float32Array, Int32Array, RecordBatch, UInt64Array};
use arrow::buffer::ScalarBuffer;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, ToByteSlice};
use twox_hash::XxHash3_128;

use crate::error::{Error, Result};

/// Column of the images: `FixedSizeList<Float32>` of C·H·W values, CHW order.
pub const IMAGE_COLUMN: &str = "image";
/// Column of the labels: Int32 class index.
pub const LABEL_COLUMN: &str = "label";
/// Column of the sample ids: UInt64, unique in the data set.
pub const SAMPLE_ID_COLUMN: &str = "sample_id";
/// Field-metadata key of the image shape, written as JSON `[C, H, W]`.
pub const SHAPE_METADATA_KEY: &str = "gapwatch.shape";

/// The batch schema for images of `shape = [C, H, W]`.
pub fn schema(shape: [usize; 3]) -> SchemaRef {
    let len = shape.iter().product::<usize>() as i32;
    let item = Arc::new(Field::new("item", DataType::Float32, false));
    let metadata = HashMap::from([
        (
            SHAPE_METADATA_KEY.to_string(),
            format!("[{},{},{}]", shape[0], shape[1], shape[2]),
        ),
        ("gapwatch.layout".to_string(), "CHW".to_string()),
    ]);
    Arc::new(Schema::new(vec![
        Field::new(IMAGE_COLUMN, DataType::FixedSizeList(item, len), false).with_metadata(metadata),
        Field::new(LABEL_COLUMN, DataType::Int32, false),
        Field::new(SAMPLE_ID_COLUMN, DataType::UInt64, false),
    ]))
}

/// Reads `[C, H, W]` back from the `image` field's metadata (checked against the list size).
pub fn image_shape_of_field(field: &Field) -> Result<[usize; 3]> {
    let bad = |m: String| Error::Config {
        key: format!("schema field `{}`", field.name()),
        message: m,
    };
    let text = field
        .metadata()
        .get(SHAPE_METADATA_KEY)
        .ok_or_else(|| bad(format!("no `{SHAPE_METADATA_KEY}` metadata")))?;
    let dims: Vec<usize> =
        serde_json::from_str(text).map_err(|e| bad(format!("shape `{text}`: {e}")))?;
    let shape: [usize; 3] = dims
        .try_into()
        .map_err(|d: Vec<usize>| bad(format!("shape has {} dims, expected 3", d.len())))?;
    if let DataType::FixedSizeList(_, len) = field.data_type()
        && *len as usize != shape.iter().product::<usize>()
    {
        return Err(bad(format!(
            "shape {shape:?} does not match list size {len}"
        )));
    }
    Ok(shape)
}

/// Reads `[C, H, W]` from the `image` field of `schema`.
pub fn image_shape(schema: &Schema) -> Result<[usize; 3]> {
    let field = schema.field_with_name(IMAGE_COLUMN).map_err(Error::Arrow)?;
    image_shape_of_field(field)
}

/// Builds one batch from `n` samples: `images` holds n·C·H·W floats (moved, not copied).
pub fn build(
    schema: &SchemaRef,
    images: Vec<f32>,
    labels: Vec<i32>,
    ids: Vec<u64>,
) -> Result<RecordBatch> {
    let DataType::FixedSizeList(item, len) = schema.field(0).data_type().clone() else {
        return Err(Error::config(
            "schema",
            "first field is not a FixedSizeList",
        ));
    };
    let values = Float32Array::new(ScalarBuffer::from(images), None);
    let list = FixedSizeListArray::try_new(item, len, Arc::new(values), None)?;
    Ok(RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(list),
            Arc::new(Int32Array::from(labels)),
            Arc::new(UInt64Array::from(ids)),
        ],
    )?)
}

/// Takes back the image buffer of a batch nobody else holds, for the next batch to fill:
/// `None` when another reference to the buffer lives on (a clone or slice of the batch, an
/// array taken from it), or the batch was not built by [`build`].
pub fn take_image_buffer(batch: RecordBatch) -> Option<Vec<f32>> {
    let (_, mut columns, _) = batch.into_parts();
    let column = columns.swap_remove(0);
    drop(columns);
    // Each clone adds a reference; dropping the original leaves the clone the only one.
    let list = column
        .as_any()
        .downcast_ref::<FixedSizeListArray>()?
        .clone();
    drop(column);
    let (_, _, values, _) = list.into_parts();
    let floats = values.as_any().downcast_ref::<Float32Array>()?.clone();
    drop(values);
    let (_, floats, _) = floats.into_parts();
    floats.into_inner().into_vec::<f32>().ok()
}

/// The `image` column's Float32 values (all rows, flat).
fn image_array(batch: &RecordBatch) -> Result<&Float32Array> {
    column::<FixedSizeListArray>(batch, IMAGE_COLUMN, "FixedSizeList")?
        .values()
        .as_any()
        .downcast_ref::<Float32Array>()
        .ok_or_else(|| Error::config("batch", "`image` values are not Float32"))
}

/// The image values of a batch as one flat `[N·C·H·W]` slice (no copy).
pub fn image_values(batch: &RecordBatch) -> Result<&[f32]> {
    Ok(&image_array(batch)?.values()[..])
}

/// A column of `batch` as array type `A`; `what` names it in the error.
fn column<'a, A: 'static>(batch: &'a RecordBatch, name: &str, what: &str) -> Result<&'a A> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<A>())
        .ok_or_else(|| Error::config("batch", format!("no {what} `{name}` column")))
}

/// Labels of a batch.
pub fn labels(batch: &RecordBatch) -> Result<&[i32]> {
    Ok(&column::<Int32Array>(batch, LABEL_COLUMN, "Int32")?.values()[..])
}

/// Sample ids of a batch.
pub fn sample_ids(batch: &RecordBatch) -> Result<&[u64]> {
    Ok(&column::<UInt64Array>(batch, SAMPLE_ID_COLUMN, "UInt64")?.values()[..])
}

/// XXH3-128 over the bytes of batches, in order: image floats, labels and ids of each batch.
///
/// A reproducibility check, not a security one: it tells two runs' batch streams apart, at
/// tens of GB/s (AVX2 where the CPU has it, chosen at run time), so hashing every float costs
/// the pipeline little. The values are the XXH3-128 of the reference implementation (seed 0),
/// so a digest stays comparable across gapwatch versions that feed it the same bytes.
#[derive(Clone, Default)]
pub struct BatchDigest {
    hasher: XxHash3_128,
}

impl std::fmt::Debug for BatchDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchDigest").finish_non_exhaustive()
    }
}

impl BatchDigest {
    /// An empty digest.
    pub fn new() -> BatchDigest {
        BatchDigest::default()
    }

    /// Adds one batch: its image, label and id buffers as stored (native byte order,
    /// little-endian on every platform gapwatch supports), without copying.
    pub fn update(&mut self, batch: &RecordBatch) -> Result<()> {
        self.write_images(image_array(batch)?.values());
        let labels = column::<Int32Array>(batch, LABEL_COLUMN, "Int32")?;
        let ids = column::<UInt64Array>(batch, SAMPLE_ID_COLUMN, "UInt64")?;
        self.write_labels_and_ids(labels.values(), ids.values());
        Ok(())
    }

    /// Adds image floats: a batch's, whole or a sample at a time, in order (the loader's batch
    /// stage hashes each sample as it takes it in order).
    pub(crate) fn write_images(&mut self, values: &[f32]) {
        self.hasher.write(values.to_byte_slice());
    }

    /// Ends a batch begun by [`BatchDigest::write_images`]: its labels, then its ids.
    pub(crate) fn write_labels_and_ids(&mut self, labels: &[i32], ids: &[u64]) {
        self.hasher.write(labels.to_byte_slice());
        self.hasher.write(ids.to_byte_slice());
    }

    /// The digest as 32 hex digits.
    pub fn finish(self) -> String {
        format!("{:032x}", self.hasher.finish_128())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_round_trips_through_schema_and_batch_values_are_moved_in() {
        let s = schema([3, 2, 4]);
        assert_eq!(image_shape(&s).unwrap(), [3, 2, 4]);
        let images: Vec<f32> = (0..48).map(|i| i as f32).collect();
        let b = build(&s, images.clone(), vec![1, 2], vec![10, 11]).unwrap();
        assert_eq!(b.num_rows(), 2);
        assert_eq!(image_values(&b).unwrap(), &images[..]);
        assert_eq!(image_values(&b.slice(1, 1)).unwrap(), &images[24..]);
        assert_eq!(labels(&b).unwrap(), &[1, 2]);
        assert_eq!(sample_ids(&b).unwrap(), &[10, 11]);
    }

    #[test]
    fn an_unshared_batch_gives_its_image_buffer_back_and_a_shared_one_does_not() {
        let s = schema([1, 2, 2]);
        let images: Vec<f32> = (0..8).map(|i| i as f32).collect();
        let b = build(&s, images.clone(), vec![0, 1], vec![0, 1]).unwrap();
        let at = image_values(&b).unwrap().as_ptr();
        let back = take_image_buffer(b).expect("nobody else holds the buffer");
        assert_eq!((back.as_ptr(), &back[..]), (at, &images[..]));

        let b = build(&s, images.clone(), vec![0, 1], vec![0, 1]).unwrap();
        let kept = b.slice(1, 1);
        assert!(
            take_image_buffer(b).is_none(),
            "a slice still reads the buffer"
        );
        assert_eq!(image_values(&kept).unwrap(), &images[4..]);
        let b = build(&s, images.clone(), vec![0, 1], vec![0, 1]).unwrap();
        let kept = b.column(0).clone();
        assert!(
            take_image_buffer(b).is_none(),
            "a column still reads the buffer"
        );
        drop(kept);
    }

    #[test]
    fn digest_changes_with_any_byte() {
        let s = schema([1, 1, 2]);
        let d = |v: f32| {
            let mut d = BatchDigest::new();
            d.update(&build(&s, vec![0.0, v], vec![0], vec![0]).unwrap())
                .unwrap();
            d.finish()
        };
        assert_eq!(d(1.0), d(1.0));
        assert_ne!(d(1.0), d(1.5));
    }

    #[test]
    fn digest_is_the_reference_xxh3_128_of_the_batch_bytes() {
        // The reference implementation's XXH3-128 (seed 0) of no bytes, and of one batch's
        // bytes: floats 0.5, -2.0, label 3, id 7, little-endian, in that order.
        assert_eq!(
            BatchDigest::new().finish(),
            "99aa06d3014798d86001c324468d497f"
        );
        let mut d = BatchDigest::new();
        d.update(&build(&schema([1, 1, 2]), vec![0.5, -2.0], vec![3], vec![7]).unwrap())
            .unwrap();
        assert_eq!(d.finish(), "75fa036af2326282b6b033aca47837f5");
        // Past the streaming buffer and the 1 KiB stripes block: the AVX2 path at run time.
        let long: Vec<f32> = (0..70_000).map(|i| (i % 251) as f32 * 0.25).collect();
        let bytes: Vec<u8> = long.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut d = BatchDigest::new();
        d.update(&build(&schema([1, 1, 70_000]), long, vec![0], vec![0]).unwrap())
            .unwrap();
        let mut whole = bytes;
        whole.extend_from_slice(&0i32.to_le_bytes());
        whole.extend_from_slice(&0u64.to_le_bytes());
        assert_eq!(
            d.finish(),
            format!("{:032x}", XxHash3_128::oneshot(&whole)),
            "streamed batch buffers hash as their concatenation"
        );
    }
}
