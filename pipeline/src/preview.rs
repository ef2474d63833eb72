//! A PNG grid of (denormalized) batch images, to see what the augmentation does.

use std::path::Path;

use arrow::array::RecordBatch;

use crate::batch;
use crate::error::{Error, Result};

/// Writes up to `max_images` images of `batch` as a grid PNG at `path`, undoing the
/// normalization with per-channel `mean`/`std` (in [0, 1] units). Returns the image count.
pub fn write_grid(
    path: &Path,
    batch: &RecordBatch,
    mean: &[f32],
    std: &[f32],
    max_images: usize,
) -> Result<usize> {
    let [c, h, w] = batch::image_shape(&batch.schema())?;
    let values = batch::image_values(batch)?;
    let n = batch.num_rows().min(max_images);
    if n == 0 {
        return Err(Error::config("preview", "the batch has no images"));
    }
    let cols = (n as f64).sqrt().ceil() as usize;
    let rows = n.div_ceil(cols);
    let gap = 2;
    let (gw, gh) = (cols * (w + gap) + gap, rows * (h + gap) + gap);
    let mut grid = image::RgbImage::from_pixel(gw as u32, gh as u32, image::Rgb([40, 40, 40]));
    let plane = h * w;
    for i in 0..n {
        let sample = &values[i * c * plane..(i + 1) * c * plane];
        let (ox, oy) = (gap + (i % cols) * (w + gap), gap + (i / cols) * (h + gap));
        for y in 0..h {
            for x in 0..w {
                let mut rgb = [0u8; 3];
                for (k, v) in rgb.iter_mut().enumerate() {
                    let ch = if c == 1 { 0 } else { k };
                    let m = mean[ch.min(mean.len() - 1)];
                    let s = std[ch.min(std.len() - 1)];
                    *v = ((sample[ch * plane + y * w + x] * s + m) * 255.0)
                        .round()
                        .clamp(0.0, 255.0) as u8;
                }
                grid.put_pixel((ox + x) as u32, (oy + y) as u32, image::Rgb(rgb));
            }
        }
    }
    grid.save_with_format(path, image::ImageFormat::Png)
        .map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?;
    Ok(n)
}
