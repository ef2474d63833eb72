//! The tracker's error type.
//!
//! Every variant knows its MLflow error code ([`Error::error_code`], an [`ErrorCode`]); the
//! HTTP status is the code's ([`ErrorCode::http_status`]), applied once at the API boundary
//! (`api`), and the client maps an error answer back to [`Error::Api`].

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
        /// MLflow error code as the daemon sent it, e.g. `RESOURCE_DOES_NOT_EXIST` (kept raw, so
        /// that an unknown code is still shown; [`Error::error_code`] parses it).
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

/// An MLflow error code, as the daemon answers it and the client reads it back
/// (`databricks.proto`'s `ErrorCode`; the HTTP status is MLflow's `ERROR_CODE_TO_HTTP_STATUS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `RESOURCE_DOES_NOT_EXIST` (404).
    ResourceDoesNotExist,
    /// `RESOURCE_ALREADY_EXISTS` (400).
    ResourceAlreadyExists,
    /// `RESOURCE_CONFLICT` (409).
    ResourceConflict,
    /// `INVALID_PARAMETER_VALUE` (400).
    InvalidParameterValue,
    /// `ENDPOINT_NOT_FOUND` (404).
    EndpointNotFound,
    /// `UNAUTHENTICATED` (401).
    Unauthenticated,
    /// `TEMPORARILY_UNAVAILABLE` (503).
    TemporarilyUnavailable,
    /// `INTERNAL_ERROR` (500).
    InternalError,
    /// `BAD_REQUEST` (400).
    BadRequest,
    /// `NOT_IMPLEMENTED` (501).
    NotImplemented,
}

impl ErrorCode {
    /// Every code the daemon and client use.
    pub const ALL: [ErrorCode; 10] = [
        ErrorCode::ResourceDoesNotExist,
        ErrorCode::ResourceAlreadyExists,
        ErrorCode::ResourceConflict,
        ErrorCode::InvalidParameterValue,
        ErrorCode::EndpointNotFound,
        ErrorCode::Unauthenticated,
        ErrorCode::TemporarilyUnavailable,
        ErrorCode::InternalError,
        ErrorCode::BadRequest,
        ErrorCode::NotImplemented,
    ];

    /// The code as it is written on the wire, e.g. `RESOURCE_DOES_NOT_EXIST`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ResourceDoesNotExist => "RESOURCE_DOES_NOT_EXIST",
            ErrorCode::ResourceAlreadyExists => "RESOURCE_ALREADY_EXISTS",
            ErrorCode::ResourceConflict => "RESOURCE_CONFLICT",
            ErrorCode::InvalidParameterValue => "INVALID_PARAMETER_VALUE",
            ErrorCode::EndpointNotFound => "ENDPOINT_NOT_FOUND",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::TemporarilyUnavailable => "TEMPORARILY_UNAVAILABLE",
            ErrorCode::InternalError => "INTERNAL_ERROR",
            ErrorCode::BadRequest => "BAD_REQUEST",
            ErrorCode::NotImplemented => "NOT_IMPLEMENTED",
        }
    }

    /// The code of a wire string; `None` for a code this crate does not know (an error answer
    /// keeps its raw code in [`Error::Api`], and counts as [`ErrorCode::InternalError`]).
    pub fn from_wire(code: &str) -> Option<ErrorCode> {
        ErrorCode::ALL
            .into_iter()
            .find(|known| known.as_str() == code)
    }

    /// The HTTP status MLflow answers this code with (`mlflow/exceptions.py`).
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidParameterValue
            | ErrorCode::ResourceAlreadyExists
            | ErrorCode::BadRequest => 400,
            ErrorCode::Unauthenticated => 401,
            ErrorCode::ResourceDoesNotExist | ErrorCode::EndpointNotFound => 404,
            ErrorCode::ResourceConflict => 409,
            ErrorCode::InternalError => 500,
            ErrorCode::NotImplemented => 501,
            ErrorCode::TemporarilyUnavailable => 503,
        }
    }

    /// Whether the code says the caller erred over a resource or a value (a 4xx the client
    /// must not retry), as opposed to the server or the transport.
    pub fn is_client_error(self) -> bool {
        matches!(
            self,
            ErrorCode::ResourceDoesNotExist
                | ErrorCode::ResourceAlreadyExists
                | ErrorCode::ResourceConflict
                | ErrorCode::InvalidParameterValue
        )
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for ErrorCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Error {
    /// Shorthand for [`Error::InvalidParameter`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidParameter {
            message: message.into(),
        }
    }

    /// The MLflow error code ([`ErrorCode::ResourceDoesNotExist`],
    /// [`ErrorCode::InvalidParameterValue`], ...).
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Error::RunNotFound { .. }
            | Error::ExperimentNotFound { .. }
            | Error::ExperimentNameNotFound { .. }
            | Error::TagNotFound { .. }
            | Error::ExperimentTagNotFound { .. }
            | Error::ArtifactNotFound { .. } => ErrorCode::ResourceDoesNotExist,
            Error::ExperimentExists { .. } => ErrorCode::ResourceAlreadyExists,
            Error::ArtifactConflict { .. } => ErrorCode::ResourceConflict,
            Error::InvalidParameter { .. }
            | Error::TooLarge { .. }
            | Error::ParamConflict { .. }
            | Error::RunNotActive { .. }
            | Error::Query(_)
            | Error::InvalidPageToken { .. }
            | Error::ArtifactPath { .. } => ErrorCode::InvalidParameterValue,
            Error::Sqlite { source, .. } if is_busy(source) => ErrorCode::TemporarilyUnavailable,
            Error::Api { error_code, .. } => {
                ErrorCode::from_wire(error_code).unwrap_or(ErrorCode::InternalError)
            }
            Error::Http { .. } => ErrorCode::TemporarilyUnavailable,
            Error::Sqlite { .. }
            | Error::Io { .. }
            | Error::WriterStopped { .. }
            | Error::CommitFailed { .. }
            | Error::Daemon { .. }
            | Error::Json { .. } => ErrorCode::InternalError,
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
        self.error_code().is_client_error()
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

    #[test]
    fn error_codes_read_back_from_the_wire_and_keep_mlflows_statuses() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_wire(code.as_str()), Some(code));
            assert_eq!(code, code.as_str());
        }
        assert_eq!(ErrorCode::from_wire("NO_SUCH_CODE"), None);
        let statuses: Vec<(&str, u16)> = ErrorCode::ALL
            .iter()
            .map(|code| (code.as_str(), code.http_status()))
            .collect();
        assert_eq!(
            statuses,
            [
                ("RESOURCE_DOES_NOT_EXIST", 404),
                ("RESOURCE_ALREADY_EXISTS", 400),
                ("RESOURCE_CONFLICT", 409),
                ("INVALID_PARAMETER_VALUE", 400),
                ("ENDPOINT_NOT_FOUND", 404),
                ("UNAUTHENTICATED", 401),
                ("TEMPORARILY_UNAVAILABLE", 503),
                ("INTERNAL_ERROR", 500),
                ("BAD_REQUEST", 400),
                ("NOT_IMPLEMENTED", 501),
            ]
        );
        let remote = |code: &str| Error::Api {
            url: "http://127.0.0.1:5055/api/2.0/mlflow/runs/get".into(),
            status: 404,
            error_code: code.into(),
            message: "m".into(),
        };
        assert_eq!(
            remote("RESOURCE_DOES_NOT_EXIST").error_code(),
            ErrorCode::ResourceDoesNotExist
        );
        let unknown = remote("SOMETHING_NEW");
        assert_eq!(unknown.error_code(), ErrorCode::InternalError);
        assert!(unknown.to_string().contains("SOMETHING_NEW"), "{unknown}");
    }
}
