//! `track query`, `show`, `runs`, `experiments` and `export` against an embedded database and
//! a daemon serving it: the same answers from both, deleted runs and experiments shown only when
//! asked for, and the daemon's whole export read back by pyarrow.

use std::path::Path;

use serde_json::Value;
use tracker::client::Client;
use tracker::entities::{Metric, Param, RunStatus, RunTag};
use tracker::store::Store;

use super::deleted::exercise_deleted;
use super::run::{run_track, stdout};
use crate::util::{Daemon, ok, python, script, scrubbed, tempdir};

/// Three runs in two experiments, logged through an embedded client.
fn populate(db: &Path) -> Vec<String> {
    let client = Client::open(&db.display().to_string()).expect("embedded client");
    let mut ids = Vec::new();
    for (experiment, name, lr, status) in [
        ("cnn", "base", "0.1", RunStatus::Finished),
        ("cnn", "reg", "0.01", RunStatus::Finished),
        ("mlp", "tiny", "0.5", RunStatus::Failed),
    ] {
        let experiment = client
            .get_or_create_experiment(experiment)
            .expect("experiment");
        let run = client
            .create_run(
                &experiment.experiment_id,
                Some(name),
                &[RunTag {
                    key: "kind".into(),
                    value: "cli".into(),
                }],
            )
            .expect("run");
        let id = run.info.run_id;
        client
            .log_params(
                &id,
                &[Param {
                    key: "lr".into(),
                    value: lr.into(),
                }],
            )
            .expect("params");
        let lr: f64 = lr.parse().expect("lr");
        let metrics: Vec<Metric> = (0..4)
            .flat_map(|step| {
                [
                    Metric {
                        key: "val_loss".into(),
                        value: lr + 1.0 / (step + 1) as f64,
                        timestamp: 1_000 + step,
                        step,
                    },
                    Metric {
                        key: "train_loss".into(),
                        value: lr,
                        timestamp: 1_000 + step,
                        step,
                    },
                ]
            })
            .collect();
        client.log_metrics(&id, &metrics).expect("metrics");
        client.update_run(&id, status, None).expect("end");
        ids.push(id);
    }
    // Left out unless asked for: a run deleted from `cnn`, and the experiment `gone` (deleting
    // it deletes its run).
    let store = client.store().expect("embedded");
    for (experiment, name) in [("cnn", "dropped"), ("gone", "ghost")] {
        let experiment = client
            .get_or_create_experiment(experiment)
            .expect("experiment");
        let run = client
            .create_run(&experiment.experiment_id, Some(name), &[])
            .expect("run");
        let point = Metric {
            key: "val_loss".into(),
            value: 9.0,
            timestamp: 1_000,
            step: 0,
        };
        client
            .log_metrics(&run.info.run_id, &[point])
            .expect("metric");
        if name == "dropped" {
            store.delete_run(&run.info.run_id).expect("run deleted");
        } else {
            store
                .delete_experiment(&experiment.experiment_id)
                .expect("experiment deleted");
        }
    }
    ids
}

/// Every CLI command against `uri`; returns the outputs that must not depend on the backend.
fn exercise_cli(uri: &str, ids: &[String], out: &Path) -> Vec<String> {
    let query = ok(&run_track(
        uri,
        &[
            "query",
            "--experiment",
            "cnn",
            "--order-by",
            "metrics.val_loss ASC",
            "--format",
            "json",
        ],
    ));
    let rows: Vec<Value> = serde_json::from_str(&query).expect("json");
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["run_name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["reg", "base"]);
    assert_eq!(rows[0]["params.lr"], "0.01");
    assert_eq!(rows[0]["metrics.val_loss"].as_f64(), Some(0.01 + 0.25));

    let csv = ok(&run_track(
        uri,
        &[
            "query",
            "params.lr = '0.5'",
            "--columns",
            "run_name,status,params.lr",
            "--format",
            "csv",
        ],
    ));
    assert_eq!(csv, "run_name,status,params.lr\ntiny,FAILED,0.5\n");
    let table = ok(&run_track(
        uri,
        &[
            "query",
            "metrics.val_loss < 1",
            "--limit",
            "1",
            "--order-by",
            "params.lr DESC",
        ],
    ));
    assert_eq!(table.lines().count(), 2, "{table}");
    assert!(
        table.lines().nth(1).is_some_and(|l| l.contains("tiny")),
        "{table}"
    );

    let none = run_track(uri, &["query", "metrics.val_loss > 100"]);
    assert_eq!(none.status.code(), Some(1), "no match exits 1");
    let bad = run_track(uri, &["query", "metrics.val_loss <<< 1"]);
    assert_eq!(bad.status.code(), Some(2), "a bad filter exits 2");
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("error"),
        "the error is printed"
    );
    let unknown = run_track(uri, &["query", "--experiment", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));

    let show = ok(&run_track(uri, &["show", ids[0].as_str()]));
    assert!(
        show.contains("status      FINISHED") && show.contains("lr") && show.contains("kind"),
        "{show}"
    );
    // The experiment by its name, with its id.
    let experiment_line = show
        .lines()
        .find(|l| l.starts_with("experiment  "))
        .expect("an experiment line");
    assert!(
        experiment_line.starts_with("experiment  cnn (") && experiment_line.ends_with(')'),
        "{experiment_line}"
    );
    let epochs: Vec<&str> = show
        .lines()
        .skip_while(|l| *l != "metrics per step")
        .skip(1)
        .collect();
    assert_eq!(
        epochs[0].split_whitespace().collect::<Vec<_>>(),
        ["step", "train_loss", "val_loss"]
    );
    assert_eq!(epochs.len(), 5, "{show}");
    assert_eq!(
        epochs[2].split_whitespace().collect::<Vec<_>>(),
        ["1", "0.1", "0.6"]
    );
    let by_name = ok(&run_track(uri, &["show", "tiny", "--format", "json"]));
    let shown: Value = serde_json::from_str(&by_name).expect("json");
    assert_eq!(shown["info"]["run_id"], ids[2].as_str());
    assert_eq!(shown["params"]["lr"], "0.5");
    assert_eq!(shown["epochs"].as_array().map(Vec::len), Some(4));
    assert_eq!(
        run_track(uri, &["show", "0123456789abcdef0123456789abcdef"])
            .status
            .code(),
        Some(2)
    );

    let runs = ok(&run_track(uri, &["runs", "--format", "csv"]));
    assert_eq!(runs.lines().count(), 4, "{runs}");
    assert!(runs.starts_with("run_id,run_name,experiment_id,status,start_time,end_time\n"));
    assert_eq!(
        ok(&run_track(
            uri,
            &["runs", "--experiment", "mlp", "-n", "5", "--format", "csv"]
        ))
        .lines()
        .count(),
        2
    );

    let experiments = ok(&run_track(uri, &["experiments", "--format", "csv"]));
    let names: Vec<&str> = experiments
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap_or(""))
        .collect();
    assert_eq!(names, ["Default", "cnn", "mlp"]);

    let exported = ok(&run_track(
        uri,
        &[
            "export",
            "--experiment",
            "cnn",
            "--out",
            &out.display().to_string(),
            "--json",
        ],
    ));
    let summary: Value = serde_json::from_str(exported.trim()).expect("summary");
    assert_eq!(
        (
            summary["runs"].as_u64(),
            summary["metrics"].as_u64(),
            summary["epochs"].as_u64()
        ),
        (Some(2), Some(16), Some(16))
    );
    let cnn_id = summary["experiment_id"].as_str().expect("experiment id");
    assert!(
        out.join(format!("epochs/experiment_id={cnn_id}/part-0.parquet"))
            .is_file()
    );
    vec![
        query,
        csv,
        table,
        stdout(&run_track(uri, &["query", "--format", "json"])),
    ]
}

#[test]
fn cli_commands_work_against_an_embedded_db_and_a_daemon_alike() {
    let python = python();
    let dir = tempdir();
    let db = dir.path().join("runs.db");
    let ids = populate(&db);

    let embedded = exercise_cli(
        &db.display().to_string(),
        &ids,
        &dir.path().join("export-embedded"),
    );
    exercise_deleted(
        &db.display().to_string(),
        &dir.path().join("deleted-embedded"),
    );
    let daemon = Daemon::start(&db);
    let served = exercise_cli(daemon.url(), &ids, &dir.path().join("export-daemon"));
    exercise_deleted(daemon.url(), &dir.path().join("deleted-daemon"));
    assert_eq!(
        embedded, served,
        "the same answers from the store embedded and served"
    );

    // The whole export through the daemon, read back as a pyarrow dataset with no options
    // (every engine reads an embedded export in `export_cli`).
    let out = dir.path().join("export-all");
    ok(&run_track(
        daemon.url(),
        &["export", "--out", &out.display().to_string()],
    ));
    let output = scrubbed(python)
        .arg(script("read_export.py"))
        .arg("pyarrow")
        .arg(&out)
        .output()
        .expect("python runs");
    let report: Value = serde_json::from_str(ok(&output).trim()).expect("report JSON");
    let store = Store::open(&db).expect("store");
    let id_of = |name: &str| {
        store
            .get_experiment_by_name(name)
            .expect("lookup")
            .expect("experiment")
            .experiment_id
    };
    let (cnn, mlp) = (id_of("cnn"), id_of("mlp"));
    for (table, per_run) in [("runs", 1), ("params", 1), ("metrics", 8), ("epochs", 8)] {
        assert_eq!(
            report["tables"][table]["by_experiment"],
            serde_json::json!({ cnn.as_str(): 2 * per_run, mlp.as_str(): per_run }),
            "{table}"
        );
    }
    assert_eq!(
        report["tables"]["metrics"]["names"],
        serde_json::json!({ cnn.as_str(): "cnn", mlp.as_str(): "mlp" })
    );
    assert_eq!(
        report["tables"]["metrics"]["utc"],
        serde_json::json!(["timestamp"])
    );
    let epochs = report["val_loss"].as_array().expect("epochs");
    assert_eq!(epochs.len(), 12);
    for row in epochs {
        let (run_id, step) = (
            row[1].as_str().expect("run id"),
            row[2].as_i64().expect("step"),
        );
        let stored = store.metric_history(run_id, "val_loss").expect("history");
        let point = stored
            .iter()
            .find(|m| m.step == step)
            .expect("stored point");
        assert_eq!(row[3].as_f64(), Some(point.value));
    }
}
