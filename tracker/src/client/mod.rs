//! The tracking client: one interface to a `track daemon` over HTTP or to the store in-process.
//!
//! [`Client::open`] takes a tracking URI as MLflow does: `http://host:port` talks to a daemon
//! (or any MLflow tracking server) with the MLflow REST API over keep-alive connections, sending
//! `Authorization: Bearer $MLFLOW_TRACKING_TOKEN` when that variable is set; a file path or
//! `sqlite:PATH` opens the SQLite store embedded in this process, so writes go straight to the
//! database and no daemon is needed. Every method behaves the same either way.
//!
//! For training, [`Client::logger`] returns a [`RunLogger`]: metric points go to a bounded
//! buffer and a background thread sends them with `log-batch`, retrying with backoff while the
//! daemon is down; [`RunLogger::finish`] waits for acknowledgment and ends the run.
//!
//! # Data flow
//! ```text
//! trainer ── log_metric ──► RunLogger buffer ──► worker thread ──► log-batch ──► daemon | store
//! CLI ─────── search_runs / get_run / metric_history ─────────────────────────► daemon | store
//! ```

mod artifacts;
mod http;
mod logger;
pub mod table;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use crate::entities::{Experiment, Metric, Param, Run, RunStatus, RunTag, TAG_RUN_NAME, ViewType};
use crate::error::{Error, ErrorCode, Result};
use crate::store::{CreateRun, SearchExperiments, SearchRuns, Store};

pub use artifacts::ArtifactFile;
pub use http::{DEFAULT_CONNECT_TIMEOUT_SECS, DEFAULT_REQUEST_TIMEOUT_SECS, TOKEN_ENV};
pub use logger::{
    DEFAULT_BATCH_SIZE, DEFAULT_FLUSH_TIMEOUT_SECS, DEFAULT_INITIAL_BACKOFF_MS,
    DEFAULT_MAX_BACKOFF_MS, DEFAULT_MAX_BUFFERED_METRICS, LoggerConfig, LoggerStats, RunLogger,
};

use http::HttpBackend;

/// The most metric points one log-batch request carries (MLflow's `MAX_METRICS_PER_BATCH`).
pub const MAX_METRICS_PER_BATCH: usize = 1000;
/// The most params or tags one log-batch request carries (MLflow's `MAX_PARAMS_TAGS_PER_BATCH`).
pub const MAX_PARAMS_TAGS_PER_BATCH: usize = 100;
/// The page size [`Client::search_all_runs`] asks for.
pub const SEARCH_PAGE_SIZE: usize = 1000;
/// The tag MLflow clients use to record who started a run.
pub const TAG_USER: &str = "mlflow.user";

/// One page of search results.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct RunPage {
    /// The runs, in the requested order.
    #[serde(default)]
    pub runs: Vec<Run>,
    /// Pass to the next call for more; `None` on the last page.
    #[serde(default)]
    pub next_page_token: Option<String>,
}

/// A handle on a tracking server or an embedded store. Cheap to clone; clones share
/// connections (HTTP) or the store (embedded).
#[derive(Debug, Clone)]
pub struct Client {
    uri: Arc<str>,
    backend: Backend,
}

#[derive(Debug, Clone)]
enum Backend {
    Http(HttpBackend),
    Embedded(Store),
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The database path of an embedded tracking URI: `sqlite:PATH`, SQLAlchemy's
/// `sqlite:///PATH` (relative) and `sqlite:////PATH` (absolute), or a plain path.
pub fn embedded_path(uri: &str) -> Result<PathBuf> {
    let path = match uri.strip_prefix("sqlite:") {
        Some(rest) => rest
            .strip_prefix("///")
            .or_else(|| rest.strip_prefix("//"))
            .unwrap_or(rest),
        None => uri,
    };
    if path.is_empty() || path.contains("://") {
        return Err(Error::invalid(format!(
            "tracking URI {uri:?}: expected http://host:port, sqlite:PATH or a file path"
        )));
    }
    Ok(PathBuf::from(path))
}

impl Client {
    /// Opens a tracking URI: `http://` or `https://` → a daemon; `sqlite:PATH` or a plain path
    /// → the store embedded in this process (created if missing, with `file://` artifact URIs).
    ///
    /// # Errors
    /// An unsupported URI scheme; for an embedded store, what [`Store::open`] reports.
    pub fn open(uri: &str) -> Result<Client> {
        let uri = uri.trim();
        let backend = if uri.starts_with("http://") || uri.starts_with("https://") {
            Backend::Http(HttpBackend::new(uri))
        } else {
            Backend::Embedded(Store::open(embedded_path(uri)?)?)
        };
        Ok(Client {
            uri: uri.into(),
            backend,
        })
    }

    /// A client of an already open store (e.g. the daemon's own).
    pub fn from_store(store: Store) -> Client {
        Client {
            uri: store.path().display().to_string().into(),
            backend: Backend::Embedded(store),
        }
    }

    /// The tracking URI this client was opened with.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The embedded store, when this client is not talking to a daemon.
    pub fn store(&self) -> Option<&Store> {
        match &self.backend {
            Backend::Embedded(store) => Some(store),
            Backend::Http(_) => None,
        }
    }

    /// The experiment named `name`, if it exists.
    pub fn get_experiment_by_name(&self, name: &str) -> Result<Option<Experiment>> {
        match &self.backend {
            Backend::Http(http) => http.experiment_by_name(name),
            Backend::Embedded(store) => store.get_experiment_by_name(name),
        }
    }

    /// The experiment with id `experiment_id`.
    pub fn get_experiment(&self, experiment_id: &str) -> Result<Experiment> {
        match &self.backend {
            Backend::Http(http) => http.experiment(experiment_id),
            Backend::Embedded(store) => store.get_experiment(experiment_id),
        }
    }

    /// The experiment named `name`, created if it does not exist (a concurrent creation by
    /// another client is tolerated, as MLflow's `set_experiment` does).
    pub fn get_or_create_experiment(&self, name: &str) -> Result<Experiment> {
        if let Some(experiment) = self.get_experiment_by_name(name)? {
            return Ok(experiment);
        }
        let created = match &self.backend {
            Backend::Http(http) => http.create_experiment(name),
            Backend::Embedded(store) => store.create_experiment(name, None, &[]),
        };
        match created {
            Ok(id) => self.get_experiment(&id),
            Err(error) if error.error_code() == ErrorCode::ResourceAlreadyExists => self
                .get_experiment_by_name(name)?
                .ok_or_else(|| Error::ExperimentNameNotFound {
                    name: name.to_string(),
                }),
            Err(error) => Err(error),
        }
    }

    /// Every active experiment, by id.
    pub fn list_experiments(&self) -> Result<Vec<Experiment>> {
        self.list_experiments_in(ViewType::ActiveOnly)
    }

    /// Every experiment in `view` (active, deleted or all), by id.
    pub fn list_experiments_in(&self, view: ViewType) -> Result<Vec<Experiment>> {
        let mut all = match &self.backend {
            Backend::Http(http) => http.experiments(view)?,
            Backend::Embedded(store) => {
                let mut all = Vec::new();
                let mut search = SearchExperiments {
                    view_type: view,
                    ..SearchExperiments::default()
                };
                loop {
                    let (page, next) = store.search_experiments(&search)?;
                    all.extend(page);
                    match next {
                        Some(token) => search.page_token = Some(token),
                        None => break all,
                    }
                }
            }
        };
        // The search answers newest first (MLflow's order); listings read best oldest first.
        all.sort_by_key(|e| e.experiment_id.parse::<i64>().unwrap_or(i64::MAX));
        Ok(all)
    }

    /// The experiments named `names`, in that order, whatever their lifecycle stage (check
    /// [`Experiment::lifecycle_stage`]); every experiment in `view` when `names` is empty.
    ///
    /// # Errors
    /// `RESOURCE_DOES_NOT_EXIST` naming the first name that matches no experiment.
    pub fn resolve_experiments(&self, names: &[String], view: ViewType) -> Result<Vec<Experiment>> {
        if names.is_empty() {
            return self.list_experiments_in(view);
        }
        names
            .iter()
            .map(|name| {
                self.get_experiment_by_name(name)?
                    .ok_or_else(|| Error::ExperimentNameNotFound { name: name.clone() })
            })
            .collect()
    }

    /// The run with id `run`, or else the one active run named `run` in any experiment.
    ///
    /// # Errors
    /// `RESOURCE_DOES_NOT_EXIST` when neither exists; `INVALID_PARAMETER_VALUE` when several
    /// runs have that name (listing their ids).
    pub fn find_run(&self, run: &str) -> Result<Run> {
        let not_found = match self.get_run(run) {
            Err(error) if error.error_code() == ErrorCode::ResourceDoesNotExist => error,
            other => return other,
        };
        if run.contains('\'') {
            return Err(not_found);
        }
        let experiment_ids = self
            .list_experiments()?
            .into_iter()
            .map(|e| e.experiment_id)
            .collect();
        let search = SearchRuns {
            experiment_ids,
            filter: format!("attributes.run_name = '{run}'"),
            ..SearchRuns::default()
        };
        let mut runs = self.search_all_runs(&search, Some(10))?;
        match runs.len() {
            0 => Err(not_found),
            1 => Ok(runs.remove(0)),
            _ => Err(Error::invalid(format!(
                "{} runs are named {run:?}: {}; give a run id",
                runs.len(),
                runs.iter()
                    .map(|r| r.info.run_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Starts a run (RUNNING, now) in `experiment_id`, named `run_name` (the server picks a
    /// name when `None`), with `tags` plus `mlflow.user` (from `$USER`) and `mlflow.runName`.
    pub fn create_run(
        &self,
        experiment_id: &str,
        run_name: Option<&str>,
        tags: &[RunTag],
    ) -> Result<Run> {
        let user = std::env::var("USER").unwrap_or_default();
        let run_name = run_name.filter(|n| !n.is_empty());
        let mut all_tags = tags.to_vec();
        for (key, value) in [
            (TAG_USER, user.as_str()),
            (TAG_RUN_NAME, run_name.unwrap_or_default()),
        ] {
            if !value.is_empty() && !all_tags.iter().any(|t| t.key == key) {
                all_tags.push(RunTag {
                    key: key.to_string(),
                    value: value.to_string(),
                });
            }
        }
        let start_time = now_ms();
        match &self.backend {
            Backend::Http(http) => http.create_run(
                experiment_id,
                run_name.unwrap_or_default(),
                &user,
                start_time,
                &all_tags,
            ),
            Backend::Embedded(store) => store.create_run(CreateRun {
                experiment_id: experiment_id.to_string(),
                run_name: run_name.map(str::to_string),
                user_id: user,
                start_time: Some(start_time),
                tags: all_tags,
            }),
        }
    }

    /// One run: info, latest metrics, params, tags.
    pub fn get_run(&self, run_id: &str) -> Result<Run> {
        match &self.backend {
            Backend::Http(http) => http.run(run_id),
            Backend::Embedded(store) => store.get_run(run_id),
        }
    }

    /// Sets a run's status and end time (e.g. `FINISHED` and now).
    pub fn update_run(&self, run_id: &str, status: RunStatus, end_time: Option<i64>) -> Result<()> {
        match &self.backend {
            Backend::Http(http) => http.update_run(run_id, status, end_time),
            Backend::Embedded(store) => store
                .update_run(run_id, Some(status), end_time, None)
                .map(drop),
        }
    }

    /// Logs metric points, params and tags in one request, all or nothing. The caller keeps
    /// within [`MAX_METRICS_PER_BATCH`] and [`MAX_PARAMS_TAGS_PER_BATCH`] (a daemon refuses more).
    pub fn log_batch(
        &self,
        run_id: &str,
        metrics: &[Metric],
        params: &[Param],
        tags: &[RunTag],
    ) -> Result<()> {
        match &self.backend {
            Backend::Http(http) => http.log_batch(run_id, metrics, params, tags),
            Backend::Embedded(store) => store.log_batch(run_id, metrics, params, tags),
        }
    }

    /// Logs metric points now, in as many requests as MLflow's limits need.
    pub fn log_metrics(&self, run_id: &str, metrics: &[Metric]) -> Result<()> {
        metrics
            .chunks(MAX_METRICS_PER_BATCH)
            .try_for_each(|chunk| self.log_batch(run_id, chunk, &[], &[]))
    }

    /// Logs params (immutable: a different value for a logged key is refused).
    pub fn log_params(&self, run_id: &str, params: &[Param]) -> Result<()> {
        params
            .chunks(MAX_PARAMS_TAGS_PER_BATCH)
            .try_for_each(|chunk| self.log_batch(run_id, &[], chunk, &[]))
    }

    /// Sets tags (a tag set again takes the new value).
    pub fn set_tags(&self, run_id: &str, tags: &[RunTag]) -> Result<()> {
        tags.chunks(MAX_PARAMS_TAGS_PER_BATCH)
            .try_for_each(|chunk| self.log_batch(run_id, &[], &[], chunk))
    }

    /// One page of runs matching `search` (`search.page_token` continues a previous page).
    ///
    /// # Errors
    /// `INVALID_PARAMETER_VALUE` for a bad filter or order-by (naming position and token).
    pub fn search_runs(&self, search: &SearchRuns) -> Result<RunPage> {
        match &self.backend {
            Backend::Http(http) => http.search_runs(search),
            Backend::Embedded(store) => {
                let (runs, next_page_token) = store.search_runs(search)?;
                Ok(RunPage {
                    runs,
                    next_page_token,
                })
            }
        }
    }

    /// The runs matching `search`, following pages, at most `limit` of them (all when `None`).
    /// `search.max_results` is ignored: pages are [`SEARCH_PAGE_SIZE`] runs.
    pub fn search_all_runs(&self, search: &SearchRuns, limit: Option<usize>) -> Result<Vec<Run>> {
        let limit = limit.unwrap_or(usize::MAX);
        let mut runs = Vec::new();
        let mut page_search = SearchRuns {
            page_token: None,
            ..search.clone()
        };
        while runs.len() < limit {
            let left = (limit - runs.len()).min(SEARCH_PAGE_SIZE);
            page_search.max_results = i64::try_from(left).unwrap_or(i64::MAX);
            let page = self.search_runs(&page_search)?;
            runs.extend(page.runs);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(next) => page_search.page_token = Some(next),
                None => break,
            }
        }
        runs.truncate(limit);
        Ok(runs)
    }

    /// Every point of metric `key` of a run, by step, then timestamp. An unknown key gives an
    /// empty list.
    pub fn metric_history(&self, run_id: &str, key: &str) -> Result<Vec<Metric>> {
        match &self.backend {
            Backend::Http(http) => http.metric_history(run_id, key),
            Backend::Embedded(store) => store.metric_history(run_id, key),
        }
    }

    /// Every point of every metric of a run, sorted by key, then step, timestamp, value.
    pub fn run_metrics(&self, run_id: &str) -> Result<Vec<Metric>> {
        let http = match &self.backend {
            Backend::Http(http) => http,
            Backend::Embedded(store) => return store.run_metrics(run_id),
        };
        let run = http.run(run_id)?;
        let mut all = Vec::new();
        for latest in &run.data.metrics {
            all.extend(http.metric_history(run_id, &latest.key)?);
        }
        all.sort_by(|a, b| {
            (a.key.as_str(), a.step, a.timestamp)
                .cmp(&(b.key.as_str(), b.step, b.timestamp))
                .then(a.value.total_cmp(&b.value))
        });
        Ok(all)
    }

    /// A [`RunLogger`] for run `run_id`: metrics buffered and sent from a background thread.
    ///
    /// # Errors
    /// An invalid `config` ([`LoggerConfig::validate`]), or the thread cannot be started.
    pub fn logger(&self, run_id: &str, config: LoggerConfig) -> Result<RunLogger> {
        RunLogger::start(self.clone(), run_id, config)
    }
}
