//! The store's reads, as SQL on a read connection (inside a snapshot transaction).

use std::collections::HashMap;
use std::path::Path;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use super::compile::CompiledSearch;
use super::{RunMetric, SearchExperiments, sql_error};
use crate::entities::{
    Experiment, ExperimentTag, Metric, Param, Run, RunData, RunInfo, RunStatus, RunTag, ViewType,
};
use crate::error::{Error, Result};
use crate::query::{Filter, Identifier, OrderBy};

const RUN_COLUMNS: &str = "r.run_id, r.experiment_id, r.run_name, r.user_id, r.status, \
     r.start_time, r.end_time, r.lifecycle_stage, r.artifact_uri";

fn run_info_from_row(row: &Row<'_>) -> rusqlite::Result<RunInfo> {
    let run_id: String = row.get(0)?;
    let experiment_id: i64 = row.get(1)?;
    let status: String = row.get(4)?;
    let status = status.parse::<RunStatus>().map_err(|message| {
        rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, message.into())
    })?;
    Ok(RunInfo {
        run_uuid: run_id.clone(),
        run_id,
        experiment_id: experiment_id.to_string(),
        run_name: row.get(2)?,
        user_id: row.get(3)?,
        status,
        start_time: row.get(5)?,
        end_time: row.get(6)?,
        lifecycle_stage: row.get(7)?,
        artifact_uri: row.get(8)?,
    })
}

fn metric_from_row(row: &Row<'_>, first: usize) -> rusqlite::Result<Metric> {
    let is_nan: bool = row.get(first + 4)?;
    let value: f64 = row.get(first + 1)?;
    Ok(Metric {
        key: row.get(first)?,
        value: if is_nan { f64::NAN } else { value },
        timestamp: row.get(first + 2)?,
        step: row.get(first + 3)?,
    })
}

/// One run's info.
pub(super) fn run_info(conn: &Connection, path: &Path, run_id: &str) -> Result<RunInfo> {
    conn.prepare_cached(&format!(
        "SELECT {RUN_COLUMNS} FROM runs r WHERE r.run_id = ?1"
    ))
    .and_then(|mut stmt| stmt.query_row([run_id], run_info_from_row).optional())
    .map_err(sql_error(path, "reading a run"))?
    .ok_or_else(|| Error::RunNotFound {
        run_id: run_id.to_string(),
    })
}

/// Adds latest metrics, params and tags to the runs (three queries whatever their number).
pub(super) fn runs_with_data(
    conn: &Connection,
    path: &Path,
    infos: Vec<RunInfo>,
) -> Result<Vec<Run>> {
    if infos.is_empty() {
        return Ok(Vec::new());
    }
    let ids = serde_json::Value::from(infos.iter().map(|i| i.run_id.clone()).collect::<Vec<_>>())
        .to_string();
    let index: HashMap<String, usize> = infos
        .iter()
        .enumerate()
        .map(|(i, info)| (info.run_id.clone(), i))
        .collect();
    let mut data: Vec<RunData> = vec![RunData::default(); infos.len()];
    for table in ["params", "tags"] {
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT run_id, key, value FROM {table}
                 WHERE run_id IN (SELECT value FROM json_each(?1)) ORDER BY run_id, key"
            ))
            .map_err(sql_error(path, "reading params and tags"))?;
        let mut rows = stmt
            .query([&ids])
            .map_err(sql_error(path, "reading params and tags"))?;
        while let Some(row) = rows
            .next()
            .map_err(sql_error(path, "reading params and tags"))?
        {
            let run_id: String = row
                .get(0)
                .map_err(sql_error(path, "reading params and tags"))?;
            let (key, value): (String, String) = (
                row.get(1)
                    .map_err(sql_error(path, "reading params and tags"))?,
                row.get(2)
                    .map_err(sql_error(path, "reading params and tags"))?,
            );
            if let Some(&i) = index.get(&run_id) {
                if table == "params" {
                    data[i].params.push(Param { key, value });
                } else {
                    data[i].tags.push(RunTag { key, value });
                }
            }
        }
    }
    let mut stmt = conn
        .prepare_cached(
            "SELECT run_id, key, value, timestamp, step, is_nan FROM latest_metrics
             WHERE run_id IN (SELECT value FROM json_each(?1)) ORDER BY run_id, key",
        )
        .map_err(sql_error(path, "reading latest metrics"))?;
    let mut rows = stmt
        .query([&ids])
        .map_err(sql_error(path, "reading latest metrics"))?;
    while let Some(row) = rows
        .next()
        .map_err(sql_error(path, "reading latest metrics"))?
    {
        let run_id: String = row
            .get(0)
            .map_err(sql_error(path, "reading latest metrics"))?;
        let metric = metric_from_row(row, 1).map_err(sql_error(path, "reading latest metrics"))?;
        if let Some(&i) = index.get(&run_id) {
            data[i].metrics.push(metric);
        }
    }
    Ok(infos
        .into_iter()
        .zip(data)
        .map(|(info, data)| Run { info, data })
        .collect())
}

/// Run infos of the experiments in the view matching the compiled search, in its order; with
/// `page = Some((limit, offset))` one page and whether more follow.
pub(super) fn search_run_infos(
    conn: &Connection,
    path: &Path,
    experiment_ids: &[i64],
    view_type: ViewType,
    compiled: &CompiledSearch,
    page: Option<(i64, i64)>,
) -> Result<(Vec<RunInfo>, bool)> {
    let mut sql = format!(
        "SELECT {RUN_COLUMNS} FROM runs r{joins}
         WHERE r.experiment_id IN (SELECT value FROM json_each(?)) 
           AND r.lifecycle_stage IN (SELECT value FROM json_each(?))
           AND ({conditions})
         ORDER BY {order}",
        joins = compiled.joins,
        conditions = compiled.conditions,
        order = compiled.order,
    );
    let mut values: Vec<SqlValue> = compiled.join_params.clone();
    values.push(SqlValue::Text(
        serde_json::Value::from(experiment_ids.to_vec()).to_string(),
    ));
    values.push(SqlValue::Text(
        serde_json::Value::from(view_type.stages().to_vec()).to_string(),
    ));
    values.extend(compiled.condition_params.iter().cloned());
    if let Some((limit, offset)) = page {
        sql.push_str(" LIMIT ? OFFSET ?");
        values.push(SqlValue::Integer(limit + 1));
        values.push(SqlValue::Integer(offset));
    }
    let mut stmt = conn
        .prepare_cached(&sql)
        .map_err(sql_error(path, "searching runs"))?;
    let mut infos = stmt
        .query_map(params_from_iter(values), run_info_from_row)
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(sql_error(path, "searching runs"))?;
    let more = match page {
        Some((limit, _)) if infos.len() as i64 > limit => {
            infos.truncate(limit as usize);
            true
        }
        _ => false,
    };
    Ok((infos, more))
}

/// Metric points of a run (one key or all), ordered by key, step, timestamp, value.
pub(super) fn metric_points(
    conn: &Connection,
    path: &Path,
    run_id: &str,
    key: Option<&str>,
) -> Result<Vec<Metric>> {
    run_info(conn, path, run_id)?;
    // Two statements, so that a one-key history uses the (run_id, key, ...) primary key.
    let sql = match key {
        Some(_) => {
            "SELECT key, value, timestamp, step, is_nan FROM metrics WHERE run_id = ?1 AND key = ?2
             ORDER BY key, step, timestamp, is_nan, value"
        }
        None => {
            "SELECT key, value, timestamp, step, is_nan FROM metrics WHERE run_id = ?1
             ORDER BY key, step, timestamp, is_nan, value"
        }
    };
    let mut stmt = conn
        .prepare_cached(sql)
        .map_err(sql_error(path, "reading metric history"))?;
    let read = |row: &Row<'_>| metric_from_row(row, 0);
    match key {
        Some(key) => stmt
            .query_map(params![run_id, key], read)
            .and_then(|rows| rows.collect()),
        None => stmt
            .query_map(params![run_id], read)
            .and_then(|rows| rows.collect()),
    }
    .map_err(sql_error(path, "reading metric history"))
}

/// Every metric point of an experiment's runs in the view.
pub(super) fn experiment_metrics(
    conn: &Connection,
    path: &Path,
    experiment_id: &str,
    view_type: ViewType,
) -> Result<Vec<RunMetric>> {
    let id: i64 = experiment_id
        .parse()
        .map_err(|_| Error::ExperimentNotFound {
            experiment_id: experiment_id.to_string(),
        })?;
    let stages = serde_json::Value::from(view_type.stages().to_vec()).to_string();
    let mut stmt = conn
        .prepare_cached(
            "SELECT m.run_id, m.key, m.value, m.timestamp, m.step, m.is_nan
             FROM runs r JOIN metrics m ON m.run_id = r.run_id
             WHERE r.experiment_id = ?1 AND r.lifecycle_stage IN (SELECT value FROM json_each(?2))
             ORDER BY m.run_id, m.key, m.step, m.timestamp, m.is_nan, m.value",
        )
        .map_err(sql_error(path, "reading an experiment's metrics"))?;
    stmt.query_map(params![id, stages], |row| {
        Ok(RunMetric {
            run_id: row.get(0)?,
            metric: metric_from_row(row, 1)?,
        })
    })
    .and_then(|rows| rows.collect())
    .map_err(sql_error(path, "reading an experiment's metrics"))
}

const EXPERIMENT_COLUMNS: &str = "e.experiment_id, e.name, e.artifact_location, e.lifecycle_stage, e.creation_time, e.last_update_time";

fn experiment_from_row(row: &Row<'_>) -> rusqlite::Result<Experiment> {
    let id: i64 = row.get(0)?;
    Ok(Experiment {
        experiment_id: id.to_string(),
        name: row.get(1)?,
        artifact_location: row.get(2)?,
        lifecycle_stage: row.get(3)?,
        creation_time: row.get(4)?,
        last_update_time: row.get(5)?,
        tags: Vec::new(),
    })
}

fn with_tags(conn: &Connection, path: &Path, mut experiment: Experiment) -> Result<Experiment> {
    let id: i64 = experiment.experiment_id.parse().unwrap_or(-1);
    let mut stmt = conn
        .prepare_cached(
            "SELECT key, value FROM experiment_tags WHERE experiment_id = ?1 ORDER BY key",
        )
        .map_err(sql_error(path, "reading experiment tags"))?;
    experiment.tags = stmt
        .query_map([id], |row| {
            Ok(ExperimentTag {
                key: row.get(0)?,
                value: row.get(1)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(sql_error(path, "reading experiment tags"))?;
    Ok(experiment)
}

pub(super) fn experiment_by_id(
    conn: &Connection,
    path: &Path,
    experiment_id: &str,
) -> Result<Experiment> {
    let not_found = || Error::ExperimentNotFound {
        experiment_id: experiment_id.to_string(),
    };
    let id: i64 = experiment_id.trim().parse().map_err(|_| not_found())?;
    let experiment = conn
        .prepare_cached(&format!(
            "SELECT {EXPERIMENT_COLUMNS} FROM experiments e WHERE e.experiment_id = ?1"
        ))
        .and_then(|mut stmt| stmt.query_row([id], experiment_from_row).optional())
        .map_err(sql_error(path, "reading an experiment"))?
        .ok_or_else(not_found)?;
    with_tags(conn, path, experiment)
}

pub(super) fn experiment_by_name(
    conn: &Connection,
    path: &Path,
    name: &str,
) -> Result<Option<Experiment>> {
    let experiment = conn
        .prepare_cached(&format!(
            "SELECT {EXPERIMENT_COLUMNS} FROM experiments e WHERE e.name = ?1"
        ))
        .and_then(|mut stmt| stmt.query_row([name], experiment_from_row).optional())
        .map_err(sql_error(path, "reading an experiment"))?;
    experiment.map(|e| with_tags(conn, path, e)).transpose()
}

pub(super) fn search_experiments(
    conn: &Connection,
    path: &Path,
    filter: &Filter,
    order: &[OrderBy],
    search: &SearchExperiments,
    offset: i64,
) -> Result<(Vec<Experiment>, Option<String>)> {
    let (conditions, mut values) = super::compile::compile_experiments(filter);
    let mut order_sql: Vec<String> = Vec::new();
    for clause in order {
        let dir = if clause.ascending { "ASC" } else { "DESC" };
        if let Identifier::Attribute(attribute) = &clause.identifier {
            let column = match attribute {
                crate::query::Attribute::Name => "e.name",
                crate::query::Attribute::CreationTime => "e.creation_time",
                _ => "e.last_update_time",
            };
            order_sql.push(format!("{column} {dir}"));
        } else {
            return Err(Error::invalid(format!(
                "Invalid order_by clause '{clause}': experiments order by name, creation_time or last_update_time"
            )));
        }
    }
    // MLflow's order: newest first by default; the id breaks ties (descending after an
    // explicit order, as MLflow's `_get_search_experiments_order_by_clauses` does).
    if order_sql.is_empty() {
        order_sql.push("e.creation_time DESC".into());
        order_sql.push("e.experiment_id ASC".into());
    } else {
        order_sql.push("e.experiment_id DESC".into());
    }
    let sql = format!(
        "SELECT {EXPERIMENT_COLUMNS} FROM experiments e
         WHERE e.lifecycle_stage IN (SELECT value FROM json_each(?)) AND ({conditions})
         ORDER BY {} LIMIT ? OFFSET ?",
        order_sql.join(", ")
    );
    values.insert(
        0,
        SqlValue::Text(serde_json::Value::from(search.view_type.stages().to_vec()).to_string()),
    );
    values.push(SqlValue::Integer(search.max_results + 1));
    values.push(SqlValue::Integer(offset));
    let mut experiments = conn
        .prepare(&sql)
        .and_then(|mut stmt| {
            stmt.query_map(params_from_iter(values), experiment_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(sql_error(path, "searching experiments"))?;
    let next = if experiments.len() as i64 > search.max_results {
        experiments.truncate(search.max_results as usize);
        Some(encode_page_token(offset + search.max_results))
    } else {
        None
    };
    let experiments = experiments
        .into_iter()
        .map(|e| with_tags(conn, path, e))
        .collect::<Result<Vec<_>>>()?;
    Ok((experiments, next))
}

/// Experiment ids of a search, as integers.
pub(super) fn parse_experiment_ids(ids: &[String]) -> Result<Vec<i64>> {
    ids.iter()
        .map(|id| {
            id.trim().parse::<i64>().map_err(|_| {
                Error::invalid(format!("Invalid experiment id {id:?} in 'experiment_ids'"))
            })
        })
        .collect()
}

#[derive(serde::Serialize, serde::Deserialize)]
struct PageToken {
    offset: i64,
}

/// An opaque page token for `offset` (hex of a small JSON object).
pub(super) fn encode_page_token(offset: i64) -> String {
    let json = serde_json::to_string(&PageToken { offset }).unwrap_or_default();
    json.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The offset a page token stands for (0 without a token).
pub(super) fn decode_page_token(token: Option<&str>) -> Result<i64> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok(0);
    };
    let invalid = || Error::InvalidPageToken {
        token: token.to_string(),
    };
    if token.len() % 2 != 0 || !token.is_ascii() {
        return Err(invalid());
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&token[i..i + 2], 16))
        .collect::<std::result::Result<Vec<u8>, _>>()
        .map_err(|_| invalid())?;
    let page: PageToken = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if page.offset < 0 {
        return Err(invalid());
    }
    Ok(page.offset)
}
