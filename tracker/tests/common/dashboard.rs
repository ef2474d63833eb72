//! The dashboard fixture: a real daemon on 127.0.0.1:0 over a real store the test also writes
//! to, and runs logged with an overfitting or a well-fitting curve.

use serde_json::Value;
use tracker::api::Daemon;
use tracker::entities::{Metric, Param, RunStatus};
use tracker::store::{ArtifactUris, CreateRun, Store};

use super::{loopback, read, store_at};

/// Training and validation loss of a run that overfits from epoch 4.
pub const OVERFIT_TRAIN: [f64; 10] = [1.0, 0.7, 0.5, 0.4, 0.3, 0.22, 0.16, 0.12, 0.09, 0.07];
pub const OVERFIT_VAL: [f64; 10] = [1.0, 0.8, 0.65, 0.6, 0.62, 0.66, 0.72, 0.8, 0.88, 0.95];
/// ... and of one whose validation loss follows its training loss down.
pub const GOOD_TRAIN: [f64; 10] = [1.0, 0.8, 0.66, 0.56, 0.49, 0.44, 0.40, 0.37, 0.35, 0.34];
pub const GOOD_VAL: [f64; 10] = [1.02, 0.82, 0.68, 0.58, 0.51, 0.46, 0.42, 0.39, 0.37, 0.36];

/// A daemon over a store the test also writes to directly.
pub struct Dash {
    /// The daemon.
    pub daemon: Daemon,
    /// Its store, written to directly by the tests.
    pub store: Store,
    /// An agent that reads error statuses as answers.
    pub agent: ureq::Agent,
    _dir: tempfile::TempDir,
}

/// A daemon on 127.0.0.1:0 over a fresh served store.
pub fn dash() -> Dash {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store_at(&dir.path().join("runs.db"), ArtifactUris::Served);
    let daemon = Daemon::start(store.clone(), loopback()).expect("daemon starts");
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    Dash {
        daemon,
        store,
        agent,
        _dir: dir,
    }
}

impl Dash {
    /// The daemon's URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.daemon.url())
    }

    /// GET `path` with `query`: status and JSON.
    pub fn get(&self, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
        let mut request = self.agent.get(self.url(path));
        for (key, value) in query {
            request = request.query(*key, *value);
        }
        read(request.call().expect("request sent"))
    }

    /// A new RUNNING run, with nothing logged, in experiment `experiment` (created if need
    /// be): the experiment's id and the run's.
    pub fn running_run(&self, experiment: &str) -> (String, String) {
        let experiment_id = self
            .store
            .get_or_create_experiment(experiment)
            .expect("exp");
        let run = self
            .store
            .create_run(CreateRun {
                experiment_id: experiment_id.clone(),
                ..CreateRun::default()
            })
            .expect("run");
        (experiment_id, run.info.run_id)
    }

    /// A finished run `name` in `experiment_id` with `params` and per-epoch losses.
    pub fn run(
        &self,
        experiment_id: &str,
        name: &str,
        params: &[(&str, &str)],
        losses: &[(&str, &[f64])],
    ) -> String {
        let run = self
            .store
            .create_run(CreateRun {
                experiment_id: experiment_id.into(),
                run_name: Some(name.into()),
                ..CreateRun::default()
            })
            .expect("run created");
        let id = run.info.run_id;
        let params: Vec<Param> = params
            .iter()
            .map(|(k, v)| Param {
                key: (*k).into(),
                value: (*v).into(),
            })
            .collect();
        let metrics: Vec<Metric> = losses
            .iter()
            .flat_map(|(key, values)| {
                values.iter().enumerate().map(|(step, value)| Metric {
                    key: (*key).into(),
                    value: *value,
                    timestamp: 1_000 + step as i64,
                    step: step as i64,
                })
            })
            .collect();
        self.store
            .log_batch(&id, &metrics, &params, &[])
            .expect("logged");
        self.store
            .update_run(&id, Some(RunStatus::Finished), Some(2_000), None)
            .expect("finished");
        id
    }

    /// The runs page answering `query` (asserting a 200).
    pub fn rows(&self, query: &[(&str, &str)]) -> Value {
        let (status, page) = self.get("/api/2.0/gapwatch/experiments/runs", query);
        assert_eq!(status, 200, "{page}");
        page
    }
}

/// The row of run `run_id` in a runs page.
pub fn row<'a>(page: &'a Value, run_id: &str) -> &'a Value {
    page["runs"]
        .as_array()
        .and_then(|runs| runs.iter().find(|r| r["run_id"] == run_id))
        .unwrap_or_else(|| panic!("run {run_id} not in {page:#}"))
}
