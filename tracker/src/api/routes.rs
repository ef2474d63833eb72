//! The daemon's routes, in one table, and what stands before every handler: token
//! authentication (Bearer, or the dashboard's cookie; a page or asset without it gets the login
//! form), the request timeout, body limits, and JSON answers for unknown routes and methods.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use tower_http::timeout::TimeoutLayer;

use super::answer::error_response;
use super::{AppState, DaemonConfig, MLFLOW_COMPAT_VERSION, artifacts, handlers};
use crate::error::ErrorCode;
use crate::store::ArtifactUris;

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
        )
        .merge(crate::dashboard::routes());
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

/// Largest body read (and dropped) before answering an unknown route: a client that sends a
/// small body with its request then reads the 404 instead of a connection reset.
const UNKNOWN_ROUTE_DRAIN_BYTES: usize = 1024 * 1024;

async fn not_found(request: Request) -> Response {
    let message = format!("No endpoint {} {}", request.method(), request.uri().path());
    drain(request).await;
    error_response(StatusCode::NOT_FOUND, ErrorCode::EndpointNotFound, &message)
}

/// Reads and drops up to [`UNKNOWN_ROUTE_DRAIN_BYTES`] of a request's body. Answering before
/// the body is read makes hyper close the connection under a client still sending it, which
/// the client sees as "peer disconnected" rather than the answer.
async fn drain(request: Request) {
    let _ = axum::body::to_bytes(request.into_body(), UNKNOWN_ROUTE_DRAIN_BYTES).await;
}

async fn method_not_allowed(request: Request) -> Response {
    let message = format!(
        "Method {} not allowed on {}",
        request.method(),
        request.uri().path()
    );
    drain(request).await;
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::BadRequest,
        &message,
    )
}

async fn authenticate(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(token) = &state.token {
        let path = request.uri().path();
        // The login form and logout need no token (they check or clear it themselves).
        let open = path == "/login" || path == "/logout";
        let bearer = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token)
            .unwrap_or("");
        let cookie = crate::dashboard::cookie_token(request.headers()).unwrap_or_default();
        let given = constant_time_eq(bearer.as_bytes(), token.as_bytes())
            | constant_time_eq(cookie.as_bytes(), token.as_bytes());
        if !open && !given {
            if crate::dashboard::is_page(path)
                && matches!(
                    *request.method(),
                    axum::http::Method::GET | axum::http::Method::HEAD
                )
            {
                return crate::dashboard::login_page(StatusCode::UNAUTHORIZED, false);
            }
            return error_response(
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthenticated,
                "missing or wrong token (Authorization: Bearer <token>, or the dashboard's \
                 login cookie)",
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

/// Whether `a` equals `b`, in a time that depends on their lengths only.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
