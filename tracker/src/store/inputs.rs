//! Dataset inputs of runs (`runs/log-inputs`), as MLflow's SQL store keeps them: a dataset is
//! stored once per experiment by (name, digest); a run records each dataset once, with the tags
//! of its first logging.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use super::{Store, sql_error};
use crate::entities::{Dataset, DatasetInput, InputTag, RunInputs};
use crate::error::{Error, Result};

/// Longest dataset name, in characters.
pub(crate) const MAX_DATASET_NAME_SIZE: usize = 500;
/// Longest dataset digest, in characters.
pub(crate) const MAX_DATASET_DIGEST_SIZE: usize = 36;
/// Longest dataset source, in characters.
pub(crate) const MAX_DATASET_SOURCE_SIZE: usize = 65_535;
/// Longest dataset schema, in characters.
pub(crate) const MAX_DATASET_SCHEMA_SIZE: usize = 1_048_575;
/// Longest dataset profile, in characters.
pub(crate) const MAX_DATASET_PROFILE_SIZE: usize = 16_777_215;
/// Longest input tag key, in characters.
pub(crate) const MAX_INPUT_TAG_KEY_SIZE: usize = 255;
/// Longest input tag value, in characters.
pub(crate) const MAX_INPUT_TAG_VALUE_SIZE: usize = 500;
/// Most dataset inputs one request may log.
pub(crate) const MAX_DATASETS_PER_BATCH: usize = 1000;

impl Store {
    /// Records that an active run used these datasets. A dataset already stored in the
    /// experiment (same name and digest) is reused; one the run already records is left as it
    /// is (its tags too), as MLflow does; duplicates within the request count once.
    ///
    /// # Errors
    /// `RESOURCE_DOES_NOT_EXIST` for an unknown run; `INVALID_PARAMETER_VALUE` for a deleted
    /// run or a field over MLflow's size limits.
    pub fn log_inputs(&self, run_id: &str, inputs: Vec<DatasetInput>) -> Result<()> {
        validate_inputs(&inputs)?;
        let (id, path) = (run_id.to_string(), self.inner.path.clone());
        self.inner
            .writer
            .write(move |conn| write_inputs(conn, &path, &id, &inputs))
    }

    /// The dataset inputs of these runs (runs with none are left out).
    ///
    /// # Errors
    /// A database failure.
    pub fn run_inputs(&self, run_ids: &[String]) -> Result<HashMap<String, RunInputs>> {
        self.read(|conn, path| read_inputs(conn, path, run_ids))
    }
}

fn too_long(field: &str, limit: usize) -> Error {
    Error::invalid(format!(
        "'{field}' exceeds the maximum length of {limit} characters"
    ))
}

fn validate_inputs(inputs: &[DatasetInput]) -> Result<()> {
    if inputs.len() > MAX_DATASETS_PER_BATCH {
        return Err(Error::invalid(format!(
            "A logging request can contain at most {MAX_DATASETS_PER_BATCH} datasets. Got {}.",
            inputs.len()
        )));
    }
    let length = |s: &str| s.chars().count();
    for input in inputs {
        let dataset = &input.dataset;
        for (field, value, limit) in [
            ("name", Some(&dataset.name), MAX_DATASET_NAME_SIZE),
            ("digest", Some(&dataset.digest), MAX_DATASET_DIGEST_SIZE),
            ("source", Some(&dataset.source), MAX_DATASET_SOURCE_SIZE),
            ("schema", dataset.schema.as_ref(), MAX_DATASET_SCHEMA_SIZE),
            (
                "profile",
                dataset.profile.as_ref(),
                MAX_DATASET_PROFILE_SIZE,
            ),
        ] {
            if value.is_some_and(|v| length(v) > limit) {
                return Err(too_long(field, limit));
            }
        }
        for tag in &input.tags {
            if length(&tag.key) > MAX_INPUT_TAG_KEY_SIZE {
                return Err(too_long("key", MAX_INPUT_TAG_KEY_SIZE));
            }
            if length(&tag.value) > MAX_INPUT_TAG_VALUE_SIZE {
                return Err(too_long("value", MAX_INPUT_TAG_VALUE_SIZE));
            }
        }
    }
    Ok(())
}

fn write_inputs(
    conn: &Connection,
    path: &Path,
    run_id: &str,
    inputs: &[DatasetInput],
) -> Result<()> {
    let found: Option<(i64, String)> = conn
        .query_row(
            "SELECT experiment_id, lifecycle_stage FROM runs WHERE run_id = ?1",
            [run_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(sql_error(path, "looking up a run"))?;
    let experiment_id = match found {
        None => {
            return Err(Error::RunNotFound {
                run_id: run_id.to_string(),
            });
        }
        Some((_, stage)) if stage != crate::entities::LIFECYCLE_ACTIVE => {
            return Err(Error::RunNotActive {
                run_id: run_id.to_string(),
            });
        }
        Some((experiment_id, _)) => experiment_id,
    };
    let mut seen = HashSet::new();
    for input in inputs {
        let dataset = &input.dataset;
        if !seen.insert((dataset.name.as_str(), dataset.digest.as_str())) {
            continue;
        }
        conn.prepare_cached(
            "INSERT OR IGNORE INTO datasets
                 (experiment_id, name, digest, source_type, source, dataset_schema, dataset_profile)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                experiment_id,
                dataset.name,
                dataset.digest,
                dataset.source_type,
                dataset.source,
                dataset.schema,
                dataset.profile
            ])
        })
        .map_err(sql_error(path, "logging dataset inputs"))?;
        let dataset_id: i64 = conn
            .prepare_cached(
                "SELECT dataset_id FROM datasets WHERE experiment_id = ?1 AND name = ?2 AND digest = ?3",
            )
            .and_then(|mut stmt| {
                stmt.query_row(
                    params![experiment_id, dataset.name, dataset.digest],
                    |r| r.get(0),
                )
            })
            .map_err(sql_error(path, "logging dataset inputs"))?;
        let added = conn
            .prepare_cached("INSERT OR IGNORE INTO run_inputs (run_id, dataset_id) VALUES (?1, ?2)")
            .and_then(|mut stmt| stmt.execute(params![run_id, dataset_id]))
            .map_err(sql_error(path, "logging dataset inputs"))?;
        if added == 0 {
            continue;
        }
        for tag in &input.tags {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO input_tags (run_id, dataset_id, key, value)
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut stmt| stmt.execute(params![run_id, dataset_id, tag.key, tag.value]))
            .map_err(sql_error(path, "logging dataset inputs"))?;
        }
    }
    tracing::debug!(run_id, datasets = seen.len(), "dataset inputs logged");
    Ok(())
}

fn read_inputs(
    conn: &Connection,
    path: &Path,
    run_ids: &[String],
) -> Result<HashMap<String, RunInputs>> {
    let mut found: HashMap<String, RunInputs> = HashMap::new();
    if run_ids.is_empty() {
        return Ok(found);
    }
    let ids = serde_json::Value::from(run_ids.to_vec()).to_string();
    let sql = || sql_error(path, "reading dataset inputs");
    let mut tags: HashMap<(String, i64), Vec<InputTag>> = HashMap::new();
    let mut stmt = conn
        .prepare_cached(
            "SELECT run_id, dataset_id, key, value FROM input_tags
             WHERE run_id IN (SELECT value FROM json_each(?1)) ORDER BY run_id, dataset_id, key",
        )
        .map_err(sql())?;
    let rows = stmt
        .query_map([&ids], |r| {
            Ok((
                (r.get::<_, String>(0)?, r.get::<_, i64>(1)?),
                InputTag {
                    key: r.get(2)?,
                    value: r.get(3)?,
                },
            ))
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(sql())?;
    for (owner, tag) in rows {
        tags.entry(owner).or_default().push(tag);
    }
    let mut stmt = conn
        .prepare_cached(
            "SELECT i.run_id, i.dataset_id, d.name, d.digest, d.source_type, d.source,
                    d.dataset_schema, d.dataset_profile
             FROM run_inputs i JOIN datasets d ON d.dataset_id = i.dataset_id
             WHERE i.run_id IN (SELECT value FROM json_each(?1)) ORDER BY i.rowid",
        )
        .map_err(sql())?;
    let rows = stmt
        .query_map([&ids], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                Dataset {
                    name: r.get(2)?,
                    digest: r.get(3)?,
                    source_type: r.get(4)?,
                    source: r.get(5)?,
                    schema: r.get(6)?,
                    profile: r.get(7)?,
                },
            ))
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(sql())?;
    for (run_id, dataset_id, dataset) in rows {
        let tags = tags
            .remove(&(run_id.clone(), dataset_id))
            .unwrap_or_default();
        found
            .entry(run_id)
            .or_default()
            .dataset_inputs
            .push(DatasetInput { tags, dataset });
    }
    Ok(found)
}
