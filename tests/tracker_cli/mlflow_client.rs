//! The official MLflow Python client against a real `track daemon`: runs logged and found by
//! `track query`; experiments deleted, renamed and tagged; dataset inputs; artifacts written
//! straight under the root with `--no-serve-artifacts`.
//!
//! Needs the venv of `scripts/test.sh` (`GAPWATCH_TEST_PYTHON`, or `.venv/bin/python`); without
//! it these fail, naming the script.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::run::{run_track, stdout};
use crate::util::{Daemon, ok, python, script, scrubbed, tempdir};

#[test]
fn the_official_mlflow_client_logs_to_the_daemon_and_track_query_sees_the_runs() {
    let dir = tempdir();
    let daemon = Daemon::start(&dir.path().join("runs.db"));
    let logged = run_client_script(&daemon, "mlflow_compat.py", "compat", dir.path());

    let listed = ok(&run_track(
        daemon.url(),
        &[
            "query",
            "--experiment",
            "compat",
            "--format",
            "json",
            "--order-by",
            "params.lr ASC",
        ],
    ));
    let rows: Vec<Value> = serde_json::from_str(&listed).expect("query JSON");
    assert_eq!(rows.len(), 4);
    let epochs = logged["epochs"].as_i64().expect("epochs");
    let logged_runs = logged["runs"].as_array().expect("runs");
    for run in logged_runs {
        let row = rows
            .iter()
            .find(|r| r["run_id"] == run["run_id"])
            .expect("the run is listed");
        assert_eq!(row["run_name"], run["name"]);
        assert_eq!(row["status"], "FINISHED");
        let lr = run["lr"].as_f64().expect("lr");
        assert_eq!(
            row["params.lr"].as_str().map(str::parse::<f64>),
            Some(Ok(lr))
        );
        assert_eq!(row["params.batch_size"], run["batch_size"].to_string());
        assert_eq!(
            row["metrics.val_loss"].as_f64(),
            Some(1.0 / epochs as f64 + lr)
        );
        assert_eq!(row["metrics.odd"], "NaN");
    }
    let failed = rows
        .iter()
        .find(|r| r["run_id"] == logged["failed_run_id"])
        .expect("failed run listed");
    assert_eq!(failed["status"], "FAILED");
    // Ordered by the param string: "0.0001" < "0.001" < "0.01" < "0.5".
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["run_name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["slower", "slow", "fast", "broken"]);

    let filtered = ok(&run_track(
        daemon.url(),
        &[
            "query",
            "metrics.val_loss < 1",
            "--format",
            "csv",
            "--columns",
            "run_name,metrics.val_loss",
        ],
    ));
    let mut lines: Vec<&str> = filtered.lines().collect();
    assert_eq!(lines.remove(0), "run_name,metrics.val_loss");
    assert_eq!(lines.len(), 3, "{filtered}");
}

/// Runs the MLflow client script `tests/python/NAME MODE` in `cwd` against `daemon`; returns the
/// JSON summary it prints last.
fn run_client_script(daemon: &Daemon, name: &str, mode: &str, cwd: &Path) -> Value {
    let output = scrubbed(python())
        .arg(script(name))
        .arg(mode)
        .current_dir(cwd)
        .env("MLFLOW_TRACKING_URI", daemon.url())
        .env("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
        .env("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        .env("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
        .output()
        .expect("python runs");
    serde_json::from_str(ok(&output).lines().last().expect("summary line")).expect("summary JSON")
}

#[test]
fn the_official_mlflow_client_deletes_renames_and_tags_experiments_and_logs_dataset_inputs() {
    let dir = tempdir();
    let daemon = Daemon::start(&dir.path().join("runs.db"));
    let summary = run_client_script(&daemon, "mlflow_parity.py", "proxied", dir.path());
    // `track query` and `track experiments` leave the deleted experiment and its run out.
    let rows: Vec<Value> = serde_json::from_str(&ok(&run_track(
        daemon.url(),
        &["query", "--format", "json"],
    )))
    .expect("query JSON");
    assert!(!rows.is_empty());
    assert!(
        rows.iter()
            .all(|r| r["run_id"] != summary["deleted_run_id"]),
        "{rows:?}"
    );
    let listed = ok(&run_track(
        daemon.url(),
        &["experiments", "--format", "csv"],
    ));
    assert!(listed.contains("parity-renamed"), "{listed}");
    assert!(!listed.contains("parity-gone"), "{listed}");
    // Named, the deleted experiment is refused, saying how to ask for it; asked for, it shows
    // its run, deleted with it.
    let named = run_track(
        daemon.url(),
        &["query", "-e", "parity-gone", "--format", "json"],
    );
    assert_eq!(named.status.code(), Some(2), "{}", stdout(&named));
    let stderr = String::from_utf8_lossy(&named.stderr);
    assert!(
        stderr.contains("parity-gone") && stderr.contains("--view"),
        "{stderr}"
    );
    let asked = ok(&run_track(
        daemon.url(),
        &[
            "query",
            "-e",
            "parity-gone",
            "--view",
            "deleted",
            "--format",
            "json",
        ],
    ));
    let rows: Vec<Value> = serde_json::from_str(&asked).expect("query JSON");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["run_id"], summary["deleted_run_id"]);
}

#[test]
fn with_no_serve_artifacts_the_mlflow_client_writes_artifacts_under_the_root_itself() {
    let dir = tempdir();
    let root = dir.path().join("shared-artifacts");
    let root_text = root.display().to_string();
    let daemon = Daemon::start_with(
        &dir.path().join("runs.db"),
        "127.0.0.1:0",
        &["--no-serve-artifacts", "--artifact-root", &root_text],
    );
    let summary = run_client_script(&daemon, "mlflow_parity.py", "direct", dir.path());
    let experiment = summary["experiment_id"].as_str().expect("experiment id");
    let written: Vec<PathBuf> = std::fs::read_dir(root.join(experiment))
        .expect("the experiment's folder under the root")
        .map(|entry| entry.expect("entry").path().join("artifacts/dir/my.file"))
        .filter(|path| path.is_file())
        .collect();
    assert_eq!(written.len(), 1, "{written:?}");
}
