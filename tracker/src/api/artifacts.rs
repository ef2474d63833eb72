//! The `mlflow-artifacts` routes: upload (PUT), download (GET) and list, over the store's
//! artifact root. A path is `<experiment id>/<run id>/artifacts/<relative path>` and is
//! confined to that run's directory ([`Store::resolve_artifact_path`]).
//!
//! Uploads and downloads stream: an upload is written chunk by chunk to a temporary file in
//! the target directory, then renamed into place (a reader never sees half a file), and a
//! download is read in chunks; neither holds the file in memory. An upload over the limit
//! (`DaemonConfig::max_artifact_bytes`) is answered 413, before its body is read when its
//! `Content-Length` already says so.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Json;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::handlers::blocking;
use super::{ApiError, AppState};
use crate::error::{Error, Result};
use crate::store::Store;

/// Bytes of one download chunk.
const DOWNLOAD_CHUNK_BYTES: usize = 64 * 1024;
/// Bytes of a refused upload's body read (and dropped) to keep its connection usable.
const DRAIN_BYTES: u64 = 1024 * 1024;
/// Chunks in flight between the network and the disk, each way.
const CHUNKS_IN_FLIGHT: usize = 4;

/// The file or directory an artifact path names, after checking the run and confinement.
fn locate(store: &Store, path: &str) -> Result<PathBuf> {
    let refused = |reason: &str| Error::ArtifactPath {
        path: path.to_string(),
        reason: reason.to_string(),
    };
    if path.starts_with('/') || path.contains('\\') {
        return Err(refused("absolute paths are not allowed"));
    }
    let mut parts = path.splitn(4, '/');
    let (Some(experiment_id), Some(run_id), Some("artifacts")) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Err(refused(
            "expected <experiment id>/<run id>/artifacts[/<path>]",
        ));
    };
    let relative = parts.next().unwrap_or("");
    let run = store.get_run(run_id)?;
    if run.info.experiment_id != experiment_id {
        return Err(refused("the run is not in this experiment"));
    }
    store.resolve_artifact_path(run_id, relative)
}

fn io_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn path_param(path: std::result::Result<Path<String>, PathRejection>) -> Result<String> {
    path.map(|Path(p)| p)
        .map_err(|e| Error::invalid(format!("Invalid artifact path: {e}")))
}

/// An upload's failure to create or write a path, as the client's mistake where it is one: a
/// file where a directory is needed (409), a name the file system refuses (400).
fn upload_io_error(path: &str, on: &std::path::Path, source: std::io::Error) -> Error {
    use std::io::ErrorKind;
    match source.kind() {
        ErrorKind::NotADirectory | ErrorKind::IsADirectory | ErrorKind::AlreadyExists => {
            Error::ArtifactConflict {
                path: path.to_string(),
                reason: format!("{source} ({})", on.display()),
            }
        }
        ErrorKind::InvalidFilename | ErrorKind::InvalidInput => Error::ArtifactPath {
            path: path.to_string(),
            reason: source.to_string(),
        },
        _ => Error::Io {
            path: on.to_path_buf(),
            source,
        },
    }
}

/// Checks an upload's path and opens its temporary file next to the target.
fn prepare_upload(store: &Store, path: &str) -> Result<(PathBuf, tempfile::NamedTempFile)> {
    let refused = |reason: &str| Error::ArtifactPath {
        path: path.to_string(),
        reason: reason.to_string(),
    };
    let last = path.rsplit('/').next().unwrap_or("");
    if matches!(last, "" | "." | "..") {
        return Err(refused(
            "an upload needs a file name (the path ends with '/', '.' or '..')",
        ));
    }
    let target = locate(store, path)?;
    if target.is_dir() {
        return Err(Error::ArtifactConflict {
            path: path.to_string(),
            reason: "a directory of that name exists".into(),
        });
    }
    let parent = target.parent().ok_or_else(|| refused("no file name"))?;
    // The nearest existing ancestor must be a directory: a path under a file is a conflict.
    if let Some(existing) = parent.ancestors().find(|a| a.exists())
        && !existing.is_dir()
    {
        return Err(Error::ArtifactConflict {
            path: path.to_string(),
            reason: format!(
                "{} is a file, not a directory",
                existing
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ),
        });
    }
    std::fs::create_dir_all(parent).map_err(|e| upload_io_error(path, parent, e))?;
    // Re-check after creating directories: a link planted in between is refused.
    let target = locate(store, path)?;
    let file =
        crate::store::temp_file_in(parent, last).map_err(|e| upload_io_error(path, parent, e))?;
    Ok((target, file))
}

/// The body's declared length, when it has a valid one.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// `PUT /api/2.0/mlflow-artifacts/artifacts/<exp>/<run>/artifacts/<path>`: streams the raw body
/// to a temporary file in the target directory, then renames it into place.
pub(crate) async fn upload(
    State(state): State<Arc<AppState>>,
    path: std::result::Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    mut body: Body,
) -> Response {
    match store_upload(&state, path, &headers, &mut body).await {
        Ok(()) => ().into_response(),
        Err(error) => {
            // Refused before the body was read: read what is left of a small one, so that the
            // connection can carry the client's next request; close it after a large one.
            let drained =
                !matches!(error.0, Error::TooLarge { .. }) && drain(&mut body, DRAIN_BYTES).await;
            let mut response = error.into_response();
            if !drained {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            response
        }
    }
}

/// Reads and drops the rest of `body`; whether it ended within `budget` bytes.
async fn drain(body: &mut Body, budget: u64) -> bool {
    let mut seen = 0u64;
    loop {
        match std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await {
            None => return true,
            Some(Err(_)) => return false,
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    seen += data.len() as u64;
                    if seen > budget {
                        return false;
                    }
                }
            }
        }
    }
}

async fn store_upload(
    state: &AppState,
    path: std::result::Result<Path<String>, PathRejection>,
    headers: &HeaderMap,
    body: &mut Body,
) -> std::result::Result<(), ApiError> {
    let path = path_param(path)?;
    let limit = state.max_artifact_bytes as u64;
    let too_large = |size: u64| Error::TooLarge {
        what: "artifact upload".into(),
        size,
        limit,
    };
    if let Some(declared) = content_length(headers)
        && declared > limit
    {
        return Err(too_large(declared).into());
    }
    let checked = path.clone();
    let (target, file) = blocking(state, move |store| prepare_upload(store, &checked)).await?;
    // The disk side: one blocking task writes what the network side hands it.
    let (send, mut receive) = tokio::sync::mpsc::channel::<Bytes>(CHUNKS_IN_FLIGHT);
    let written_path = target.clone();
    let writer = tokio::task::spawn_blocking(move || -> Result<(tempfile::NamedTempFile, u64)> {
        let mut file = file;
        let mut written = 0u64;
        while let Some(chunk) = receive.blocking_recv() {
            file.write_all(&chunk).map_err(|source| Error::Io {
                path: written_path.clone(),
                source,
            })?;
            written += chunk.len() as u64;
        }
        file.as_file().sync_data().map_err(|source| Error::Io {
            path: written_path.clone(),
            source,
        })?;
        Ok((file, written))
    });
    let mut received = 0u64;
    let read = loop {
        match std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await {
            None => break Ok(()),
            Some(Err(error)) => {
                break Err(Error::invalid(format!("Unreadable artifact body: {error}")));
            }
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                received += data.len() as u64;
                if received > limit {
                    break Err(too_large(received));
                }
                if send.send(data).await.is_err() {
                    break Ok(()); // the writer stopped: its error is the answer
                }
            }
        }
    };
    drop(send);
    let written = writer.await.map_err(|e| {
        ApiError(Error::Daemon {
            addr: String::new(),
            message: format!("an artifact write task failed: {e}"),
        })
    })?;
    // A failed read drops the temporary file, which deletes it: nothing half-written stays.
    read?;
    let (file, bytes) = written?;
    blocking(state, move |_| {
        file.persist(&target)
            .map_err(|e| upload_io_error(&path, &target, e.error))?;
        tracing::debug!(path = %target.display(), bytes, "artifact stored");
        Ok(())
    })
    .await
}

/// A download's body: chunks read by a blocking task, handed over a bounded channel.
struct ChunkedFile(tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>);

impl HttpBody for ChunkedFile {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|chunk| chunk.map(hyper::body::Frame::data)))
    }
}

/// `GET /api/2.0/mlflow-artifacts/artifacts/<exp>/<run>/artifacts/<path>`: the file's bytes,
/// streamed.
pub(crate) async fn download(
    State(state): State<Arc<AppState>>,
    path: std::result::Result<Path<String>, PathRejection>,
) -> std::result::Result<Response, ApiError> {
    let path = path_param(path)?;
    let (file, length, target) = blocking(&state, move |store| {
        let target = locate(store, &path)?;
        if !target.is_file() {
            return Err(Error::ArtifactNotFound { path });
        }
        let file = std::fs::File::open(&target).map_err(io_error(&target))?;
        let length = file.metadata().map_err(io_error(&target))?.len();
        Ok((file, length, target))
    })
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, length.to_string()),
        ],
        file_body(file, length, target),
    )
        .into_response())
}

/// The body of a download: the first `length` bytes of `file` (at `target`, for the log),
/// read in chunks by a blocking task (the dashboard's `/get-artifact` streams the same way).
pub(crate) fn file_body(file: std::fs::File, length: u64, target: PathBuf) -> Body {
    let (send, receive) = tokio::sync::mpsc::channel(CHUNKS_IN_FLIGHT);
    tokio::task::spawn_blocking(move || {
        // No more than the length announced, should the file grow meanwhile.
        let mut file = file.take(length);
        loop {
            let mut chunk = vec![0u8; DOWNLOAD_CHUNK_BYTES];
            let item = match file.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    chunk.truncate(n);
                    Ok(Bytes::from(chunk))
                }
                Err(error) => {
                    tracing::warn!(path = %target.display(), %error, "artifact read failed");
                    Err(error)
                }
            };
            let failed = item.is_err();
            // The client hung up: stop reading.
            if send.blocking_send(item).is_err() || failed {
                break;
            }
        }
    });
    Body::new(ChunkedFile(receive))
}

/// `GET /api/2.0/mlflow-artifacts/artifacts?path=<exp>/<run>/artifacts[/sub]`:
/// `{"files": [{"path", "is_dir", "file_size"}]}` with base names, sorted (`{}` when empty).
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    query: std::result::Result<Query<HashMap<String, String>>, QueryRejection>,
) -> std::result::Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| Error::invalid(format!("Malformed query string: {e}")))?;
    let path = query.get("path").cloned().unwrap_or_default();
    let files = blocking(&state, move |store| {
        let dir = locate(store, path.trim_end_matches('/'))?;
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io_error(&dir))? {
            let entry = entry.map_err(io_error(&dir))?;
            let metadata = entry.metadata().map_err(io_error(&entry.path()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if metadata.is_dir() {
                files.push(json!({ "path": name, "is_dir": true }));
            } else {
                files.push(json!({ "path": name, "is_dir": false, "file_size": metadata.len() }));
            }
        }
        files.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
        Ok(files)
    })
    .await?;
    Ok(Json(if files.is_empty() {
        json!({})
    } else {
        json!({ "files": files })
    }))
}

/// `GET /api/2.0/mlflow/artifacts/list?run_id=…&path=…` (MLflow's non-proxied listing, which its
/// web UI uses): `{"root_uri", "files": [{"path", "is_dir", "file_size"}]}`, paths relative to
/// the run's artifact root (`dir/my.file`), sorted. Runs whose artifacts live under the daemon's
/// artifact root are listed; a run whose experiment has its own location (another folder, a
/// bucket) is refused, since the daemon does not read those.
pub(crate) async fn list_run_artifacts(
    State(state): State<Arc<AppState>>,
    query: std::result::Result<Query<HashMap<String, String>>, QueryRejection>,
) -> std::result::Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| Error::invalid(format!("Malformed query string: {e}")))?;
    let fields = super::request::Fields::from_query(query);
    let run_id = fields.run_id()?;
    let relative = fields
        .string("path")?
        .unwrap_or_default()
        .trim_matches('/')
        .to_string();
    let (root_uri, files) = blocking(&state, move |store| {
        let run = store.get_run(&run_id)?;
        let info = &run.info;
        let dir = store.run_artifact_dir(&run_id)?;
        let served = [
            format!("file://{}", dir.display()),
            format!(
                "mlflow-artifacts:/{}/{}/artifacts",
                info.experiment_id, info.run_id
            ),
        ];
        if !served.contains(&info.artifact_uri) {
            return Err(Error::invalid(format!(
                "The artifacts of run {run_id} are at {}, which this daemon does not serve: \
                 read them there",
                info.artifact_uri
            )));
        }
        let target = store.resolve_artifact_path(&run_id, &relative)?;
        let mut files = Vec::new();
        if target.is_dir() {
            for entry in std::fs::read_dir(&target).map_err(io_error(&target))? {
                let entry = entry.map_err(io_error(&target))?;
                let metadata = entry.metadata().map_err(io_error(&entry.path()))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let path = if relative.is_empty() {
                    name
                } else {
                    format!("{relative}/{name}")
                };
                if metadata.is_dir() {
                    files.push(json!({ "path": path, "is_dir": true }));
                } else {
                    files.push(
                        json!({ "path": path, "is_dir": false, "file_size": metadata.len() }),
                    );
                }
            }
        }
        files.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
        Ok((run.info.artifact_uri, files))
    })
    .await?;
    let mut answer = json!({ "root_uri": root_uri });
    if !files.is_empty() {
        answer["files"] = Value::Array(files);
    }
    Ok(Json(answer))
}
