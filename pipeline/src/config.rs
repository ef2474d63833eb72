//! Configuration: the `[data]`, `[transforms]` and `[loader]` tables of a run config, plus `seed`.
//!
//! A run config file holds tables the pipeline does not own (`[model]`, `[optim]`, ...);
//! [`PipelineConfig::from_toml_str`] reads only its own tables and ignores the others, but every
//! table it owns denies unknown keys, so a typo is an error naming the key.
//!
//! ```toml
//! seed = 7
//! [data]
//! path = "data/fashion-mnist-mini"
//! val_fraction = 0.1
//! [transforms]
//! augment = "standard"          # "none" | "standard" | "custom" (uses `train`)
//! normalize = "dataset"         # "none" | "imagenet" | "dataset" | { mean = [..], std = [..] }
//! train = [{ op = "random_crop", size = 28, padding = 2 }, { op = "hflip", p = 0.5 }]
//! [loader]
//! batch_size = 64
//! ```

use std::path::{Path, PathBuf};

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
/// Default limit on an image's aspect ratio (long side / short side): more elongated images are
/// skipped (`aspect_ratio`) from their header, before decoding. Resizing the shorter side of a
/// 1×4,000,000 strip to 256 would need a 256×1,024,000,000 image; at 50:1 the eval resize of a
/// 224 output makes at most 256×12,800.
pub const DEFAULT_MAX_ASPECT_RATIO: f64 = 50.0;
/// Default limit on an image file's size, in MiB: larger files are skipped (`file_too_large`)
/// from their metadata, before a byte is read (a 50-megapixel JPEG is 10 to 30 MiB).
pub const DEFAULT_MAX_FILE_MB: u64 = 64;
/// Default output side for sources of varying image size (ImageFolder, manifest): small enough
/// that a CNN trains from scratch on a few hundred photos at a useful speed on a CPU (the
/// ImageNet-pretrained models' 224 costs about 12 times the compute per image).
pub const DEFAULT_FOLDER_IMAGE_SIZE: u32 = 64;
/// Default run seed (augmentation and shuffling).
pub const DEFAULT_SEED: u64 = 42;
/// Default batch size.
pub const DEFAULT_BATCH_SIZE: usize = 64;
/// Default capacity of each inter-stage channel, in items.
pub const DEFAULT_CHANNEL_CAPACITY: usize = 32;
/// Default budget of the decoded-image cache, in MiB.
pub const DEFAULT_CACHE_MB: u64 = 1024;
/// Default probability of the flips.
pub const DEFAULT_FLIP_P: f32 = 0.5;
/// Default scale range of `random_resized_crop` (torchvision's).
pub const DEFAULT_RRC_SCALE: [f32; 2] = [0.08, 1.0];
/// Default aspect-ratio range of `random_resized_crop` (torchvision's).
pub const DEFAULT_RRC_RATIO: [f32; 2] = [3.0 / 4.0, 4.0 / 3.0];
/// ImageNet per-channel mean (RGB).
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet per-channel standard deviation (RGB).
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

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

/// Which augmentation the training split gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Augment {
    /// No augmentation: training gets the evaluation chain.
    None,
    /// The preset that fights overfitting for the data: small gray images (≤ 64 px) get
    /// random crop with padding 2 + horizontal flip; larger images get random resized crop +
    /// horizontal flip + rotation 15° + color jitter 0.2.
    #[default]
    Standard,
    /// The ordered list in `transforms.train`.
    Custom,
}

/// Resampling filter of resizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Filter {
    /// Nearest neighbour.
    Nearest,
    /// Bilinear (torchvision's default).
    #[default]
    Bilinear,
    /// Bicubic (Catmull-Rom).
    Bicubic,
    /// Lanczos with 3 lobes.
    Lanczos3,
}

/// Sampling of `rotation` (torchvision's `interpolation` of `RandomRotation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interpolation {
    /// The nearest source pixel (torchvision's default for `RandomRotation`).
    Nearest,
    /// Bilinear: the four nearest source pixels, weighted by distance.
    #[default]
    Bilinear,
}

/// How `random_crop` pads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaddingMode {
    /// Pad with `fill`.
    #[default]
    Constant,
    /// Mirror without repeating the edge pixel (torchvision's `reflect`).
    Reflect,
}

fn default_p() -> f32 {
    DEFAULT_FLIP_P
}
fn default_scale() -> [f32; 2] {
    DEFAULT_RRC_SCALE
}
fn default_ratio() -> [f32; 2] {
    DEFAULT_RRC_RATIO
}

/// One transform of an ordered chain; in TOML a table with `op` and the parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum TransformSpec {
    /// Resize: `size` = shorter side (aspect kept), or exact `width` and `height`.
    Resize {
        /// Target shorter side, in pixels.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        size: Option<u32>,
        /// Exact target width (with `height`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        width: Option<u32>,
        /// Exact target height (with `width`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        height: Option<u32>,
        /// Resampling filter.
        #[serde(default)]
        filter: Filter,
    },
    /// Crop the central `size`×`size` square (padding with 0 if the image is smaller).
    CenterCrop {
        /// Side, in pixels.
        size: u32,
    },
    /// torchvision's `RandomResizedCrop`: a box of random area fraction and aspect ratio (10 tries,
    /// then a center fallback), resized to `size`×`size`.
    RandomResizedCrop {
        /// Output side, in pixels.
        size: u32,
        /// Range of the box's area as a fraction of the image's.
        #[serde(default = "default_scale")]
        scale: [f32; 2],
        /// Range of the box's aspect ratio (width / height), sampled log-uniformly.
        #[serde(default = "default_ratio")]
        ratio: [f32; 2],
        /// Resampling filter.
        #[serde(default)]
        filter: Filter,
    },
    /// torchvision's `RandomCrop(size, padding)`: pad every side, then crop `size`×`size` at a
    /// random position.
    RandomCrop {
        /// Output side, in pixels.
        size: u32,
        /// Padding on every side, in pixels.
        #[serde(default)]
        padding: u32,
        /// How the padding is filled.
        #[serde(default)]
        padding_mode: PaddingMode,
        /// Fill value of constant padding (0..=255).
        #[serde(default)]
        fill: u8,
    },
    /// Mirror left-right with probability `p`.
    Hflip {
        /// Probability in [0, 1].
        #[serde(default = "default_p")]
        p: f32,
    },
    /// Mirror top-bottom with probability `p`.
    Vflip {
        /// Probability in [0, 1].
        #[serde(default = "default_p")]
        p: f32,
    },
    /// Rotate by an angle uniform in [-degrees, degrees] about the center, same size.
    Rotation {
        /// Largest absolute angle, in degrees (0..=180).
        degrees: f32,
        /// `bilinear` (the default) or `nearest` (torchvision's default).
        #[serde(default)]
        interpolation: Interpolation,
        /// Fill value of the uncovered corners (0..=255).
        #[serde(default)]
        fill: u8,
    },
    /// torchvision's `ColorJitter`: brightness, contrast, saturation factors uniform in
    /// [max(0, 1-x), 1+x], hue shift uniform in [-hue, hue] turns, applied in random order.
    ColorJitter {
        /// Brightness spread (≥ 0).
        #[serde(default)]
        brightness: f32,
        /// Contrast spread (≥ 0).
        #[serde(default)]
        contrast: f32,
        /// Saturation spread (≥ 0).
        #[serde(default)]
        saturation: f32,
        /// Hue spread, in turns (0..=0.5).
        #[serde(default)]
        hue: f32,
    },
}

impl TransformSpec {
    /// Whether the transform draws random numbers (evaluation chains must be deterministic).
    pub fn is_random(&self) -> bool {
        !matches!(
            self,
            TransformSpec::Resize { .. } | TransformSpec::CenterCrop { .. }
        )
    }

    /// Checks every parameter's range; `key` is where the transform sits (`transforms.train[1]`).
    pub fn validate(&self, key: &str) -> Result<()> {
        let bad =
            |field: &str, message: String| Err(Error::config(format!("{key}.{field}"), message));
        let positive = |field: &str, v: u32| {
            if v == 0 {
                bad(field, "must be > 0".to_string())
            } else {
                Ok(())
            }
        };
        let prob = |field: &str, p: f32| {
            if (0.0..=1.0).contains(&p) {
                Ok(())
            } else {
                bad(field, format!("{p} is out of range 0..=1"))
            }
        };
        match *self {
            TransformSpec::Resize {
                size,
                width,
                height,
                ..
            } => match (size, width, height) {
                (Some(s), None, None) => positive("size", s),
                (None, Some(w), Some(h)) => positive("width", w).and(positive("height", h)),
                _ => bad(
                    "size",
                    "give either `size` (shorter side) or both `width` and `height`".into(),
                ),
            },
            TransformSpec::CenterCrop { size } => positive("size", size),
            TransformSpec::RandomResizedCrop {
                size, scale, ratio, ..
            } => {
                positive("size", size)?;
                if !(scale[0] > 0.0 && scale[0] <= scale[1] && scale[1] <= 1.0) {
                    return bad("scale", format!("{scale:?}: expected 0 < min <= max <= 1"));
                }
                if !(ratio[0] > 0.0 && ratio[0] <= ratio[1]) {
                    return bad("ratio", format!("{ratio:?}: expected 0 < min <= max"));
                }
                Ok(())
            }
            TransformSpec::RandomCrop { size, padding, .. } => {
                positive("size", size)?;
                if padding > 1024 {
                    return bad("padding", format!("{padding} is out of range 0..=1024"));
                }
                Ok(())
            }
            TransformSpec::Hflip { p } | TransformSpec::Vflip { p } => prob("p", p),
            TransformSpec::Rotation { degrees, .. } => {
                if (0.0..=180.0).contains(&degrees) {
                    Ok(())
                } else {
                    bad("degrees", format!("{degrees} is out of range 0..=180"))
                }
            }
            TransformSpec::ColorJitter {
                brightness,
                contrast,
                saturation,
                hue,
            } => {
                for (field, v) in [
                    ("brightness", brightness),
                    ("contrast", contrast),
                    ("saturation", saturation),
                ] {
                    if !(v >= 0.0 && v.is_finite()) {
                        return bad(field, format!("{v} is out of range: expected >= 0"));
                    }
                }
                if !(0.0..=0.5).contains(&hue) {
                    return bad("hue", format!("{hue} is out of range 0..=0.5"));
                }
                Ok(())
            }
        }
    }
}

/// Per-channel normalization applied last: `(x / 255 - mean) / std`.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Normalize {
    /// Only scale to [0, 1].
    None,
    /// ImageNet's mean/std (RGB; their average for gray).
    Imagenet,
    /// The training split's own per-channel mean/std (one streaming pass, cached per data set).
    #[default]
    Dataset,
    /// Given per-channel values (one entry per channel, or one for all).
    Given {
        /// Means, in [0, 1] units.
        mean: Vec<f32>,
        /// Standard deviations, in [0, 1] units (> 0).
        std: Vec<f32>,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum NormalizeRepr {
    Name(String),
    Given { mean: Vec<f32>, std: Vec<f32> },
}

impl Serialize for Normalize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let repr = match self {
            Normalize::None => NormalizeRepr::Name("none".into()),
            Normalize::Imagenet => NormalizeRepr::Name("imagenet".into()),
            Normalize::Dataset => NormalizeRepr::Name("dataset".into()),
            Normalize::Given { mean, std } => NormalizeRepr::Given {
                mean: mean.clone(),
                std: std.clone(),
            },
        };
        repr.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Normalize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        match NormalizeRepr::deserialize(d).map_err(|_| {
            D::Error::custom(
                "expected \"none\", \"imagenet\", \"dataset\" or { mean = [..], std = [..] }",
            )
        })? {
            NormalizeRepr::Name(name) => match name.as_str() {
                "none" => Ok(Normalize::None),
                "imagenet" => Ok(Normalize::Imagenet),
                "dataset" => Ok(Normalize::Dataset),
                other => Err(D::Error::custom(format!(
                    "unknown normalization `{other}`: expected none, imagenet, dataset or {{ mean, std }}"
                ))),
            },
            NormalizeRepr::Given { mean, std } => Ok(Normalize::Given { mean, std }),
        }
    }
}

/// The `[transforms]` table: the training and evaluation chains and the normalization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransformsConfig {
    /// Training augmentation: `none`, `standard` (the preset for the data) or `custom` (`train`).
    pub augment: Augment,
    /// Output side in pixels; none: the native size of IDX data, [`DEFAULT_FOLDER_IMAGE_SIZE`]
    /// (64) for image files.
    pub size: Option<u32>,
    /// The ordered training chain used when `augment = "custom"` (normalization is appended).
    pub train: Vec<TransformSpec>,
    /// The deterministic evaluation chain (resize, center crop); empty: derived from `size`
    /// (image files: resize the shorter side to size·256/224, center crop `size`).
    pub eval: Vec<TransformSpec>,
    /// Per-channel normalization, last in both chains.
    pub normalize: Normalize,
}

impl Default for TransformsConfig {
    fn default() -> Self {
        TransformsConfig {
            augment: Augment::Standard,
            size: None,
            train: Vec::new(),
            eval: Vec::new(),
            normalize: Normalize::Dataset,
        }
    }
}

impl TransformsConfig {
    /// Checks every transform's parameters, that `eval` is deterministic, that `custom` has a
    /// `train` list and that given mean/std are sane.
    pub fn validate(&self) -> Result<()> {
        if self.size == Some(0) {
            return Err(Error::config("transforms.size", "must be > 0"));
        }
        for (i, t) in self.train.iter().enumerate() {
            t.validate(&format!("transforms.train[{i}]"))?;
        }
        for (i, t) in self.eval.iter().enumerate() {
            let key = format!("transforms.eval[{i}]");
            t.validate(&key)?;
            if t.is_random() {
                return Err(Error::config(
                    key,
                    "evaluation transforms must be deterministic (resize, center_crop)",
                ));
            }
        }
        if self.augment == Augment::Custom && self.train.is_empty() {
            return Err(Error::config(
                "transforms.train",
                "augment = \"custom\" needs a non-empty `train` list",
            ));
        }
        if let Normalize::Given { mean, std } = &self.normalize {
            if mean.is_empty() || mean.len() != std.len() || mean.len() > 3 {
                return Err(Error::config(
                    "transforms.normalize",
                    "mean and std need the same length: 1 or one per channel",
                ));
            }
            if std.iter().any(|s| !(*s > 0.0 && s.is_finite())) {
                return Err(Error::config(
                    "transforms.normalize.std",
                    "every std must be > 0",
                ));
            }
        }
        Ok(())
    }
}

/// The `[loader]` table: batching, parallelism, buffering, caching.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoaderConfig {
    /// Samples per batch (the last batch of an epoch may be smaller unless `drop_last`).
    pub batch_size: usize,
    /// Decode worker threads; 0: the machine's cores.
    pub decode_workers: usize,
    /// Augment+normalize worker threads; 0: the machine's cores.
    pub augment_workers: usize,
    /// Capacity of each inter-stage channel, in items (backpressure bound).
    pub channel_capacity: usize,
    /// Budget of the in-memory decoded-image cache, in MiB (0: no cache).
    pub cache_mb: u64,
    /// Drop the last batch of an epoch when it is smaller than `batch_size` (training only).
    pub drop_last: bool,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        LoaderConfig {
            batch_size: DEFAULT_BATCH_SIZE,
            decode_workers: 0,
            augment_workers: 0,
            channel_capacity: DEFAULT_CHANNEL_CAPACITY,
            cache_mb: DEFAULT_CACHE_MB,
            drop_last: false,
        }
    }
}

impl LoaderConfig {
    /// Checks `batch_size > 0` and `channel_capacity > 0`.
    pub fn validate(&self) -> Result<()> {
        if self.batch_size == 0 {
            return Err(Error::config("loader.batch_size", "must be > 0"));
        }
        if self.channel_capacity == 0 {
            return Err(Error::config("loader.channel_capacity", "must be > 0"));
        }
        Ok(())
    }

    /// Worker count for a stage: the configured one, or the machine's cores when 0.
    pub fn workers(configured: usize) -> usize {
        if configured > 0 {
            configured
        } else {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        }
    }
}

/// Everything the pipeline reads from a run config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PipelineConfig {
    /// `[data]`.
    pub data: DataConfig,
    /// `[transforms]`.
    pub transforms: TransformsConfig,
    /// `[loader]`.
    pub loader: LoaderConfig,
    /// Run seed: shuffling by (seed, epoch), augmentation by (seed, epoch, sample id).
    pub seed: u64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            data: DataConfig::default(),
            transforms: TransformsConfig::default(),
            loader: LoaderConfig::default(),
            seed: DEFAULT_SEED,
        }
    }
}

impl PipelineConfig {
    /// Parses the pipeline's tables of a run config (other tables are ignored) and validates.
    /// `origin` names the text in errors (a file path).
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self> {
        let table: toml::Table = toml::from_str(text).map_err(|e| Error::ConfigParse {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        let mut config = PipelineConfig::default();
        let parse_err = |key: &str, e: toml::de::Error| Error::ConfigParse {
            origin: format!("{origin} [{key}]"),
            message: e.message().to_string(),
        };
        if let Some(v) = table.get("data") {
            config.data = v.clone().try_into().map_err(|e| parse_err("data", e))?;
        }
        if let Some(v) = table.get("transforms") {
            config.transforms = v
                .clone()
                .try_into()
                .map_err(|e| parse_err("transforms", e))?;
        }
        if let Some(v) = table.get("loader") {
            config.loader = v.clone().try_into().map_err(|e| parse_err("loader", e))?;
        }
        if let Some(v) = table.get("seed") {
            config.seed = v
                .as_integer()
                .and_then(|i| u64::try_from(i).ok())
                .ok_or_else(|| {
                    Error::config("seed", format!("{v} is not a non-negative integer"))
                })?;
        }
        config.validate()?;
        Ok(config)
    }

    /// Reads and parses a run config file (see [`PipelineConfig::from_toml_str`]).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml_str(&text, &path.display().to_string())
    }

    /// Validates all three tables.
    pub fn validate(&self) -> Result<()> {
        self.data.validate()?;
        self.transforms.validate()?;
        self.loader.validate()
    }
}

/// Parses a command-line transform list: `op(key=value,...)` items separated by `,` or `;`,
/// e.g. `random_resized_crop(size=224),hflip,rotation(degrees=15),color_jitter(brightness=0.2)`.
/// Values are TOML values; bare words are strings (`padding_mode=reflect`).
pub fn parse_transform_list(text: &str) -> Result<Vec<TransformSpec>> {
    let mut specs = Vec::new();
    for (index, item) in split_top_level(text, &[',', ';']).into_iter().enumerate() {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let key = format!("transform #{} `{item}`", index + 1);
        let (op, args) = match item.find('(') {
            Some(open) => {
                let Some(body) = item[open + 1..].strip_suffix(')') else {
                    return Err(Error::config(key, "missing `)`"));
                };
                (item[..open].trim(), body)
            }
            None => (item, ""),
        };
        let mut table = toml::Table::new();
        table.insert("op".into(), toml::Value::String(op.to_string()));
        for arg in split_top_level(args, &[',']) {
            let arg = arg.trim();
            if arg.is_empty() {
                continue;
            }
            let Some((k, v)) = arg.split_once('=') else {
                return Err(Error::config(key, format!("`{arg}`: expected key=value")));
            };
            let v = v.trim();
            let value = toml::from_str::<toml::Table>(&format!("v = {v}"))
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or_else(|| toml::Value::String(v.to_string()));
            table.insert(k.trim().to_string(), value);
        }
        let spec: TransformSpec = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| Error::config(key.clone(), e.message().to_string()))?;
        spec.validate(&key)?;
        specs.push(spec);
    }
    Ok(specs)
}

/// Splits at any of `seps` outside brackets and parentheses.
fn split_top_level<'a>(text: &'a str, seps: &[char]) -> Vec<&'a str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            c if depth == 0 && seps.contains(&c) => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_config_with_foreign_tables_parses_only_pipeline_tables() {
        let text = r#"
            seed = 7
            [model]
            layers = 3
            [optim]
            lr = 0.1
            [data]
            val_fraction = 0.2
            [transforms]
            augment = "none"
            normalize = { mean = [0.5], std = [0.25] }
            [loader]
            batch_size = 16
        "#;
        let c = PipelineConfig::from_toml_str(text, "run.toml").unwrap();
        assert_eq!(c.seed, 7);
        assert_eq!(c.data.val_fraction, 0.2);
        assert_eq!(c.transforms.augment, Augment::None);
        assert_eq!(
            c.transforms.normalize,
            Normalize::Given {
                mean: vec![0.5],
                std: vec![0.25]
            }
        );
        assert_eq!(c.loader.batch_size, 16);
    }

    #[test]
    fn unknown_key_in_own_table_is_an_error_naming_it() {
        let e =
            PipelineConfig::from_toml_str("[loader]\nbatch_sise = 3\n", "run.toml").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("batch_sise") && msg.contains("loader"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_transform_and_unknown_parameter_are_errors() {
        let e = PipelineConfig::from_toml_str(
            "[transforms]\naugment = \"custom\"\ntrain = [{ op = \"sharpen\" }]\n",
            "run.toml",
        )
        .unwrap_err();
        assert!(e.to_string().contains("sharpen"), "{e}");
        let e = parse_transform_list("hflip(q=0.5)").unwrap_err();
        assert!(e.to_string().contains('q'), "{e}");
    }

    #[test]
    fn out_of_range_parameter_names_the_key() {
        let e = parse_transform_list("hflip,rotation(degrees=400)").unwrap_err();
        assert!(e.to_string().contains("degrees"), "{e}");
        let e = PipelineConfig::from_toml_str("[data]\nval_fraction = 1.5\n", "f").unwrap_err();
        assert!(e.to_string().contains("data.val_fraction"), "{e}");
    }

    #[test]
    fn command_line_transform_list_parses_in_order() {
        let list = parse_transform_list(
            "random_resized_crop(size=224,scale=[0.5,1.0]);hflip;rotation(degrees=15);\
             random_crop(size=28,padding=2,padding_mode=reflect),color_jitter(brightness=0.2)",
        )
        .unwrap();
        assert_eq!(list.len(), 5);
        assert_eq!(
            list[0],
            TransformSpec::RandomResizedCrop {
                size: 224,
                scale: [0.5, 1.0],
                ratio: DEFAULT_RRC_RATIO,
                filter: Filter::Bilinear
            }
        );
        assert_eq!(list[1], TransformSpec::Hflip { p: 0.5 });
        assert!(matches!(
            list[3],
            TransformSpec::RandomCrop {
                padding_mode: PaddingMode::Reflect,
                ..
            }
        ));
    }

    #[test]
    fn rotation_takes_torchvision_interpolations_and_names_a_wrong_one() {
        let list = parse_transform_list("rotation(degrees=15,interpolation=nearest)").unwrap();
        assert_eq!(
            list[0],
            TransformSpec::Rotation {
                degrees: 15.0,
                interpolation: Interpolation::Nearest,
                fill: 0
            }
        );
        let list = parse_transform_list("rotation(degrees=15)").unwrap();
        assert!(matches!(
            list[0],
            TransformSpec::Rotation {
                interpolation: Interpolation::Bilinear,
                ..
            }
        ));
        let e = parse_transform_list("rotation(degrees=15,interpolation=bicubic)").unwrap_err();
        assert!(e.to_string().contains("bicubic"), "{e}");
        assert!(e.to_string().contains("rotation"), "{e}");
    }

    #[test]
    fn config_round_trips_through_toml() {
        let mut c = PipelineConfig::default();
        c.transforms.augment = Augment::Custom;
        c.transforms.train =
            parse_transform_list("resize(size=32),center_crop(size=28),vflip(p=0.1)").unwrap();
        let text = toml::to_string(&c).unwrap();
        assert_eq!(PipelineConfig::from_toml_str(&text, "x").unwrap(), c);
    }
}
