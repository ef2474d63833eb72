//! `track train` end to end: the bundled data, a real `track daemon` on 127.0.0.1, and the run
//! read back over the MLflow API and with `track query`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const TRACK: &str = env!("CARGO_BIN_EXE_track");
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/fashion-mnist-mini");

/// Every metric `track train` records per epoch.
const EPOCH_METRICS: [&str; 10] = [
    "train_loss",
    "train_acc",
    "train_eval_loss",
    "train_eval_acc",
    "val_loss",
    "val_acc",
    "lr",
    "epoch_secs",
    "images_per_sec",
    "data_wait_secs",
];

/// A `track daemon` on 127.0.0.1:0 over a database file; killed on drop.
pub(crate) struct Daemon {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub(crate) url: String,
}

impl Daemon {
    /// Starts a daemon over `db` and waits until it serves.
    pub(crate) fn start(db: &Path) -> Result<Self, Box<dyn std::error::Error>> {
        let mut child = Command::new(TRACK)
            .args(["daemon", "--addr", "127.0.0.1:0", "--db"])
            .arg(db)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child.stderr.take().ok_or("no daemon stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        let url = loop {
            let line = lines.next().ok_or("the daemon exited before serving")??;
            if let Some(rest) = line.split(" on http://").nth(1) {
                let addr = rest.split_whitespace().next().ok_or("no address")?;
                break format!("http://{addr}");
            }
        };
        // Keep draining stderr so the daemon never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(Self { child, url })
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn get_json(url: &str) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    Ok(ureq::get(url).call()?.body_mut().read_json()?)
}

#[test]
fn train_records_a_finished_run_with_every_metric_per_epoch() -> TestResult {
    let dir = tempfile::tempdir()?;
    let daemon = Daemon::start(&dir.path().join("track.db"))?;
    let output = Command::new(TRACK)
        .args([
            "train",
            "--quiet",
            "--json",
            "--experiment",
            "e2e",
            "--tracking-uri",
            &daemon.url,
        ])
        .arg("--checkpoint-dir")
        .arg(dir.path().join("checkpoints"))
        .args(["--set", &format!("data.path={DATA:?}")])
        .args(["--set", "data.limit=192", "--set", "train.epochs=2"])
        .args([
            "--set",
            "model.conv_channels=[8]",
            "--set",
            "model.dense_units=[32]",
        ])
        .output()?;
    assert!(
        output.status.success(),
        "track train failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    assert_eq!(summary["status"], "FINISHED");
    assert_eq!(summary["epochs"].as_array().map(Vec::len), Some(2));
    let run_id = summary["run_id"].as_str().ok_or("no run id")?;

    // The run as the daemon stored it.
    let run = get_json(&format!(
        "{}/api/2.0/mlflow/runs/get?run_id={run_id}",
        daemon.url
    ))?;
    assert_eq!(run["run"]["info"]["status"], "FINISHED");
    let params = run["run"]["data"]["params"].as_array().ok_or("no params")?;
    let param = |key: &str| {
        params
            .iter()
            .find(|p| p["key"] == key)
            .and_then(|p| p["value"].as_str())
            .map(str::to_string)
    };
    assert_eq!(param("data.limit").as_deref(), Some("192"));
    assert_eq!(param("model.conv_channels").as_deref(), Some("[8]"));
    assert_eq!(param("optim.optimizer").as_deref(), Some("adam"));
    assert_eq!(param("num_classes").as_deref(), Some("10"));
    assert!(param("num_params").is_some() && param("gapwatch_version").is_some());
    for metric in EPOCH_METRICS {
        let history = get_json(&format!(
            "{}/api/2.0/mlflow/metrics/get-history?run_id={run_id}&metric_key={metric}",
            daemon.url
        ))?;
        let mut steps: Vec<i64> = history["metrics"]
            .as_array()
            .ok_or("no history")?
            .iter()
            .filter_map(|m| m["step"].as_i64())
            .collect();
        steps.sort_unstable();
        assert_eq!(steps, vec![1, 2], "{metric}");
    }
    let test_acc = get_json(&format!(
        "{}/api/2.0/mlflow/metrics/get-history?run_id={run_id}&metric_key=test_acc",
        daemon.url
    ))?;
    assert_eq!(test_acc["metrics"].as_array().map(Vec::len), Some(1));

    // And `track query` finds it by its params.
    let query = Command::new(TRACK)
        .args([
            "query",
            "--tracking-uri",
            &daemon.url,
            "params.`data.limit` = '192'",
        ])
        .output()?;
    assert!(
        query.status.success(),
        "track query: {}",
        String::from_utf8_lossy(&query.stderr)
    );
    assert!(String::from_utf8_lossy(&query.stdout).contains(run_id));
    Ok(())
}

#[test]
fn a_bad_config_key_is_named_and_nothing_is_trained() -> TestResult {
    let dir = tempfile::tempdir()?;
    let output = Command::new(TRACK)
        .args(["train", "--quiet", "--tracking-uri", "http://127.0.0.1:9"])
        .args(["--set", "optim.learnig_rate=0.1"])
        .current_dir(dir.path())
        .output()?;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("learnig_rate"), "{stderr}");
    Ok(())
}
