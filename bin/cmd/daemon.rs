//! `track daemon`: serves the MLflow-compatible tracking API over a SQLite store, and the web
//! dashboard at `/` on the same address.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use tracker::api::{self, DaemonConfig};
use tracker::store::{ArtifactUris, Store, StoreOptions};

use crate::common::{DEFAULT_TRACKING_URI, GlobalArgs};

/// Flags of `track daemon`.
#[derive(Debug, clap::Args)]
pub struct DaemonArgs {
    /// The SQLite database file (created if missing). Default: the global `--tracking-uri`
    /// (or `TRACK_TRACKING_URI`) when it names a file (`PATH` or `sqlite:PATH`), else
    /// `gapwatch.db` in the working directory.
    #[arg(long, env = "TRACK_DB")]
    pub db: Option<PathBuf>,
    /// Address to listen on. A non-loopback address requires `--token-file`.
    #[arg(long, env = "TRACK_ADDR", default_value = api::DEFAULT_ADDR)]
    pub addr: SocketAddr,
    /// Root directory of run artifacts (default: `<db stem>-artifacts` beside the database);
    /// with `--no-serve-artifacts` also a URI the clients write to (`s3://bucket/path`).
    #[arg(long, env = "TRACK_ARTIFACT_ROOT")]
    pub artifact_root: Option<PathBuf>,
    /// Do not proxy artifacts (as `mlflow server --no-serve-artifacts`): experiments get the
    /// artifact root itself as their location (`file://<root>/<id>`, or `<uri>/<id>`) and
    /// clients read and write it directly. By default clients get `mlflow-artifacts:/<id>` and
    /// upload through the daemon.
    #[arg(long)]
    pub no_serve_artifacts: bool,
    /// File holding the bearer token every request must carry (`MLFLOW_TRACKING_TOKEN` on the
    /// client side).
    #[arg(long, env = "TRACK_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Re-export an experiment as Parquet under this directory whenever one of its runs ends.
    #[arg(long, env = "TRACK_EXPORT_DIR")]
    pub export_dir: Option<PathBuf>,
    /// Write the bound address (`http://127.0.0.1:PORT`, one line) to this file once the daemon
    /// listens, whatever `--quiet` says: how scripts and tests find a daemon started on port 0.
    #[arg(long, value_name = "FILE")]
    pub addr_file: Option<PathBuf>,
    /// Seconds a request may take before it is answered 408.
    #[arg(long, env = "TRACK_REQUEST_TIMEOUT_SECS", default_value_t = api::DEFAULT_REQUEST_TIMEOUT_SECS)]
    pub request_timeout_secs: u64,
}

/// The database the daemon serves: `--db`, else the global tracking URI when it names a file,
/// else the default. A global URI naming a daemon (`http://...`) is refused rather than
/// silently replaced by the default file. (`MLFLOW_TRACKING_URI` is not read here: clients set
/// it to the daemon's own address.)
fn database(args: &DaemonArgs, global: &GlobalArgs) -> anyhow::Result<PathBuf> {
    if let Some(db) = &args.db {
        return Ok(db.clone());
    }
    match global.tracking_uri.as_deref().map(str::trim) {
        None | Some("") => Ok(PathBuf::from(DEFAULT_TRACKING_URI)),
        Some(uri) if uri.starts_with("http://") || uri.starts_with("https://") => {
            anyhow::bail!(
                "--tracking-uri {uri} names a daemon, not a database to serve: give the \
                 database with --db (or a file path as --tracking-uri)"
            )
        }
        Some(uri) => Ok(tracker::client::embedded_path(uri)?),
    }
}

/// Runs `track daemon` until SIGINT or SIGTERM (a second signal exits at once).
pub fn run(args: DaemonArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let db = database(&args, global)?;
    let token = match &args.token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the token file {}", path.display()))?
                .trim()
                .to_string(),
        ),
        None => None,
    };
    let config = DaemonConfig {
        addr: args.addr,
        token,
        export_dir: args.export_dir.clone(),
        request_timeout_secs: args.request_timeout_secs,
        ..DaemonConfig::default()
    };
    config.validate()?;
    let (artifact_root, artifact_uris) = artifact_choice(&args)?;
    let root_uri = match &artifact_uris {
        ArtifactUris::Root(uri) => Some(uri.clone()),
        _ => None,
    };
    let store = Store::open_with(
        &db,
        StoreOptions {
            artifact_root,
            artifact_uris,
        },
    )
    .with_context(|| format!("opening the store {}", db.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(16)
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("binding {}", config.addr))?;
        let bound = listener.local_addr().context("reading the bound address")?;
        if let Some(path) = &args.addr_file {
            write_addr_file(path, &format!("http://{bound}\n"))?;
        }
        if !global.quiet {
            eprintln!(
                "track daemon: serving {} on http://{bound} (artifacts in {}); dashboard: \
                 http://{bound}/",
                db.display(),
                root_uri.unwrap_or_else(|| store.artifact_root().display().to_string())
            );
        }
        api::serve(store, config, listener, shutdown_signal()).await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Writes `line` to `path` whole or not at all (a reader polling for the file never sees half
/// an address): a temporary file beside it, then a rename.
fn write_addr_file(path: &std::path::Path, line: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, line)
        .and_then(|()| std::fs::rename(&tmp, path))
        .with_context(|| format!("writing the address file {}", path.display()))
}

/// The store's artifact root and URI form: served (`mlflow-artifacts:`) by default, the root
/// itself with `--no-serve-artifacts`. A root URI other than `file://` can only be handed out.
fn artifact_choice(args: &DaemonArgs) -> anyhow::Result<(Option<PathBuf>, ArtifactUris)> {
    let local = if args.no_serve_artifacts {
        ArtifactUris::File
    } else {
        ArtifactUris::Served
    };
    let Some(root) = &args.artifact_root else {
        return Ok((None, local));
    };
    let text = root.to_string_lossy();
    if let Some(path) = text.strip_prefix("file://") {
        return Ok((Some(PathBuf::from(path)), local));
    }
    if text.contains("://") {
        anyhow::ensure!(
            args.no_serve_artifacts,
            "--artifact-root {text} is not a local folder: the daemon serves artifacts from a \
             local folder (pass --no-serve-artifacts to hand clients the URI to write themselves)"
        );
        return Ok((None, ArtifactUris::Root(text.into_owned())));
    }
    Ok((Some(root.clone()), local))
}

/// Completes on the first SIGINT or SIGTERM, and arms a second one to exit at once.
async fn shutdown_signal() {
    wait_for_signal().await;
    tracing::info!("shutting down: finishing requests in flight (signal again to exit now)");
    tokio::spawn(async {
        wait_for_signal().await;
        eprintln!("track daemon: second signal, exiting now");
        std::process::exit(130);
    });
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for SIGTERM");
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
