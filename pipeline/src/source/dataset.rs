//! The [`Dataset`]: a source opened and split, and the reading and decoding of one sample.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use super::folder::{list_folder, open_folder};
use super::idx::{idx_file, open_idx};
use super::listing::{IdxImages, Listing};
use super::manifest::list_manifest;
use super::sample::{Location, Sample, Split};
use super::split::{seeded_subset, stratified_split};
use crate::config::{ColorMode, DataConfig, DecodeScale, SourceFormat, ValSource};
use crate::decode::{self, DecodeError, Image};
use crate::error::{Error, Result};
use crate::stats::ChannelStats;

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    config: DataConfig,
    classes: Vec<String>,
    channels: u8,
    native_size: Option<(u32, u32)>,
    idx_sets: Vec<IdxImages>,
    train: Vec<Sample>,
    val: Vec<Sample>,
    test: Option<Vec<Sample>>,
    stats: OnceLock<ChannelStats>,
}

/// An opened data set: its classes, channel count and the samples of each split.
///
/// Cheap to clone (shared). Opening lists files and reads IDX pixels; image files are decoded
/// later, by the loaders.
#[derive(Debug, Clone)]
pub struct Dataset {
    inner: Arc<Inner>,
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

    /// Reads and decodes one sample (no cache, no transforms).
    ///
    /// Errors: the file is unreadable, too large, or not a decodable image within the limits of
    /// the data config.
    pub fn load(&self, sample: &Sample) -> std::result::Result<Image, DecodeError> {
        match self.read(sample) {
            Payload::Image(img) => Ok(Arc::unwrap_or_clone(img)),
            Payload::Bytes(bytes) => self.decode(sample, &bytes),
            Payload::Bad(e) => Err(e),
        }
    }

    /// Reads one sample: IDX pixels from memory, a file's bytes (undecoded).
    pub(crate) fn read(&self, sample: &Sample) -> Payload {
        match &sample.location {
            Location::Idx { set, index } => {
                let idx = &self.inner.idx_sets[*set];
                let gray = idx.image(*index).to_vec();
                let data = if self.channels() == 1 {
                    gray
                } else {
                    gray.iter().flat_map(|&v| [v, v, v]).collect()
                };
                Payload::Image(Arc::new(Image {
                    width: idx.cols,
                    height: idx.rows,
                    channels: self.channels(),
                    data,
                }))
            }
            Location::File(path) => {
                let max_bytes = self.config().max_file_mb.saturating_mul(1 << 20);
                match decode::read_file(path, max_bytes) {
                    Ok(bytes) => Payload::Bytes(bytes),
                    Err(e) => Payload::Bad(e),
                }
            }
        }
    }

    /// Decodes the bytes [`Dataset::read`] gave for `sample`, within the data config's limits,
    /// at full size.
    pub(crate) fn decode(
        &self,
        sample: &Sample,
        bytes: &[u8],
    ) -> std::result::Result<Image, DecodeError> {
        self.decode_for(sample, bytes, None)
    }

    /// [`Dataset::decode`] for a transform chain that takes images down to `min`: with
    /// `data.decode_scale = "auto"`, a large JPEG is decoded at the smallest DCT scale `min`
    /// admits ([`decode::decode_at_least`]); `None`, or `decode_scale = "full"`: full size.
    pub(crate) fn decode_for(
        &self,
        sample: &Sample,
        bytes: &[u8],
        min: Option<&decode::MinDecodeSize>,
    ) -> std::result::Result<Image, DecodeError> {
        let expected = match &sample.location {
            Location::File(p) => p
                .extension()
                .and_then(|e| e.to_str())
                .and_then(decode::format_of_extension),
            Location::Idx { .. } => None,
        };
        let config = self.config();
        let min = min.filter(|_| config.decode_scale == DecodeScale::Auto);
        decode::decode_at_least(
            bytes,
            expected,
            self.channels(),
            &decode::DecodeLimits {
                max_pixels: config.max_pixels,
                max_aspect_ratio: config.max_aspect_ratio,
            },
            min,
        )
    }

    /// The file that holds `sample`'s bytes (an image file, or its IDX image file).
    pub(crate) fn source_file<'a>(&'a self, sample: &'a Sample) -> &'a Path {
        match &sample.location {
            Location::File(p) => p,
            Location::Idx { set, .. } => &self.inner.idx_sets[*set].path,
        }
    }

    /// The training split's channel statistics, once computed (see `normalize`).
    pub(crate) fn stats_cell(&self) -> &OnceLock<ChannelStats> {
        &self.inner.stats
    }
}

impl Sample {
    /// The path reported for this sample (`file` or `idx-file#index`).
    pub fn display_path(&self, dataset: &Dataset) -> String {
        match &self.location {
            Location::File(p) => p.display().to_string(),
            Location::Idx { index, .. } => {
                format!("{}#{index}", dataset.source_file(self).display())
            }
        }
    }
}

/// What reading a sample gives: a file's bytes, pixels already decoded (IDX, or an image of the
/// decoded cache), or why it could not be read.
pub(crate) enum Payload {
    /// A file's bytes, to decode.
    Bytes(Vec<u8>),
    /// Decoded pixels.
    Image(Arc<Image>),
    /// Unreadable (or known bad from an earlier epoch).
    Bad(DecodeError),
}

#[cfg(test)]
mod tests {
    use super::*;

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
