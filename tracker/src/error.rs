//! The tracker's error type.
//!
//! Every variant knows its MLflow error code ([`Error::error_code`]); the HTTP status is derived
//! from the code once, at the API boundary (`api`), and the client maps an error answer back to
//! [`Error::Api`].

use std::path::PathBuf;

/// The tracker's `Result`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the tracker.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No run has this id.
    #[error("Run with id={run_id} not found")]
    RunNotFound {
        /// The id asked for.
        run_id: String,
    },
    /// No experiment has this id.
    #[error("No Experiment with id={experiment_id} exists")]
    ExperimentNotFound {
        /// The id asked for.
        experiment_id: String,
    },
    /// No experiment has this name.
    #[error("Could not find experiment with name '{name}'")]
    ExperimentNameNotFound {
        /// The name asked for.
        name: String,
    },
    /// The run has no tag with this key.
    #[error("No tag with name: {key} in run with id {run_id}")]
    TagNotFound {
        /// The run.
        run_id: String,
        /// The key asked for.
        key: String,
    },
    /// The experiment has no tag with this key.
    #[error("No tag with name: {key} in experiment with id {experiment_id}")]
    ExperimentTagNotFound {
        /// The experiment.
        experiment_id: String,
        /// The key asked for.
        key: String,
    },
    /// An experiment with this name already exists.
    #[error("Experiment(name={name}) already exists")]
    ExperimentExists {
        /// The name.
        name: String,
    },
    /// A request field is missing or invalid (key rules, lengths, limits, enum values ...).
    #[error("{message}")]
    InvalidParameter {
        /// What is wrong, naming the field and the value.
        message: String,
    },
    /// Params are immutable: a key was logged again with another value.
    #[error(
        "Changing param values is not allowed. Params were already logged for run ID '{run_id}' \
         with different values: {}",
        conflicts
            .iter()
            .map(|c| format!("key '{}': old value '{}', new value '{}'", c.key, c.old_value, c.new_value))
            .collect::<Vec<_>>()
            .join("; ")
    )]
    ParamConflict {
        /// The run.
        run_id: String,
        /// Every conflicting key of the request.
        conflicts: Vec<ParamConflict>,
    },
    /// The run is deleted: it cannot be written to until restored.
    #[error("The run {run_id} must be in the 'active' state. Current state is deleted.")]
    RunNotActive {
        /// The run.
        run_id: String,
    },
    /// A search filter or order-by clause does not parse or is not allowed.
    #[error(transparent)]
    Query(#[from] crate::query::QueryError),
    /// A pagination token that this store did not hand out.
    #[error("Invalid page token {token:?}")]
    InvalidPageToken {
        /// The token received.
        token: String,
    },
    /// An artifact path that leaves the run's artifact directory or is otherwise refused.
    #[error("Invalid artifact path {path:?}: {reason}")]
    ArtifactPath {
        /// The path as received.
        path: String,
        /// Why it is refused.
        reason: String,
    },
    /// An artifact path that conflicts with what is stored (a file where a directory is
    /// needed).
    #[error("Cannot write artifact {path:?}: {reason}")]
    ArtifactConflict {
        /// The path as received.
        path: String,
        /// What is in the way.
        reason: String,
    },
    /// A request body over a limit of the daemon (answered 413, before it is read when its
    /// declared length is already too large).
    #[error("The {what} is {size} bytes; the limit is {limit} bytes")]
    TooLarge {
        /// What is too large, e.g. "artifact upload".
        what: String,
        /// Its size in bytes (declared, or read so far).
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// No artifact at this path.
    #[error("No artifact at {path:?}")]
    ArtifactNotFound {
        /// The path as received.
        path: String,
    },
    /// A database operation failed.
    #[error("database error while {context} ({path})")]
    Sqlite {
        /// What the store was doing.
        context: String,
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A file operation failed.
    #[error("I/O error on {}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The store's writer thread is gone (the store was closed or the thread panicked).
    #[error("the store's writer thread for {} has stopped", path.display())]
    WriterStopped {
        /// The database file.
        path: PathBuf,
    },
    /// A write transaction could not be committed; nothing of it was stored.
    #[error("could not commit to {}: {message}", path.display())]
    CommitFailed {
        /// The database file.
        path: PathBuf,
        /// SQLite's message.
        message: String,
    },
    /// A daemon answered with an MLflow error.
    #[error("{url}: HTTP {status} {error_code}: {message}")]
    Api {
        /// The request URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// MLflow error code, e.g. `RESOURCE_DOES_NOT_EXIST`.
        error_code: String,
        /// The daemon's message.
        message: String,
    },
    /// An HTTP request could not be made or its answer not read.
    #[error("{url}: {message}")]
    Http {
        /// The request URL.
        url: String,
        /// What failed.
        message: String,
    },
    /// Binding or serving the daemon failed.
    #[error("daemon at {addr}: {message}")]
    Daemon {
        /// The address.
        addr: String,
        /// What failed.
        message: String,
    },
    /// JSON could not be encoded or decoded.
    #[error("JSON error: {context}")]
    Json {
        /// What was being encoded or decoded.
        context: String,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },
}

/// One param whose new value differs from the stored one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamConflict {
    /// The key.
    pub key: String,
    /// The stored value.
    pub old_value: String,
    /// The value of the rejected request.
    pub new_value: String,
}

/// MLflow error codes the daemon and client use, in `ERROR_CODE_TO_HTTP_STATUS` terms.
pub const KNOWN_ERROR_CODES: [&str; 9] = [
    "RESOURCE_DOES_NOT_EXIST",
    "RESOURCE_ALREADY_EXISTS",
    "RESOURCE_CONFLICT",
    "INVALID_PARAMETER_VALUE",
    "ENDPOINT_NOT_FOUND",
    "UNAUTHENTICATED",
    "TEMPORARILY_UNAVAILABLE",
    "INTERNAL_ERROR",
    "BAD_REQUEST",
];

impl Error {
    /// Shorthand for [`Error::InvalidParameter`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidParameter {
            message: message.into(),
        }
    }

    /// The MLflow error code (`RESOURCE_DOES_NOT_EXIST`, `INVALID_PARAMETER_VALUE`, ...).
    pub fn error_code(&self) -> &'static str {
        match self {
            Error::RunNotFound { .. }
            | Error::ExperimentNotFound { .. }
            | Error::ExperimentNameNotFound { .. }
            | Error::TagNotFound { .. }
            | Error::ExperimentTagNotFound { .. }
            | Error::ArtifactNotFound { .. } => "RESOURCE_DOES_NOT_EXIST",
            Error::ExperimentExists { .. } => "RESOURCE_ALREADY_EXISTS",
            Error::ArtifactConflict { .. } => "RESOURCE_CONFLICT",
            Error::InvalidParameter { .. }
            | Error::TooLarge { .. }
            | Error::ParamConflict { .. }
            | Error::RunNotActive { .. }
            | Error::Query(_)
            | Error::InvalidPageToken { .. }
            | Error::ArtifactPath { .. } => "INVALID_PARAMETER_VALUE",
            Error::Sqlite { source, .. } if is_busy(source) => "TEMPORARILY_UNAVAILABLE",
            Error::Api { error_code, .. } => KNOWN_ERROR_CODES
                .into_iter()
                .find(|code| code == error_code)
                .unwrap_or("INTERNAL_ERROR"),
            Error::Http { .. } => "TEMPORARILY_UNAVAILABLE",
            Error::Sqlite { .. }
            | Error::Io { .. }
            | Error::WriterStopped { .. }
            | Error::CommitFailed { .. }
            | Error::Daemon { .. }
            | Error::Json { .. } => "INTERNAL_ERROR",
        }
    }

    /// The message with every underlying cause appended (`message: cause: cause ...`), e.g.
    /// SQLite's own text after "database error while ...": what a log of a 500 needs.
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            // A transparent variant repeats its inner error's message: print it once.
            if !text.ends_with(&cause_text) {
                text.push_str(": ");
                text.push_str(&cause_text);
            }
            source = cause.source();
        }
        text
    }

    /// Whether this is the caller's mistake (a 4xx), as opposed to the server's (a 5xx).
    pub fn is_client_error(&self) -> bool {
        matches!(
            self.error_code(),
            "RESOURCE_DOES_NOT_EXIST"
                | "RESOURCE_ALREADY_EXISTS"
                | "RESOURCE_CONFLICT"
                | "INVALID_PARAMETER_VALUE"
        )
    }
}

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_carries_sqlites_own_text() {
        let conn = rusqlite::Connection::open_in_memory().expect("sqlite");
        let source = conn
            .execute("SELECT r.run_id FROM nowhere", [])
            .expect_err("a bad query");
        let error = Error::Sqlite {
            context: "searching runs".into(),
            path: PathBuf::from("runs.db"),
            source,
        };
        assert!(!error.to_string().contains("no such table"));
        let chain = error.chain();
        assert!(
            chain.starts_with("database error while searching runs (runs.db): ")
                && chain.contains("no such table: nowhere"),
            "{chain}"
        );
        let io = Error::Io {
            path: PathBuf::from("/a"),
            source: std::io::Error::other("disk on fire"),
        };
        assert_eq!(io.chain(), "I/O error on /a: disk on fire");
        assert_eq!(Error::invalid("x").chain(), "x");
    }
}
