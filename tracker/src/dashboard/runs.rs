//! `GET /api/2.0/gapwatch/experiments/runs`: one page of an experiment's runs for the runs
//! table, each with its params, latest metrics and the gist of its analysis (verdict, onset,
//! best epoch).
//!
//! The page is cut by SQLite (the search compiler's `ORDER BY ... LIMIT ... OFFSET`, and a
//! `COUNT` for the total), and only the page's runs are analysed, so a page costs the same
//! with ten runs or ten thousand. The gist of a finished run's analysis is kept in memory
//! ([`AnalysisCache`], keyed by run id and end time); a running run is analysed on every
//! request, since its curves still grow.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{
    DEFAULT_ANALYSIS_CACHE_ENTRIES, DEFAULT_RUNS_LIMIT, MAX_RUNS_LIMIT, QueryFields, integer,
    on_store, query_error_response, required,
};
use crate::analysis::{AnalysisConfig, analyze, record_of};
use crate::api::{ApiError, AppState};
use crate::entities::Run;
use crate::error::{Error, Result};
use crate::query::{Filter, OrderBy, Target, parse_order_by};
use crate::store::Store;

/// The gist of a run's analysis, as the runs table shows it.
#[derive(Debug, Clone)]
struct Gist {
    label: &'static str,
    summary: String,
    onset_epoch: Option<i64>,
    best_epoch: i64,
    best_metric: String,
    best_value: f64,
}

/// A run's gist, or why it could not be analysed.
type Outcome = std::result::Result<Gist, String>;

/// Gists of finished runs, keyed by run id and valid for one end time; bounded (when full it
/// starts over, so memory stays bounded whatever the number of runs).
#[derive(Debug)]
pub(crate) struct AnalysisCache {
    entries: Mutex<HashMap<String, (Option<i64>, Outcome)>>,
    capacity: usize,
}

impl Default for AnalysisCache {
    fn default() -> Self {
        AnalysisCache {
            entries: Mutex::new(HashMap::new()),
            capacity: DEFAULT_ANALYSIS_CACHE_ENTRIES,
        }
    }
}

impl AnalysisCache {
    /// `run`'s gist: from the cache when the run is finished and its end time unchanged, else
    /// analysed from its stored metrics (and kept when finished).
    fn outcome(&self, store: &Store, run: &Run, config: &AnalysisConfig) -> Result<Outcome> {
        let finished = run.info.status.is_terminal();
        if finished
            && let Ok(entries) = self.entries.lock()
            && let Some((end_time, outcome)) = entries.get(&run.info.run_id)
            && *end_time == run.info.end_time
        {
            return Ok(outcome.clone());
        }
        let metrics = store.run_metrics(&run.info.run_id)?;
        let outcome = match analyze(&record_of(run, &metrics), config) {
            Ok(analysis) => Ok(Gist {
                label: analysis.verdict.label(),
                summary: analysis.summary,
                onset_epoch: analysis.onset_epoch,
                best_epoch: analysis.best.epoch,
                best_metric: analysis.best.metric,
                best_value: analysis.best.value,
            }),
            Err(error) => Err(error.to_string()),
        };
        if finished && let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= self.capacity {
                entries.clear();
            }
            entries.insert(
                run.info.run_id.clone(),
                (run.info.end_time, outcome.clone()),
            );
        }
        Ok(outcome)
    }
}

/// What the request asks for, checked.
struct PageRequest {
    experiment_id: String,
    filter: Filter,
    order: Vec<OrderBy>,
    offset: i64,
    limit: i64,
}

/// The request's fields, checked; a filter or order that does not parse answers 400 with its
/// position and token.
fn page_request(query: &QueryFields) -> std::result::Result<PageRequest, Box<Response>> {
    let experiment_id = required(query, "experiment_id").map_err(refuse)?;
    let filter = Filter::parse(query.get("filter").map_or("", String::as_str))
        .map_err(|e| Box::new(query_error_response(&e)))?;
    let order_by: Vec<String> = query
        .get("order_by")
        .map(|o| o.trim().to_string())
        .filter(|o| !o.is_empty())
        .into_iter()
        .collect();
    let order =
        parse_order_by(&order_by, Target::Runs).map_err(|e| Box::new(query_error_response(&e)))?;
    let offset = integer(query, "offset").map_err(refuse)?.unwrap_or(0);
    let limit = integer(query, "limit")
        .map_err(refuse)?
        .unwrap_or(DEFAULT_RUNS_LIMIT);
    if offset < 0 || !(1..=MAX_RUNS_LIMIT).contains(&limit) {
        return Err(refuse(Error::invalid(format!(
            "offset must be 0 or more and limit between 1 and {MAX_RUNS_LIMIT} (got offset \
             {offset}, limit {limit})"
        ))));
    }
    Ok(PageRequest {
        experiment_id,
        filter,
        order,
        offset,
        limit,
    })
}

fn refuse(error: Error) -> Box<Response> {
    Box::new(answer(error))
}

fn answer(error: Error) -> Response {
    ApiError(error).into_response()
}

/// `GET /api/2.0/gapwatch/experiments/runs?experiment_id=&filter=&order_by=&offset=&limit=`.
pub(super) async fn experiment_runs(
    State(state): State<Arc<AppState>>,
    query: std::result::Result<Query<QueryFields>, QueryRejection>,
) -> Response {
    let query = match query {
        Ok(Query(query)) => query,
        Err(e) => return answer(Error::invalid(format!("Malformed query string: {e}"))),
    };
    let request = match page_request(&query) {
        Ok(request) => request,
        Err(response) => return *response,
    };
    let page = on_store(&state, move |state| {
        let store = &state.store;
        let experiment = store.get_experiment(&request.experiment_id)?;
        let page = store.runs_page(
            &experiment.experiment_id,
            &request.filter,
            &request.order,
            request.offset,
            request.limit,
        )?;
        let keys = store.experiment_keys(&experiment.experiment_id)?;
        let config = AnalysisConfig::default();
        let runs = page
            .runs
            .iter()
            .map(|run| Ok(run_row(run, state.analyses.outcome(store, run, &config)?)))
            .collect::<Result<Vec<Value>>>()?;
        Ok(json!({
            "experiment": {
                "experiment_id": experiment.experiment_id,
                "name": experiment.name,
            },
            "total": page.total,
            "offset": request.offset,
            "param_keys": keys.params,
            "metric_keys": keys.metrics,
            "runs": runs,
        }))
    })
    .await;
    match page {
        Ok(page) => Json(page).into_response(),
        Err(error) => error.into_response(),
    }
}

/// One row of the runs table.
fn run_row(run: &Run, outcome: Outcome) -> Value {
    let params: BTreeMap<&str, &str> = run
        .data
        .params
        .iter()
        .map(|p| (p.key.as_str(), p.value.as_str()))
        .collect();
    let metrics: BTreeMap<&str, Option<f64>> = run
        .data
        .metrics
        .iter()
        .map(|m| (m.key.as_str(), Some(m.value).filter(|v| v.is_finite())))
        .collect();
    let (verdict, onset, best, error) = match outcome {
        Ok(gist) => (
            json!({ "label": gist.label, "summary": gist.summary }),
            json!(gist.onset_epoch),
            json!({
                "epoch": gist.best_epoch,
                "metric": gist.best_metric,
                "value": Some(gist.best_value).filter(|v| v.is_finite()),
            }),
            Value::Null,
        ),
        Err(message) => (
            Value::Null,
            Value::Null,
            Value::Null,
            Value::String(message),
        ),
    };
    json!({
        "run_id": run.info.run_id,
        "run_name": crate::analysis::display_name(run),
        "status": run.info.status.to_string(),
        "start_time": run.info.start_time,
        "end_time": run.info.end_time,
        "params": params,
        "metrics": metrics,
        "verdict": verdict,
        "onset_epoch": onset,
        "best": best,
        "analysis_error": error,
    })
}
