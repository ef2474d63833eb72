//! The daemon: the MLflow tracking REST API over a [`Store`], with axum.
//!
//! Routes follow `docs/mlflow-wire.md` (the official MLflow client logs to this daemon
//! unchanged): `/api/2.0/mlflow/{experiments,runs,metrics,artifacts}/...`, the `mlflow-artifacts`
//! upload, download and list routes (only for a store with [`ArtifactUris::Served`]), the same
//! under `/ajax-api/2.0/` (MLflow's web UI prefix), `GET /health` and `GET /version`. Requests
//! are validated as MLflow's server validates them (`request`: a field of the wrong JSON type
//! is a 400 with MLflow's message). Errors are MLflow's JSON (`{"error_code", "message"}`)
//! with MLflow's HTTP statuses, mapped once in [`ApiError`]; a client mistake is a 4xx, never
//! a 5xx (the MLflow client retries 5xx for minutes); unknown routes get a JSON 404.
//!
//! # Data flow
//! ```text
//! TCP (TCP_NODELAY; hyper HTTP/1, header-read timeout) ─► auth (Bearer, when a token is set)
//!   ─► timeout ─► body limit (artifacts: streamed to disk, 413 over the limit) ─► handler
//!   handler ─► spawn_blocking ─► Store (reads: pooled connections; writes: the writer thread,
//!   acknowledged after commit) ─► JSON response
//! ```
//!
//! [`Daemon::start`] runs a daemon on its own runtime thread (tests use `127.0.0.1:0`);
//! [`serve`] runs one on the caller's runtime until a shutdown future completes (the binary).
//!
//! ```
//! use tracker::api::{Daemon, DaemonConfig};
//! use tracker::store::Store;
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(dir.path().join("runs.db")).unwrap();
//! let config = DaemonConfig { addr: "127.0.0.1:0".parse().unwrap(), ..DaemonConfig::default() };
//! let daemon = Daemon::start(store, config).unwrap();
//! let health = ureq::get(&format!("{}/health", daemon.url())).call().unwrap();
//! assert_eq!(health.into_body().read_to_string().unwrap(), "OK");
//! daemon.shutdown().unwrap();
//! ```

mod artifacts;
mod handlers;
mod request;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::timeout::TimeoutLayer;

use crate::error::{Error, Result};
use crate::store::{ArtifactUris, Store};

/// The address `track daemon` binds when none is given.
pub const DEFAULT_ADDR: &str = "127.0.0.1:5055";
/// The MLflow server version this daemon answers `GET /version` with (the one its API follows).
pub const MLFLOW_COMPAT_VERSION: &str = "3.17.2";
/// Default request timeout, seconds.
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 60;
/// Default largest JSON request body, bytes (MLflow's log-batch limit is 1 MB of payload).
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Default largest artifact upload, bytes (1 GiB; uploads stream to disk, so this bounds disk
/// use, not memory).
pub const DEFAULT_MAX_ARTIFACT_BYTES: usize = 1024 * 1024 * 1024;
/// Default time a connection has to send a whole request head, seconds (slow-header
/// connections are closed after it; idle keep-alive connections too).
pub const DEFAULT_HEADER_READ_TIMEOUT_SECS: u64 = 30;

/// How the daemon runs.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Address to bind; loopback unless `token` is set.
    pub addr: SocketAddr,
    /// Bearer token every request must carry (`Authorization: Bearer <token>`); required to
    /// bind a non-loopback address.
    pub token: Option<String>,
    /// When set, an experiment is re-exported as Parquet under this directory whenever one of
    /// its runs ends (see [`crate::export`]).
    pub export_dir: Option<PathBuf>,
    /// A request that takes longer is answered 408 (which MLflow clients retry).
    pub request_timeout_secs: u64,
    /// Largest JSON request body, bytes.
    pub max_body_bytes: usize,
    /// Largest artifact upload, bytes (uploads stream to disk; a larger declared
    /// `Content-Length` is refused with 413 before the body is read).
    pub max_artifact_bytes: usize,
    /// A connection that has not sent a whole request head (request line and headers) this
    /// many seconds after it was opened, or after its previous answer, is closed.
    pub header_read_timeout_secs: u64,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            addr: DEFAULT_ADDR
                .parse()
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 5055))),
            token: None,
            export_dir: None,
            request_timeout_secs: DEFAULT_REQUEST_TIMEOUT_SECS,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_artifact_bytes: DEFAULT_MAX_ARTIFACT_BYTES,
            header_read_timeout_secs: DEFAULT_HEADER_READ_TIMEOUT_SECS,
        }
    }
}

impl DaemonConfig {
    /// Checks the invariants: a non-loopback address needs a non-empty token; limits and the
    /// timeout are positive.
    ///
    /// # Errors
    /// [`Error::Daemon`] naming the problem.
    pub fn validate(&self) -> Result<()> {
        let fail = |message: &str| Error::Daemon {
            addr: self.addr.to_string(),
            message: message.into(),
        };
        if self.token.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(fail("the token is empty"));
        }
        if !self.addr.ip().is_loopback() && self.token.is_none() {
            return Err(fail(
                "binding a non-loopback address requires a token (--token-file): anyone who can \
                 reach it could write runs",
            ));
        }
        if self.request_timeout_secs == 0
            || self.max_body_bytes == 0
            || self.max_artifact_bytes == 0
            || self.header_read_timeout_secs == 0
        {
            return Err(fail(
                "the request and header timeouts and the body limits must be positive",
            ));
        }
        Ok(())
    }
}

/// What every handler sees.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) store: Store,
    pub(crate) token: Option<String>,
    pub(crate) export_dir: Option<PathBuf>,
    /// Largest artifact upload, bytes.
    pub(crate) max_artifact_bytes: usize,
}

/// An error answer: MLflow's JSON body and the HTTP status of its error code.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        ApiError(error)
    }
}

/// The HTTP status of an MLflow error code (`mlflow/exceptions.py`).
pub fn http_status(error_code: &str) -> StatusCode {
    match error_code {
        "INVALID_PARAMETER_VALUE" | "RESOURCE_ALREADY_EXISTS" | "BAD_REQUEST" => {
            StatusCode::BAD_REQUEST
        }
        "RESOURCE_DOES_NOT_EXIST" | "ENDPOINT_NOT_FOUND" | "NOT_FOUND" => StatusCode::NOT_FOUND,
        "RESOURCE_CONFLICT" | "ALREADY_EXISTS" | "ABORTED" => StatusCode::CONFLICT,
        "UNAUTHENTICATED" => StatusCode::UNAUTHORIZED,
        "PERMISSION_DENIED" => StatusCode::FORBIDDEN,
        "TEMPORARILY_UNAVAILABLE" => StatusCode::SERVICE_UNAVAILABLE,
        "NOT_IMPLEMENTED" => StatusCode::NOT_IMPLEMENTED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn error_response(status: StatusCode, error_code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "error_code": error_code, "message": message });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.0.error_code();
        let status = match self.0 {
            // MLflow has no code for it; 413 is not one its client retries.
            Error::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            _ => http_status(code),
        };
        if status.is_server_error() {
            // The whole chain: SQLite's or the OS's own text is what tells an operator why.
            tracing::error!(error = %self.0.chain(), code, "request failed");
        } else {
            tracing::debug!(error = %self.0, code, "request refused");
        }
        error_response(status, code, &self.0.to_string())
    }
}

/// The daemon's routes, in one place (add a route here).
pub(crate) fn router(state: Arc<AppState>, config: &DaemonConfig) -> Router {
    let mlflow = Router::new()
        .route(
            "/experiments/get-by-name",
            get(handlers::get_experiment_by_name),
        )
        .route("/experiments/create", post(handlers::create_experiment))
        .route("/experiments/get", get(handlers::get_experiment))
        .route("/experiments/delete", post(handlers::delete_experiment))
        .route("/experiments/restore", post(handlers::restore_experiment))
        .route("/experiments/update", post(handlers::update_experiment))
        .route(
            "/experiments/set-experiment-tag",
            post(handlers::set_experiment_tag),
        )
        .route(
            "/experiments/delete-experiment-tag",
            post(handlers::delete_experiment_tag),
        )
        .route(
            "/experiments/search",
            get(handlers::search_experiments_get).post(handlers::search_experiments),
        )
        .route("/runs/create", post(handlers::create_run))
        .route("/runs/get", get(handlers::get_run))
        .route("/runs/update", post(handlers::update_run))
        .route("/runs/delete", post(handlers::delete_run))
        .route("/runs/restore", post(handlers::restore_run))
        .route("/runs/search", post(handlers::search_runs))
        .route("/runs/log-metric", post(handlers::log_metric))
        .route("/runs/log-parameter", post(handlers::log_param))
        .route("/runs/set-tag", post(handlers::set_tag))
        .route("/runs/delete-tag", post(handlers::delete_tag))
        .route("/runs/log-batch", post(handlers::log_batch))
        .route("/runs/log-inputs", post(handlers::log_inputs))
        .route("/metrics/get-history", get(handlers::get_metric_history))
        .route("/artifacts/list", get(artifacts::list_run_artifacts))
        .route(
            "/logged-models/search",
            post(handlers::search_logged_models),
        )
        .route("/logged-models", post(handlers::create_logged_model))
        .layer(DefaultBodyLimit::max(config.max_body_bytes));
    let artifacts = Router::new()
        .route("/artifacts", get(artifacts::list))
        .route(
            "/artifacts/{*path}",
            get(artifacts::download).put(artifacts::upload),
        )
        .layer(DefaultBodyLimit::max(config.max_artifact_bytes));
    let mut app = Router::new()
        .route("/health", get(|| async { "OK" }))
        .route("/version", get(|| async { MLFLOW_COMPAT_VERSION }))
        // MLflow's web UI calls the same routes under `/ajax-api/2.0/...`.
        .nest("/api/2.0/mlflow", mlflow.clone())
        .nest("/ajax-api/2.0/mlflow", mlflow)
        .route(
            "/api/2.0/gapwatch/runs/analysis",
            get(handlers::get_run_analysis),
        );
    // The proxy only when clients get `mlflow-artifacts:` URIs: with `--no-serve-artifacts`
    // (file:// or bucket URIs) these routes are unknown, as on `mlflow server`.
    if *state.store.artifact_uris() == ArtifactUris::Served {
        app = app
            .nest("/api/2.0/mlflow-artifacts", artifacts.clone())
            .nest("/ajax-api/2.0/mlflow-artifacts", artifacts);
    }
    app.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(config.request_timeout_secs),
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authenticate,
        ))
        .with_state(state)
}

async fn not_found(request: Request) -> Response {
    let message = format!("No endpoint {} {}", request.method(), request.uri().path());
    error_response(StatusCode::NOT_FOUND, "ENDPOINT_NOT_FOUND", &message)
}

async fn method_not_allowed(request: Request) -> Response {
    let message = format!(
        "Method {} not allowed on {}",
        request.method(),
        request.uri().path()
    );
    error_response(StatusCode::METHOD_NOT_ALLOWED, "BAD_REQUEST", &message)
}

async fn authenticate(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(token) = &state.token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token)
            .unwrap_or("");
        if !constant_time_eq(given.as_bytes(), token.as_bytes()) {
            return error_response(
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "missing or wrong bearer token (Authorization: Bearer <token>)",
            );
        }
    }
    next.run(request).await
}

/// The token of an `Authorization: Bearer <token>` value; the scheme is case-insensitive and
/// may be followed by several spaces (RFC 7235 §2.1).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_start_matches(' '))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `--export-dir` hook: re-exports one experiment's active runs as Parquet under `dir`
/// ([`crate::export::export_experiment`], the same export as `track export`).
fn export_experiment(store: &Store, experiment_id: &str, dir: &std::path::Path) -> Result<()> {
    crate::export::export_experiment(store, experiment_id, dir).map(drop)
}

/// Serves the API on `listener` until `shutdown` completes, then stops accepting, finishes the
/// requests in flight and returns (the store flushes and closes when its last clone drops).
///
/// # Errors
/// An invalid config, or a failure of the listener.
pub async fn serve(
    store: Store,
    config: DaemonConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    config.validate()?;
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let state = Arc::new(AppState {
        store,
        token: config.token.clone(),
        export_dir: config.export_dir.clone(),
        max_artifact_bytes: config.max_artifact_bytes,
    });
    let app = router(state, &config);
    // hyper's HTTP/1 server directly (axum's `serve` sets no header-read timeout, so a client
    // could hold a connection open forever by sending its request head slowly).
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(config.header_read_timeout_secs));
    // Connections hold a clone of `open`; `closed()` resolves when the last is gone.
    let (closing, closing_seen) = tokio::sync::watch::channel(false);
    let (open, _) = tokio::sync::watch::channel(());
    tracing::info!(%addr, "daemon listening");
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::debug!(%error, "accept failed");
                    if !is_connection_error(&error) {
                        // Out of file descriptors and the like: give it a moment.
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        let connection = http.serve_connection(
            hyper_util::rt::TokioIo::new(tcp),
            hyper_util::service::TowerToHyperService::new(app.clone()),
        );
        let mut closing = closing_seen.clone();
        let open = open.subscribe();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let finished = tokio::select! {
                result = connection.as_mut() => Some(result),
                _ = closing.wait_for(|closing| *closing) => None,
            };
            let result = match finished {
                Some(result) => result,
                // Shutting down: finish the request in flight, take no other.
                None => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
            drop(open);
        });
    }
    drop(listener);
    let _ = closing.send(true);
    open.closed().await;
    tracing::info!(%addr, "daemon stopped");
    Ok(())
}

/// Errors of one incoming connection (the listener itself is fine).
fn is_connection_error(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// A daemon running on its own thread and tokio runtime (for tests and embedding).
#[derive(Debug)]
pub struct Daemon {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

impl Daemon {
    /// Binds `config.addr` (port 0: any free port) and serves `store` on a background thread
    /// until [`Daemon::shutdown`] or drop.
    ///
    /// # Errors
    /// An invalid config, or the address cannot be bound.
    pub fn start(store: Store, config: DaemonConfig) -> Result<Daemon> {
        config.validate()?;
        let bind_addr = config.addr.to_string();
        let daemon_error = |message: String| Error::Daemon {
            addr: bind_addr.clone(),
            message,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(16)
            .enable_all()
            .thread_name("tracker-daemon")
            .build()
            .map_err(|e| daemon_error(format!("cannot start a runtime: {e}")))?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(config.addr))
            .map_err(|e| daemon_error(format!("cannot bind: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| daemon_error(e.to_string()))?;
        let (send, receive) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("tracker-daemon".into())
            .spawn(move || {
                let signal = async move {
                    let _ = receive.await;
                };
                let result = runtime.block_on(serve(store, config, listener, signal));
                runtime.shutdown_timeout(Duration::from_secs(5));
                result
            })
            .map_err(|e| daemon_error(format!("cannot start the daemon thread: {e}")))?;
        Ok(Daemon {
            addr,
            shutdown: Some(send),
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, a tracking URI.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, finishes the requests in flight, and waits until the daemon and its
    /// handle on the store are gone.
    ///
    /// # Errors
    /// What the server loop returned.
    pub fn shutdown(mut self) -> Result<()> {
        self.stop()
    }

    fn stop(&mut self) -> Result<()> {
        if let Some(send) = self.shutdown.take() {
            let _ = send.send(());
        }
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(Error::Daemon {
                addr: self.addr.to_string(),
                message: "the daemon thread panicked".into(),
            }),
            None => Ok(()),
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Err(error) = self.stop() {
            tracing::warn!(%error, "daemon shutdown failed");
        }
    }
}
