//! MLflow's input rules (`mlflow/utils/validation.py`): key names, lengths and batch limits.

use crate::entities::{Metric, Param, RunTag};
use crate::error::{Error, Result};

/// Most metrics one `log-batch` request may carry.
pub const MAX_METRICS_PER_BATCH: usize = 1000;
/// Most params (and, separately, tags) one `log-batch` request may carry.
pub const MAX_PARAMS_TAGS_PER_BATCH: usize = 100;
/// Most metrics + params + tags one `log-batch` request may carry.
pub const MAX_ENTITIES_PER_BATCH: usize = 1000;
/// Longest metric, param or tag key, in characters.
pub const MAX_ENTITY_KEY_LENGTH: usize = 250;
/// Longest param value kept, in characters (longer values are truncated, as MLflow does).
pub const MAX_PARAM_VAL_LENGTH: usize = 6000;
/// Longest run tag value kept, in characters (longer values are truncated, as MLflow does).
pub const MAX_TAG_VAL_LENGTH: usize = 8000;
/// Longest experiment name.
pub const MAX_EXPERIMENT_NAME_LENGTH: usize = 500;
/// Largest `max_results` of a run search.
pub const SEARCH_MAX_RESULTS_THRESHOLD: i64 = 50_000;
/// `max_results` of a run search when none is given.
pub const SEARCH_MAX_RESULTS_DEFAULT: i64 = 1000;
/// Largest page of a metric history.
pub const GET_METRIC_HISTORY_MAX_RESULTS: i64 = 25_000;

/// Longest file or directory name in an artifact path, bytes (the file system's `NAME_MAX`).
pub const MAX_ARTIFACT_NAME_BYTES: usize = 255;
/// Longest path of an artifact on disk (artifact root included), bytes: under the file
/// system's `PATH_MAX` of 4096, with room for the temporary file an upload is written to.
pub const MAX_ARTIFACT_PATH_BYTES: usize = 4000;

/// Checks a metric, param or tag key: `^[A-Za-z0-9_\-. :/]+$`, at most 250 characters, and a
/// normalized relative path (no `..` segment, no leading `/`), as MLflow requires.
pub fn validate_key(kind: &str, key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid(format!(
            "Missing value for required parameter '{kind} key'"
        )));
    }
    if key.chars().count() > MAX_ENTITY_KEY_LENGTH {
        return Err(Error::invalid(format!(
            "{kind} key '{}...' had length {}, which exceeded length limit of {MAX_ENTITY_KEY_LENGTH}",
            key.chars().take(32).collect::<String>(),
            key.chars().count()
        )));
    }
    if !key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ' | ':' | '/'))
    {
        return Err(Error::invalid(format!(
            "Invalid {kind} name: '{key}'. Names may only contain alphanumerics, underscores (_), \
             dashes (-), periods (.), spaces ( ), colon(:) and slashes (/)."
        )));
    }
    let unsafe_path =
        key.starts_with('/') || key.split('/').any(|segment| segment == "..") || key == ".";
    if unsafe_path {
        return Err(Error::invalid(format!(
            "Invalid {kind} name: '{key}'. Names may be treated as files in certain cases, and \
             must not resolve to other names when treated as such."
        )));
    }
    Ok(())
}

/// Checks the counts of one batch against MLflow's limits.
pub fn validate_batch_limits(metrics: usize, params: usize, tags: usize) -> Result<()> {
    if metrics > MAX_METRICS_PER_BATCH {
        return Err(Error::invalid(format!(
            "A batch logging request can contain at most {MAX_METRICS_PER_BATCH} metrics. \
             Got {metrics} metrics. Please split up metrics across multiple requests and try again."
        )));
    }
    if params > MAX_PARAMS_TAGS_PER_BATCH {
        return Err(Error::invalid(format!(
            "A batch logging request can contain at most {MAX_PARAMS_TAGS_PER_BATCH} params. \
             Got {params} params. Please split up params across multiple requests and try again."
        )));
    }
    if tags > MAX_PARAMS_TAGS_PER_BATCH {
        return Err(Error::invalid(format!(
            "A batch logging request can contain at most {MAX_PARAMS_TAGS_PER_BATCH} tags. \
             Got {tags} tags. Please split up tags across multiple requests and try again."
        )));
    }
    let total = metrics + params + tags;
    if total > MAX_ENTITIES_PER_BATCH {
        return Err(Error::invalid(format!(
            "A batch logging request can contain at most {MAX_ENTITIES_PER_BATCH} metrics, params \
             and tags in total. Got {total}."
        )));
    }
    Ok(())
}

/// Validates the keys of a batch and truncates over-long values; returns the params and tags
/// as they will be stored. Two params of the batch with one key and different values are refused.
pub fn prepare_batch(
    metrics: &[Metric],
    params: &[Param],
    tags: &[RunTag],
) -> Result<(Vec<Param>, Vec<RunTag>)> {
    for metric in metrics {
        validate_key("metric", &metric.key)?;
    }
    let mut prepared_params: Vec<Param> = Vec::with_capacity(params.len());
    for param in params {
        validate_key("param", &param.key)?;
        let param = Param {
            key: param.key.clone(),
            value: truncate(&param.value, MAX_PARAM_VAL_LENGTH),
        };
        match prepared_params.iter().find(|p| p.key == param.key) {
            Some(previous) if previous.value != param.value => {
                return Err(Error::invalid(format!(
                    "Duplicate parameter keys have been submitted: ['{}'] with different values",
                    param.key
                )));
            }
            Some(_) => {}
            None => prepared_params.push(param),
        }
    }
    let mut prepared_tags = Vec::with_capacity(tags.len());
    for tag in tags {
        validate_key("tag", &tag.key)?;
        prepared_tags.push(RunTag {
            key: tag.key.clone(),
            value: truncate(&tag.value, MAX_TAG_VAL_LENGTH),
        });
    }
    Ok((prepared_params, prepared_tags))
}

/// A run name as stored: the name is the tag `mlflow.runName`, so it obeys the tag value cap
/// (over 8000 characters it is truncated, as MLflow truncates tag values).
pub fn truncate_run_name(name: &str) -> String {
    truncate(name, MAX_TAG_VAL_LENGTH)
}

/// Checks an experiment name: not blank, at most 500 characters.
pub fn validate_experiment_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::invalid(
            "Invalid experiment name: ''. Names must not be empty.",
        ));
    }
    if name.chars().count() > MAX_EXPERIMENT_NAME_LENGTH {
        return Err(Error::invalid(format!(
            "Experiment name exceeds the maximum length of {MAX_EXPERIMENT_NAME_LENGTH} characters"
        )));
    }
    Ok(())
}

/// Checks a search's `max_results`: 1 ..= 50000.
pub fn validate_max_results(max_results: i64) -> Result<()> {
    if !(1..=SEARCH_MAX_RESULTS_THRESHOLD).contains(&max_results) {
        return Err(Error::invalid(format!(
            "Invalid value {max_results} for parameter 'max_results' supplied. It must be at \
             most {SEARCH_MAX_RESULTS_THRESHOLD} and positive."
        )));
    }
    Ok(())
}

fn truncate(value: &str, max_chars: usize) -> String {
    match value.char_indices().nth(max_chars) {
        Some((byte, _)) => value[..byte].to_string(),
        None => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_mlflow_rules() {
        for ok in [
            "val_loss",
            "system/cpu_utilization_percentage",
            "a b:c-d.e",
            "mlflow.runName",
        ] {
            assert!(validate_key("metric", ok).is_ok(), "{ok}");
        }
        for bad in ["", "a$b", "é", "/abs", "a/../b", "..", &"k".repeat(251)] {
            assert_eq!(
                validate_key("metric", bad).map_err(|e| e.error_code().as_str()),
                Err("INVALID_PARAMETER_VALUE"),
                "{bad}"
            );
        }
        assert!(validate_key("metric", &"k".repeat(250)).is_ok());
    }

    #[test]
    fn long_values_are_truncated_not_refused() {
        let params = [Param {
            key: "p".into(),
            value: "x".repeat(6001),
        }];
        let tags = [RunTag {
            key: "t".into(),
            value: "é".repeat(8001),
        }];
        let (params, tags) = prepare_batch(&[], &params, &tags).expect("accepted");
        assert_eq!(params[0].value.chars().count(), 6000);
        assert_eq!(tags[0].value.chars().count(), 8000);
    }

    #[test]
    fn batch_limits_are_mlflows() {
        assert!(validate_batch_limits(1000, 0, 0).is_ok());
        assert!(validate_batch_limits(1001, 0, 0).is_err());
        assert!(validate_batch_limits(0, 101, 0).is_err());
        assert!(validate_batch_limits(0, 0, 101).is_err());
        assert!(validate_batch_limits(900, 100, 1).is_err());
    }
}
