//! The MLflow tracking routes (`/api/2.0/mlflow/...`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::answer::error_response;
use super::request::Fields;
use super::{ApiError, AppState};
use crate::entities::{
    Dataset, DatasetInput, ExperimentTag, InputTag, Metric, Param, RunStatus, RunTag, ViewType,
};
use crate::error::{Error, ErrorCode, Result};
use crate::store::validate::{GET_METRIC_HISTORY_MAX_RESULTS, validate_batch_limits};
use crate::store::{CreateRun, SearchExperiments, SearchRuns, Store};

type Reply = std::result::Result<Json<Value>, ApiError>;
type Body = std::result::Result<Bytes, BytesRejection>;
type QueryString = std::result::Result<Query<HashMap<String, String>>, QueryRejection>;

fn body_fields(body: Body) -> Result<Fields> {
    let body = body.map_err(|e| Error::invalid(format!("Unreadable request body: {e}")))?;
    Fields::from_body(&body)
}

fn query_fields(query: QueryString) -> Result<Fields> {
    let Query(query) = query.map_err(|e| Error::invalid(format!("Malformed query string: {e}")))?;
    Ok(Fields::from_query(query))
}

/// Runs store work off the async threads.
pub(super) async fn blocking<T, F>(state: &AppState, work: F) -> std::result::Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> Result<T> + Send + 'static,
{
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || work(&store))
        .await
        .map_err(|e| {
            ApiError(Error::Daemon {
                addr: String::new(),
                message: format!("a store or artifact task failed: {e}"),
            })
        })?
        .map_err(ApiError)
}

fn to_json<T: serde::Serialize>(value: T) -> std::result::Result<Value, ApiError> {
    serde_json::to_value(value).map_err(|source| {
        ApiError(Error::Json {
            context: "encoding a response".into(),
            source,
        })
    })
}

/// A view type, by name or (as protobuf's JSON mapping allows) by enum number 1, 2 or 3.
fn view_type(fields: &Fields, name: &str) -> Result<ViewType> {
    if let Ok(Some(number)) = fields.integer(name) {
        return match number {
            1 => Ok(ViewType::ActiveOnly),
            2 => Ok(ViewType::DeletedOnly),
            3 => Ok(ViewType::All),
            _ => Err(Error::invalid(format!(
                "unknown view type {number} for '{name}'"
            ))),
        };
    }
    match fields.string(name)? {
        None => Ok(ViewType::ActiveOnly),
        Some(s) if s.is_empty() => Ok(ViewType::ActiveOnly),
        Some(s) => s
            .parse()
            .map_err(|message: String| Error::invalid(format!("{message} for '{name}'"))),
    }
}

fn max_results(fields: &Fields, default: i64) -> Result<i64> {
    Ok(fields.integer("max_results")?.unwrap_or(default))
}

pub(crate) async fn get_experiment_by_name(
    State(state): State<Arc<AppState>>,
    query: QueryString,
) -> Reply {
    let fields = query_fields(query)?;
    let name = fields.required("experiment_name")?;
    let experiment = blocking(&state, move |store| {
        store
            .get_experiment_by_name(&name)?
            .ok_or(Error::ExperimentNameNotFound { name })
    })
    .await?;
    Ok(Json(json!({ "experiment": to_json(experiment)? })))
}

pub(crate) async fn create_experiment(State(state): State<Arc<AppState>>, body: Body) -> Reply {
    let fields = body_fields(body)?;
    let name = fields.required("name")?;
    let location = fields.string("artifact_location")?;
    let tags: Vec<ExperimentTag> = fields
        .key_values("tags")?
        .into_iter()
        .map(|(key, value)| ExperimentTag { key, value })
        .collect();
    let id = blocking(&state, move |store| {
        store.create_experiment(&name, location.as_deref(), &tags)
    })
    .await?;
    Ok(Json(json!({ "experiment_id": id })))
}

pub(crate) async fn get_experiment(
    State(state): State<Arc<AppState>>,
    query: QueryString,
) -> Reply {
    let fields = query_fields(query)?;
    let id = fields.required("experiment_id")?;
    let experiment = blocking(&state, move |store| store.get_experiment(&id)).await?;
    Ok(Json(json!({ "experiment": to_json(experiment)? })))
}

pub(crate) async fn search_experiments_get(
    state: State<Arc<AppState>>,
    query: QueryString,
) -> Reply {
    search_experiments_with(state, query_fields(query)?).await
}

pub(crate) async fn search_experiments(state: State<Arc<AppState>>, body: Body) -> Reply {
    search_experiments_with(state, body_fields(body)?).await
}

async fn search_experiments_with(State(state): State<Arc<AppState>>, fields: Fields) -> Reply {
    let search = SearchExperiments {
        filter: fields.string("filter")?.unwrap_or_default(),
        order_by: fields.strings("order_by")?,
        max_results: max_results(&fields, crate::store::validate::SEARCH_MAX_RESULTS_DEFAULT)?,
        page_token: fields.string("page_token")?,
        view_type: view_type(&fields, "view_type")?,
    };
    let (experiments, next) =
        blocking(&state, move |store| store.search_experiments(&search)).await?;
    let mut answer = json!({ "experiments": to_json(experiments)? });
    if let Some(token) = next {
        answer["next_page_token"] = Value::String(token);
    }
    Ok(Json(answer))
}

pub(crate) async fn create_run(State(state): State<Arc<AppState>>, body: Body) -> Reply {
    let fields = body_fields(body)?;
    let request = CreateRun {
        experiment_id: fields
            .string("experiment_id")?
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| crate::entities::DEFAULT_EXPERIMENT_ID.to_string()),
        run_name: fields.string("run_name")?,
        user_id: fields.string("user_id")?.unwrap_or_default(),
        start_time: fields.integer("start_time")?,
        tags: run_tags(&fields, "tags")?,
    };
    let run = blocking(&state, move |store| store.create_run(request)).await?;
    Ok(Json(json!({ "run": to_json(run)? })))
}

pub(crate) async fn get_run(State(state): State<Arc<AppState>>, query: QueryString) -> Reply {
    let fields = query_fields(query)?;
    let run_id = fields.run_id()?;
    let (run, mut inputs) = blocking(&state, move |store| {
        let run = store.get_run(&run_id)?;
        let inputs = store.run_inputs(std::slice::from_ref(&run.info.run_id))?;
        Ok((run, inputs))
    })
    .await?;
    let mut answer = to_json(&run)?;
    answer["inputs"] = to_json(inputs.remove(&run.info.run_id).unwrap_or_default())?;
    Ok(Json(json!({ "run": answer })))
}

/// `GET /api/2.0/gapwatch/runs/analysis?run_id=…`: the run's overfitting analysis.
pub(crate) async fn get_run_analysis(
    State(state): State<Arc<AppState>>,
    query: QueryString,
) -> Reply {
    let fields = query_fields(query)?;
    let run_id = fields.run_id()?;
    // `per_epoch_rows=N` (the dashboard's): at most N rows of the per-epoch table, with the
    // best epoch and the onset among them, and `per_epoch_total` saying how many there are.
    let rows = match fields.integer("per_epoch_rows")? {
        None => None,
        Some(n) if n >= 2 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
        Some(n) => {
            return Err(ApiError(Error::invalid(format!(
                "per_epoch_rows must be at least 2, not {n}"
            ))));
        }
    };
    let config = crate::analysis::AnalysisConfig::default();
    let mut analysis = blocking(&state, move |store| {
        crate::analysis::analyze_stored_run(store, &run_id, &config)
    })
    .await?;
    let Some(rows) = rows else {
        return Ok(Json(to_json(analysis)?));
    };
    let total = analysis.thin_per_epoch(rows);
    let mut answer = to_json(analysis)?;
    if let Value::Object(fields) = &mut answer {
        fields.insert("per_epoch_total".into(), json!(total));
    }
    Ok(Json(answer))
}

pub(crate) async fn update_run(State(state): State<Arc<AppState>>, body: Body) -> Reply {
    let fields = body_fields(body)?;
    let run_id = fields.run_id()?;
    // MLflow's server drops an unknown status name (protobuf ParseDict) and answers 200.
    let status = fields
        .string("status")?
        .and_then(|s| s.parse::<RunStatus>().ok());
    let end_time = fields.integer("end_time")?;
    let run_name = fields.string("run_name")?;
    let info = blocking(&state, move |store| {
        store.update_run(&run_id, status, end_time, run_name.as_deref())
    })
    .await?;
    if let (Some(dir), Some(status)) = (&state.export_dir, status)
        && status.is_terminal()
    {
        spawn_export(&state.store, &info.experiment_id, dir);
    }
    Ok(Json(json!({ "run_info": to_json(info)? })))
}

/// Re-exports an experiment in the background; a failure is logged, never answered.
fn spawn_export(store: &Store, experiment_id: &str, dir: &std::path::Path) {
    let (store, experiment_id, dir) = (store.clone(), experiment_id.to_string(), dir.to_path_buf());
    tokio::task::spawn_blocking(move || {
        match super::export_experiment(&store, &experiment_id, &dir) {
            Ok(_) => tracing::info!(experiment_id, dir = %dir.display(), "experiment exported"),
            Err(error) => {
                tracing::warn!(experiment_id, error = %error.chain(), "experiment export failed")
            }
        }
    });
}

pub(crate) async fn delete_run(State(state): State<Arc<AppState>>, body: Body) -> Reply {
    let run_id = body_fields(body)?.run_id()?;
    blocking(&state, move |store| store.delete_run(&run_id)).await?;
    Ok(Json(json!({})))
}

pub(crate) async fn restore_run(State(state): State<Arc<AppState>>, body: Body) -> Reply {
    let run_id = body_fields(body)?.run_id()?;
    blocking(&state, move |store| store.restore_run(&run_id)).await?;
    Ok(Json(json!({})))
}

pub(crate) async fn search_runs(State(state): State<Arc<AppState>>, body: Body) -> Reply {
    let fields = body_fields(body)?;
    let search = SearchRuns {
        experiment_ids: fields.strings("experiment_ids")?,
        filter: fields.string("filter")?.unwrap_or_default(),
        order_by: fields.strings("order_by")?,
        max_results: max_results(&fields, crate::store::validate::SEARCH_MAX_RESULTS_DEFAULT)?,
        page_token: fields.string("page_token")?,
        view_type: view_type(&fields, "run_view_type")?,
    };
    let (runs, next, mut inputs) = blocking(&state, move |store| {
        let (runs, next) = store.search_runs(&search)?;
        let ids: Vec<String> = runs.iter().map(|r| r.info.run_id.clone()).collect();
        let inputs = store.run_inputs(&ids)?;
        Ok((runs, next, inputs))
    })
    .await?;
    let runs = runs
        .iter()
        .map(|run| {
            let mut value = to_json(run)?;
            value["inputs"] = to_json(inputs.remove(&run.info.run_id).unwrap_or_default())?;
            Ok(value)
        })
        .collect::<std::result::Result<Vec<Value>, ApiError>>()?;
    let mut answer = json!({ "runs": runs });
    if let Some(token) = next {
        answer["next_page_token"] = Value::String(token);
    }
    Ok(Json(answer))
}

/// A string field that must be present (an empty string is a value).
fn present(fields: &Fields, name: &str) -> Result<String> {
    fields
        .string(name)?
        .ok_or_else(|| super::request::missing_value(name))
}

/// Run tags (`tags[{key, value}]`).
fn run_tags(fields: &Fields, name: &str) -> Result<Vec<RunTag>> {
    Ok(fields
        .key_values(name)?
        .into_iter()
        .map(|(key, value)| RunTag { key, value })
        .collect())
}

pub(crate) async fn log_metric(State(state): State<Arc<AppState>>, body: Body) -> Reply {
    let fields = body_fields(body)?;
    let run_id = fields.run_id()?;
    let metric = Metric {
        key: fields.required("key")?,
        value: fields.required_double("value")?,
        timestamp: fields.required_integer("timestamp")?,
        step: fields.integer("step")?.unwrap_or(0),
    };
    state
        .store
        .log_batch_async(&run_id, vec![metric], &[], &[])
        .await?;
    Ok(Json(json!({})))
}

pub(crate) async fn log_param(State(state): State<Arc<AppState>>, body: Body) -> Reply {
    let fields = body_fields(body)?;
    let run_id = fields.run_id()?;
    let param = Param {
        key: fields.required("key")?,
        value: present(&fields, "value")?,
    };
    state
        .store
        .log_batch_async(&run_id, Vec::new(), &[param], &[])
        .await?;
    Ok(Json(json!({})))
}

pub(crate) async fn set_tag(State(state): State<Arc<AppState>>, body: Body) -> Reply {
    let fields = body_fields(body)?;
    let run_id = fields.run_id()?;
    let tag = RunTag {
        key: fields.required("key")?,
        value: present(&fields, "value")?,
    };
    state
        .store
        .log_batch_async(&run_id, Vec::new(), &[], &[tag])
        .await?;
    Ok(Json(json!({})))
}

pub(crate) async fn delete_tag(State(state): State<Arc<AppState>>, body: Body) -> Reply {
    let fields = body_fields(body)?;
    let run_id = fields.run_id()?;
    let key = fields.required("key")?;
    blocking(&state, move |store| store.delete_tag(&run_id, &key)).await?;
    Ok(Json(json!({})))
}

pub(crate) async fn log_batch(State(state): State<Arc<AppState>>, body: Body) -> Reply {
    let fields = body_fields(body)?;
    let run_id = fields.run_id()?;
    let metrics: Vec<Metric> = fields.metrics("metrics")?;
    let params: Vec<Param> = fields
        .key_values("params")?
        .into_iter()
        .map(|(key, value)| Param { key, value })
        .collect();
    let tags: Vec<RunTag> = run_tags(&fields, "tags")?;
    validate_batch_limits(metrics.len(), params.len(), tags.len())?;
    state
        .store
        .log_batch_async(&run_id, metrics, &params, &tags)
        .await?;
    Ok(Json(json!({})))
}

/// `runs/log-inputs`: stores the dataset inputs (`runs/get` returns them under `inputs`).
/// Model inputs (MLflow 3 logged models) are out of scope and ignored.
pub(crate) async fn log_inputs(State(state): State<Arc<AppState>>, body: Body) -> Reply {
    let fields = body_fields(body)?;
    let run_id = fields.run_id()?;
    let inputs = fields
        .messages("datasets")?
        .iter()
        .map(|input| {
            let dataset = input
                .message("dataset")?
                .ok_or_else(|| super::request::missing_value(&input.path("dataset")))?;
            Ok(DatasetInput {
                tags: input
                    .key_values("tags")?
                    .into_iter()
                    .map(|(key, value)| InputTag { key, value })
                    .collect(),
                dataset: Dataset {
                    name: dataset.required("name")?,
                    digest: dataset.required("digest")?,
                    source_type: dataset.required("source_type")?,
                    source: dataset.required("source")?,
                    schema: dataset.string("schema")?,
                    profile: dataset.string("profile")?,
                },
            })
        })
        .collect::<Result<Vec<_>>>()?;
    blocking(&state, move |store| store.log_inputs(&run_id, inputs)).await?;
    Ok(Json(json!({})))
}

/// `experiments/delete`: marks the experiment and its runs deleted.
pub(crate) async fn delete_experiment(State(state): State<Arc<AppState>>, body: Body) -> Reply {
    let id = body_fields(body)?.required("experiment_id")?;
    blocking(&state, move |store| store.delete_experiment(&id)).await?;
    Ok(Json(json!({})))
}

/// `experiments/restore`: marks a deleted experiment and its runs active.
pub(crate) async fn restore_experiment(State(state): State<Arc<AppState>>, body: Body) -> Reply {
    let id = body_fields(body)?.required("experiment_id")?;
    blocking(&state, move |store| store.restore_experiment(&id)).await?;
    Ok(Json(json!({})))
}

/// `experiments/update`: renames an experiment.
pub(crate) async fn update_experiment(State(state): State<Arc<AppState>>, body: Body) -> Reply {
    let fields = body_fields(body)?;
    let id = fields.required("experiment_id")?;
    let new_name = fields.required("new_name")?;
    blocking(&state, move |store| store.rename_experiment(&id, &new_name)).await?;
    Ok(Json(json!({})))
}

/// `experiments/set-experiment-tag`.
pub(crate) async fn set_experiment_tag(State(state): State<Arc<AppState>>, body: Body) -> Reply {
    let fields = body_fields(body)?;
    let id = fields.required("experiment_id")?;
    let key = fields.required("key")?;
    let value = fields.string("value")?.unwrap_or_default();
    blocking(&state, move |store| {
        store.set_experiment_tag(&id, &key, &value)
    })
    .await?;
    Ok(Json(json!({})))
}

/// `experiments/delete-experiment-tag`.
pub(crate) async fn delete_experiment_tag(State(state): State<Arc<AppState>>, body: Body) -> Reply {
    let fields = body_fields(body)?;
    let id = fields.required("experiment_id")?;
    let key = fields.required("key")?;
    blocking(&state, move |store| store.delete_experiment_tag(&id, &key)).await?;
    Ok(Json(json!({})))
}

pub(crate) async fn get_metric_history(
    State(state): State<Arc<AppState>>,
    query: QueryString,
) -> Reply {
    let fields = query_fields(query)?;
    let run_id = fields.run_id()?;
    let key = fields.required("metric_key")?;
    let max_results = max_results(&fields, GET_METRIC_HISTORY_MAX_RESULTS)?;
    if !(1..=GET_METRIC_HISTORY_MAX_RESULTS).contains(&max_results) {
        return Err(ApiError(Error::invalid(format!(
            "Invalid value {max_results} for parameter 'max_results': it must be between 1 and \
             {GET_METRIC_HISTORY_MAX_RESULTS}"
        ))));
    }
    let token = fields.string("page_token")?.filter(|t| !t.is_empty());
    let offset = match &token {
        None => 0,
        Some(t) => t
            .parse::<usize>()
            .map_err(|_| Error::InvalidPageToken { token: t.clone() })?,
    };
    let points = blocking(&state, move |store| store.metric_history(&run_id, &key)).await?;
    let end = offset
        .saturating_add(max_results as usize)
        .min(points.len());
    let page = points.get(offset.min(end)..end).unwrap_or_default();
    let mut answer = json!({});
    if !page.is_empty() {
        answer["metrics"] = to_json(page)?;
    }
    if end < points.len() {
        answer["next_page_token"] = Value::String(end.to_string());
    }
    Ok(Json(answer))
}

/// `list_artifacts`/`download_artifacts` ask for logged models first: there are none.
pub(crate) async fn search_logged_models() -> Json<Value> {
    Json(json!({ "models": [] }))
}

/// MLflow 3 model logging is not supported: a clear 501 that clients do not retry and
/// autolog only warns about.
pub(crate) async fn create_logged_model() -> Response {
    error_response(
        StatusCode::NOT_IMPLEMENTED,
        ErrorCode::NotImplemented,
        "logged models are not supported by gapwatch; log the model files as run artifacts",
    )
    .into_response()
}
