//! The `mlflow-artifacts` routes: upload (PUT), download (GET) and list, over the store's
//! artifact root. A path is `<experiment id>/<run id>/artifacts/<relative path>` and is
//! confined to that run's directory ([`Store::resolve_artifact_path`]).

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::handlers::blocking;
use super::{ApiError, AppState};
use crate::error::{Error, Result};
use crate::store::Store;

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

/// `PUT /api/2.0/mlflow-artifacts/artifacts/<exp>/<run>/artifacts/<path>`: writes the raw body
/// (to a temporary file, then renamed into place).
pub(crate) async fn upload(
    State(state): State<Arc<AppState>>,
    path: std::result::Result<Path<String>, PathRejection>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> std::result::Result<Response, ApiError> {
    let path = path_param(path)?;
    let body = body.map_err(|e| Error::invalid(format!("Unreadable artifact body: {e}")))?;
    blocking(&state, move |store| {
        let target = locate(store, &path)?;
        if target.is_dir() {
            return Err(Error::ArtifactPath {
                path,
                reason: "it is a directory".into(),
            });
        }
        let parent = target.parent().ok_or_else(|| Error::ArtifactPath {
            path: path.clone(),
            reason: "no file name".into(),
        })?;
        std::fs::create_dir_all(parent).map_err(io_error(parent))?;
        // Re-check after creating directories: a link planted in between is refused.
        let target = locate(store, &path)?;
        let mut file = tempfile::NamedTempFile::new_in(parent).map_err(io_error(parent))?;
        file.write_all(&body).map_err(io_error(&target))?;
        file.persist(&target).map_err(|e| Error::Io {
            path: target.clone(),
            source: e.error,
        })?;
        tracing::debug!(path = %target.display(), bytes = body.len(), "artifact stored");
        Ok(())
    })
    .await?;
    Ok(().into_response())
}

/// `GET /api/2.0/mlflow-artifacts/artifacts/<exp>/<run>/artifacts/<path>`: the file's bytes.
pub(crate) async fn download(
    State(state): State<Arc<AppState>>,
    path: std::result::Result<Path<String>, PathRejection>,
) -> std::result::Result<Response, ApiError> {
    let path = path_param(path)?;
    let bytes = blocking(&state, move |store| {
        let target = locate(store, &path)?;
        if !target.is_file() {
            return Err(Error::ArtifactNotFound { path });
        }
        std::fs::read(&target).map_err(io_error(&target))
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
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
