//! What the export tests share: the files read back with arrow-rs, a store to export, paths.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type, TimestampMillisecondType};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tracker::entities::{Metric, Param, RunStatus};
use tracker::export;
use tracker::store::{CreateRun, Store};

pub fn read(path: &Path) -> RecordBatch {
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

pub fn strings(batch: &RecordBatch, column: &str) -> Vec<Option<String>> {
    let array = batch
        .column_by_name(column)
        .unwrap_or_else(|| panic!("no column {column}"));
    array
        .as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect()
}

pub fn floats(batch: &RecordBatch, column: &str) -> Vec<Option<f64>> {
    let array = batch
        .column_by_name(column)
        .unwrap_or_else(|| panic!("no column {column}"));
    array.as_primitive::<Float64Type>().iter().collect()
}

pub fn ints(batch: &RecordBatch, column: &str) -> Vec<i64> {
    batch
        .column_by_name(column)
        .expect("column")
        .as_primitive::<Int64Type>()
        .values()
        .to_vec()
}

/// A timestamp column, checked to be milliseconds in UTC (as the export writes every one).
pub fn utc_millis(batch: &RecordBatch, column: &str) -> Vec<Option<i64>> {
    let array = batch
        .column_by_name(column)
        .unwrap_or_else(|| panic!("no column {column}"))
        .as_primitive::<TimestampMillisecondType>();
    assert_eq!(array.timezone(), Some("UTC"), "{column}");
    array.iter().collect()
}

pub fn same(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// Two runs with different params, NaN and ±inf values, a step with two points of one key.
pub fn populated_store(dir: &Path) -> (Store, String) {
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
pub fn logged_run(
    store: &Store,
    experiment_id: &str,
    metrics: &[Metric],
    params: &[Param],
) -> String {
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
pub fn val_loss(value: f64) -> Metric {
    Metric {
        key: "val_loss".into(),
        value,
        timestamp: 1,
        step: 0,
    }
}

/// Exports every experiment of `store` under `out`, checks none failed, and returns the ids of
/// those exported, sorted.
pub fn export_all_ids(store: &Store, out: &Path) -> Vec<String> {
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

pub fn file(out: &Path, table: &str, experiment_id: &str) -> PathBuf {
    export::table_file(out, table, experiment_id)
}

pub fn column_names(batch: &RecordBatch) -> Vec<String> {
    batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}
