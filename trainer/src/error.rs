//! The trainer's error type.

use std::path::PathBuf;

/// Errors the trainer returns. Every variant names what failed (a config key, a file, a column);
/// a variant that wraps another error keeps it as its source and does not repeat its text
/// (print the chain with `{:#}` in anyhow, or walk `source()`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The run config file could not be read.
    #[error("cannot read run config {path}")]
    ConfigRead {
        /// The config file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The run config is not valid TOML or does not match the schema.
    #[error("invalid run config {origin}: {message}")]
    ConfigParse {
        /// Where the config came from (a file path, `--set`, or `defaults`).
        origin: String,
        /// What the parser said, with the key or position.
        message: String,
    },
    /// A `--set key=value` override is malformed or collides with a non-table key.
    #[error("invalid override `{assignment}`: {reason}")]
    Override {
        /// The override as given.
        assignment: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A config value is out of range.
    #[error("invalid config value `{key}`: {reason}")]
    ConfigValue {
        /// The dotted key, e.g. `optim.learning_rate`.
        key: String,
        /// Why the value was rejected.
        reason: String,
    },
    /// The data pipeline failed (a config key, a file, a stage).
    #[error("data pipeline")]
    Pipeline(#[from] pipeline::Error),
    /// A tensor operation failed (shape mismatch, device error, ...).
    #[error("tensor operation")]
    Tensor(#[from] candle_core::Error),
    /// An Arrow batch does not have the schema the trainer expects.
    #[error("batch column `{column}`: {reason}")]
    BatchSchema {
        /// The column.
        column: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The requested device is not available in this build or on this machine.
    #[error("device `{device}`: {reason}")]
    Device {
        /// The device as requested, e.g. `cuda:1`.
        device: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// The device is supported by this build but could not be opened (no such GPU, a driver
    /// error).
    #[error("device `{device}`: no usable CUDA GPU")]
    DeviceOpen {
        /// The device as requested, e.g. `cuda:1`.
        device: String,
        /// What the tensor library said.
        #[source]
        source: candle_core::Error,
    },
    /// A checkpoint or trainer state file could not be written or read.
    #[error("checkpoint {path}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What went wrong: the tensor library's, the JSON parser's or the I/O error.
        #[source]
        source: BoxedSource,
    },
    /// A checkpoint file the run needs (to resume, or to restore weights) does not exist.
    #[error("checkpoint {path}: no such file")]
    CheckpointMissing {
        /// The checkpoint file.
        path: PathBuf,
    },
    /// The reporter (the run's record) refused a call.
    #[error("reporting the run")]
    Report(#[source] crate::report::ReportError),
    /// A file in the run's artifact directory could not be written.
    #[error("artifact {path}")]
    Artifact {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Training produced a non-finite loss.
    #[error("loss became {value} at epoch {epoch}, batch {batch}: lower optim.learning_rate")]
    NonFiniteLoss {
        /// The epoch (1-based).
        epoch: usize,
        /// The batch within the epoch (0-based).
        batch: usize,
        /// The loss value.
        value: f64,
    },
}

impl Error {
    /// A [`Error::Checkpoint`] at `path`, keeping `source` as its source.
    pub(crate) fn checkpoint(path: &std::path::Path, source: impl Into<BoxedSource>) -> Self {
        Error::Checkpoint {
            path: path.to_path_buf(),
            source: source.into(),
        }
    }
}

/// The source of an error from one of several libraries, kept as it came.
pub type BoxedSource = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The trainer's result type.
pub type Result<T> = std::result::Result<T, Error>;
