//! Parquet export read back with arrow-rs: row counts, types and values equal the store's;
//! files are replaced atomically; write → read is the identity (property test).

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit, TimestampMillisecondType};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use proptest::prelude::*;
use tracker::entities::{Experiment, Metric, Param, Run, RunData, RunInfo, RunStatus};
use tracker::export::{self, ExperimentData};
use tracker::store::{CreateRun, Store};

fn read(path: &Path) -> RecordBatch {
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet");
    let schema = builder.schema().clone();
    let batches: Vec<RecordBatch> = builder
        .build()
        .expect("reader")
        .collect::<Result<_, _>>()
        .expect("batches");
    arrow::compute::concat_batches(&schema, &batches).expect("concat")
}

fn strings(batch: &RecordBatch, column: &str) -> Vec<Option<String>> {
    let array = batch
        .column_by_name(column)
        .unwrap_or_else(|| panic!("no column {column}"));
    array
        .as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect()
}

fn floats(batch: &RecordBatch, column: &str) -> Vec<Option<f64>> {
    let array = batch
        .column_by_name(column)
        .unwrap_or_else(|| panic!("no column {column}"));
    array.as_primitive::<Float64Type>().iter().collect()
}

fn ints(batch: &RecordBatch, column: &str) -> Vec<i64> {
    batch
        .column_by_name(column)
        .expect("column")
        .as_primitive::<Int64Type>()
        .values()
        .to_vec()
}

fn same(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// Two runs with different params, NaN and ±inf values, a step with two points of one key.
fn populated_store(dir: &Path) -> (Store, String) {
    let store = Store::open(dir.join("runs.db")).expect("store");
    let experiment_id = store
        .get_or_create_experiment("exp/one=α")
        .expect("experiment");
    for (name, lr, extra) in [
        ("base", "0.1", None),
        ("reg", "0.01", Some(("dropout", "0.5"))),
    ] {
        let run = store
            .create_run(CreateRun {
                experiment_id: experiment_id.clone(),
                run_name: Some(name.into()),
                start_time: Some(1_700_000_000_000),
                ..CreateRun::default()
            })
            .expect("run");
        let id = &run.info.run_id;
        let mut params = vec![Param {
            key: "lr".into(),
            value: lr.into(),
        }];
        params.extend(extra.map(|(k, v)| Param {
            key: k.into(),
            value: v.into(),
        }));
        let mut metrics = Vec::new();
        for step in 0..5 {
            let ts = 1_700_000_001_000 + step * 1000;
            metrics.push(Metric {
                key: "val_loss".into(),
                value: 1.0 / (step + 1) as f64,
                timestamp: ts,
                step,
            });
            metrics.push(Metric {
                key: "train_loss".into(),
                value: if step == 2 { f64::NAN } else { 0.5 },
                timestamp: ts,
                step,
            });
        }
        metrics.push(Metric {
            key: "val_loss".into(),
            value: f64::NEG_INFINITY,
            timestamp: 1_700_000_001_500,
            step: 0,
        });
        metrics.push(Metric {
            key: "lr_now".into(),
            value: 0.1,
            timestamp: 1_700_000_009_000,
            step: 4,
        });
        store.log_batch(id, &metrics, &params, &[]).expect("log");
        if name == "base" {
            store
                .update_run(id, Some(RunStatus::Finished), Some(1_700_000_010_000), None)
                .expect("end");
        }
    }
    (store, experiment_id)
}

#[test]
fn exported_files_hold_exactly_what_the_store_holds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, experiment_id) = populated_store(dir.path());
    let out = dir.path().join("export");
    let summary = export::export_experiment(&store, &experiment_id, &out).expect("export");
    assert_eq!(summary.dir, out.join("experiment=exp%2Fone%3D%CE%B1"));
    assert_eq!(
        (
            summary.runs,
            summary.params,
            summary.metrics,
            summary.epochs
        ),
        (2, 3, 24, 10)
    );

    let runs_in_store = store
        .experiment_runs(&experiment_id, Default::default())
        .expect("runs");
    let runs = read(&summary.dir.join(export::RUNS_FILE));
    assert_eq!(runs.num_rows(), runs_in_store.len());
    let schema = runs.schema();
    let utc = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    assert_eq!(
        schema
            .field_with_name("start_time")
            .expect("start_time")
            .data_type(),
        &utc
    );
    assert_eq!(
        schema
            .field_with_name("params.lr")
            .expect("params.lr")
            .data_type(),
        &DataType::Utf8
    );
    assert_eq!(
        schema
            .field_with_name("metrics.val_loss")
            .expect("latest")
            .data_type(),
        &DataType::Float64
    );
    let ids = strings(&runs, "run_id");
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
            strings(&runs, "params.dropout")[row].as_deref(),
            run.data.param("dropout")
        );
        assert_eq!(
            floats(&runs, "metrics.val_loss")[row],
            run.data.metric("val_loss")
        );
        let start = runs
            .column_by_name("start_time")
            .expect("start")
            .as_primitive::<TimestampMillisecondType>();
        assert_eq!(Some(start.value(row)), run.info.start_time);
        let end = runs
            .column_by_name("end_time")
            .expect("end")
            .as_primitive::<TimestampMillisecondType>();
        assert_eq!(end.is_valid(row).then(|| end.value(row)), run.info.end_time);
    }

    let metrics = read(&summary.dir.join(export::METRICS_FILE));
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
    let stamps = metrics
        .column_by_name("timestamp")
        .expect("timestamp")
        .as_primitive::<TimestampMillisecondType>();
    assert_eq!(stamps.timezone(), Some("UTC"));
    let mut exported: Vec<(String, Metric)> = (0..metrics.num_rows())
        .map(|i| {
            let metric = Metric {
                key: keys[i].clone().expect("key"),
                value: values[i].expect("value"),
                timestamp: stamps.value(i),
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

    let params = read(&summary.dir.join(export::PARAMS_FILE));
    assert_eq!(params.num_rows(), 3);
    assert_eq!(
        strings(&params, "key")
            .iter()
            .filter(|k| k.as_deref() == Some("lr"))
            .count(),
        2
    );

    // One row per run and step; at step 0 the later point (-inf at ts +500) wins over 1.0.
    let epochs = read(&summary.dir.join(export::EPOCHS_FILE));
    assert_eq!(epochs.num_rows(), 10);
    let columns: Vec<String> = epochs
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        columns,
        ["run_id", "step", "lr_now", "train_loss", "val_loss"]
    );
    let val_loss = floats(&epochs, "val_loss");
    let epoch_steps = ints(&epochs, "step");
    for row in 0..epochs.num_rows() {
        let expected = if epoch_steps[row] == 0 {
            f64::NEG_INFINITY
        } else {
            1.0 / (epoch_steps[row] + 1) as f64
        };
        assert_eq!(val_loss[row], Some(expected));
    }
    assert!(floats(&epochs, "train_loss")[2].expect("step 2").is_nan());
    assert_eq!(
        floats(&epochs, "lr_now")
            .iter()
            .filter(|v| v.is_some())
            .count(),
        2
    );
}

#[test]
fn a_new_export_replaces_the_files_and_leaves_no_temporary_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, experiment_id) = populated_store(dir.path());
    let out = dir.path().join("export");
    let first = export::export_experiment(&store, &experiment_id, &out).expect("first");
    let run = store
        .create_run(CreateRun {
            experiment_id: experiment_id.clone(),
            ..CreateRun::default()
        })
        .expect("run");
    store
        .log_metric(
            &run.info.run_id,
            &Metric {
                key: "val_loss".into(),
                value: 0.3,
                timestamp: 1,
                step: 0,
            },
        )
        .expect("log");
    let second = export::export_all(&store, &out).expect("export all");
    assert_eq!(second.len(), 2, "Default and the experiment");
    let again = second
        .iter()
        .find(|s| s.experiment_id == experiment_id)
        .expect("exported");
    assert_eq!(
        (again.runs, again.metrics),
        (first.runs + 1, first.metrics + 1)
    );
    assert_eq!(read(&again.dir.join(export::RUNS_FILE)).num_rows(), 3);
    let mut names: Vec<String> = std::fs::read_dir(&again.dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "analysis.parquet",
            "epochs.parquet",
            "metrics.parquet",
            "params.parquet",
            "runs.parquet"
        ]
    );
    let empty = second
        .iter()
        .find(|s| s.experiment_id == "0")
        .expect("Default");
    assert_eq!(read(&empty.dir.join(export::RUNS_FILE)).num_rows(), 0);
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
        let summary = export::write_experiment(&data, dir.path()).expect("write");

        let metrics = read(&summary.dir.join(export::METRICS_FILE));
        prop_assert_eq!(metrics.num_rows(), points.len());
        let (keys, steps, values) = (strings(&metrics, "key"), ints(&metrics, "step"), floats(&metrics, "value"));
        let stamps = metrics.column_by_name("timestamp").expect("timestamp").as_primitive::<TimestampMillisecondType>();
        let expected: Vec<&Metric> = runs.iter().flat_map(|r| history.get(&r.info.run_id).into_iter().flatten()).collect();
        for (i, m) in expected.iter().enumerate() {
            prop_assert_eq!(keys[i].as_deref(), Some(m.key.as_str()));
            prop_assert_eq!((steps[i], stamps.value(i)), (m.step, m.timestamp));
            prop_assert!(same(values[i].expect("value"), m.value));
        }
        let read_runs = read(&summary.dir.join(export::RUNS_FILE));
        prop_assert_eq!(read_runs.num_rows(), 3);
        if lrs.iter().any(Option::is_some) {
            let lr_column = strings(&read_runs, "params.lr");
            prop_assert_eq!(lr_column, lrs.clone());
        }
        // epochs: one row per distinct (run, step).
        let mut distinct: Vec<(usize, i64)> = points.iter().map(|p| (p.0, p.2)).collect();
        distinct.sort_unstable();
        distinct.dedup();
        prop_assert_eq!(read(&summary.dir.join(export::EPOCHS_FILE)).num_rows(), distinct.len());
    }
}
