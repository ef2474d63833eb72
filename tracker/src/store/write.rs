//! The store's writes, as SQL on the writer's connection (inside the writer's transaction).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use super::{CreateRun, now_ms, sql_error};
use crate::entities::{
    DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME, ExperimentTag, LIFECYCLE_ACTIVE, Metric, Param,
    RunStatus, RunTag, TAG_RUN_NAME,
};
use crate::error::{Error, ParamConflict, Result};

/// Inserts the `Default` experiment (id 0) unless present.
pub(super) fn ensure_default_experiment(conn: &Connection, location: &str) -> rusqlite::Result<()> {
    let now = now_ms();
    conn.execute(
        "INSERT OR IGNORE INTO experiments
             (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time)
         VALUES (?1, ?2, ?3, 'active', ?4, ?4)",
        params![DEFAULT_EXPERIMENT_ID.parse::<i64>().unwrap_or(0), DEFAULT_EXPERIMENT_NAME, location, now],
    )?;
    Ok(())
}

/// The id of the experiment named `name`, deleted or not.
pub(super) fn experiment_named(conn: &Connection, path: &Path, name: &str) -> Result<Option<i64>> {
    conn.query_row(
        "SELECT experiment_id FROM experiments WHERE name = ?1",
        [name],
        |r| r.get(0),
    )
    .optional()
    .map_err(sql_error(path, "looking up an experiment name"))
}

pub(super) fn create_experiment(
    conn: &Connection,
    path: &Path,
    name: &str,
    location: Option<String>,
    tags: &[ExperimentTag],
    default_location: impl Fn(&str) -> String,
) -> Result<String> {
    if experiment_named(conn, path, name)?.is_some() {
        return Err(Error::ExperimentExists {
            name: name.to_string(),
        });
    }
    let now = now_ms();
    conn.execute(
        "INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, last_update_time)
         VALUES (?1, '', 'active', ?2, ?2)",
        params![name, now],
    )
    .map_err(sql_error(path, "creating an experiment"))?;
    let id_number = conn.last_insert_rowid();
    let id = id_number.to_string();
    let location = location.unwrap_or_else(|| default_location(&id));
    conn.execute(
        "UPDATE experiments SET artifact_location = ?1 WHERE experiment_id = ?2",
        params![location, id_number],
    )
    .map_err(sql_error(path, "creating an experiment"))?;
    let mut insert = conn
        .prepare_cached(
            "INSERT OR REPLACE INTO experiment_tags (experiment_id, key, value) VALUES (?1, ?2, ?3)",
        )
        .map_err(sql_error(path, "tagging an experiment"))?;
    for tag in tags {
        insert
            .execute(params![id_number, tag.key, tag.value])
            .map_err(sql_error(path, "tagging an experiment"))?;
    }
    tracing::debug!(experiment_id = %id, name, "experiment created");
    Ok(id)
}

pub(super) fn create_run(
    conn: &Connection,
    path: &Path,
    run_id: &str,
    request: &CreateRun,
    artifact_uri: impl Fn(&str, &str) -> String,
) -> Result<()> {
    let not_found = || Error::ExperimentNotFound {
        experiment_id: request.experiment_id.clone(),
    };
    let experiment_id: i64 = request
        .experiment_id
        .trim()
        .parse()
        .map_err(|_| not_found())?;
    let (stage, location): (String, String) = conn
        .query_row(
            "SELECT lifecycle_stage, artifact_location FROM experiments WHERE experiment_id = ?1",
            [experiment_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(sql_error(path, "looking up an experiment"))?
        .ok_or_else(not_found)?;
    if stage != LIFECYCLE_ACTIVE {
        return Err(Error::invalid(format!(
            "The experiment {experiment_id} must be in the 'active' state. Current state is {stage}."
        )));
    }
    let tag_name = request
        .tags
        .iter()
        .rev()
        .find(|t| t.key == TAG_RUN_NAME)
        .map(|t| t.value.clone());
    let run_name = match (request.run_name.clone().filter(|n| !n.is_empty()), tag_name) {
        (Some(name), Some(tagged)) if name != tagged => {
            return Err(Error::invalid(format!(
                "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with \
                 different values (run_name='{name}', mlflow.runName='{tagged}')."
            )));
        }
        (Some(name), _) => name,
        (None, Some(tagged)) if !tagged.is_empty() => tagged,
        _ => format!("run-{}", &run_id[..8.min(run_id.len())]),
    };
    let uri = artifact_uri(&experiment_id.to_string(), &location);
    conn.execute(
        "INSERT INTO runs (run_id, experiment_id, run_name, user_id, status, start_time, end_time,
                           lifecycle_stage, artifact_uri)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, 'active', ?7)",
        params![
            run_id,
            experiment_id,
            run_name,
            request.user_id,
            RunStatus::Running.as_str(),
            request.start_time.unwrap_or_else(now_ms),
            uri
        ],
    )
    .map_err(sql_error(path, "creating a run"))?;
    let mut tags = request.tags.clone();
    tags.retain(|t| t.key != TAG_RUN_NAME);
    tags.push(RunTag {
        key: TAG_RUN_NAME.to_string(),
        value: run_name,
    });
    upsert_tags(conn, path, run_id, &tags)?;
    Ok(())
}

/// Checks that the run exists and is active.
fn require_active(conn: &Connection, path: &Path, run_id: &str) -> Result<()> {
    let stage: Option<String> = conn
        .prepare_cached("SELECT lifecycle_stage FROM runs WHERE run_id = ?1")
        .and_then(|mut stmt| stmt.query_row([run_id], |r| r.get(0)).optional())
        .map_err(sql_error(path, "looking up a run"))?;
    match stage.as_deref() {
        None => Err(Error::RunNotFound {
            run_id: run_id.to_string(),
        }),
        Some(LIFECYCLE_ACTIVE) => Ok(()),
        Some(_) => Err(Error::RunNotActive {
            run_id: run_id.to_string(),
        }),
    }
}

pub(super) fn update_run(
    conn: &Connection,
    path: &Path,
    run_id: &str,
    status: Option<RunStatus>,
    end_time: Option<i64>,
    run_name: Option<&str>,
) -> Result<()> {
    require_active(conn, path, run_id)?;
    let run_name = run_name.filter(|n| !n.is_empty());
    conn.execute(
        "UPDATE runs SET status = coalesce(?2, status), end_time = coalesce(?3, end_time),
                         run_name = coalesce(?4, run_name)
         WHERE run_id = ?1",
        params![run_id, status.map(RunStatus::as_str), end_time, run_name],
    )
    .map_err(sql_error(path, "updating a run"))?;
    if let Some(name) = run_name {
        upsert_tags(
            conn,
            path,
            run_id,
            &[RunTag {
                key: TAG_RUN_NAME.into(),
                value: name.into(),
            }],
        )?;
    }
    Ok(())
}

pub(super) fn set_lifecycle(
    conn: &Connection,
    path: &Path,
    run_id: &str,
    stage: &str,
) -> Result<()> {
    let changed = conn
        .execute(
            "UPDATE runs SET lifecycle_stage = ?2 WHERE run_id = ?1",
            params![run_id, stage],
        )
        .map_err(sql_error(path, "changing a run's lifecycle stage"))?;
    if changed == 0 {
        return Err(Error::RunNotFound {
            run_id: run_id.to_string(),
        });
    }
    Ok(())
}

pub(super) fn delete_tag(conn: &Connection, path: &Path, run_id: &str, key: &str) -> Result<()> {
    require_active(conn, path, run_id)?;
    let deleted = conn
        .execute(
            "DELETE FROM tags WHERE run_id = ?1 AND key = ?2",
            params![run_id, key],
        )
        .map_err(sql_error(path, "deleting a tag"))?;
    if deleted == 0 {
        return Err(Error::TagNotFound {
            run_id: run_id.to_string(),
            key: key.to_string(),
        });
    }
    Ok(())
}

fn upsert_tags(conn: &Connection, path: &Path, run_id: &str, tags: &[RunTag]) -> Result<()> {
    if tags.is_empty() {
        return Ok(());
    }
    let mut stmt = conn
        .prepare_cached("INSERT OR REPLACE INTO tags (run_id, key, value) VALUES (?1, ?2, ?3)")
        .map_err(sql_error(path, "setting tags"))?;
    for tag in tags {
        stmt.execute(params![run_id, tag.key, tag.value])
            .map_err(sql_error(path, "setting tags"))?;
        if tag.key == TAG_RUN_NAME && !tag.value.is_empty() {
            conn.prepare_cached("UPDATE runs SET run_name = ?2 WHERE run_id = ?1")
                .and_then(|mut s| s.execute(params![run_id, tag.value]))
                .map_err(sql_error(path, "renaming a run"))?;
        }
    }
    Ok(())
}

/// The order that decides a metric's latest point: step, then timestamp, then value, with NaN
/// above every number.
pub fn latest_order(a: &Metric, b: &Metric) -> Ordering {
    (a.step, a.timestamp)
        .cmp(&(b.step, b.timestamp))
        .then_with(|| match (a.value.is_nan(), b.value.is_nan()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => a.value.total_cmp(&b.value),
        })
}

pub(super) fn log_batch(
    conn: &Connection,
    path: &Path,
    run_id: &str,
    metrics: &[Metric],
    params: &[Param],
    tags: &[RunTag],
) -> Result<()> {
    require_active(conn, path, run_id)?;
    if !params.is_empty() {
        let mut select = conn
            .prepare_cached("SELECT value FROM params WHERE run_id = ?1 AND key = ?2")
            .map_err(sql_error(path, "reading params"))?;
        let mut insert = conn
            .prepare_cached("INSERT INTO params (run_id, key, value) VALUES (?1, ?2, ?3)")
            .map_err(sql_error(path, "logging params"))?;
        let mut conflicts = Vec::new();
        for param in params {
            let old: Option<String> = select
                .query_row(params![run_id, param.key], |r| r.get(0))
                .optional()
                .map_err(sql_error(path, "reading params"))?;
            match old {
                Some(old) if old != param.value => conflicts.push(ParamConflict {
                    key: param.key.clone(),
                    old_value: old,
                    new_value: param.value.clone(),
                }),
                Some(_) => {}
                None => {
                    insert
                        .execute(params![run_id, param.key, param.value])
                        .map_err(sql_error(path, "logging params"))?;
                }
            }
        }
        if !conflicts.is_empty() {
            return Err(Error::ParamConflict {
                run_id: run_id.to_string(),
                conflicts,
            });
        }
    }
    if !metrics.is_empty() {
        let mut insert = conn
            .prepare_cached(
                "INSERT OR IGNORE INTO metrics (run_id, key, step, timestamp, value, is_nan)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(sql_error(path, "logging metrics"))?;
        let mut latest: HashMap<&str, &Metric> = HashMap::new();
        for metric in metrics {
            let (value, is_nan) = stored_value(metric.value);
            insert
                .execute(params![
                    run_id,
                    metric.key,
                    metric.step,
                    metric.timestamp,
                    value,
                    is_nan
                ])
                .map_err(sql_error(path, "logging metrics"))?;
            latest
                .entry(metric.key.as_str())
                .and_modify(|best| {
                    if latest_order(metric, best) == Ordering::Greater {
                        *best = metric;
                    }
                })
                .or_insert(metric);
        }
        let mut upsert = conn
            .prepare_cached(
                "INSERT INTO latest_metrics (run_id, key, step, timestamp, value, is_nan)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (run_id, key) DO UPDATE SET
                     step = excluded.step, timestamp = excluded.timestamp,
                     value = excluded.value, is_nan = excluded.is_nan
                 WHERE (excluded.step, excluded.timestamp, excluded.is_nan, excluded.value)
                     > (step, timestamp, is_nan, value)",
            )
            .map_err(sql_error(path, "updating latest metrics"))?;
        for metric in latest.values() {
            let (value, is_nan) = stored_value(metric.value);
            upsert
                .execute(params![
                    run_id,
                    metric.key,
                    metric.step,
                    metric.timestamp,
                    value,
                    is_nan
                ])
                .map_err(sql_error(path, "updating latest metrics"))?;
        }
    }
    upsert_tags(conn, path, run_id, tags)
}

/// NaN is stored as value 0 with `is_nan` 1 (a REAL column cannot hold NaN); ±inf as it is.
fn stored_value(value: f64) -> (f64, bool) {
    if value.is_nan() {
        (0.0, true)
    } else {
        (value, false)
    }
}
