//! The crate's error type: every variant names the input it is about.

use std::path::PathBuf;

use crate::decode::SkipReason;

/// Everything that can go wrong in the pipeline.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A configuration value is invalid: `key` names it (`transforms.train[2].size`).
    #[error("invalid config `{key}`: {message}")]
    Config {
        /// The offending key, dotted.
        key: String,
        /// What is wrong with it and what is allowed.
        message: String,
    },
    /// A config file (or a table inside one) did not parse.
    #[error("cannot parse config {origin}: {message}")]
    ConfigParse {
        /// The file, or `--set`/command-line origin.
        origin: String,
        /// The parser's message (with position).
        message: String,
    },
    /// The data set's layout or contents are unusable (empty, missing class images, bad IDX).
    #[error("data set {path}: {message}")]
    Dataset {
        /// The data set path (or the file inside it).
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A manifest row is wrong (missing file, bad label).
    #[error("manifest {path}, line {line}: {message}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What is wrong with the row.
        message: String,
    },
    /// A sample could not be used and the policy is `on_error = "fail"`.
    #[error("bad sample {path} ({reason}): {detail}")]
    BadSample {
        /// The sample's file (or `file#index` for IDX).
        path: String,
        /// The reason class, as counted in reports.
        reason: SkipReason,
        /// The decoder's message.
        detail: String,
    },
    /// Building an Arrow batch failed (a broken internal invariant).
    #[error("building an Arrow batch")]
    Arrow(#[from] arrow::error::ArrowError),
    /// A pipeline stage's thread panicked.
    #[error("pipeline stage `{stage}` panicked")]
    StagePanicked {
        /// The stage name.
        stage: String,
    },
    /// A resize failed (a broken internal invariant: sizes are validated up front).
    #[error("resizing {width}x{height}: {message}")]
    Resize {
        /// Source width.
        width: u32,
        /// Source height.
        height: u32,
        /// fast_image_resize's message.
        message: String,
    },
    /// The statistics cache could not be written or read.
    #[error("statistics cache {path}: {message}")]
    StatsCache {
        /// The cache file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl Error {
    /// A copy of a [`Error::BadSample`] (the variant the runtime both yields and returns).
    pub(crate) fn bad_sample_copy(&self) -> Option<Error> {
        match self {
            Error::BadSample {
                path,
                reason,
                detail,
            } => Some(Error::BadSample {
                path: path.clone(),
                reason: *reason,
                detail: detail.clone(),
            }),
            _ => None,
        }
    }

    /// A [`Error::Config`] for `key`.
    pub(crate) fn config(key: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Config {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
