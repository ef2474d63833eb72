//! The overfitting analysis, over stored runs.
//!
//! The analysis itself is pure and lives in the `insight` crate (no SQLite, no server):
//! everything of [`insight::analysis`] is re-exported here, so `tracker::analysis::analyze`,
//! `tracker::analysis::RunRecord` and the rest keep their paths. What this module adds is the
//! one non-pure step: reading a stored run (from the [`Store`] or through a [`Client`]) into
//! the [`RunRecord`] the analysis takes.
//!
//! ```text
//! Store / Client ──RunSource──► record_of ──► RunRecord ──► analyze (insight) ──► Analysis
//! (Run, Analysis) pairs ──► compare_runs ──► Comparison (`track compare`, the dashboard)
//! ```

pub use insight::analysis::*;

use crate::client::Client;
use std::collections::BTreeMap;

use crate::entities::{Metric, Run, TAG_RUN_NAME};
use crate::error::{Error, Result};
use crate::store::Store;

/// Where stored runs are read from: the store itself, or a [`Client`] (a daemon or an embedded
/// store).
pub trait RunSource {
    /// The run with id `run_id` (params included).
    fn get_run(&self, run_id: &str) -> Result<Run>;
    /// Every point of every metric of run `run_id`, by key, then step, then timestamp.
    fn run_metrics(&self, run_id: &str) -> Result<Vec<Metric>>;
}

impl RunSource for Store {
    fn get_run(&self, run_id: &str) -> Result<Run> {
        Store::get_run(self, run_id)
    }

    fn run_metrics(&self, run_id: &str) -> Result<Vec<Metric>> {
        Store::run_metrics(self, run_id)
    }
}

impl RunSource for Client {
    fn get_run(&self, run_id: &str) -> Result<Run> {
        Client::get_run(self, run_id)
    }

    fn run_metrics(&self, run_id: &str) -> Result<Vec<Metric>> {
        Client::run_metrics(self, run_id)
    }
}

/// A [`RunRecord`] of `run`'s params and the metric points `metrics` (in logging order, as
/// [`RunSource::run_metrics`] returns them: the last point of a step wins).
pub fn record_of(run: &Run, metrics: &[Metric]) -> RunRecord {
    let mut record = RunRecord::new(run.info.run_id.clone());
    for param in &run.data.params {
        record.set_param(&param.key, &param.value);
    }
    for metric in metrics {
        record.push_metric(&metric.key, metric.step, metric.value);
    }
    record
}

/// Reads run `run_id`'s params and every metric point into a [`RunRecord`].
pub fn record_from_store(source: &impl RunSource, run_id: &str) -> Result<RunRecord> {
    let run = source.get_run(run_id)?;
    Ok(record_of(&run, &source.run_metrics(run_id)?))
}

/// Analyses the stored run `run_id` (see [`analyze`]).
pub fn analyze_stored_run(
    source: &impl RunSource,
    run_id: &str,
    config: &AnalysisConfig,
) -> Result<Analysis> {
    Ok(analyze(&record_from_store(source, run_id)?, config)?)
}

/// A run's display name: its `mlflow.runName` tag or name, else its id.
pub fn display_name(run: &Run) -> String {
    let name = run
        .data
        .tag(TAG_RUN_NAME)
        .filter(|n| !n.is_empty())
        .unwrap_or(&run.info.run_name);
    if name.is_empty() {
        run.info.run_id.clone()
    } else {
        name.to_string()
    }
}

/// The comparison of analysed runs (see [`compare`]): each named by [`display_name`], with its
/// params; what `track compare --json` prints and the dashboard's compare page shows.
pub fn compare_runs(loaded: &[(Run, Analysis)]) -> Comparison {
    let names: Vec<String> = loaded.iter().map(|(run, _)| display_name(run)).collect();
    let params: Vec<BTreeMap<String, String>> = loaded
        .iter()
        .map(|(run, _)| {
            run.data
                .params
                .iter()
                .map(|p| (p.key.clone(), p.value.clone()))
                .collect()
        })
        .collect();
    let inputs: Vec<CompareInput<'_>> = loaded
        .iter()
        .zip(&names)
        .zip(&params)
        .map(|(((_, analysis), name), params)| CompareInput {
            name,
            params,
            analysis,
        })
        .collect();
    compare(&inputs)
}

/// An analysis or plot error as the tracker reports it: a bad input is an invalid parameter
/// (HTTP 400, MLflow's `INVALID_PARAMETER_VALUE`), a file not written an I/O error.
impl From<insight::Error> for Error {
    fn from(error: insight::Error) -> Self {
        match error {
            insight::Error::Invalid { message } => Error::InvalidParameter { message },
            insight::Error::Io { path, source } => Error::Io { path, source },
        }
    }
}
