//! How a run is recorded: the small [`Reporter`] trait the fit loop talks to.
//!
//! The trainer knows nothing of HTTP or SQLite: the `track` binary implements [`Reporter`] with
//! the tracker's client, and tests implement it with a recorder.

use std::path::Path;

/// An error a [`Reporter`] returns; the fit loop wraps it in [`crate::Error::Report`].
pub type ReportError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunStatus {
    /// Every epoch ran (or early stopping ended it) and the final evaluation was recorded.
    Finished,
    /// Training stopped on an error; the message is the error with its causes.
    Failed {
        /// The error, with its chain of causes.
        error: String,
    },
    /// Interrupted (Ctrl-C): stopped at the next batch, best checkpoint kept, metrics flushed.
    Killed,
}

impl RunStatus {
    /// The MLflow spelling of the status: `FINISHED`, `FAILED` or `KILLED`.
    pub fn as_str(&self) -> &'static str {
        match self {
            RunStatus::Finished => "FINISHED",
            RunStatus::Failed { .. } => "FAILED",
            RunStatus::Killed => "KILLED",
        }
    }
}

/// Receives the record of one run: params, tags, per-epoch metrics, artifacts and the end status.
///
/// Calls arrive in this order: [`log_params`](Reporter::log_params) and
/// [`set_tags`](Reporter::set_tags) once before the first epoch, then
/// [`log_metrics`](Reporter::log_metrics) once per epoch (and once with the test metrics),
/// [`log_artifact`](Reporter::log_artifact) whenever a file is written, and
/// [`finish`](Reporter::finish) exactly once at the end, whatever happened. An implementation
/// may buffer; `finish` must flush everything.
pub trait Reporter {
    /// Records run parameters (`data.batch_size`, `optim.learning_rate`, `num_params`, ...).
    fn log_params(&mut self, params: &[(String, String)]) -> Result<(), ReportError>;
    /// Records tags (free-form metadata such as the whole config as TOML).
    fn set_tags(&mut self, tags: &[(String, String)]) -> Result<(), ReportError>;
    /// Records metrics at a step: the epoch (1-based) for per-epoch metrics.
    fn log_metrics(&mut self, step: u64, metrics: &[(&str, f64)]) -> Result<(), ReportError>;
    /// Records a file written into the run's artifact directory (`name` is relative to it).
    fn log_artifact(&mut self, name: &str, path: &Path) -> Result<(), ReportError>;
    /// Ends the run with its status and flushes whatever is buffered.
    fn finish(&mut self, status: &RunStatus) -> Result<(), ReportError>;
}

/// A [`Reporter`] that records every call in memory: for tests and for `--json` summaries.
#[derive(Debug, Default, Clone)]
pub struct MemoryReporter {
    /// Every param, in the order logged.
    pub params: Vec<(String, String)>,
    /// Every tag, in the order set.
    pub tags: Vec<(String, String)>,
    /// Every metric as (step, name, value), in the order logged.
    pub metrics: Vec<(u64, String, f64)>,
    /// Every artifact as (name, path).
    pub artifacts: Vec<(String, std::path::PathBuf)>,
    /// The status, once finished.
    pub status: Option<RunStatus>,
}

impl MemoryReporter {
    /// The values of one metric, in step order, as (step, value).
    pub fn series(&self, name: &str) -> Vec<(u64, f64)> {
        self.metrics
            .iter()
            .filter(|(_, n, _)| n == name)
            .map(|(s, _, v)| (*s, *v))
            .collect()
    }

    /// The value of a param, if logged.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Reporter for MemoryReporter {
    fn log_params(&mut self, params: &[(String, String)]) -> Result<(), ReportError> {
        self.params.extend_from_slice(params);
        Ok(())
    }

    fn set_tags(&mut self, tags: &[(String, String)]) -> Result<(), ReportError> {
        self.tags.extend_from_slice(tags);
        Ok(())
    }

    fn log_metrics(&mut self, step: u64, metrics: &[(&str, f64)]) -> Result<(), ReportError> {
        self.metrics
            .extend(metrics.iter().map(|(n, v)| (step, (*n).to_string(), *v)));
        Ok(())
    }

    fn log_artifact(&mut self, name: &str, path: &Path) -> Result<(), ReportError> {
        self.artifacts.push((name.to_string(), path.to_path_buf()));
        Ok(())
    }

    fn finish(&mut self, status: &RunStatus) -> Result<(), ReportError> {
        self.status = Some(status.clone());
        Ok(())
    }
}
