//! The one non-pure part: gathering a stored run's series for [`super::analyze`].

use crate::client::Client;
use crate::entities::{Metric, Run};
use crate::error::Result;
use crate::store::Store;

use super::{Analysis, AnalysisConfig, RunRecord, analyze};

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
    analyze(&record_from_store(source, run_id)?, config)
}
