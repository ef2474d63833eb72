//! The tracked entities, shaped like MLflow's JSON messages.
//!
//! Every type here serializes to (and deserializes from) the JSON the MLflow tracking REST API
//! uses (`docs/mlflow-wire.md`), so the daemon sends them as they are and the client reads
//! them back. Field names are MLflow's proto names (snake_case); enums are their names
//! (`"FINISHED"`, `"ACTIVE_ONLY"`); `int64` fields are accepted as numbers or strings; metric
//! values that are not finite travel as the strings `"NaN"`, `"Infinity"` and `"-Infinity"`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The lifecycle stage of a live experiment or run.
pub const LIFECYCLE_ACTIVE: &str = "active";
/// The lifecycle stage of a deleted (restorable) experiment or run.
pub const LIFECYCLE_DELETED: &str = "deleted";
/// The id of the experiment that always exists.
pub const DEFAULT_EXPERIMENT_ID: &str = "0";
/// The name of the experiment that always exists.
pub const DEFAULT_EXPERIMENT_NAME: &str = "Default";
/// The tag MLflow clients use to carry a run's name.
pub const TAG_RUN_NAME: &str = "mlflow.runName";
/// The tag MLflow clients use to point at a parent run.
pub const TAG_PARENT_RUN_ID: &str = "mlflow.parentRunId";

/// An experiment: a named group of runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    /// Id, a decimal integer as a string (`"0"` is `Default`).
    pub experiment_id: String,
    /// Unique name.
    pub name: String,
    /// Where the experiment's run artifacts live (a URI).
    #[serde(default)]
    pub artifact_location: String,
    /// `"active"` or `"deleted"`.
    pub lifecycle_stage: String,
    /// Creation time, ms since the Unix epoch.
    #[serde(
        default,
        deserialize_with = "de_opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub creation_time: Option<i64>,
    /// Last update time, ms since the Unix epoch.
    #[serde(
        default,
        deserialize_with = "de_opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_update_time: Option<i64>,
    /// Experiment tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<ExperimentTag>,
}

/// A key/value tag of an experiment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExperimentTag {
    /// Tag key.
    pub key: String,
    /// Tag value.
    #[serde(default)]
    pub value: String,
}

/// A run: its metadata and its data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Ids, status, times.
    pub info: RunInfo,
    /// Latest metrics, params and tags.
    #[serde(default)]
    pub data: RunData,
}

/// A run's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Run id (32 lowercase hex characters for runs this store creates).
    pub run_id: String,
    /// The same as `run_id` (MLflow's legacy field).
    #[serde(default)]
    pub run_uuid: String,
    /// Display name.
    #[serde(default)]
    pub run_name: String,
    /// Experiment id.
    pub experiment_id: String,
    /// Who started the run.
    #[serde(default)]
    pub user_id: String,
    /// Status.
    pub status: RunStatus,
    /// Start time, ms since the Unix epoch.
    #[serde(
        default,
        deserialize_with = "de_opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_time: Option<i64>,
    /// End time, ms since the Unix epoch, once the run ended.
    #[serde(
        default,
        deserialize_with = "de_opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_time: Option<i64>,
    /// Where the run's artifacts live: `mlflow-artifacts:/<exp>/<run>/artifacts` for runs
    /// created through the daemon, `file:///<artifact root>/<exp>/<run>/artifacts` for runs
    /// created by an embedded store.
    #[serde(default)]
    pub artifact_uri: String,
    /// `"active"` or `"deleted"`.
    pub lifecycle_stage: String,
}

/// A run's data: the latest value of each metric, the params and the tags.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunData {
    /// The latest point of each metric key (by step, then timestamp, then value), sorted by key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<Metric>,
    /// Params, sorted by key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
    /// Tags, sorted by key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<RunTag>,
}

impl RunData {
    /// The latest value of metric `key`, if logged.
    pub fn metric(&self, key: &str) -> Option<f64> {
        self.metrics.iter().find(|m| m.key == key).map(|m| m.value)
    }

    /// The value of param `key`, if logged.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|p| p.key == key)
            .map(|p| p.value.as_str())
    }

    /// The value of tag `key`, if set.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    }
}

/// One metric point.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Metric {
    /// Metric key, e.g. `val_loss`.
    pub key: String,
    /// Value; NaN and ±infinity are kept (and travel as `"NaN"`, `"Infinity"`, `"-Infinity"`).
    #[serde(serialize_with = "ser_f64", deserialize_with = "de_f64")]
    pub value: f64,
    /// When it was measured, ms since the Unix epoch.
    #[serde(deserialize_with = "de_i64")]
    pub timestamp: i64,
    /// Training step (epoch, batch, ...); 0 when not given.
    #[serde(default, deserialize_with = "de_i64")]
    pub step: i64,
}

impl PartialEq for Metric {
    /// Equal when key, step, timestamp are equal and the values are identical (NaN equals NaN).
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
            && self.timestamp == other.timestamp
            && self.step == other.step
            && (self.value == other.value || (self.value.is_nan() && other.value.is_nan()))
    }
}

/// A run parameter (immutable once logged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Param {
    /// Param key, e.g. `lr`.
    pub key: String,
    /// Value, always a string (`0.001` is logged as `"0.001"`).
    #[serde(default)]
    pub value: String,
}

/// A run tag (mutable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunTag {
    /// Tag key, e.g. `mlflow.runName`.
    pub key: String,
    /// Value.
    #[serde(default)]
    pub value: String,
}

/// A dataset a run used (MLflow's `Dataset` message): identified within its experiment by
/// name and digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dataset {
    /// Name, e.g. `fashion-mnist-train`.
    pub name: String,
    /// Content digest (at most 36 characters).
    pub digest: String,
    /// Kind of source, e.g. `local`, `http`, `code`.
    pub source_type: String,
    /// The source itself (a URI or a JSON description).
    pub source: String,
    /// Schema, JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Profile (row count, ...), JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

/// A tag of a dataset input, e.g. `mlflow.data.context` = `train`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputTag {
    /// Tag key.
    pub key: String,
    /// Tag value.
    pub value: String,
}

/// A dataset used by a run, with the tags of that use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetInput {
    /// Tags of this use (`mlflow.data.context`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<InputTag>,
    /// The dataset.
    pub dataset: Dataset,
}

/// A run's inputs (MLflow's `RunInputs`): the datasets it logged, in the order first logged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInputs {
    /// Dataset inputs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dataset_inputs: Vec<DatasetInput>,
}

/// The status of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunStatus {
    /// Started and not yet ended.
    Running,
    /// Scheduled, not started.
    Scheduled,
    /// Ended successfully.
    Finished,
    /// Ended with an error.
    Failed,
    /// Stopped by a user or a signal.
    Killed,
}

impl RunStatus {
    /// Every status, in MLflow's enum order.
    pub const ALL: [RunStatus; 5] = [
        RunStatus::Running,
        RunStatus::Scheduled,
        RunStatus::Finished,
        RunStatus::Failed,
        RunStatus::Killed,
    ];

    /// The MLflow name: `"RUNNING"`, `"FINISHED"`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "RUNNING",
            RunStatus::Scheduled => "SCHEDULED",
            RunStatus::Finished => "FINISHED",
            RunStatus::Failed => "FAILED",
            RunStatus::Killed => "KILLED",
        }
    }

    /// Whether the run has ended (FINISHED, FAILED or KILLED).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunStatus::Finished | RunStatus::Failed | RunStatus::Killed
        )
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = String;

    /// Parses an MLflow status name (case-sensitive, as MLflow's enum).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RunStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("unknown run status {s:?}"))
    }
}

/// Which runs or experiments a search sees, by lifecycle stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ViewType {
    /// Only active ones (the default).
    #[default]
    ActiveOnly,
    /// Only deleted ones.
    DeletedOnly,
    /// Both.
    All,
}

impl ViewType {
    /// The lifecycle stages this view includes.
    pub fn stages(self) -> &'static [&'static str] {
        match self {
            ViewType::ActiveOnly => &[LIFECYCLE_ACTIVE],
            ViewType::DeletedOnly => &[LIFECYCLE_DELETED],
            ViewType::All => &[LIFECYCLE_ACTIVE, LIFECYCLE_DELETED],
        }
    }
}

impl FromStr for ViewType {
    type Err = String;

    /// Parses `ACTIVE_ONLY`, `DELETED_ONLY` or `ALL`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ACTIVE_ONLY" => Ok(ViewType::ActiveOnly),
            "DELETED_ONLY" => Ok(ViewType::DeletedOnly),
            "ALL" => Ok(ViewType::All),
            _ => Err(format!("unknown view type {s:?}")),
        }
    }
}

/// Serializes an `f64` as MLflow does: a JSON number when finite, else `"NaN"`,
/// `"Infinity"` or `"-Infinity"`.
pub fn ser_f64<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    if value.is_finite() {
        serializer.serialize_f64(*value)
    } else if value.is_nan() {
        serializer.serialize_str("NaN")
    } else if *value > 0.0 {
        serializer.serialize_str("Infinity")
    } else {
        serializer.serialize_str("-Infinity")
    }
}

/// Parses a double written as a string the way protobuf's JSON mapping does:
/// `"NaN"`, `"Infinity"`, `"-Infinity"` or a decimal number (`"1.5"`).
pub fn parse_f64(s: &str) -> Option<f64> {
    match s.trim() {
        "NaN" | "nan" => Some(f64::NAN),
        "Infinity" | "inf" | "+Infinity" => Some(f64::INFINITY),
        "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
        other => other.parse::<f64>().ok(),
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrString {
    Int(i64),
    Float(f64),
    Str(String),
}

/// Deserializes a double from a JSON number or a string (`"NaN"`, `"Infinity"`, `"1.5"`).
pub fn de_f64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    match NumOrString::deserialize(deserializer)? {
        NumOrString::Int(i) => Ok(i as f64),
        NumOrString::Float(f) => Ok(f),
        NumOrString::Str(s) => parse_f64(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("invalid double value {s:?}"))),
    }
}

/// Deserializes an `int64` from a JSON number or a decimal string (`"25000"`).
pub fn de_i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    match NumOrString::deserialize(deserializer)? {
        NumOrString::Int(i) => Ok(i),
        NumOrString::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(f as i64),
        NumOrString::Float(f) => Err(serde::de::Error::custom(format!(
            "invalid integer value {f}"
        ))),
        NumOrString::Str(s) => s
            .trim()
            .parse::<i64>()
            .map_err(|_| serde::de::Error::custom(format!("invalid integer value {s:?}"))),
    }
}

/// Deserializes an optional `int64` from null, a JSON number or a decimal string.
pub fn de_opt_i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap(#[serde(deserialize_with = "de_i64")] i64);
    Ok(Option::<Wrap>::deserialize(deserializer)?.map(|Wrap(v)| v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_metric_values_travel_as_strings_and_come_back() {
        for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1.5] {
            let metric = Metric {
                key: "k".into(),
                value,
                timestamp: 1,
                step: 2,
            };
            let json = serde_json::to_string(&metric).expect("serializes");
            if !value.is_finite() {
                assert!(json.contains('"') && !json.contains(":NaN") && !json.contains(":inf"));
            }
            let back: Metric = serde_json::from_str(&json).expect("parses");
            assert_eq!(back, metric);
        }
    }

    #[test]
    fn int64_fields_accept_numbers_and_strings() {
        let m: Metric =
            serde_json::from_str(r#"{"key":"a","value":"1.5","timestamp":"12","step":3}"#)
                .expect("parses");
        assert_eq!((m.value, m.timestamp, m.step), (1.5, 12, 3));
        let bad = serde_json::from_str::<Metric>(r#"{"key":"a","value":"abc","timestamp":1}"#);
        assert!(bad.is_err());
    }

    #[test]
    fn statuses_round_trip_by_name() {
        for status in RunStatus::ALL {
            assert_eq!(status.as_str().parse::<RunStatus>(), Ok(status));
            let json = serde_json::to_string(&status).expect("serializes");
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
    }
}
