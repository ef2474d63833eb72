//! `GET /get-artifact?run_id=&path=` (the route MLflow's server names so): a run's artifact
//! file as an attachment, streamed. The path is resolved inside the run's artifact directory
//! (`Store::resolve_artifact_path`: `..`, absolute paths and links that leave it are refused
//! with 400), for runs whose artifacts the daemon keeps (served `mlflow-artifacts:` or
//! `file://` under its artifact root).

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::assets::secure;
use super::{QueryFields, on_store, required};
use crate::api::{ApiError, AppState};
use crate::error::Error;

/// `GET /get-artifact?run_id=…&path=…`.
pub(super) async fn get_artifact(
    State(state): State<Arc<AppState>>,
    query: std::result::Result<Query<QueryFields>, QueryRejection>,
) -> std::result::Result<Response, ApiError> {
    let Query(query) =
        query.map_err(|e| ApiError(Error::invalid(format!("Malformed query string: {e}"))))?;
    let run_id = required(&query, "run_id")?;
    let path = required(&query, "path")?;
    let (file, length, target, name) = on_store(&state, move |state| {
        let store = &state.store;
        let run = store.get_run(&run_id)?;
        let dir = store.run_artifact_dir(&run_id)?;
        let kept = [
            format!("file://{}", dir.display()),
            format!(
                "mlflow-artifacts:/{}/{}/artifacts",
                run.info.experiment_id, run.info.run_id
            ),
        ];
        if !kept.contains(&run.info.artifact_uri) {
            return Err(Error::invalid(format!(
                "The artifacts of run {run_id} are at {}, which this daemon does not serve",
                run.info.artifact_uri
            )));
        }
        if path.starts_with('/') || path.contains('\\') {
            return Err(Error::ArtifactPath {
                path,
                reason: "absolute paths are not allowed".into(),
            });
        }
        let target = store.resolve_artifact_path(&run_id, &path)?;
        if !target.is_file() {
            return Err(Error::ArtifactNotFound { path });
        }
        let io = |source| Error::Io {
            path: target.clone(),
            source,
        };
        let file = std::fs::File::open(&target).map_err(io)?;
        let length = file.metadata().map_err(io)?.len();
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "artifact".into());
        Ok((file, length, target, name))
    })
    .await?;
    let mut response = (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, length.to_string()),
        ],
        crate::api::file_body(file, length, target),
    )
        .into_response();
    if let Ok(disposition) = HeaderValue::from_str(&attachment(&name)) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, disposition);
    }
    secure(response.headers_mut());
    Ok(response)
}

/// `attachment; filename="<name>"`, the name's quotes, backslashes, control and non-ASCII
/// characters replaced by `_`; with `filename*=UTF-8''<name, percent-encoded>` as well when
/// anything was replaced (RFC 6266).
fn attachment(name: &str) -> String {
    let plain: String = name
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if plain == name {
        format!("attachment; filename=\"{plain}\"")
    } else {
        format!(
            "attachment; filename=\"{plain}\"; filename*=UTF-8''{}",
            utf8_percent_encode(name, NON_ALPHANUMERIC)
        )
    }
}
