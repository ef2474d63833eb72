//! Experiment lifecycle and tags, as MLflow's SQL store does them: delete (which marks every
//! run of the experiment deleted), restore (which marks them all active again), rename, and
//! experiment tags.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use super::{Store, now_ms, sql_error, validate};
use crate::entities::{LIFECYCLE_ACTIVE, LIFECYCLE_DELETED};
use crate::error::{Error, Result};

/// Longest experiment tag key, in characters.
pub(crate) const MAX_EXPERIMENT_TAG_KEY_LENGTH: usize = 250;
/// Longest experiment tag value, in characters (longer ones are refused, not truncated).
pub(crate) const MAX_EXPERIMENT_TAG_VAL_LENGTH: usize = 20_000;

impl Store {
    /// Marks an active experiment deleted, and every one of its runs with it. Its data stays;
    /// [`Store::restore_experiment`] undoes it.
    ///
    /// # Errors
    /// `RESOURCE_DOES_NOT_EXIST` for an unknown or already deleted experiment.
    pub fn delete_experiment(&self, experiment_id: &str) -> Result<()> {
        self.set_experiment_lifecycle(experiment_id, LIFECYCLE_DELETED)
    }

    /// Marks a deleted experiment active again, and every one of its runs (as MLflow does:
    /// also runs that were deleted on their own before).
    ///
    /// # Errors
    /// `RESOURCE_DOES_NOT_EXIST` for an unknown experiment or one that is not deleted.
    pub fn restore_experiment(&self, experiment_id: &str) -> Result<()> {
        self.set_experiment_lifecycle(experiment_id, LIFECYCLE_ACTIVE)
    }

    fn set_experiment_lifecycle(&self, experiment_id: &str, stage: &'static str) -> Result<()> {
        let (id, path) = (experiment_id.to_string(), self.inner.path.clone());
        self.inner
            .writer
            .write(move |conn| set_lifecycle(conn, &path, &id, stage))
    }

    /// Renames an active experiment.
    ///
    /// # Errors
    /// `RESOURCE_DOES_NOT_EXIST` for an unknown experiment; `RESOURCE_ALREADY_EXISTS` when
    /// another experiment has the name; `INVALID_PARAMETER_VALUE` for a deleted experiment or
    /// an invalid name.
    pub fn rename_experiment(&self, experiment_id: &str, new_name: &str) -> Result<()> {
        validate::validate_experiment_name(new_name)?;
        let (id, name, path) = (
            experiment_id.to_string(),
            new_name.to_string(),
            self.inner.path.clone(),
        );
        self.inner
            .writer
            .write(move |conn| rename(conn, &path, &id, &name))
    }

    /// Sets (or overwrites) a tag of an active experiment.
    ///
    /// # Errors
    /// `RESOURCE_DOES_NOT_EXIST` for an unknown experiment; `INVALID_PARAMETER_VALUE` for a
    /// deleted experiment, a bad key, or a value over 20,000 characters.
    pub fn set_experiment_tag(&self, experiment_id: &str, key: &str, value: &str) -> Result<()> {
        validate_experiment_tag(key, value)?;
        let (id, key, value, path) = (
            experiment_id.to_string(),
            key.to_string(),
            value.to_string(),
            self.inner.path.clone(),
        );
        self.inner.writer.write(move |conn| {
            let number = require_active(conn, &path, &id)?;
            conn.execute(
                "INSERT OR REPLACE INTO experiment_tags (experiment_id, key, value) VALUES (?1, ?2, ?3)",
                params![number, key, value],
            )
            .map_err(sql_error(&path, "tagging an experiment"))?;
            Ok(())
        })
    }

    /// Deletes a tag of an active experiment.
    ///
    /// # Errors
    /// `RESOURCE_DOES_NOT_EXIST` for an unknown experiment or a tag that is not set;
    /// `INVALID_PARAMETER_VALUE` for a deleted experiment.
    pub fn delete_experiment_tag(&self, experiment_id: &str, key: &str) -> Result<()> {
        let (id, key, path) = (
            experiment_id.to_string(),
            key.to_string(),
            self.inner.path.clone(),
        );
        self.inner.writer.write(move |conn| {
            let number = require_active(conn, &path, &id)?;
            let deleted = conn
                .execute(
                    "DELETE FROM experiment_tags WHERE experiment_id = ?1 AND key = ?2",
                    params![number, key],
                )
                .map_err(sql_error(&path, "deleting an experiment tag"))?;
            if deleted == 0 {
                return Err(Error::ExperimentTagNotFound {
                    experiment_id: id,
                    key,
                });
            }
            Ok(())
        })
    }
}

/// Checks an experiment tag as MLflow does (`_validate_experiment_tag`).
pub(super) fn validate_experiment_tag(key: &str, value: &str) -> Result<()> {
    validate::validate_key("experiment tag", key)?;
    if key.chars().count() > MAX_EXPERIMENT_TAG_KEY_LENGTH {
        return Err(Error::invalid(format!(
            "'key' exceeds the maximum length of {MAX_EXPERIMENT_TAG_KEY_LENGTH} characters"
        )));
    }
    let length = value.chars().count();
    if length > MAX_EXPERIMENT_TAG_VAL_LENGTH {
        return Err(Error::invalid(format!(
            "'value' exceeds the maximum length of {MAX_EXPERIMENT_TAG_VAL_LENGTH} characters \
             (got {length}) for experiment tag '{key}'"
        )));
    }
    Ok(())
}

/// The experiment's numeric id and lifecycle stage.
fn stage_of(conn: &Connection, path: &Path, experiment_id: &str) -> Result<(i64, String)> {
    let not_found = || Error::ExperimentNotFound {
        experiment_id: experiment_id.to_string(),
    };
    let id: i64 = experiment_id.trim().parse().map_err(|_| not_found())?;
    conn.query_row(
        "SELECT lifecycle_stage FROM experiments WHERE experiment_id = ?1",
        [id],
        |r| r.get::<_, String>(0),
    )
    .optional()
    .map_err(sql_error(path, "looking up an experiment"))?
    .map(|stage| (id, stage))
    .ok_or_else(not_found)
}

/// The experiment's numeric id, once checked to exist and be active.
fn require_active(conn: &Connection, path: &Path, experiment_id: &str) -> Result<i64> {
    let (id, stage) = stage_of(conn, path, experiment_id)?;
    if stage != LIFECYCLE_ACTIVE {
        return Err(Error::invalid(format!(
            "The experiment {experiment_id} must be in the 'active' state. Current state is {stage}."
        )));
    }
    Ok(id)
}

fn set_lifecycle(conn: &Connection, path: &Path, experiment_id: &str, stage: &str) -> Result<()> {
    let (id, current) = stage_of(conn, path, experiment_id)?;
    let required = if stage == LIFECYCLE_DELETED {
        LIFECYCLE_ACTIVE
    } else {
        LIFECYCLE_DELETED
    };
    if current != required {
        // MLflow looks the experiment up in the view the change starts from: not found.
        return Err(Error::ExperimentNotFound {
            experiment_id: experiment_id.to_string(),
        });
    }
    conn.execute(
        "UPDATE experiments SET lifecycle_stage = ?2, last_update_time = ?3 WHERE experiment_id = ?1",
        params![id, stage, now_ms()],
    )
    .map_err(sql_error(path, "changing an experiment's lifecycle stage"))?;
    let runs = conn
        .execute(
            "UPDATE runs SET lifecycle_stage = ?2 WHERE experiment_id = ?1",
            params![id, stage],
        )
        .map_err(sql_error(
            path,
            "changing the lifecycle stage of an experiment's runs",
        ))?;
    tracing::debug!(experiment_id, stage, runs, "experiment lifecycle changed");
    Ok(())
}

fn rename(conn: &Connection, path: &Path, experiment_id: &str, new_name: &str) -> Result<()> {
    let (id, stage) = stage_of(conn, path, experiment_id)?;
    if stage != LIFECYCLE_ACTIVE {
        return Err(Error::invalid("Cannot rename a non-active experiment."));
    }
    let holder = super::write::experiment_named(conn, path, new_name)?;
    if holder.is_some_and(|holder| holder != id) {
        return Err(Error::ExperimentExists {
            name: new_name.to_string(),
        });
    }
    conn.execute(
        "UPDATE experiments SET name = ?2, last_update_time = ?3 WHERE experiment_id = ?1",
        params![id, new_name, now_ms()],
    )
    .map_err(sql_error(path, "renaming an experiment"))?;
    Ok(())
}
