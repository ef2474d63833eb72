//! `GET /api/2.0/gapwatch/runs/series`: one metric of a run for a chart, downsampled by the
//! daemon when long ([`insight::downsample`]), from a step on for a live page's incremental
//! fetch; and `GET /api/2.0/gapwatch/runs/compare`: the comparison `track compare --json`
//! prints, for the compare page.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde_json::{Value, json};

use super::{
    DEFAULT_SERIES_POINTS, MAX_COMPARE_RUNS, MAX_SERIES_POINTS, MIN_SERIES_POINTS, QueryFields,
    integer, on_store, required,
};
use crate::analysis::{AnalysisConfig, analyze_stored_run, compare_runs};
use crate::api::{ApiError, AppState};
use crate::error::Error;

type Reply = std::result::Result<Json<Value>, ApiError>;

fn fields(
    query: std::result::Result<Query<QueryFields>, QueryRejection>,
) -> Result<QueryFields, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|e| ApiError(Error::invalid(format!("Malformed query string: {e}"))))
}

/// A float as JSON: NaN and infinities as `null`.
fn number(value: f64) -> Value {
    if value.is_finite() {
        json!(value)
    } else {
        Value::Null
    }
}

/// `GET /api/2.0/gapwatch/runs/series?run_id=&key=&max_points=&after_step=`.
pub(super) async fn run_series(
    State(state): State<Arc<AppState>>,
    query: std::result::Result<Query<QueryFields>, QueryRejection>,
) -> Reply {
    let query = fields(query)?;
    let run_id = required(&query, "run_id")?;
    let key = required(&query, "key")?;
    let max_points = match integer(&query, "max_points")? {
        None => DEFAULT_SERIES_POINTS,
        Some(n) => usize::try_from(n.max(0))
            .unwrap_or(MAX_SERIES_POINTS)
            .clamp(MIN_SERIES_POINTS, MAX_SERIES_POINTS),
    };
    let after_step = integer(&query, "after_step")?;
    let answer = on_store(&state, move |state| {
        let points = state
            .store
            .metric_history_after(&run_id, &key, after_step)?;
        let total = points.len();
        let values: Vec<f64> = points.iter().map(|p| p.value).collect();
        let kept = insight::downsample::min_max_indices(&values, max_points);
        let downsampled = kept.len() < total;
        let steps: Vec<i64> = kept.iter().map(|&i| points[i].step).collect();
        let timestamps: Vec<i64> = kept.iter().map(|&i| points[i].timestamp).collect();
        let values: Vec<Value> = kept.iter().map(|&i| number(points[i].value)).collect();
        Ok(json!({
            "run_id": run_id,
            "key": key,
            "total": total,
            "downsampled": downsampled,
            "steps": steps,
            "timestamps": timestamps,
            "values": values,
        }))
    })
    .await?;
    Ok(Json(answer))
}

/// `GET /api/2.0/gapwatch/runs/compare?run_ids=a,b,c`: the JSON of `track compare --json`.
pub(super) async fn compare(
    State(state): State<Arc<AppState>>,
    query: std::result::Result<Query<QueryFields>, QueryRejection>,
) -> Reply {
    let query = fields(query)?;
    let ids: Vec<String> = required(&query, "run_ids")?
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(String::from)
        .collect();
    if !(2..=MAX_COMPARE_RUNS).contains(&ids.len()) {
        return Err(ApiError(Error::invalid(format!(
            "run_ids names {} runs: a comparison takes 2 to {MAX_COMPARE_RUNS}",
            ids.len()
        ))));
    }
    let comparison = on_store(&state, move |state| {
        let config = AnalysisConfig::default();
        let loaded = ids
            .iter()
            .map(|id| {
                let run = state.store.get_run(id)?;
                let analysis =
                    analyze_stored_run(&state.store, id, &config).map_err(|e| match e {
                        Error::InvalidParameter { message } => {
                            Error::invalid(format!("run {id} cannot be analysed: {message}"))
                        }
                        other => other,
                    })?;
                Ok((run, analysis))
            })
            .collect::<crate::error::Result<Vec<_>>>()?;
        serde_json::to_value(compare_runs(&loaded)).map_err(|source| Error::Json {
            context: "encoding a comparison".into(),
            source,
        })
    })
    .await?;
    Ok(Json(comparison))
}
