//! IDX sources (MNIST's format, optionally gzipped): `train-*` files, optional `t10k-*` test
//! files, pixels read into memory when the data set opens.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::listing::{Classes, IdxImages, Listing};
use super::sample::{Location, Sample};
use crate::error::{Error, Result};

/// `dir/name` or `dir/name.gz`, whichever exists.
pub(super) fn idx_file(dir: &Path, name: &str) -> Option<PathBuf> {
    [dir.join(name), dir.join(format!("{name}.gz"))]
        .into_iter()
        .find(|p| p.is_file())
}

fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|source| Error::Io {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    bytes
        .get(at..at + 4)
        .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads an IDX image file (magic 0x803) and its label file (magic 0x801).
fn read_idx_pair(images: &Path, labels: &Path) -> Result<(IdxImages, Vec<u8>)> {
    let bad = |path: &Path, message: String| Error::Dataset {
        path: path.to_path_buf(),
        message,
    };
    let img = read_maybe_gz(images)?;
    if img.len() < 16 || be_u32(&img, 0) != 0x0803 {
        return Err(bad(
            images,
            "not an IDX image file (magic 0x00000803)".into(),
        ));
    }
    let (count, rows, cols) = (be_u32(&img, 4) as usize, be_u32(&img, 8), be_u32(&img, 12));
    let need = 16 + count * rows as usize * cols as usize;
    if img.len() < need || rows == 0 || cols == 0 {
        return Err(bad(
            images,
            format!(
                "{count} images of {rows}x{cols} need {need} bytes, file has {}",
                img.len()
            ),
        ));
    }
    let lab = read_maybe_gz(labels)?;
    if lab.len() < 8 || be_u32(&lab, 0) != 0x0801 {
        return Err(bad(
            labels,
            "not an IDX label file (magic 0x00000801)".into(),
        ));
    }
    let lcount = be_u32(&lab, 4) as usize;
    if lcount != count || lab.len() < 8 + count {
        return Err(bad(labels, format!("{lcount} labels for {count} images")));
    }
    let pixels = img[16..need].to_vec();
    Ok((
        IdxImages {
            path: images.to_path_buf(),
            rows,
            cols,
            pixels,
        },
        lab[8..8 + count].to_vec(),
    ))
}

pub(super) fn open_idx(dir: &Path) -> Result<Listing> {
    let missing = |name: &str| Error::Dataset {
        path: dir.to_path_buf(),
        message: format!("missing IDX file {name}[.gz]"),
    };
    let ti = idx_file(dir, "train-images-idx3-ubyte")
        .ok_or_else(|| missing("train-images-idx3-ubyte"))?;
    let tl = idx_file(dir, "train-labels-idx1-ubyte")
        .ok_or_else(|| missing("train-labels-idx1-ubyte"))?;
    let (train_images, train_labels) = read_idx_pair(&ti, &tl)?;
    let native = (train_images.cols, train_images.rows);
    let to_samples = |set: usize, labels: &[u8]| -> Vec<Sample> {
        labels
            .iter()
            .enumerate()
            .map(|(i, &l)| Sample {
                id: i as u64,
                label: i32::from(l),
                location: Location::Idx { set, index: i },
            })
            .collect()
    };
    let train = to_samples(0, &train_labels);
    let mut sets = vec![train_images];
    let mut test = None;
    let mut max_label = train_labels.iter().copied().max().unwrap_or(0);
    if let (Some(si), Some(sl)) = (
        idx_file(dir, "t10k-images-idx3-ubyte"),
        idx_file(dir, "t10k-labels-idx1-ubyte"),
    ) {
        let (images, labels) = read_idx_pair(&si, &sl)?;
        if (images.cols, images.rows) != native {
            return Err(Error::Dataset {
                path: si,
                message: format!(
                    "{}x{} images, training has {}x{}",
                    images.cols, images.rows, native.0, native.1
                ),
            });
        }
        max_label = max_label.max(labels.iter().copied().max().unwrap_or(0));
        test = Some(to_samples(1, &labels));
        sets.push(images);
    }
    let names = if max_label as usize + 1 == FASHION_MNIST_CLASSES.len() {
        FASHION_MNIST_CLASSES
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        (0..=max_label).map(|l| l.to_string()).collect()
    };
    Ok(Listing {
        classes: Classes { names },
        train,
        val: None,
        test,
        idx_sets: sets,
        native_size: Some(native),
    })
}

/// Fashion-MNIST's class names, used for IDX data with exactly ten labels.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];
