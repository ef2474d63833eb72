//! The `[data]` table: which data set, how it is laid out, split and decoded, and the limits on
//! what is decoded.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Default data set path, relative to the working directory (the bundled Fashion-MNIST subset).
pub const DEFAULT_DATA_PATH: &str = "data/fashion-mnist-mini";
/// Default fraction of the training source held out for validation.
pub const DEFAULT_VAL_FRACTION: f64 = 0.1;
/// Default seed of the train/validation split (fixed, so runs with different seeds share it).
pub const DEFAULT_SPLIT_SEED: u64 = 0;
/// Default limit on decoded pixels (width × height) of one image: larger files are rejected.
pub const DEFAULT_MAX_PIXELS: u64 = 50_000_000;
/// Default limit on an image's aspect ratio (defined with the decoder, which checks it).
pub use crate::decode::DEFAULT_MAX_ASPECT_RATIO;
/// Default limit on an image file's size, in MiB: larger files are skipped (`file_too_large`)
/// from their metadata, before a byte is read (a 50-megapixel JPEG is 10 to 30 MiB).
pub const DEFAULT_MAX_FILE_MB: u64 = 64;

/// How the data set at `path` is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceFormat {
    /// Guess: a file → manifest; a folder with `train-images-idx3-ubyte[.gz]` → IDX; else folder.
    #[default]
    Auto,
    /// IDX files (`train-images-idx3-ubyte[.gz]`, labels, optional `t10k-*` test files).
    Idx,
    /// ImageFolder: `root/<class>/*.{jpg,jpeg,png}` (or a flat folder of images: one class),
    /// optionally `root/{train,val,test}/<class>/...`.
    Folder,
    /// A CSV or TSV manifest with columns `path,label` (header optional, paths relative to it).
    Manifest,
}

/// The colour mode images are decoded to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColorMode {
    /// Gray for IDX, RGB for image files.
    #[default]
    Auto,
    /// 8-bit gray, one channel.
    Gray,
    /// 8-bit RGB, three channels (alpha dropped, palette expanded).
    Rgb,
}

/// The scale JPEG files are decoded at (`data.decode_scale`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecodeScale {
    /// Every image at its full size.
    #[default]
    Full,
    /// A JPEG much larger than the transform chain needs is decoded at 1/2, 1/4 or 1/8 of its
    /// size, straight from its DCT coefficients (a decoded-image cache 4 to 64 times smaller;
    /// at 1/8, about a quarter less decode time; at 1/2, about the same): the smallest of these
    /// scales at which every crop or resize of the chain still shrinks the image (see
    /// [`Chain::min_decode_size`](crate::transform::Chain::min_decode_size)); otherwise, and
    /// for PNGs, at full size. It changes pixels: the chain sees a slightly softer image than
    /// a full decode gives (the scaling averages 8×8, 4×4 or 2×2 blocks), the same for the same
    /// file on every run.
    Auto,
}

/// Where the validation split comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValSource {
    /// `val_path` if set; else a `val/` folder if present; else carved from the training source by
    /// `val_fraction`. The IDX `t10k` files (and a `test/` folder) are the test split.
    #[default]
    Auto,
    /// Always carve validation from the training source by `val_fraction`.
    Split,
    /// Use the test source (IDX `t10k`, `test/` folder) as validation; there is no test split.
    Test,
    /// No validation split: every sample of the training source is in training (for measuring
    /// the pipeline over a whole folder, e.g. `track pipeline --no-val`).
    None,
}

/// What to do with a sample that cannot be read or decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Skip it, count it by reason and log its path.
    #[default]
    Skip,
    /// Stop the run with an error naming the file.
    Fail,
}

impl std::str::FromStr for OnError {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "skip" => Ok(OnError::Skip),
            "fail" => Ok(OnError::Fail),
            other => Err(Error::config(
                "on_error",
                format!("`{other}`: expected skip or fail"),
            )),
        }
    }
}

/// The `[data]` table: which data set, how it is split and decoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// Data set path: an IDX folder, an ImageFolder root, or a CSV/TSV manifest file.
    pub path: PathBuf,
    /// Layout of `path` (default: guessed).
    pub format: SourceFormat,
    /// Colour mode images are decoded to (default: gray for IDX, RGB for image files).
    pub color: ColorMode,
    /// Fraction of the training source held out, stratified by class, for validation (0 < f < 1).
    pub val_fraction: f64,
    /// Where validation comes from.
    pub val_source: ValSource,
    /// An explicit validation source (ImageFolder or manifest); overrides `val_source`.
    pub val_path: Option<PathBuf>,
    /// Seed of the stratified train/validation split and of subsets (independent of the run seed).
    pub split_seed: u64,
    /// Largest accepted image, in decoded pixels (width × height); larger files are skipped.
    pub max_pixels: u64,
    /// Largest accepted aspect ratio (long side / short side, ≥ 1); more elongated images are
    /// skipped (`aspect_ratio`) before decoding.
    pub max_aspect_ratio: f64,
    /// Largest accepted image file, in MiB; larger files are skipped (`file_too_large`) unread.
    pub max_file_mb: u64,
    /// The scale JPEGs are decoded at: `full` (the default) or `auto` (a large JPEG at 1/2, 1/4
    /// or 1/8 of its size when the transforms only shrink it further; changes pixels).
    pub decode_scale: DecodeScale,
    /// Policy for unreadable or undecodable samples.
    pub on_error: OnError,
    /// Use at most this many samples of each split (a seeded, stratified subset); none: all.
    pub limit: Option<usize>,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            path: PathBuf::from(DEFAULT_DATA_PATH),
            format: SourceFormat::Auto,
            color: ColorMode::Auto,
            val_fraction: DEFAULT_VAL_FRACTION,
            val_source: ValSource::Auto,
            val_path: None,
            split_seed: DEFAULT_SPLIT_SEED,
            max_pixels: DEFAULT_MAX_PIXELS,
            max_aspect_ratio: DEFAULT_MAX_ASPECT_RATIO,
            max_file_mb: DEFAULT_MAX_FILE_MB,
            decode_scale: DecodeScale::Full,
            on_error: OnError::Skip,
            limit: None,
        }
    }
}

impl DataConfig {
    /// Checks the invariants: `0 < val_fraction < 1`, `max_pixels > 0`,
    /// `max_aspect_ratio ≥ 1`, `max_file_mb > 0`, `limit > 0`.
    pub fn validate(&self) -> Result<()> {
        if !(self.val_fraction > 0.0 && self.val_fraction < 1.0) {
            return Err(Error::config(
                "data.val_fraction",
                format!(
                    "{} is out of range: expected 0 < val_fraction < 1",
                    self.val_fraction
                ),
            ));
        }
        if self.max_pixels == 0 {
            return Err(Error::config("data.max_pixels", "must be > 0"));
        }
        if !(self.max_aspect_ratio >= 1.0 && self.max_aspect_ratio.is_finite()) {
            return Err(Error::config(
                "data.max_aspect_ratio",
                format!(
                    "{} is out of range: expected a finite ratio >= 1 (long side / short side)",
                    self.max_aspect_ratio
                ),
            ));
        }
        if self.max_file_mb == 0 {
            return Err(Error::config("data.max_file_mb", "must be > 0"));
        }
        if self.limit == Some(0) {
            return Err(Error::config("data.limit", "must be > 0"));
        }
        Ok(())
    }
}
