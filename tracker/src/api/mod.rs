//! The daemon: the MLflow tracking REST API over a [`Store`], with axum.
//!
//! Routes follow `docs/mlflow-wire.md` (the official MLflow client logs to this daemon
//! unchanged): `/api/2.0/mlflow/{experiments,runs,metrics,artifacts}/...`, the `mlflow-artifacts`
//! upload, download and list routes (only for a store with [`ArtifactUris::Served`](crate::store::ArtifactUris::Served)), the same
//! under `/ajax-api/2.0/` (MLflow's web UI prefix), `GET /health` and `GET /version`; and the
//! web dashboard at `/` with its JSON routes (see [`crate::dashboard`]). Requests
//! are validated as MLflow's server validates them (`request`: a field of the wrong JSON type
//! is a 400 with MLflow's message). Errors are MLflow's JSON (`{"error_code", "message"}`)
//! with MLflow's HTTP statuses, mapped once in [`ApiError`]; a client mistake is a 4xx, never
//! a 5xx (the MLflow client retries 5xx for minutes); unknown routes get a JSON 404.
//!
//! # Data flow
//! ```text
//! TCP (TCP_NODELAY; hyper HTTP/1, header-read timeout) ─► auth (Bearer or the dashboard's
//!   cookie, when a token is set; a page without it gets the login form)
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

mod answer;
mod artifacts;
mod handlers;
mod request;
mod routes;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::store::Store;

pub use answer::{ApiError, http_status};
pub(crate) use artifacts::file_body;
pub(crate) use routes::constant_time_eq;

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
    /// The dashboard's analysis gists of finished runs.
    pub(crate) analyses: crate::dashboard::AnalysisCache,
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
        analyses: crate::dashboard::AnalysisCache::default(),
    });
    let app = routes::router(state, &config);
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
