//! The insight crate's error type: a bad input (named in the message) or a file not written.

use std::path::PathBuf;

/// The insight crate's `Result`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong reading runs or drawing them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An input is missing or invalid: a run without the metrics the analysis needs, a config
    /// value out of range, a plot size or extension refused. The message names what was wrong.
    #[error("{message}")]
    Invalid {
        /// What is wrong, naming the field and the value.
        message: String,
    },
    /// A file could not be written (or its contents not produced).
    #[error("I/O error on {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::Invalid {
            message: message.into(),
        }
    }
}
