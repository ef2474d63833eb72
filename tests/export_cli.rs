//! `track export` read back by the engines analysts use, each with no options, one test per
//! engine: pandas, polars, DuckDB and pyarrow datasets. The export holds experiments with
//! different params and metric keys, two empty experiments (an empty one broke DuckDB's glob
//! when the tables' schemas differed) and names of 250 bytes and of 100 `é` (which once failed
//! every experiment's export with "File name too long"). Also: one failing experiment does not
//! stop the others.
//!
//! Needs the venv of `scripts/test.sh` (`GAPWATCH_TEST_PYTHON`, or `.venv/bin/python`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};
use tracker::entities::{Metric, Param};
use tracker::export;
use tracker::store::{CreateRun, Store};

use crate::util::{python, script, scrubbed, tempdir, track};

fn track_export(db: &Path, out: &Path) -> Output {
    track()
        .arg("--tracking-uri")
        .arg(db)
        .arg("export")
        .arg("--out")
        .arg(out)
        .output()
        .expect("track runs")
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn point(key: &str, step: i64, timestamp: i64, value: f64) -> Metric {
    Metric {
        key: key.into(),
        value,
        timestamp,
        step,
    }
}

fn param(key: &str, value: &str) -> Param {
    Param {
        key: key.into(),
        value: value.into(),
    }
}

/// The experiments of [`populate`]: (name, runs as (params, metric points)).
type Runs = Vec<(Vec<Param>, Vec<Metric>)>;

fn experiments() -> Vec<(String, Runs)> {
    let cnn_run = |lr: &str, base: f64| {
        let mut points = Vec::new();
        for step in 1..=3 {
            points.push(point("val_loss", step, 100 + step, base / step as f64));
            let train = if step == 2 { f64::NAN } else { base / 2.0 };
            points.push(point("train_loss", step, 100 + step, train));
        }
        // A second val_loss point at step 2, later: the epochs table keeps this one.
        points.push(point("val_loss", 2, 500, base * 9.0));
        (vec![param("lr", lr), param("batch_size", "32")], points)
    };
    vec![
        (
            "cnn".to_string(),
            vec![cnn_run("0.1", 1.0), cnn_run("0.01", 2.0)],
        ),
        (
            "mlp".to_string(),
            vec![(
                vec![param("hidden", "64")],
                vec![point("accuracy", 1, 7, 0.75)],
            )],
        ),
        ("empty".to_string(), vec![]),
        (
            "n".repeat(250),
            vec![(vec![], vec![point("val_loss", 0, 1, 0.5)])],
        ),
        (
            "é".repeat(100),
            vec![(vec![], vec![point("val_loss", 0, 1, 0.25)])],
        ),
    ]
}

/// A store with [`experiments`] (and the empty Default experiment).
fn populate(db: &Path) -> Store {
    let store = Store::open(db).expect("store");
    for (name, runs) in experiments() {
        let experiment_id = store.get_or_create_experiment(&name).expect("experiment");
        for (params, points) in runs {
            let run = store
                .create_run(CreateRun {
                    experiment_id: experiment_id.clone(),
                    start_time: Some(1_700_000_000_000),
                    ..CreateRun::default()
                })
                .expect("run");
            store
                .log_batch(&run.info.run_id, &points, &params, &[])
                .expect("log");
        }
    }
    store
}

/// What every engine must see, computed from the store: per table the rows by experiment id
/// and the experiment names; the epochs table's val_loss rows.
fn expected(store: &Store) -> (BTreeMap<&'static str, Value>, Value) {
    let mut rows: BTreeMap<&str, serde_json::Map<String, Value>> = BTreeMap::new();
    let mut names: BTreeMap<&str, serde_json::Map<String, Value>> = BTreeMap::new();
    let mut val_loss = Vec::new();
    let experiments = store
        .search_experiments(&Default::default())
        .expect("experiments")
        .0;
    for experiment in experiments {
        let id = experiment.experiment_id.clone();
        let runs = store
            .experiment_runs(&id, Default::default())
            .expect("runs");
        let mut counts = BTreeMap::from([
            ("runs", runs.len()),
            ("analysis", runs.len()),
            ("params", 0),
            ("metrics", 0),
            ("epochs", 0),
        ]);
        for run in &runs {
            *counts.entry("params").or_default() += run.data.params.len();
            let history = store.run_metrics(&run.info.run_id).expect("history");
            *counts.entry("metrics").or_default() += history.len();
            let mut latest: BTreeMap<(i64, &str), (i64, f64)> = BTreeMap::new();
            for m in &history {
                let cell = latest
                    .entry((m.step, m.key.as_str()))
                    .or_insert((m.timestamp, m.value));
                if (m.timestamp, m.value) > *cell {
                    *cell = (m.timestamp, m.value);
                }
            }
            *counts.entry("epochs").or_default() += latest.len();
            for ((step, key), (_, value)) in latest {
                if key == "val_loss" {
                    val_loss.push((id.clone(), run.info.run_id.clone(), step, value));
                }
            }
        }
        for (table, count) in counts {
            if count > 0 {
                rows.entry(table)
                    .or_default()
                    .insert(id.clone(), json!(count));
                names
                    .entry(table)
                    .or_default()
                    .insert(id.clone(), json!(experiment.name));
            }
        }
    }
    val_loss.sort_by(|a, b| (&a.0, &a.1, a.2).cmp(&(&b.0, &b.1, b.2)));
    let tables = export::TABLES
        .iter()
        .map(|table| {
            let by_experiment = rows.remove(table).unwrap_or_default();
            let total: u64 = by_experiment.values().filter_map(Value::as_u64).sum();
            let names = names.remove(table).unwrap_or_default();
            (
                *table,
                json!({ "rows": total, "by_experiment": by_experiment, "names": names }),
            )
        })
        .collect();
    let val_loss = val_loss
        .into_iter()
        .map(|(e, r, s, v)| json!([e, r, s, v]))
        .collect();
    (tables, val_loss)
}

/// The documented columns of each table, with the partition column `experiment_id`, sorted.
fn columns(table: &str) -> Vec<&'static str> {
    let mut columns = match table {
        "runs" => vec![
            "experiment_name",
            "run_id",
            "run_name",
            "status",
            "user_id",
            "lifecycle_stage",
            "start_time",
            "end_time",
            "artifact_uri",
        ],
        "params" => vec!["experiment_name", "run_id", "key", "value"],
        "metrics" => vec![
            "experiment_name",
            "run_id",
            "key",
            "step",
            "timestamp",
            "value",
        ],
        "epochs" => vec![
            "experiment_name",
            "run_id",
            "step",
            "key",
            "value",
            "timestamp",
        ],
        _ => vec!["experiment_name", "run_id", "verdict", "summary"],
    };
    columns.push("experiment_id");
    columns.sort_unstable();
    columns
}

/// Exports [`populate`]'s store with `track export` and reads it with `engine`.
fn export_read_by(engine: &str) {
    let python = python();
    let dir = tempdir();
    let db = dir.path().join("runs.db");
    let store = populate(&db);
    let out = dir.path().join("export");
    let exported = track_export(&db, &out);
    assert!(exported.status.success(), "{}", text(&exported));
    let read = scrubbed(python)
        .arg(script("read_export.py"))
        .arg(engine)
        .arg(&out)
        .output()
        .expect("python runs");
    assert!(read.status.success(), "{engine}: {}", text(&read));
    let report: Value = serde_json::from_slice(&read.stdout).expect("report JSON");
    let (tables, val_loss) = expected(&store);
    for (table, want) in tables {
        let seen = &report["tables"][table];
        assert_eq!(seen["rows"], want["rows"], "{engine} {table} rows");
        assert_eq!(
            seen["by_experiment"], want["by_experiment"],
            "{engine} {table} rows by experiment"
        );
        assert_eq!(seen["names"], want["names"], "{engine} {table} names");
        let seen_columns: Vec<&str> = seen["columns"]
            .as_array()
            .expect("columns")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let documented = columns(table);
        if table == export::ANALYSIS {
            let missing: Vec<_> = documented
                .iter()
                .filter(|c| !seen_columns.contains(c))
                .collect();
            assert!(missing.is_empty(), "{engine} analysis lacks {missing:?}");
        } else {
            assert_eq!(seen_columns, documented, "{engine} {table} columns");
        }
        let utc = match table {
            "runs" => json!(["end_time", "start_time"]),
            "metrics" | "epochs" => json!(["timestamp"]),
            _ => json!([]),
        };
        assert_eq!(seen["utc"], utc, "{engine} {table} UTC timestamps");
    }
    assert_eq!(report["val_loss"], val_loss, "{engine} epochs");
}

#[test]
fn export_reads_with_pandas_with_no_options() {
    export_read_by("pandas");
}

#[test]
fn export_reads_with_polars_with_no_options() {
    export_read_by("polars");
}

#[test]
fn export_reads_with_duckdb_with_no_options() {
    export_read_by("duckdb");
}

#[test]
fn export_reads_as_a_pyarrow_dataset_with_no_options() {
    export_read_by("pyarrow");
}

/// One experiment that cannot be written is named on stderr, the others are exported, and the
/// exit status says something failed.
#[test]
fn export_of_one_failing_experiment_exports_the_rest_and_exits_2() {
    let dir = tempdir();
    let db = dir.path().join("runs.db");
    let store = populate(&db);
    let out = dir.path().join("export");
    let cnn = store
        .get_experiment_by_name("cnn")
        .expect("lookup")
        .expect("cnn")
        .experiment_id;
    let blocker = export::partition_dir(&out, export::METRICS, &cnn);
    std::fs::create_dir_all(blocker.parent().expect("parent")).expect("table dir");
    std::fs::write(&blocker, b"not a directory").expect("blocker");
    let output = track_export(&db, &out);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("experiment {cnn}")) && stderr.contains("experiment_id="),
        "names the experiment and the file: {stderr}"
    );
    let experiments = store
        .search_experiments(&Default::default())
        .expect("experiments")
        .0;
    assert_eq!(experiments.len(), 6);
    for experiment in experiments {
        let id = &experiment.experiment_id;
        let written = export::table_file(&out, export::METRICS, id).is_file();
        assert_eq!(written, *id != cnn, "{}", experiment.name);
    }
}
