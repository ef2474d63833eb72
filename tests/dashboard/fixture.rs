//! The runs the dashboard tests look at, made once per test binary and shared: a real
//! `track daemon` (alive until the binary exits) over a database under
//! `target/dashboard-fixture/`, holding, in one experiment,
//!
//! - two runs trained by `track train` on the bundled data that differ in dropout and weight
//!   decay (the unregularized one overfits, with ranked causes);
//! - a run logged by the official MLflow client, with the run link the client printed;
//! - a run created through the REST API whose name is an HTML tag with a script in it.
//!
//! Tests that need a RUNNING run or a token start their own (see `live` and `security`).

use std::path::PathBuf;
use std::process::{Child, Output, Stdio};
use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::util::{
    DATA, Daemon, data_path, python, script, scrubbed, sets, target_dir, tied_to_this_process,
    track, track_at,
};

/// The experiment every fixture run is recorded under.
pub(crate) const EXPERIMENT: &str = "dashboard";
/// The run name that would run a script if a page put it in as HTML.
pub(crate) const XSS_NAME: &str = "<img src=x onerror=alert(1)>";
/// The name the MLflow client gives its run.
const MLFLOW_RUN_NAME: &str = "mlflow-client";

/// What both trained runs share: the bundled data, 200 images, a small CNN trained fast enough
/// (15 epochs at a brisk rate, batches of 16) to memorize its training set in a few seconds.
const TRAIN_SETS: [&str; 10] = [
    "data.limit=200",
    "data.val_source=test",
    "train.epochs=15",
    "loader.batch_size=16",
    "optim.learning_rate=0.01",
    "model.conv_channels=[8]",
    "model.dense_units=[128]",
    "model.conv_dropout=0",
    "transforms.augment=none",
    "early_stopping.enabled=false",
];
/// The unregularized run: no dropout, no weight decay.
const BASELINE_SETS: [&str; 2] = ["model.dense_dropout=0", "optim.weight_decay=0"];
/// The regularized run: dropout and weight decay.
const REGULARIZED_SETS: [&str; 2] = ["model.dense_dropout=0.5", "optim.weight_decay=0.0005"];

/// A run of the fixture.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    /// Its run id.
    pub(crate) id: String,
    /// Its name.
    pub(crate) name: String,
}

/// The shared daemon and its runs.
pub(crate) struct Fixture {
    /// The daemon every test but the token tests talks to.
    pub(crate) daemon: Daemon,
    /// Its database file (a token test starts its own daemon over it).
    pub(crate) db: PathBuf,
    /// The id of [`EXPERIMENT`].
    pub(crate) experiment_id: String,
    /// Trained without dropout or weight decay.
    pub(crate) baseline: Run,
    /// Trained with both.
    pub(crate) regularized: Run,
    /// Logged by the official MLflow client.
    pub(crate) mlflow: Run,
    /// The link the MLflow client printed for [`Fixture::mlflow`] ("View run ... at: URL").
    pub(crate) mlflow_link: String,
    /// Named [`XSS_NAME`].
    pub(crate) xss: Run,
}

impl Fixture {
    /// Every run of [`EXPERIMENT`].
    pub(crate) fn runs(&self) -> [&Run; 4] {
        [&self.baseline, &self.regularized, &self.mlflow, &self.xss]
    }

    /// `http://127.0.0.1:PORT` of the shared daemon.
    pub(crate) fn url(&self) -> &str {
        self.daemon.url()
    }

    /// The experiment page of [`EXPERIMENT`].
    pub(crate) fn experiment_page(&self) -> String {
        format!("{}/#/experiments/{}", self.url(), self.experiment_id)
    }

    /// The run page of `run`.
    pub(crate) fn run_page(&self, run: &Run) -> String {
        format!("{}/runs/{}", self.experiment_page(), run.id)
    }

    /// `track analyze --json RUN` against the shared daemon; `None` when `track analyze`
    /// refuses the run (a run it cannot analyse).
    pub(crate) fn analysis(&self, run: &Run) -> Option<Value> {
        let output = track_at(self.url())
            .args(["analyze", "--json", &run.id])
            .output()
            .expect("track analyze runs");
        output
            .status
            .success()
            .then(|| serde_json::from_slice(&output.stdout).expect("analyze prints JSON"))
    }

    /// `track ARGS --tracking-uri URL` against the shared daemon: its JSON output.
    pub(crate) fn track_json(&self, args: &[&str]) -> Value {
        crate::util::json(
            &track_at(self.url())
                .args(args)
                .output()
                .expect("track runs"),
        )
    }
}

static FIXTURE: OnceLock<Result<Fixture, String>> = OnceLock::new();

/// The fixture, made by the first test that asks; every test fails with the same message if it
/// could not be made.
pub(crate) fn fixture() -> &'static Fixture {
    let made = FIXTURE.get_or_init(|| {
        std::panic::catch_unwind(make).map_err(|panic| {
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
                .unwrap_or_else(|| "a panic".into())
        })
    });
    match made {
        Ok(fixture) => fixture,
        Err(e) => panic!("the dashboard fixture could not be made: {e}"),
    }
}

/// POSTs `body` to the MLflow API path `path` (`runs/create`) of the daemon at `url`.
pub(crate) fn post(url: &str, path: &str, body: &Value) -> Value {
    ureq::post(format!("{url}/api/2.0/mlflow/{path}"))
        .send_json(body)
        .unwrap_or_else(|e| panic!("POST {path}: {e}"))
        .body_mut()
        .read_json()
        .unwrap_or_else(|e| panic!("POST {path} answers JSON: {e}"))
}

/// Now, ms since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Per-epoch points of `train_loss`, `val_loss`, `train_acc`, `val_acc` for epochs `epochs` of
/// a run that fits and then overfits (deterministic), as log-batch metrics.
pub(crate) fn epoch_metrics(epochs: std::ops::RangeInclusive<i64>) -> Vec<Value> {
    let start = now_ms();
    epochs
        .flat_map(|epoch| {
            let e = epoch as f64;
            let values = [
                ("train_loss", 2.0 * (-0.3 * e).exp() + 0.05),
                (
                    "val_loss",
                    1.0 + (-0.5 * e).exp() + 0.03 * (e - 4.0).max(0.0),
                ),
                ("train_acc", 1.0 - 0.8 * (-0.3 * e).exp()),
                ("val_acc", 0.7 - 0.4 * (-0.5 * e).exp()),
            ];
            values.map(|(key, value)| {
                json!({ "key": key, "value": value, "timestamp": start + epoch, "step": epoch })
            })
        })
        .collect()
}

/// Creates run `name` in `experiment_id` through the REST API, logs `epochs` of
/// [`epoch_metrics`] and a param; returns its id (the run stays RUNNING).
pub(crate) fn api_run(url: &str, experiment_id: &str, name: &str, epochs: i64) -> String {
    let created = post(
        url,
        "runs/create",
        &json!({ "experiment_id": experiment_id, "run_name": name, "start_time": now_ms() }),
    );
    let id = created["run"]["info"]["run_id"]
        .as_str()
        .expect("a run id")
        .to_string();
    post(
        url,
        "runs/log-batch",
        &json!({
            "run_id": id,
            "metrics": epoch_metrics(1..=epochs),
            "params": [{ "key": "val_size", "value": "200" }],
        }),
    );
    id
}

/// Ends run `id` as FINISHED through the REST API.
pub(crate) fn finish(url: &str, id: &str) {
    post(
        url,
        "runs/update",
        &json!({ "run_id": id, "status": "FINISHED", "end_time": now_ms() }),
    );
}

/// `track train --json` of run `name` to the daemon at `url`, started (not waited for).
fn start_training(url: &str, dir: &std::path::Path, name: &str, own: &[&str]) -> Child {
    let data = data_path(DATA);
    let mut values: Vec<&str> = vec![&data];
    values.extend(TRAIN_SETS);
    values.extend(own);
    track()
        .args(["train", "--quiet", "--json", "--experiment", EXPERIMENT])
        .args(["--tracking-uri", url, "--run-name", name])
        .arg("--checkpoint-dir")
        .arg(dir.join("checkpoints").join(name))
        .args(sets(&values))
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("track train starts")
}

/// What a finished child printed on stdout; panics with its stderr unless it succeeded.
fn finished(what: &str, child: Child) -> Output {
    let output = child.wait_with_output().expect("the child is reaped");
    assert!(
        output.status.success(),
        "{what} exited {}:\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The run id `track train --json` reported.
fn trained(name: &str, child: Child) -> Run {
    let output = finished(&format!("track train of {name}"), child);
    let summary: Value = serde_json::from_slice(&output.stdout).expect("train prints JSON");
    assert_eq!(summary["status"], "FINISHED", "{summary:#}");
    Run {
        id: summary["run_id"].as_str().expect("a run id").to_string(),
        name: name.to_string(),
    }
}

fn make() -> Fixture {
    let dir = target_dir().join("dashboard-fixture");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the fixture directory");
    let db = dir.join("dashboard.db");
    let mut command = track();
    command
        .args(["daemon", "--db"])
        .arg(&db)
        .args(["--addr", "127.0.0.1:0"]);
    let daemon = Daemon::spawn(tied_to_this_process(&command));
    let url = daemon.url().to_string();
    let created = post(&url, "experiments/create", &json!({ "name": EXPERIMENT }));
    let experiment_id = created["experiment_id"]
        .as_str()
        .expect("an experiment id")
        .to_string();

    // The two trainings and the MLflow client at once (two cores: about the time of one).
    let baseline = start_training(&url, &dir, "baseline", &BASELINE_SETS);
    let regularized = start_training(&url, &dir, "regularized", &REGULARIZED_SETS);
    let client = scrubbed(python())
        .arg(script("dashboard_run.py"))
        .args([EXPERIMENT, MLFLOW_RUN_NAME])
        .current_dir(&dir)
        .env("MLFLOW_TRACKING_URI", &url)
        .env("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        .env("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    let xss = Run {
        id: api_run(&url, &experiment_id, XSS_NAME, 8),
        name: XSS_NAME.to_string(),
    };
    finish(&url, &xss.id);

    let client = finished("the MLflow client (tests/python/dashboard_run.py)", client);
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&client.stdout),
        String::from_utf8_lossy(&client.stderr)
    );
    let summary: Value = serde_json::from_str(printed_summary(&client))
        .unwrap_or_else(|e| panic!("the MLflow client's summary line: {e}\n{printed}"));
    let mlflow = Run {
        id: summary["run_id"].as_str().expect("a run id").to_string(),
        name: MLFLOW_RUN_NAME.to_string(),
    };
    let prefix = format!("View run {MLFLOW_RUN_NAME} at: ");
    let mlflow_link = printed
        .lines()
        .find_map(|line| {
            line.split_once(&prefix)
                .map(|(_, link)| link.trim().to_string())
        })
        .unwrap_or_else(|| panic!("the MLflow client printed no run link:\n{printed}"));
    Fixture {
        daemon,
        db,
        experiment_id,
        baseline: trained("baseline", baseline),
        regularized: trained("regularized", regularized),
        mlflow,
        mlflow_link,
        xss,
    }
}

/// The last line the MLflow client script printed on stdout: its JSON summary.
fn printed_summary(output: &Output) -> &str {
    std::str::from_utf8(&output.stdout)
        .ok()
        .and_then(|s| s.lines().last())
        .unwrap_or_default()
}

/// GET `url` with `query` (percent-encoded) and `headers`, whatever the status: the status
/// and the body as text.
pub(crate) fn http_get(
    url: &str,
    query: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.get(url);
    for (key, value) in query {
        request = request.query(*key, *value);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let body = response.body_mut().read_to_string().unwrap_or_default();
    (response.status().as_u16(), body)
}
