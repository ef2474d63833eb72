//! The trainer's [`Reporter`], implemented with the tracker's client: a run lands in a
//! `track daemon` over HTTP or in the embedded store, whichever the tracking URI names.
//!
//! Params and tags are sent at once; metrics go through the client's buffered [`RunLogger`]
//! (a daemon restart loses nothing); artifacts are uploaded next to the run; `finish` flushes
//! every metric and sets the run's status.

use std::path::{Path, PathBuf};

use anyhow::Context;
use tracker::client::{Client, LoggerConfig, RunLogger};
use tracker::entities::{Param, RunStatus as TrackerStatus, RunTag};
use trainer::report::{ReportError, Reporter, RunStatus};

/// The tag that holds a failed run's error message.
pub const TAG_ERROR: &str = "gapwatch.error";

/// Removes a run's local checkpoint folder `dir` once training returned, i.e. once every
/// checkpoint written there is uploaded to the run's artifacts (each is uploaded as soon as it
/// is written, and `--resume` downloads what it needs again), so checkpoints are not kept twice.
///
/// Only the default folder under the system temp directory goes (`temporary`); a folder the
/// user named with `--checkpoint-dir` is theirs and stays. A training error keeps the folder
/// too: the artifacts may then lack the last checkpoint, and a resume finds it there. A folder
/// that cannot be removed is logged, not an error: the run itself is recorded.
pub fn remove_uploaded_checkpoints(dir: &Path, temporary: bool) {
    if !temporary {
        return;
    }
    match std::fs::remove_dir_all(dir) {
        Ok(()) => tracing::debug!(dir = %dir.display(), "local checkpoint copies removed"),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => tracing::warn!(
            dir = %dir.display(),
            %error,
            "could not remove the local checkpoint copies"
        ),
    }
}

/// A [`Reporter`] writing to one run through a [`Client`].
pub struct TrackerReporter {
    client: Client,
    run_id: String,
    logger: Option<RunLogger>,
}

impl TrackerReporter {
    /// Creates a run in experiment `experiment` (created if missing), named `run_name`.
    pub fn start(
        client: &Client,
        experiment: &str,
        run_name: Option<&str>,
    ) -> anyhow::Result<Self> {
        let experiment = client
            .get_or_create_experiment(experiment)
            .with_context(|| format!("experiment {experiment:?} at {}", client.uri()))?;
        let run = client
            .create_run(&experiment.experiment_id, run_name, &[])
            .with_context(|| format!("creating a run at {}", client.uri()))?;
        Self::attach(client, &run.info.run_id)
    }

    /// Reopens the existing run `run_id` (for `--resume`): marks it RUNNING again.
    pub fn resume(client: &Client, run_id: &str) -> anyhow::Result<Self> {
        client
            .update_run(run_id, TrackerStatus::Running, None)
            .with_context(|| format!("reopening run {run_id} at {}", client.uri()))?;
        Self::attach(client, run_id)
    }

    fn attach(client: &Client, run_id: &str) -> anyhow::Result<Self> {
        let logger = client
            .logger(run_id, LoggerConfig::default())
            .with_context(|| format!("metric logger of run {run_id}"))?;
        Ok(Self {
            client: client.clone(),
            run_id: run_id.to_string(),
            logger: Some(logger),
        })
    }

    /// The run's id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Downloads the run's artifact `path` (e.g. `checkpoints/last.safetensors`) into
    /// `local_dir`, keeping its relative path.
    pub fn download(&self, path: &str, local_dir: &Path) -> anyhow::Result<PathBuf> {
        let target = local_dir.join(path);
        let parent = target.parent().unwrap_or(local_dir);
        self.client
            .download_artifact(&self.run_id, path, parent)
            .with_context(|| format!("artifact {path} of run {}", self.run_id))
    }
}

impl Reporter for TrackerReporter {
    fn log_params(&mut self, params: &[(String, String)]) -> Result<(), ReportError> {
        let params: Vec<Param> = params
            .iter()
            .map(|(key, value)| Param {
                key: key.clone(),
                value: value.clone(),
            })
            .collect();
        Ok(self.client.log_params(&self.run_id, &params)?)
    }

    fn set_tags(&mut self, tags: &[(String, String)]) -> Result<(), ReportError> {
        let tags: Vec<RunTag> = tags
            .iter()
            .map(|(key, value)| RunTag {
                key: key.clone(),
                value: value.clone(),
            })
            .collect();
        Ok(self.client.set_tags(&self.run_id, &tags)?)
    }

    fn log_metrics(&mut self, step: u64, metrics: &[(&str, f64)]) -> Result<(), ReportError> {
        let logger = self.logger.as_ref().ok_or("the run already finished")?;
        logger.log_metrics(metrics.iter().copied(), i64::try_from(step)?);
        Ok(())
    }

    fn log_artifact(&mut self, name: &str, path: &Path) -> Result<(), ReportError> {
        let dir = name.rsplit_once('/').map_or("", |(dir, _)| dir);
        self.client.log_artifact(&self.run_id, path, dir)?;
        Ok(())
    }

    fn finish(&mut self, status: &RunStatus) -> Result<(), ReportError> {
        if let RunStatus::Failed { error } = status {
            self.set_tags(&[(TAG_ERROR.to_string(), error.clone())])?;
        }
        let tracker_status = match status {
            RunStatus::Finished => TrackerStatus::Finished,
            RunStatus::Failed { .. } => TrackerStatus::Failed,
            RunStatus::Killed => TrackerStatus::Killed,
        };
        let logger = self.logger.take().ok_or("the run already finished")?;
        let stats = logger.finish(tracker_status)?;
        if stats.lost() > 0 {
            return Err(format!(
                "{} metric points of run {} were lost",
                stats.lost(),
                self.run_id
            )
            .into());
        }
        Ok(())
    }
}
