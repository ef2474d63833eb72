//! What the exported files hold, equal to the store; one schema per table; the property test
//! that write → read is the identity.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use arrow::datatypes::{DataType, TimeUnit};
use proptest::prelude::*;
use tracker::entities::{Experiment, Metric, Param, Run, RunData, RunInfo, RunStatus};
use tracker::export::{self, ExperimentData};

use crate::support::*;

#[test]
fn exported_files_hold_exactly_what_the_store_holds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, experiment_id) = populated_store(dir.path());
    let out = dir.path().join("export");
    let summary = export::export_experiment(&store, &experiment_id, &out).expect("export");
    let expected_files: Vec<PathBuf> = export::TABLES
        .iter()
        .map(|table| {
            out.join(table)
                .join(format!("experiment_id={experiment_id}"))
                .join("part-0.parquet")
        })
        .collect();
    assert_eq!(summary.files, expected_files);
    // Two runs; per run 12 points, of which two share (step 0, val_loss): 11 epoch rows.
    assert_eq!(
        (
            summary.runs,
            summary.params,
            summary.metrics,
            summary.epochs
        ),
        (2, 3, 24, 22)
    );

    let runs_in_store = store
        .experiment_runs(&experiment_id, Default::default())
        .expect("runs");
    let runs = read(&file(&out, export::RUNS, &experiment_id));
    assert_eq!(runs.num_rows(), runs_in_store.len());
    assert_eq!(
        column_names(&runs),
        [
            "experiment_name",
            "run_id",
            "run_name",
            "status",
            "user_id",
            "lifecycle_stage",
            "start_time",
            "end_time",
            "artifact_uri"
        ]
    );
    let schema = runs.schema();
    let utc = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    for column in ["start_time", "end_time"] {
        assert_eq!(
            schema.field_with_name(column).expect("time").data_type(),
            &utc
        );
    }
    assert_eq!(
        strings(&runs, "experiment_name"),
        vec![Some("exp/one=α".to_string()); 2]
    );
    let ids = strings(&runs, "run_id");
    let (starts, ends) = (
        utc_millis(&runs, "start_time"),
        utc_millis(&runs, "end_time"),
    );
    for (row, run) in runs_in_store.iter().enumerate() {
        assert_eq!(ids[row].as_deref(), Some(run.info.run_id.as_str()));
        assert_eq!(
            strings(&runs, "run_name")[row].as_deref(),
            Some(run.info.run_name.as_str())
        );
        assert_eq!(
            strings(&runs, "status")[row].as_deref(),
            Some(run.info.status.as_str())
        );
        assert_eq!(
            (starts[row], ends[row]),
            (run.info.start_time, run.info.end_time)
        );
    }

    let metrics = read(&file(&out, export::METRICS, &experiment_id));
    let mut in_store: Vec<(String, Metric)> = Vec::new();
    for run in &runs_in_store {
        for m in store.run_metrics(&run.info.run_id).expect("metrics") {
            in_store.push((run.info.run_id.clone(), m));
        }
    }
    assert_eq!(metrics.num_rows(), in_store.len());
    let (run_ids, keys, steps, values) = (
        strings(&metrics, "run_id"),
        strings(&metrics, "key"),
        ints(&metrics, "step"),
        floats(&metrics, "value"),
    );
    let stamps = utc_millis(&metrics, "timestamp");
    let mut exported: Vec<(String, Metric)> = (0..metrics.num_rows())
        .map(|i| {
            let metric = Metric {
                key: keys[i].clone().expect("key"),
                value: values[i].expect("value"),
                timestamp: stamps[i].expect("timestamp"),
                step: steps[i],
            };
            (run_ids[i].clone().expect("run id"), metric)
        })
        .collect();
    let order = |a: &(String, Metric), b: &(String, Metric)| {
        (&a.0, &a.1.key, a.1.step, a.1.timestamp).cmp(&(&b.0, &b.1.key, b.1.step, b.1.timestamp))
    };
    exported.sort_by(order);
    in_store.sort_by(order);
    assert_eq!(exported, in_store);

    let params = read(&file(&out, export::PARAMS, &experiment_id));
    assert_eq!(
        column_names(&params),
        ["experiment_name", "run_id", "key", "value"]
    );
    assert_eq!(params.num_rows(), 3);
    assert_eq!(
        strings(&params, "key")
            .iter()
            .filter(|k| k.as_deref() == Some("lr"))
            .count(),
        2
    );

    // Tidy: one row per run, step and key; at step 0 the later point (-inf at ts +500) wins.
    let epochs = read(&file(&out, export::EPOCHS, &experiment_id));
    assert_eq!(
        column_names(&epochs),
        [
            "experiment_name",
            "run_id",
            "step",
            "key",
            "value",
            "timestamp"
        ]
    );
    assert_eq!(epochs.num_rows(), 22);
    let (epoch_keys, epoch_steps, epoch_values) = (
        strings(&epochs, "key"),
        ints(&epochs, "step"),
        floats(&epochs, "value"),
    );
    let epoch_stamps = utc_millis(&epochs, "timestamp");
    let mut val_loss_rows = 0;
    for row in 0..epochs.num_rows() {
        let value = epoch_values[row].expect("value");
        match epoch_keys[row].as_deref() {
            Some("val_loss") => {
                val_loss_rows += 1;
                let (expected, stamp) = if epoch_steps[row] == 0 {
                    (f64::NEG_INFINITY, 1_700_000_001_500)
                } else {
                    (
                        1.0 / (epoch_steps[row] + 1) as f64,
                        1_700_000_001_000 + epoch_steps[row] * 1000,
                    )
                };
                assert_eq!(
                    (value, epoch_stamps[row].expect("timestamp")),
                    (expected, stamp)
                );
            }
            Some("train_loss") => assert_eq!(value.is_nan(), epoch_steps[row] == 2),
            Some("lr_now") => assert_eq!((epoch_steps[row], value), (4, 0.1)),
            other => panic!("unexpected key {other:?}"),
        }
    }
    assert_eq!(val_loss_rows, 10);

    let analysis = read(&file(&out, export::ANALYSIS, &experiment_id));
    assert_eq!(analysis.num_rows(), 2);
    assert_eq!(
        column_names(&analysis)[..3],
        ["experiment_name", "run_id", "verdict"]
    );
}

#[test]
fn every_partition_of_a_table_has_one_schema_and_an_empty_experiment_writes_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, experiment_id) = populated_store(dir.path());
    // Another experiment with other params and metric keys.
    let other = store.get_or_create_experiment("other").expect("other");
    let point = Metric {
        key: "accuracy".into(),
        value: 0.9,
        timestamp: 5,
        step: 1,
    };
    let param = Param {
        key: "optimizer".into(),
        value: "sgd".into(),
    };
    logged_run(&store, &other, &[point], &[param]);
    let out = dir.path().join("export");
    let mut expected = vec!["0", experiment_id.as_str(), other.as_str()];
    expected.sort_unstable();
    assert_eq!(
        export_all_ids(&store, &out),
        expected,
        "Default (empty) and both experiments"
    );
    for table in export::TABLES {
        let schemas: Vec<_> = expected
            .iter()
            .map(|id| read(&file(&out, table, id)).schema())
            .collect();
        assert!(
            schemas.iter().all(|s| s == &schemas[0]),
            "{table}: {schemas:#?}"
        );
        // The empty Default experiment: the full schema, no rows.
        assert_eq!(read(&file(&out, table, "0")).num_rows(), 0, "{table}");
        // Only the part file: no temporary file is left behind.
        let names: Vec<String> = std::fs::read_dir(export::partition_dir(&out, table, "0"))
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, [export::PART_FILE], "{table}");
    }
}

fn run_with(id: usize, params: Vec<Param>, status: RunStatus) -> Run {
    let data = RunData {
        params,
        ..RunData::default()
    };
    Run {
        info: RunInfo {
            run_id: format!("{id:032x}"),
            run_uuid: format!("{id:032x}"),
            run_name: format!("run-{id}"),
            experiment_id: "1".into(),
            user_id: String::new(),
            status,
            start_time: Some(1_000 + id as i64),
            end_time: None,
            artifact_uri: String::new(),
            lifecycle_stage: "active".into(),
        },
        data,
    }
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn metrics_written_are_metrics_read(
        points in prop::collection::vec((0usize..3, "[a-z]{1,3}", 0i64..20, 0i64..1_000_000_000_000, value()), 0..60),
        lrs in prop::collection::vec(prop::option::of("[0-9.]{1,6}"), 3),
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let runs: Vec<Run> = lrs.iter().enumerate().map(|(i, lr)| {
            let params = lr.iter().map(|v| Param { key: "lr".into(), value: v.clone() }).collect();
            run_with(i, params, RunStatus::Finished)
        }).collect();
        let mut history: HashMap<String, Vec<Metric>> = HashMap::new();
        for (run, key, step, timestamp, value) in &points {
            history.entry(runs[*run].info.run_id.clone()).or_default().push(Metric { key: key.clone(), value: *value, timestamp: *timestamp, step: *step });
        }
        let experiment = Experiment {
            experiment_id: "1".into(), name: "p".into(), artifact_location: String::new(),
            lifecycle_stage: "active".into(), creation_time: None, last_update_time: None, tags: vec![],
        };
        let data = ExperimentData { experiment, runs: runs.clone(), history: history.clone() };
        export::write_experiment(&data, dir.path()).expect("write");

        let metrics = read(&file(dir.path(), export::METRICS, "1"));
        prop_assert_eq!(metrics.num_rows(), points.len());
        let (keys, steps, values) = (strings(&metrics, "key"), ints(&metrics, "step"), floats(&metrics, "value"));
        let stamps = utc_millis(&metrics, "timestamp");
        let expected: Vec<&Metric> = runs.iter().flat_map(|r| history.get(&r.info.run_id).into_iter().flatten()).collect();
        for (i, m) in expected.iter().enumerate() {
            prop_assert_eq!(keys[i].as_deref(), Some(m.key.as_str()));
            prop_assert_eq!((steps[i], stamps[i].expect("timestamp")), (m.step, m.timestamp));
            prop_assert!(same(values[i].expect("value"), m.value));
        }
        prop_assert_eq!(read(&file(dir.path(), export::RUNS, "1")).num_rows(), 3);
        let params = read(&file(dir.path(), export::PARAMS, "1"));
        let expected_lrs: Vec<Option<String>> = lrs.iter().flatten().cloned().map(Some).collect();
        prop_assert_eq!(strings(&params, "value"), expected_lrs);
        // epochs: one row per distinct (run, step, key), holding the latest point's value.
        let mut latest: BTreeMap<(String, i64, String), (i64, f64)> = BTreeMap::new();
        for (run, key, step, timestamp, value) in &points {
            let cell = latest
                .entry((runs[*run].info.run_id.clone(), *step, key.clone()))
                .or_insert((*timestamp, *value));
            if (*timestamp, value.total_cmp(&cell.1)) > (cell.0, std::cmp::Ordering::Equal) {
                *cell = (*timestamp, *value);
            }
        }
        let epochs = read(&file(dir.path(), export::EPOCHS, "1"));
        prop_assert_eq!(epochs.num_rows(), latest.len());
        let (run_ids, steps, keys, values) = (
            strings(&epochs, "run_id"),
            ints(&epochs, "step"),
            strings(&epochs, "key"),
            floats(&epochs, "value"),
        );
        for row in 0..epochs.num_rows() {
            let cell = (run_ids[row].clone().expect("run"), steps[row], keys[row].clone().expect("key"));
            let expected = latest.get(&cell).expect("a stored (run, step, key)");
            prop_assert!(same(values[row].expect("value"), expected.1), "{:?}", cell);
        }
    }
}
