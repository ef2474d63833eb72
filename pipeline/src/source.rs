//! Sources: IDX files, ImageFolder trees (or a flat folder), CSV/TSV manifests; the seeded,
//! stratified train/validation split; the [`Dataset`] the loaders read from.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::config::{ColorMode, DataConfig, SourceFormat, ValSource};
use crate::error::{Error, Result};
use crate::stats::ChannelStats;

/// File extensions an ImageFolder lists (case-insensitive), as torchvision's loader does.
pub const IMAGE_EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];

/// The splits of a data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// Training samples (augmented, shuffled).
    Train,
    /// Validation samples (deterministic transforms).
    Val,
    /// Test samples, where the data set has them (IDX `t10k`, a `test/` folder).
    Test,
}

impl Split {
    /// `train`, `val` or `test`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }
}

impl std::str::FromStr for Split {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "train" => Ok(Split::Train),
            "val" => Ok(Split::Val),
            "test" => Ok(Split::Test),
            other => Err(Error::config(
                "split",
                format!("`{other}`: expected train, val or test"),
            )),
        }
    }
}

/// Where a sample's bytes are.
#[derive(Debug, Clone)]
pub(crate) enum Location {
    /// Image `index` of the IDX image set `set` (pixels already in memory).
    Idx { set: usize, index: usize },
    /// An image file.
    File(PathBuf),
}

/// One sample: a stable id (unique in the data set), its label and where its bytes are.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Unique, stable id: the sample's index in the sorted listing of its source.
    pub id: u64,
    /// Class index into [`Dataset::classes`].
    pub label: i32,
    pub(crate) location: Location,
}

impl Sample {
    /// The path reported for this sample (`file` or `idx-file#index`).
    pub fn display_path(&self, dataset: &Dataset) -> String {
        match &self.location {
            Location::File(p) => p.display().to_string(),
            Location::Idx { set, index } => {
                format!("{}#{index}", dataset.inner.idx_sets[*set].path.display())
            }
        }
    }
}

/// An IDX image file, decoded into memory: `count` images of `rows × cols` bytes.
#[derive(Debug)]
pub(crate) struct IdxImages {
    pub(crate) path: PathBuf,
    pub(crate) rows: u32,
    pub(crate) cols: u32,
    pub(crate) pixels: Vec<u8>,
}

impl IdxImages {
    pub(crate) fn image(&self, index: usize) -> &[u8] {
        let n = self.rows as usize * self.cols as usize;
        &self.pixels[index * n..(index + 1) * n]
    }
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) path: PathBuf,
    pub(crate) config: DataConfig,
    pub(crate) classes: Vec<String>,
    pub(crate) channels: u8,
    pub(crate) native_size: Option<(u32, u32)>,
    pub(crate) idx_sets: Vec<IdxImages>,
    pub(crate) train: Vec<Sample>,
    pub(crate) val: Vec<Sample>,
    pub(crate) test: Option<Vec<Sample>>,
    pub(crate) stats: OnceLock<ChannelStats>,
}

/// An opened data set: its classes, channel count and the samples of each split.
///
/// Cheap to clone (shared). Opening lists files and reads IDX pixels; image files are decoded
/// later, by the loaders.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub(crate) inner: Arc<Inner>,
}

impl Dataset {
    /// Opens the data set `config` describes and splits it.
    ///
    /// Errors: the path is missing or unreadable, no images, a class folder with no images,
    /// a manifest row naming a missing file or lacking a label, a malformed IDX file, an
    /// invalid config.
    pub fn open(config: &DataConfig) -> Result<Dataset> {
        config.validate()?;
        let path = config.path.clone();
        let meta = std::fs::metadata(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let format = match config.format {
            SourceFormat::Auto if meta.is_file() => SourceFormat::Manifest,
            SourceFormat::Auto if idx_file(&path, "train-images-idx3-ubyte").is_some() => {
                SourceFormat::Idx
            }
            SourceFormat::Auto => SourceFormat::Folder,
            other => other,
        };
        let listing = match format {
            SourceFormat::Idx => open_idx(&path)?,
            SourceFormat::Manifest => Listing::single(list_manifest(&path, None)?),
            _ => open_folder(&path)?,
        };
        let channels = match (config.color, format) {
            (ColorMode::Gray, _) | (ColorMode::Auto, SourceFormat::Idx) => 1,
            _ => 3,
        };
        let Listing {
            classes,
            train,
            val,
            test,
            idx_sets,
            native_size,
        } = listing;
        let (mut train_part, mut val_part, mut test_part) = (train, val, test);
        if let Some(val_path) = &config.val_path {
            let vmeta = std::fs::metadata(val_path).map_err(|source| Error::Io {
                path: val_path.clone(),
                source,
            })?;
            let list = if vmeta.is_file() {
                list_manifest(val_path, Some(classes.names.as_slice()))?.1
            } else {
                list_folder(val_path, Some(classes.names.as_slice()))?.1
            };
            val_part = Some(list);
        }
        // Ids: unique across sources, in listing order (train source, val source, test source).
        let mut offset = train_part.len() as u64;
        for list in [val_part.as_mut(), test_part.as_mut()]
            .into_iter()
            .flatten()
        {
            for s in list.iter_mut() {
                s.id += offset;
            }
            offset += list.len() as u64;
        }
        match config.val_source {
            ValSource::Test if config.val_path.is_none() => {
                let test = test_part.take().ok_or_else(|| Error::Dataset {
                    path: path.clone(),
                    message: "val_source = \"test\" but the data set has no test split".into(),
                })?;
                val_part = Some(test);
            }
            ValSource::Split if config.val_path.is_none() => {
                if let Some(v) = val_part.take() {
                    // Fold an existing val folder back into training, then carve.
                    train_part.extend(v);
                }
            }
            _ => {}
        }
        let (mut train, mut val) = match val_part {
            _ if config.val_source == ValSource::None => (train_part, Vec::new()),
            Some(val) => (train_part, val),
            None => stratified_split(train_part, config.val_fraction, config.split_seed),
        };
        let mut test = test_part;
        if train.is_empty() {
            return Err(Error::Dataset {
                path: path.clone(),
                message: "the training split is empty".into(),
            });
        }
        if let Some(limit) = config.limit {
            train = seeded_subset(train, limit, config.split_seed);
            val = seeded_subset(val, limit, config.split_seed);
            test = test.map(|t| seeded_subset(t, limit, config.split_seed));
        }
        Ok(Dataset {
            inner: Arc::new(Inner {
                path,
                config: config.clone(),
                classes: classes.names,
                channels,
                native_size,
                idx_sets,
                train,
                val,
                test,
                stats: OnceLock::new(),
            }),
        })
    }

    /// Class names; a label is an index into this list (ImageFolder: sorted folder names).
    pub fn classes(&self) -> &[String] {
        &self.inner.classes
    }

    /// Channels of decoded images: 1 (gray) or 3 (RGB).
    pub fn channels(&self) -> u8 {
        self.inner.channels
    }

    /// Width × height shared by every image when the source fixes it (IDX); none otherwise.
    pub fn native_size(&self) -> Option<(u32, u32)> {
        self.inner.native_size
    }

    /// The data set path.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The config it was opened with.
    pub fn config(&self) -> &DataConfig {
        &self.inner.config
    }

    /// The samples of `split` (empty for a missing test split).
    pub fn samples(&self, split: Split) -> &[Sample] {
        match split {
            Split::Train => &self.inner.train,
            Split::Val => &self.inner.val,
            Split::Test => self.inner.test.as_deref().unwrap_or(&[]),
        }
    }

    /// Number of samples in `split`.
    pub fn len(&self, split: Split) -> usize {
        self.samples(split).len()
    }

    /// Whether the data set has a test split.
    pub fn has_test(&self) -> bool {
        self.inner.test.is_some()
    }

    /// Samples per class of `split`, indexed by label.
    pub fn class_counts(&self, split: Split) -> Vec<usize> {
        let mut counts = vec![0; self.inner.classes.len()];
        for s in self.samples(split) {
            if let Some(c) = counts.get_mut(s.label as usize) {
                *c += 1;
            }
        }
        counts
    }
}

struct Classes {
    names: Vec<String>,
}

struct Listing {
    classes: Classes,
    train: Vec<Sample>,
    val: Option<Vec<Sample>>,
    test: Option<Vec<Sample>>,
    idx_sets: Vec<IdxImages>,
    native_size: Option<(u32, u32)>,
}

impl Listing {
    fn single((classes, train): (Vec<String>, Vec<Sample>)) -> Listing {
        Listing {
            classes: Classes { names: classes },
            train,
            val: None,
            test: None,
            idx_sets: Vec::new(),
            native_size: None,
        }
    }
}

/// `dir/name` or `dir/name.gz`, whichever exists.
fn idx_file(dir: &Path, name: &str) -> Option<PathBuf> {
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

fn open_idx(dir: &Path) -> Result<Listing> {
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

fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

fn sorted_entries(dir: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let read = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let (mut dirs, mut files) = (Vec::new(), Vec::new());
    for entry in read {
        let entry = entry.map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        // Follow symlinks, as torchvision does.
        if path.is_dir() {
            dirs.push(path);
        } else if is_image_file(&path) {
            files.push(path);
        }
    }
    dirs.sort();
    files.sort();
    Ok((dirs, files))
}

/// An ImageFolder root (`root/<class>/*`) or a flat folder of images (one class named after the
/// folder). With `known`, class names must be among them and labels index into them.
fn list_folder(root: &Path, known: Option<&[String]>) -> Result<(Vec<String>, Vec<Sample>)> {
    let (dirs, files) = sorted_entries(root)?;
    let mut classes = Vec::new();
    let mut samples = Vec::new();
    let push_class = |name: String, classes: &mut Vec<String>| -> Result<i32> {
        match known {
            Some(known) => known
                .iter()
                .position(|k| *k == name)
                .map(|i| i as i32)
                .ok_or_else(|| Error::Dataset {
                    path: root.join(&name),
                    message: format!(
                        "class `{name}` is not a training class ({})",
                        known.join(", ")
                    ),
                }),
            None => {
                classes.push(name);
                Ok(classes.len() as i32 - 1)
            }
        }
    };
    if dirs.is_empty() {
        if files.is_empty() {
            return Err(Error::Dataset {
                path: root.to_path_buf(),
                message: "no images (*.jpg, *.jpeg, *.png) and no class folders".into(),
            });
        }
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "images".into());
        let label = match known {
            Some(k) if k.len() == 1 => 0,
            _ => push_class(name, &mut classes)?,
        };
        for f in files {
            samples.push(Sample {
                id: samples.len() as u64,
                label,
                location: Location::File(f),
            });
        }
        return Ok((classes, samples));
    }
    for dir in dirs {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (_, class_files) = sorted_entries(&dir)?;
        if class_files.is_empty() {
            return Err(Error::Dataset {
                path: dir,
                message: "class folder has no images (*.jpg, *.jpeg, *.png)".into(),
            });
        }
        let label = push_class(name, &mut classes)?;
        for f in class_files {
            samples.push(Sample {
                id: samples.len() as u64,
                label,
                location: Location::File(f),
            });
        }
    }
    Ok((classes, samples))
}

fn open_folder(root: &Path) -> Result<Listing> {
    let train_dir = root.join("train");
    if train_dir.is_dir() {
        let (names, train) = list_folder(&train_dir, None)?;
        let val_dir = root.join("val");
        let val = if val_dir.is_dir() {
            Some(list_folder(&val_dir, Some(names.as_slice()))?.1)
        } else {
            None
        };
        let test_dir = root.join("test");
        let test = if test_dir.is_dir() {
            Some(list_folder(&test_dir, Some(names.as_slice()))?.1)
        } else {
            None
        };
        return Ok(Listing {
            classes: Classes { names },
            train,
            val,
            test,
            idx_sets: Vec::new(),
            native_size: None,
        });
    }
    Ok(Listing::single(list_folder(root, None)?))
}

/// A CSV or TSV manifest: `path,label` rows, an optional header naming `path` and `label`
/// columns, paths relative to the manifest. Labels are class names (classes sorted) or, when
/// every label is an integer, class indices.
fn list_manifest(path: &Path, known: Option<&[String]>) -> Result<(Vec<String>, Vec<Sample>)> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let tsv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("tsv"))
        || text.lines().next().is_some_and(|l| l.contains('\t'));
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(if tsv { b'\t' } else { b',' })
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let base = path.parent().unwrap_or(Path::new("."));
    let bad = |line: u64, message: String| Error::Manifest {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut rows: Vec<(u64, PathBuf, String)> = Vec::new();
    let (mut path_col, mut label_col) = (0, 1);
    for (i, record) in reader.records().enumerate() {
        let line = i as u64 + 1;
        let record = record.map_err(|e| bad(line, e.to_string()))?;
        if record.iter().all(|f| f.is_empty()) {
            continue;
        }
        if i == 0 {
            let lower: Vec<String> = record.iter().map(|f| f.to_ascii_lowercase()).collect();
            if let Some(p) = lower
                .iter()
                .position(|f| f == "path" || f == "file" || f == "filename")
            {
                path_col = p;
                label_col = lower
                    .iter()
                    .position(|f| f == "label" || f == "class")
                    .ok_or_else(|| bad(line, "header has no `label` column".into()))?;
                continue;
            }
        }
        let file = record.get(path_col).unwrap_or_default();
        let label = record
            .get(label_col)
            .ok_or_else(|| bad(line, format!("row `{file}` has no label column")))?;
        if label.is_empty() {
            return Err(bad(line, format!("row `{file}` has an empty label")));
        }
        let full = base.join(file);
        if !full.is_file() {
            return Err(bad(line, format!("file {} does not exist", full.display())));
        }
        rows.push((line, full, label.to_string()));
    }
    if rows.is_empty() {
        return Err(Error::Dataset {
            path: path.to_path_buf(),
            message: "manifest lists no images".into(),
        });
    }
    let all_ints = rows.iter().all(|(_, _, l)| l.parse::<u32>().is_ok());
    let classes: Vec<String> = match known {
        Some(k) => k.to_vec(),
        None if all_ints => {
            let max = rows
                .iter()
                .filter_map(|(_, _, l)| l.parse::<u32>().ok())
                .max()
                .unwrap_or(0);
            (0..=max).map(|i| i.to_string()).collect()
        }
        None => rows
            .iter()
            .map(|(_, _, l)| l.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
    };
    let mut samples = Vec::with_capacity(rows.len());
    for (line, file, label) in rows {
        let index = classes
            .iter()
            .position(|c| *c == label)
            .ok_or_else(|| bad(line, format!("label `{label}` is not a known class")))?;
        samples.push(Sample {
            id: samples.len() as u64,
            label: index as i32,
            location: Location::File(file),
        });
    }
    Ok((classes, samples))
}

/// Splits `samples` into (train, val): per class, a seeded shuffle puts round(n·fraction)
/// samples (at least one when the class has two or more) into validation. Both keep source order.
pub(crate) fn stratified_split(
    samples: Vec<Sample>,
    fraction: f64,
    seed: u64,
) -> (Vec<Sample>, Vec<Sample>) {
    let mut by_class: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
    for (i, s) in samples.iter().enumerate() {
        by_class.entry(s.label).or_default().push(i);
    }
    let mut is_val = vec![false; samples.len()];
    for (label, mut idx) in by_class {
        let mut rng =
            ChaCha8Rng::seed_from_u64(seed ^ (label as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        idx.shuffle(&mut rng);
        let n = idx.len();
        let mut take = (n as f64 * fraction).round() as usize;
        if take == 0 && n >= 2 {
            take = 1;
        }
        take = take.min(n.saturating_sub(1));
        for &i in &idx[..take] {
            is_val[i] = true;
        }
    }
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for (s, v) in samples.into_iter().zip(is_val) {
        if v { val.push(s) } else { train.push(s) }
    }
    (train, val)
}

/// At most `n` samples: a seeded random subset, kept in source order.
pub(crate) fn seeded_subset(samples: Vec<Sample>, n: usize, seed: u64) -> Vec<Sample> {
    if samples.len() <= n {
        return samples;
    }
    let mut order: Vec<usize> = (0..samples.len()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed.wrapping_add(0x5EED)));
    let mut keep = vec![false; samples.len()];
    for &i in &order[..n] {
        keep[i] = true;
    }
    samples
        .into_iter()
        .zip(keep)
        .filter_map(|(s, k)| k.then_some(s))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(labels: &[i32]) -> Vec<Sample> {
        labels
            .iter()
            .enumerate()
            .map(|(i, &l)| Sample {
                id: i as u64,
                label: l,
                location: Location::Idx { set: 0, index: i },
            })
            .collect()
    }

    #[test]
    fn stratified_split_keeps_class_proportions_and_is_seeded() {
        let labels: Vec<i32> = (0..1000).map(|i| i % 4).collect();
        let (train, val) = stratified_split(samples(&labels), 0.2, 3);
        assert_eq!((train.len(), val.len()), (800, 200));
        for c in 0..4 {
            assert_eq!(val.iter().filter(|s| s.label == c).count(), 50);
        }
        let (_, val2) = stratified_split(samples(&labels), 0.2, 3);
        assert_eq!(
            val.iter().map(|s| s.id).collect::<Vec<_>>(),
            val2.iter().map(|s| s.id).collect::<Vec<_>>()
        );
        let (_, val3) = stratified_split(samples(&labels), 0.2, 4);
        assert_ne!(
            val.iter().map(|s| s.id).collect::<Vec<_>>(),
            val3.iter().map(|s| s.id).collect::<Vec<_>>()
        );
    }

    #[test]
    fn bundled_idx_opens_with_val_carved_and_t10k_as_test() {
        let config = DataConfig {
            path: PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../data/fashion-mnist-mini"
            )),
            ..DataConfig::default()
        };
        let ds = Dataset::open(&config).unwrap();
        assert_eq!(ds.classes().len(), 10);
        assert_eq!(ds.channels(), 1);
        assert_eq!(ds.native_size(), Some((28, 28)));
        assert_eq!(ds.len(Split::Train) + ds.len(Split::Val), 10_000);
        assert_eq!(ds.len(Split::Val), 1000);
        assert_eq!(ds.len(Split::Test), 2000);
        let mut ids: Vec<u64> = [Split::Train, Split::Val, Split::Test]
            .iter()
            .flat_map(|&s| ds.samples(s).iter().map(|x| x.id))
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 12_000, "ids are unique across splits");
    }
}
