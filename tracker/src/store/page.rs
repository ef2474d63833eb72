//! The dashboard's reads: one page of an experiment's runs by offset with the number that match,
//! the param and metric keys of an experiment, and one metric's points after a step.

use std::path::Path;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, params, params_from_iter};

use super::{Store, compile, read, sql_error};
use crate::entities::{Metric, Run, ViewType};
use crate::error::{Error, Result};
use crate::query::{Filter, OrderBy};

/// One page of runs of an experiment, and how many runs match the filter in all.
#[derive(Debug, Clone)]
pub struct RunsPage {
    /// The page's runs (latest metrics, params and tags), in order.
    pub runs: Vec<Run>,
    /// Runs matching the filter, every page together.
    pub total: i64,
}

/// The keys logged to an experiment's runs.
#[derive(Debug, Clone, Default)]
pub struct ExperimentKeys {
    /// Every param key, sorted.
    pub params: Vec<String>,
    /// Every metric key, sorted.
    pub metrics: Vec<String>,
}

impl Store {
    /// The active runs of experiment `experiment_id` matching `filter`, in `order` (then newest
    /// first), from `offset`, at most `limit` of them, and the number that match in all: the
    /// paging is done by SQLite, so a page costs the same whatever the experiment's size.
    ///
    /// # Errors
    /// `RESOURCE_DOES_NOT_EXIST` for an unknown experiment.
    pub fn runs_page(
        &self,
        experiment_id: &str,
        filter: &Filter,
        order: &[OrderBy],
        offset: i64,
        limit: i64,
    ) -> Result<RunsPage> {
        let experiment = self.get_experiment(experiment_id)?;
        let ids = read::parse_experiment_ids(&[experiment.experiment_id])?;
        let compiled = compile::compile_runs(filter, order);
        self.read(|conn, path| {
            let (infos, _) = read::search_run_infos(
                conn,
                path,
                &ids,
                ViewType::ActiveOnly,
                &compiled,
                Some((limit, offset)),
            )?;
            let runs = read::runs_with_data(conn, path, infos)?;
            let total = count_runs(conn, path, &ids, &compiled)?;
            Ok(RunsPage { runs, total })
        })
    }

    /// The param and metric keys of the active runs of experiment `experiment_id`, each sorted
    /// and distinct.
    ///
    /// # Errors
    /// `RESOURCE_DOES_NOT_EXIST` for an unknown experiment.
    pub fn experiment_keys(&self, experiment_id: &str) -> Result<ExperimentKeys> {
        let experiment = self.get_experiment(experiment_id)?;
        let id: i64 = experiment
            .experiment_id
            .parse()
            .map_err(|_| Error::ExperimentNotFound {
                experiment_id: experiment_id.to_string(),
            })?;
        self.read(|conn, path| {
            Ok(ExperimentKeys {
                params: distinct_keys(conn, path, "params", id)?,
                metrics: distinct_keys(conn, path, "latest_metrics", id)?,
            })
        })
    }

    /// The points of metric `key` of run `run_id` with a step after `after_step` (every point
    /// without it), ordered by step, timestamp, value (the table's primary key).
    ///
    /// # Errors
    /// `RESOURCE_DOES_NOT_EXIST` for an unknown run.
    pub fn metric_history_after(
        &self,
        run_id: &str,
        key: &str,
        after_step: Option<i64>,
    ) -> Result<Vec<Metric>> {
        self.read(|conn, path| {
            read::run_info(conn, path, run_id)?;
            // In the primary key's order, so SQLite walks the index and sorts nothing (a
            // 100,000-point series reads in a third of the time it takes with `is_nan` before
            // `value`, which only orders a NaN and a number logged at one step and time).
            let mut stmt = conn
                .prepare_cached(
                    "SELECT value, timestamp, step, is_nan FROM metrics
                     WHERE run_id = ?1 AND key = ?2 AND step > ?3
                     ORDER BY step, timestamp, value, is_nan",
                )
                .map_err(sql_error(path, "reading metric history"))?;
            stmt.query_map(
                params![run_id, key, after_step.unwrap_or(i64::MIN)],
                |row| {
                    let is_nan: bool = row.get(3)?;
                    let value: f64 = row.get(0)?;
                    Ok(Metric {
                        key: key.to_owned(),
                        value: if is_nan { f64::NAN } else { value },
                        timestamp: row.get(1)?,
                        step: row.get(2)?,
                    })
                },
            )
            .and_then(|rows| rows.collect())
            .map_err(sql_error(path, "reading metric history"))
        })
    }
}

/// How many active runs of the experiments match the compiled search's conditions.
fn count_runs(
    conn: &Connection,
    path: &Path,
    experiment_ids: &[i64],
    compiled: &compile::CompiledSearch,
) -> Result<i64> {
    let sql = format!(
        "SELECT COUNT(*) FROM runs r
         WHERE r.experiment_id IN (SELECT value FROM json_each(?))
           AND r.lifecycle_stage IN (SELECT value FROM json_each(?))
           AND ({conditions})",
        conditions = compiled.conditions,
    );
    let mut values = vec![
        SqlValue::Text(serde_json::Value::from(experiment_ids.to_vec()).to_string()),
        SqlValue::Text(serde_json::Value::from(ViewType::ActiveOnly.stages().to_vec()).to_string()),
    ];
    values.extend(compiled.condition_params.iter().cloned());
    conn.prepare_cached(&sql)
        .and_then(|mut stmt| stmt.query_row(params_from_iter(values), |row| row.get(0)))
        .map_err(sql_error(path, "counting runs"))
}

/// The distinct keys of `table` (`params` or `latest_metrics`, fixed names chosen by the
/// caller) over the active runs of experiment `id`, sorted.
fn distinct_keys(conn: &Connection, path: &Path, table: &str, id: i64) -> Result<Vec<String>> {
    let sql = format!(
        "SELECT DISTINCT t.key FROM runs r JOIN {table} t ON t.run_id = r.run_id
         WHERE r.experiment_id = ?1 AND r.lifecycle_stage = ?2 ORDER BY t.key"
    );
    conn.prepare_cached(&sql)
        .and_then(|mut stmt| {
            stmt.query_map(params![id, crate::entities::LIFECYCLE_ACTIVE], |row| {
                row.get(0)
            })?
            .collect()
        })
        .map_err(sql_error(path, "reading an experiment's keys"))
}
