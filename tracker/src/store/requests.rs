//! What the store's calls take: the store's options ([`StoreOptions`], [`ArtifactUris`]), the
//! requests to create and search ([`CreateRun`], [`SearchRuns`], [`SearchExperiments`]) and a
//! bulk-read row ([`RunMetric`]).

use std::path::PathBuf;

use super::validate;
use crate::entities::{Metric, RunTag, ViewType};

/// How run `artifact_uri`s are written. An experiment created with its own
/// `artifact_location` gives its runs `<location>/<run>/artifacts` whatever this says, as MLflow
/// does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ArtifactUris {
    /// `file:///<artifact root>/<exp>/<run>/artifacts`: clients write the directory directly.
    #[default]
    File,
    /// `mlflow-artifacts:/<exp>/<run>/artifacts`: clients upload through the daemon.
    Served,
    /// `<uri>/<exp>/<run>/artifacts` under a root URI the daemon does not serve (`s3://bucket/x`,
    /// as `mlflow server --no-serve-artifacts --default-artifact-root`): clients write there
    /// themselves.
    Root(String),
}

/// Options of [`Store::open_with`](super::Store::open_with).
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// Root of the run artifact directories; `None`: `<db stem>-artifacts` beside the database.
    pub artifact_root: Option<PathBuf>,
    /// How new runs' `artifact_uri`s are written.
    pub artifact_uris: ArtifactUris,
}

/// What [`Store::create_run`](super::Store::create_run) needs.
#[derive(Debug, Clone, Default)]
pub struct CreateRun {
    /// The experiment (`"0"`: `Default`).
    pub experiment_id: String,
    /// Display name; `None` or empty: the `mlflow.runName` tag if given, else a generated name.
    pub run_name: Option<String>,
    /// Who runs it.
    pub user_id: String,
    /// Start time, ms since the Unix epoch; `None`: now.
    pub start_time: Option<i64>,
    /// Initial tags (`mlflow.user`, `mlflow.source.name`, ...).
    pub tags: Vec<RunTag>,
}

/// What [`Store::search_runs`](super::Store::search_runs) needs.
#[derive(Debug, Clone)]
pub struct SearchRuns {
    /// Experiments to search (ids as strings).
    pub experiment_ids: Vec<String>,
    /// An MLflow filter (see [`crate::query`]); empty: every run.
    pub filter: String,
    /// Order-by clauses, e.g. `metrics.val_loss ASC`; the tiebreak is `start_time DESC, run_id`.
    pub order_by: Vec<String>,
    /// Page size, 1..=50000.
    pub max_results: i64,
    /// A `next_page_token` from the previous page.
    pub page_token: Option<String>,
    /// Active, deleted or all runs.
    pub view_type: ViewType,
}

impl Default for SearchRuns {
    fn default() -> Self {
        SearchRuns {
            experiment_ids: Vec::new(),
            filter: String::new(),
            order_by: Vec::new(),
            max_results: validate::SEARCH_MAX_RESULTS_DEFAULT,
            page_token: None,
            view_type: ViewType::ActiveOnly,
        }
    }
}

/// What [`Store::search_experiments`](super::Store::search_experiments) needs.
#[derive(Debug, Clone)]
pub struct SearchExperiments {
    /// A filter over `name`, `creation_time`, `last_update_time`, `tags.<key>`; empty: all.
    pub filter: String,
    /// Order-by clauses over the same attributes; default `creation_time DESC, experiment_id ASC`
    /// (newest first, as MLflow); after explicit clauses ties go by `experiment_id DESC`.
    pub order_by: Vec<String>,
    /// Page size, 1..=50000.
    pub max_results: i64,
    /// A `next_page_token` from the previous page.
    pub page_token: Option<String>,
    /// Active, deleted or all experiments.
    pub view_type: ViewType,
}

impl Default for SearchExperiments {
    fn default() -> Self {
        SearchExperiments {
            filter: String::new(),
            order_by: Vec::new(),
            max_results: validate::SEARCH_MAX_RESULTS_DEFAULT,
            page_token: None,
            view_type: ViewType::ActiveOnly,
        }
    }
}

/// One metric point together with its run, for bulk reads of a whole experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct RunMetric {
    /// The run.
    pub run_id: String,
    /// The point.
    pub metric: Metric,
}
