//! The store against a real SQLite file: it behaves like a simple in-memory model of MLflow's
//! semantics (proptest), and keeps its data across reopen.

mod common;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use common::open_store;
use proptest::prelude::*;
use tracker::entities::{Metric, Param, RunStatus, RunTag, ViewType};
use tracker::store::{CreateRun, SearchRuns, Store, StoreOptions};

fn run_in(store: &Store, experiment: &str) -> String {
    let experiment_id = store
        .get_or_create_experiment(experiment)
        .expect("experiment");
    let run = store
        .create_run(CreateRun {
            experiment_id,
            ..CreateRun::default()
        })
        .expect("run created");
    run.info.run_id
}

fn metric(key: &str, value: f64, timestamp: i64, step: i64) -> Metric {
    Metric {
        key: key.into(),
        value,
        timestamp,
        step,
    }
}

#[test]
fn default_experiment_and_schema_version_exist() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open_store(&dir);
    let default = store.get_experiment("0").expect("Default exists");
    assert_eq!(default.name, "Default");
    assert_eq!(
        store
            .get_experiment_by_name("Default")
            .expect("reads")
            .map(|e| e.experiment_id),
        Some("0".into())
    );
    drop(store);
    let conn = rusqlite::Connection::open(dir.path().join("runs.db")).expect("opens");
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("pragma");
    assert_eq!(version, tracker::store::SCHEMA_VERSION);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("pragma");
    assert_eq!(mode, "wal");
}

#[test]
fn experiments_are_unique_by_name() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open_store(&dir);
    let id = store
        .create_experiment("mnist", None, &[])
        .expect("created");
    assert_eq!(
        store
            .create_experiment("mnist", None, &[])
            .map_err(|e| e.error_code().as_str()),
        Err("RESOURCE_ALREADY_EXISTS")
    );
    assert_eq!(store.get_or_create_experiment("mnist").expect("found"), id);
    assert!(
        store
            .get_experiment(&id)
            .expect("reads")
            .artifact_location
            .starts_with("file://")
    );
    assert_eq!(
        store
            .get_experiment("77")
            .map_err(|e| e.error_code().as_str()),
        Err("RESOURCE_DOES_NOT_EXIST")
    );
    assert_eq!(
        store
            .get_experiment("abc")
            .map_err(|e| e.error_code().as_str()),
        Err("RESOURCE_DOES_NOT_EXIST")
    );
}

#[test]
fn data_survives_reopening_and_artifact_uris_point_at_the_run_directory() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open_store(&dir);
    let run_id = run_in(&store, "persist");
    store
        .log_batch(
            &run_id,
            &[metric("loss", 0.5, 1, 0), metric("loss", f64::NAN, 2, 1)],
            &[Param {
                key: "lr".into(),
                value: "0.1".into(),
            }],
            &[],
        )
        .expect("logged");
    store
        .update_run(&run_id, Some(RunStatus::Finished), Some(99), None)
        .expect("updated");
    let artifact_dir = store.run_artifact_dir(&run_id).expect("dir");
    drop(store);
    let store = open_store(&dir);
    let run = store.get_run(&run_id).expect("still there");
    assert_eq!(run.info.status, RunStatus::Finished);
    assert_eq!(run.info.end_time, Some(99));
    assert!(
        run.data.metric("loss").is_some_and(f64::is_nan),
        "latest is the NaN at step 1"
    );
    assert_eq!(run.data.param("lr"), Some("0.1"));
    assert_eq!(
        run.info.artifact_uri,
        format!("file://{}", artifact_dir.display())
    );
    assert!(artifact_dir.starts_with(dir.path()));
}

#[test]
fn concurrent_writers_all_land() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open_store(&dir);
    let run_id = run_in(&store, "threads");
    std::thread::scope(|scope| {
        for thread in 0..4 {
            let (store, run_id) = (store.clone(), run_id.clone());
            scope.spawn(move || {
                for step in 0..50 {
                    store
                        .log_metric(&run_id, &metric(&format!("t{thread}"), 1.0, 0, step))
                        .expect("logged");
                }
            });
        }
    });
    assert_eq!(store.run_metrics(&run_id).expect("reads").len(), 200);
}

#[test]
fn bulk_reads_cover_a_whole_experiment() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open_store(&dir);
    let a = run_in(&store, "bulk");
    let b = run_in(&store, "bulk");
    store
        .log_batch(
            &a,
            &[metric("x", 1.0, 1, 0), metric("x", 2.0, 1, 1)],
            &[],
            &[],
        )
        .expect("logged");
    store
        .log_batch(&b, &[metric("y", 3.0, 1, 0)], &[], &[])
        .expect("logged");
    store.delete_run(&b).expect("deleted");
    let experiment = store
        .get_experiment_by_name("bulk")
        .expect("reads")
        .expect("exists")
        .experiment_id;
    assert_eq!(
        store
            .experiment_runs(&experiment, ViewType::ActiveOnly)
            .expect("runs")
            .len(),
        1
    );
    assert_eq!(
        store
            .experiment_runs(&experiment, ViewType::All)
            .expect("runs")
            .len(),
        2
    );
    let points = store
        .experiment_metrics(&experiment, ViewType::All)
        .expect("metrics");
    assert_eq!(points.len(), 3);
    assert!(points.windows(2).all(|w| w[0].run_id <= w[1].run_id));
    let (page, next) = store
        .search_runs(&SearchRuns {
            experiment_ids: vec![experiment],
            view_type: ViewType::DeletedOnly,
            ..SearchRuns::default()
        })
        .expect("search");
    assert_eq!((page.len(), next), (1, None));
}

// ----- the model -----

#[derive(Debug, Clone)]
enum Op {
    Metric {
        run: usize,
        key: usize,
        value: f64,
        timestamp: i64,
        step: i64,
    },
    Param {
        run: usize,
        key: usize,
        value: usize,
    },
    Tag {
        run: usize,
        key: usize,
        value: usize,
    },
    DeleteTag {
        run: usize,
        key: usize,
    },
    Status {
        run: usize,
        status: RunStatus,
    },
    Delete {
        run: usize,
    },
    Restore {
        run: usize,
    },
}

const KEYS: [&str; 2] = ["loss", "acc"];
const VALUES: [&str; 2] = ["a", "b"];
const RUNS: usize = 2;

fn op() -> impl Strategy<Value = Op> {
    let value = prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        (-3i32..3).prop_map(f64::from),
    ];
    prop_oneof![
        4 => (0..RUNS, 0..2usize, value, 0..3i64, 0..3i64)
            .prop_map(|(run, key, value, timestamp, step)| Op::Metric { run, key, value, timestamp, step }),
        2 => (0..RUNS, 0..2usize, 0..2usize).prop_map(|(run, key, value)| Op::Param { run, key, value }),
        2 => (0..RUNS, 0..2usize, 0..2usize).prop_map(|(run, key, value)| Op::Tag { run, key, value }),
        1 => (0..RUNS, 0..2usize).prop_map(|(run, key)| Op::DeleteTag { run, key }),
        1 => (0..RUNS, prop::sample::select(RunStatus::ALL.to_vec())).prop_map(|(run, status)| Op::Status { run, status }),
        1 => (0..RUNS).prop_map(|run| Op::Delete { run }),
        1 => (0..RUNS).prop_map(|run| Op::Restore { run }),
    ]
}

#[derive(Debug, Clone, Default)]
struct ModelRun {
    deleted: bool,
    status: Option<RunStatus>,
    params: BTreeMap<String, String>,
    tags: BTreeMap<String, String>,
    /// Distinct points (NaN equal to NaN), per key.
    metrics: BTreeMap<String, Vec<Metric>>,
}

/// MLflow's latest-point order: step, timestamp, then value with NaN above every number.
fn latest_order(a: &Metric, b: &Metric) -> Ordering {
    (a.step, a.timestamp)
        .cmp(&(b.step, b.timestamp))
        .then_with(|| match (a.value.is_nan(), b.value.is_nan()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => a.value.total_cmp(&b.value),
        })
}

impl ModelRun {
    /// What the store must answer: `Ok` or the MLflow error code.
    fn apply(&mut self, op: &Op) -> Result<(), &'static str> {
        let writable = |run: &ModelRun| {
            if run.deleted {
                Err("INVALID_PARAMETER_VALUE")
            } else {
                Ok(())
            }
        };
        match op {
            Op::Metric {
                key,
                value,
                timestamp,
                step,
                ..
            } => {
                writable(self)?;
                let point = metric(KEYS[*key], *value, *timestamp, *step);
                let points = self.metrics.entry(KEYS[*key].into()).or_default();
                if !points.contains(&point) {
                    points.push(point);
                }
            }
            Op::Param { key, value, .. } => {
                writable(self)?;
                match self.params.get(KEYS[*key]) {
                    Some(old) if old != VALUES[*value] => return Err("INVALID_PARAMETER_VALUE"),
                    _ => {
                        self.params.insert(KEYS[*key].into(), VALUES[*value].into());
                    }
                }
            }
            Op::Tag { key, value, .. } => {
                writable(self)?;
                self.tags.insert(KEYS[*key].into(), VALUES[*value].into());
            }
            Op::DeleteTag { key, .. } => {
                writable(self)?;
                if self.tags.remove(KEYS[*key]).is_none() {
                    return Err("RESOURCE_DOES_NOT_EXIST");
                }
            }
            Op::Status { status, .. } => {
                writable(self)?;
                self.status = Some(*status);
            }
            Op::Delete { .. } => self.deleted = true,
            Op::Restore { .. } => self.deleted = false,
        }
        Ok(())
    }
}

fn run_of(op: &Op) -> usize {
    match op {
        Op::Metric { run, .. }
        | Op::Param { run, .. }
        | Op::Tag { run, .. }
        | Op::DeleteTag { run, .. }
        | Op::Status { run, .. }
        | Op::Delete { run }
        | Op::Restore { run } => *run,
    }
}

fn apply(store: &Store, run_id: &str, op: &Op) -> Result<(), &'static str> {
    let result = match op {
        Op::Metric {
            key,
            value,
            timestamp,
            step,
            ..
        } => store.log_metric(run_id, &metric(KEYS[*key], *value, *timestamp, *step)),
        Op::Param { key, value, .. } => store.log_param(
            run_id,
            &Param {
                key: KEYS[*key].into(),
                value: VALUES[*value].into(),
            },
        ),
        Op::Tag { key, value, .. } => store.set_tag(
            run_id,
            &RunTag {
                key: KEYS[*key].into(),
                value: VALUES[*value].into(),
            },
        ),
        Op::DeleteTag { key, .. } => store.delete_tag(run_id, KEYS[*key]),
        Op::Status { status, .. } => store
            .update_run(run_id, Some(*status), None, None)
            .map(drop),
        Op::Delete { .. } => store.delete_run(run_id),
        Op::Restore { .. } => store.restore_run(run_id),
    };
    result.map_err(|e| e.error_code().as_str())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn store_behaves_like_the_model(ops in prop::collection::vec(op(), 1..30)) {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open_with(dir.path().join("runs.db"), StoreOptions::default()).expect("opens");
        let ids: Vec<String> = (0..RUNS).map(|_| run_in(&store, "model")).collect();
        let mut model: Vec<ModelRun> = vec![ModelRun::default(); RUNS];
        for op in &ops {
            let run = run_of(op);
            let expected = model[run].apply(op);
            prop_assert_eq!(apply(&store, &ids[run], op), expected, "{:?}", op);
        }
        for (run_id, expected) in ids.iter().zip(&model) {
            let run = store.get_run(run_id).expect("run");
            prop_assert_eq!(run.info.lifecycle_stage == "deleted", expected.deleted);
            prop_assert_eq!(run.info.status, expected.status.unwrap_or(RunStatus::Running));
            let params: BTreeMap<_, _> = run.data.params.iter().map(|p| (p.key.clone(), p.value.clone())).collect();
            prop_assert_eq!(&params, &expected.params);
            let tags: BTreeMap<_, _> = run.data.tags.iter().filter(|t| t.key != "mlflow.runName").map(|t| (t.key.clone(), t.value.clone())).collect();
            prop_assert_eq!(&tags, &expected.tags);
            let keys: BTreeSet<_> = run.data.metrics.iter().map(|m| m.key.clone()).collect();
            prop_assert_eq!(keys, expected.metrics.keys().cloned().collect::<BTreeSet<_>>());
            for (key, points) in &expected.metrics {
                let latest = points.iter().max_by(|a, b| latest_order(a, b)).cloned();
                prop_assert_eq!(run.data.metrics.iter().find(|m| &m.key == key).cloned(), latest);
                let mut sorted = points.clone();
                sorted.sort_by(latest_order);
                prop_assert_eq!(store.metric_history(run_id, key).expect("history"), sorted);
            }
        }
    }
}
