//! Parquet export read back with arrow-rs: row counts, types and values equal the store's;
//! every partition of a table has one schema; files are replaced atomically, with the usual
//! permissions; any valid experiment name exports, and one failing experiment does not stop
//! the others; write → read is the identity (property test).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{AsArray, RecordBatch};
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

/// A timestamp column, checked to be milliseconds in UTC (as the export writes every one).
fn utc_millis(batch: &RecordBatch, column: &str) -> Vec<Option<i64>> {
    let array = batch
        .column_by_name(column)
        .unwrap_or_else(|| panic!("no column {column}"))
        .as_primitive::<TimestampMillisecondType>();
    assert_eq!(array.timezone(), Some("UTC"), "{column}");
    array.iter().collect()
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

/// A new run of `experiment_id` with these metric points and params; returns its id.
fn logged_run(store: &Store, experiment_id: &str, metrics: &[Metric], params: &[Param]) -> String {
    let run = store
        .create_run(CreateRun {
            experiment_id: experiment_id.to_string(),
            ..CreateRun::default()
        })
        .expect("run");
    store
        .log_batch(&run.info.run_id, metrics, params, &[])
        .expect("log");
    run.info.run_id
}

/// A `val_loss` point at step 0.
fn val_loss(value: f64) -> Metric {
    Metric {
        key: "val_loss".into(),
        value,
        timestamp: 1,
        step: 0,
    }
}

/// Exports every experiment of `store` under `out`, checks none failed, and returns the ids of
/// those exported, sorted.
fn export_all_ids(store: &Store, out: &Path) -> Vec<String> {
    let report = export::export_all(store, out).expect("export all");
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let mut exported: Vec<String> = report
        .exported
        .into_iter()
        .map(|s| s.experiment_id)
        .collect();
    exported.sort_unstable();
    exported
}

fn file(out: &Path, table: &str, experiment_id: &str) -> PathBuf {
    export::table_file(out, table, experiment_id)
}

fn column_names(batch: &RecordBatch) -> Vec<String> {
    batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

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

#[test]
fn a_new_export_replaces_the_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, experiment_id) = populated_store(dir.path());
    let out = dir.path().join("export");
    let first = export::export_experiment(&store, &experiment_id, &out).expect("first");
    logged_run(&store, &experiment_id, &[val_loss(0.3)], &[]);
    let again = export::export_experiment(&store, &experiment_id, &out).expect("again");
    assert_eq!(
        (again.runs, again.metrics),
        (first.runs + 1, first.metrics + 1)
    );
    assert_eq!(
        read(&file(&out, export::RUNS, &experiment_id)).num_rows(),
        3
    );
    // Every run deleted: the experiment's files are replaced by empty ones, not left stale.
    for run in store
        .experiment_runs(&experiment_id, Default::default())
        .expect("runs")
    {
        store.delete_run(&run.info.run_id).expect("delete");
    }
    export::export_experiment(&store, &experiment_id, &out).expect("emptied");
    for table in export::TABLES {
        assert_eq!(
            read(&file(&out, table, &experiment_id)).num_rows(),
            0,
            "{table}"
        );
    }
}

/// Defect: a name over about 244 bytes once escaped made every experiment's export fail with
/// "File name too long", since the name was the directory's name.
#[test]
fn experiment_names_of_250_bytes_and_100_accented_letters_export() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("runs.db")).expect("store");
    let names = ["n".repeat(250), "é".repeat(100), "a/b=c%d".repeat(70)];
    let mut ids = Vec::new();
    for name in &names {
        let id = store.get_or_create_experiment(name).expect("experiment");
        logged_run(&store, &id, &[val_loss(0.5)], &[]);
        ids.push(id);
    }
    let out = dir.path().join("export");
    let report = export::export_all(&store, &out).expect("export all");
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.exported.len(), names.len() + 1, "and Default");
    for (name, id) in names.iter().zip(&ids) {
        for table in export::TABLES {
            let batch = read(&file(&out, table, id));
            assert_eq!(
                strings(&batch, "experiment_name"),
                vec![Some(name.clone()); batch.num_rows()],
                "{table}"
            );
        }
        assert_eq!(read(&file(&out, export::EPOCHS, id)).num_rows(), 1);
    }
}

/// A deleted experiment is left out of an export of every experiment; asked for by id, it
/// exports no run, since deleting it deleted its runs; restored, it exports them again.
#[test]
fn deleted_experiments_and_their_runs_are_left_out_of_the_export() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, experiment_id) = populated_store(dir.path());
    let doomed = store
        .get_or_create_experiment("doomed")
        .expect("experiment");
    logged_run(&store, &doomed, &[val_loss(0.5)], &[]);
    store.delete_experiment(&doomed).expect("deleted");
    let out = dir.path().join("export");
    assert_eq!(export_all_ids(&store, &out), ["0", experiment_id.as_str()]);
    for table in export::TABLES {
        assert!(
            !export::partition_dir(&out, table, &doomed).exists(),
            "{table}"
        );
    }
    let asked = dir.path().join("asked");
    let summary = export::export_experiment(&store, &doomed, &asked).expect("by id");
    assert_eq!((summary.runs, summary.metrics), (0, 0));
    store.restore_experiment(&doomed).expect("restored");
    let summary = export::export_experiment(&store, &doomed, &asked).expect("restored");
    assert_eq!((summary.runs, summary.metrics), (1, 1));
}

/// One experiment that cannot be written does not stop the others.
#[test]
fn a_failing_experiment_is_reported_and_the_others_are_exported() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, experiment_id) = populated_store(dir.path());
    let out = dir.path().join("export");
    // A plain file where the experiment's partition directory of the params table goes.
    let blocker = export::partition_dir(&out, export::PARAMS, &experiment_id);
    std::fs::create_dir_all(blocker.parent().expect("parent")).expect("table dir");
    std::fs::write(&blocker, b"not a directory").expect("blocker");
    let report = export::export_all(&store, &out).expect("export all");
    assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
    assert_eq!(report.failed[0].experiment_id, experiment_id);
    assert!(
        report.failed[0]
            .error
            .to_string()
            .contains("experiment_id="),
        "names the file: {}",
        report.failed[0].error
    );
    let exported: Vec<&str> = report
        .exported
        .iter()
        .map(|s| s.experiment_id.as_str())
        .collect();
    assert_eq!(exported, ["0"]);
    for table in export::TABLES {
        assert!(file(&out, table, "0").is_file(), "{table}");
    }
}

/// Exported files get the permissions `File::create` gives (0644 under the usual umask), not the
/// owner-only 0600 of a temporary file.
#[cfg(unix)]
#[test]
fn exported_files_have_the_permissions_file_create_gives() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, experiment_id) = populated_store(dir.path());
    let out = dir.path().join("export");
    let summary = export::export_experiment(&store, &experiment_id, &out).expect("export");
    let reference = dir.path().join("reference");
    File::create(&reference).expect("create");
    let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
    assert_ne!(
        mode(&reference) & 0o044,
        0,
        "the test's umask hides nothing"
    );
    for path in &summary.files {
        assert_eq!(mode(path), mode(&reference), "{}", path.display());
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
