//! The web dashboard `track daemon` serves at `/`: the page and its assets (embedded in the
//! binary), the login form of a daemon with a token, and the JSON the page reads beside the
//! MLflow API.
//!
//! # Data flow
//! ```text
//! browser ─► auth (api::routes: Bearer or cookie; a page without it gets the login form)
//!   ├─► GET /, /index.html, /assets/* ─► assets (embedded bytes, ETag, CSP)
//!   ├─► POST /login, /logout ─► login (HttpOnly SameSite=Strict cookie)
//!   └─► GET /api/2.0/gapwatch/...
//!         experiments/runs ─► runs: Store::runs_page (SQL paging + COUNT) ─► analysis (cached
//!                                   for finished runs) ─► one page of rows
//!         runs/series      ─► series: Store::metric_history_after ─► insight::downsample
//!         runs/compare     ─► series: analyses ─► analysis::compare_runs (as `track compare`)
//!   GET /get-artifact ─► downloads: a run's artifact file, streamed as an attachment
//! ```
//!
//! # Layout
//! - `assets`: the embedded files ([`ASSETS`]), their headers and ETags;
//! - `login`: the login page, the token cookie, `POST /login` and `POST /logout`;
//! - `runs`: one page of an experiment's runs with their verdicts, and the analysis cache;
//! - `series`: one metric's points, downsampled, and the comparison of runs;
//! - `downloads`: `GET /get-artifact`.

mod assets;
mod downloads;
mod login;
mod runs;
mod series;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::api::ApiError;
use crate::error::{Error, Result};

pub(crate) use assets::is_page;
pub use assets::{ASSETS, Asset, CONTENT_SECURITY_POLICY, assets_total_bytes};
pub use login::{COOKIE_NAME, set_cookie_value};
pub(crate) use login::{cookie_token, login_page};
pub(crate) use runs::AnalysisCache;

use crate::api::AppState;

/// Runs listed per page when the request names no `limit`.
pub const DEFAULT_RUNS_LIMIT: i64 = 100;
/// Most runs one page may list.
pub const MAX_RUNS_LIMIT: i64 = 1000;
/// Points of a series when the request names no `max_points`.
pub const DEFAULT_SERIES_POINTS: usize = 2000;
/// Fewest points a series request may ask for (smaller requests get this many).
pub const MIN_SERIES_POINTS: usize = 10;
/// Most points of one series answer (larger requests get this many).
pub const MAX_SERIES_POINTS: usize = 20_000;
/// Most finished runs whose analysis summary is kept in memory.
pub const DEFAULT_ANALYSIS_CACHE_ENTRIES: usize = 50_000;
/// Most runs one comparison may take.
pub const MAX_COMPARE_RUNS: usize = 100;

/// The dashboard's routes: pages, assets, login and its JSON endpoints.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    let mut router = Router::new();
    for asset in ASSETS {
        for path in asset.routes {
            router = router.route(path, assets::route(asset));
        }
    }
    router
        .route("/login", post(login::login).get(login::login_get))
        .route("/logout", post(login::logout))
        .route(
            "/api/2.0/gapwatch/experiments/runs",
            get(runs::experiment_runs),
        )
        .route("/api/2.0/gapwatch/runs/series", get(series::run_series))
        .route("/api/2.0/gapwatch/runs/compare", get(series::compare))
        .route("/get-artifact", get(downloads::get_artifact))
}

/// Runs `work` on the store off the async threads (with the daemon's state, for the cache).
async fn on_store<T, F>(state: &Arc<AppState>, work: F) -> std::result::Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&AppState) -> Result<T> + Send + 'static,
{
    let state = state.clone();
    tokio::task::spawn_blocking(move || work(&state))
        .await
        .map_err(|e| {
            ApiError(Error::Daemon {
                addr: String::new(),
                message: format!("a dashboard task failed: {e}"),
            })
        })?
        .map_err(ApiError)
}

/// A query string's fields (the last value of a repeated name wins).
type QueryFields = HashMap<String, String>;

/// A required, non-empty field of the query string.
fn required(query: &QueryFields, name: &str) -> Result<String> {
    query
        .get(name)
        .filter(|v| !v.is_empty())
        .cloned()
        .ok_or_else(|| Error::invalid(format!("Missing value for required parameter '{name}'")))
}

/// An optional integer field of the query string.
fn integer(query: &QueryFields, name: &str) -> Result<Option<i64>> {
    match query.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|_| {
            Error::invalid(format!(
                "Invalid value {text:?} for parameter '{name}': expected an integer"
            ))
        }),
    }
}

/// A 400 for a filter or order that does not parse: MLflow's error JSON with the `position`
/// (0-based character offset) and the offending `token`, so the page can point at them.
fn query_error_response(error: &crate::query::QueryError) -> Response {
    let body = json!({
        "error_code": crate::error::ErrorCode::InvalidParameterValue.as_str(),
        "message": error.to_string(),
        "position": error.position,
        "token": error.token,
    });
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}
