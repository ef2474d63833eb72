//! The one output flag: `--format table|csv|json` on every command that prints results, `--json`
//! its alias, and `--format csv` a table with a header row that the `csv` crate reads back.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use tempfile::TempDir;
use tracker::client::Client;
use tracker::entities::{Metric, Param, RunStatus};

use crate::util::{DATA, TestResult, data_path, json, repo, sets, tempdir, track};

/// A temporary folder with the [`grid_store`] database and a private statistics cache.
pub(crate) struct Grid {
    dir: TempDir,
    uri: String,
    cache: PathBuf,
}

impl Grid {
    /// A fresh one.
    pub(crate) fn new() -> Grid {
        let dir = tempdir();
        let uri = grid_store(dir.path());
        let cache = dir.path().join("cache");
        Grid { dir, uri, cache }
    }

    /// `track ARGS` against its database (see [`run`]).
    pub(crate) fn track(&self, args: &[&str]) -> Output {
        run(&self.uri, args, &self.cache)
    }

    /// A folder inside it for `track export --out`.
    fn export_dir(&self) -> String {
        self.dir.path().join("export").display().to_string()
    }
}

/// Three finished runs of experiment `grid` that differ in `lr` only: six epochs of losses
/// and accuracies (validation loss rising after epoch 2 as `lr` grows), `best_epoch` and a
/// timing metric. Returns the database path as a tracking URI.
fn grid_store(dir: &Path) -> String {
    let db = dir.join("runs.db").display().to_string();
    let client = Client::open(&db).expect("embedded client");
    let experiment = client.get_or_create_experiment("grid").expect("experiment");
    for (name, lr) in [("fast", 0.1), ("mid", 0.01), ("slow", 0.001)] {
        let run = client
            .create_run(&experiment.experiment_id, Some(name), &[])
            .expect("run");
        let id = run.info.run_id;
        let params =
            [("lr", lr.to_string()), ("batch_size", "32".to_string())].map(|(key, value)| Param {
                key: key.into(),
                value,
            });
        client.log_params(&id, &params).expect("params");
        let mut metrics = Vec::new();
        for step in 1..=6_i64 {
            let t = step as f64;
            let point = |key: &str, value: f64| Metric {
                key: key.into(),
                value,
                timestamp: 1_000 + step,
                step,
            };
            metrics.extend([
                point("train_loss", 1.0 / t),
                point("train_acc", 0.5 + 0.08 * t),
                point("val_loss", 0.6 + (t - 2.0).abs() * lr * 2.0),
                point("val_acc", 0.7 - (t - 2.0).abs() * lr),
                point("epoch_secs", 1.5),
            ]);
        }
        metrics.push(Metric {
            key: "best_epoch".into(),
            value: 2.0,
            timestamp: 2_000,
            step: 6,
        });
        client.log_metrics(&id, &metrics).expect("metrics");
        client
            .update_run(&id, RunStatus::Finished, None)
            .expect("end");
    }
    db
}

/// `track --tracking-uri URI ARGS`, run in the repository root, with a private statistics cache.
fn run(uri: &str, args: &[&str], cache: &Path) -> Output {
    track()
        .args(["--tracking-uri", uri, "--quiet"])
        .args(args)
        .current_dir(repo())
        .env("GAPWATCH_CACHE_DIR", cache)
        .output()
        .expect("track runs")
}

/// The records of a CSV document, header first; fails unless every row has the header's length.
#[track_caller]
pub(crate) fn csv_rows(output: &Output) -> Vec<Vec<String>> {
    assert!(
        output.status.success(),
        "exit {:?}, stderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(output.stdout.as_slice());
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.expect("a CSV record").iter().map(String::from).collect())
        .collect();
    assert!(!rows.is_empty(), "no header row");
    rows
}

/// `value` without the keys that measure time or memory (they differ from one run to the next).
fn untimed(mut value: Value) -> Value {
    if let Some(object) = value.as_object_mut() {
        for key in [
            "wall_secs",
            "images_per_sec",
            "stages",
            "per_epoch",
            "bottleneck",
            "peak_rss_bytes",
        ] {
            object.remove(key);
        }
    }
    value
}

#[test]
fn json_is_an_alias_of_format_json_for_every_command_that_had_it() -> TestResult {
    let grid = Grid::new();
    let out = grid.export_dir();
    let commands: [&[&str]; 5] = [
        &["analyze", "fast"],
        &["compare", "--experiment", "grid"],
        &["export", "--experiment", "grid", "--out", &out],
        &["stats", "--data", DATA, "--limit", "200"],
        &["pipeline", "--limit", "64", "--workers", "2", "--seed", "3"],
    ];
    for command in commands {
        let alias = grid.track(&[command, &["--json"]].concat());
        let format = grid.track(&[command, &["--format", "json"]].concat());
        let (alias_text, format_text) = (json(&alias), json(&format));
        if command[0] == "pipeline" {
            assert_eq!(untimed(alias_text), untimed(format_text), "{command:?}");
        } else {
            assert_eq!(alias.stdout, format.stdout, "{command:?}");
            assert!(alias_text.is_object(), "{command:?}: {alias_text}");
        }
    }
    // Both at once is refused, naming them.
    let both = grid.track(&["analyze", "fast", "--json", "--format", "csv"]);
    assert_eq!(both.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&both.stderr).contains("--format"));
    Ok(())
}

#[test]
fn format_csv_is_a_table_with_a_header_for_every_command_that_prints_results() -> TestResult {
    let grid = Grid::new();
    let out = grid.export_dir();
    // Each command, the first columns of its header and how many rows it has.
    let cases: [(&[&str], &[&str], usize); 10] = [
        (&["query"], &["run_id", "run_name", "experiment_id"], 3),
        (&["runs"], &["run_id", "run_name", "experiment_id"], 3),
        (&["experiments"], &["experiment_id", "name"], 2),
        (&["show", "mid"], &["step", "best_epoch", "epoch_secs"], 6),
        (&["analyze", "fast"], &["epoch", "train_loss"], 6),
        (&["compare", "fast", "slow"], &["rank", "run"], 2),
        (
            &["export", "--out", &out],
            &["experiment_id", "experiment_name"],
            2,
        ),
        (
            &["stats", "--data", DATA, "--limit", "200"],
            &["channel", "mean", "std"],
            1,
        ),
        (
            &["pipeline", "--limit", "64"],
            &["stage", "workers", "items"],
            4,
        ),
        (
            &[
                "query",
                "--columns",
                "run_name,params.lr",
                "--order-by",
                "params.lr",
            ],
            &["run_name", "params.lr"],
            3,
        ),
    ];
    for (command, header, rows) in cases {
        let records = csv_rows(&grid.track(&[command, &["--format", "csv"]].concat()));
        assert_eq!(&records[0][..header.len()], header, "{command:?}");
        assert!(
            records[0].iter().all(|c| !c.is_empty()),
            "{command:?}: {records:?}"
        );
        assert_eq!(records.len() - 1, rows, "{command:?}: {records:?}");
    }
    let lrs = csv_rows(&grid.track(&[
        "query",
        "--columns",
        "params.lr",
        "--order-by",
        "params.lr",
        "--format",
        "csv",
    ]));
    assert_eq!(lrs, [["params.lr"], ["0.001"], ["0.01"], ["0.1"]]);
    Ok(())
}

#[test]
fn train_prints_its_epochs_as_csv_and_the_same_json_with_either_flag() -> TestResult {
    let dir = tempdir();
    let uri = dir.path().join("runs.db").display().to_string();
    let cache = dir.path().join("cache");
    let tiny = sets(&[
        &data_path(DATA),
        "data.limit=64",
        "train.epochs=2",
        "model.conv_channels=[4]",
        "model.dense_units=[8]",
    ]);
    let train = |format: &[&str]| {
        let args: Vec<&str> = ["train"]
            .into_iter()
            .chain(tiny.iter().map(String::as_str))
            .chain(format.iter().copied())
            .collect();
        run(&uri, &args, &cache)
    };
    let (alias, format) = (
        json(&train(&["--json"])),
        json(&train(&["--format", "json"])),
    );
    let keys = |v: &Value| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>());
    assert_eq!(keys(&alias), keys(&format));
    for key in ["status", "num_params", "train_size", "classes"] {
        assert_eq!(alias[key], format[key], "{key}");
    }
    let records = csv_rows(&train(&["--format", "csv"]));
    assert_eq!(&records[0][..3], ["epoch", "train_loss", "train_acc"]);
    assert!(records[0].iter().any(|c| c == "val_loss"), "{records:?}");
    let epochs: Vec<&str> = records[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(epochs, ["1", "2"]);
    Ok(())
}
