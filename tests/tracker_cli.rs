//! The tracker end to end: the `track` binary's daemon driven by the official MLflow Python
//! client, killed with SIGKILL under load, and the `track query/show/runs/experiments/export`
//! commands against a daemon and an embedded database; a daemon's export read by pyarrow.
//!
//! Python-based tests need the venv that `scripts/test.sh` creates (`GAPWATCH_TEST_PYTHON`, or
//! `.venv/bin/python` in the workspace root); without it they fail, naming the script.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tracker::client::{Client, LoggerConfig};
use tracker::entities::{Metric, Param, RunStatus, RunTag};
use tracker::store::Store;

const TRACK: &str = env!("CARGO_BIN_EXE_track");

/// The Python interpreter of the test venv.
pub(crate) fn python() -> PathBuf {
    let candidate = std::env::var_os("GAPWATCH_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
    assert!(
        candidate.exists(),
        "no Python test environment at {}: run the tests with scripts/test.sh, which creates .venv \
         with mlflow-skinny, pandas, pyarrow and duckdb (or set GAPWATCH_TEST_PYTHON)",
        candidate.display()
    );
    candidate
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(name)
}

/// A `track` command with no tracking URI inherited from the environment.
fn track(uri: &str) -> Command {
    let mut command = Command::new(TRACK);
    command
        .env_remove("MLFLOW_TRACKING_URI")
        .env_remove("TRACK_TRACKING_URI")
        .env_remove("MLFLOW_TRACKING_TOKEN")
        .args(["--tracking-uri", uri]);
    command
}

fn run_track(uri: &str, args: &[&str]) -> Output {
    track(uri).args(args).output().expect("track runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        stdout(&output),
        String::from_utf8_lossy(&output.stderr)
    );
    stdout(&output)
}

/// A `track daemon` process; killed (SIGKILL) when dropped.
struct DaemonProcess {
    child: Child,
    url: String,
}

impl DaemonProcess {
    /// Starts `track daemon --db DB --addr ADDR` and waits for its "serving ... on http://" line.
    fn start(db: &Path, addr: &str) -> DaemonProcess {
        DaemonProcess::start_with(db, addr, &[])
    }

    /// [`DaemonProcess::start`] with more `track daemon` flags.
    fn start_with(db: &Path, addr: &str, flags: &[&str]) -> DaemonProcess {
        let mut command = Command::new(TRACK);
        command
            .args(["daemon", "--db"])
            .arg(db)
            .args(["--addr", addr])
            .args(flags);
        DaemonProcess::spawn(command)
    }

    /// Spawns a prepared `track ... daemon ...` command and waits for its address line.
    fn spawn(mut command: Command) -> DaemonProcess {
        let mut child = command
            .env_remove("TRACK_TOKEN_FILE")
            .env_remove("TRACK_DB")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("daemon starts");
        let stderr = child.stderr.take().expect("stderr piped");
        let (send, receive) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("http://") {
                    let url: String = line[at..]
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    let _ = send.send(url);
                }
            }
        });
        let url = receive
            .recv_timeout(Duration::from_secs(60))
            .expect("the daemon prints its address");
        DaemonProcess { child, url }
    }

    fn port(&self) -> &str {
        self.url.rsplit(':').next().expect("port")
    }

    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_official_mlflow_client_logs_to_the_daemon_and_track_query_sees_the_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let daemon = DaemonProcess::start(&dir.path().join("runs.db"), "127.0.0.1:0");
    let logged = run_client_script(&daemon, "mlflow_compat.py", "compat", dir.path());

    let listed = ok(run_track(
        &daemon.url,
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

    let filtered = ok(run_track(
        &daemon.url,
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
fn run_client_script(daemon: &DaemonProcess, name: &str, mode: &str, cwd: &Path) -> Value {
    let output = Command::new(python())
        .arg(script(name))
        .arg(mode)
        .current_dir(cwd)
        .env("MLFLOW_TRACKING_URI", &daemon.url)
        .env("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
        .env("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        .env("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
        .env_remove("MLFLOW_TRACKING_TOKEN")
        .output()
        .expect("python runs");
    serde_json::from_str(ok(output).lines().last().expect("summary line")).expect("summary JSON")
}

#[test]
fn the_official_mlflow_client_deletes_renames_and_tags_experiments_and_logs_dataset_inputs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let daemon = DaemonProcess::start(&dir.path().join("runs.db"), "127.0.0.1:0");
    let summary = run_client_script(&daemon, "mlflow_parity.py", "proxied", dir.path());
    // `track query` and `track experiments` leave the deleted experiment and its run out.
    let rows: Vec<Value> =
        serde_json::from_str(&ok(run_track(&daemon.url, &["query", "--format", "json"])))
            .expect("query JSON");
    assert!(!rows.is_empty());
    assert!(
        rows.iter()
            .all(|r| r["run_id"] != summary["deleted_run_id"]),
        "{rows:?}"
    );
    let listed = ok(run_track(&daemon.url, &["experiments", "--format", "csv"]));
    assert!(listed.contains("parity-renamed"), "{listed}");
    assert!(!listed.contains("parity-gone"), "{listed}");
    // Named, the deleted experiment is refused, saying how to ask for it; asked for, it shows
    // its run, deleted with it.
    let named = run_track(
        &daemon.url,
        &["query", "-e", "parity-gone", "--format", "json"],
    );
    assert_eq!(named.status.code(), Some(2), "{}", stdout(&named));
    let stderr = String::from_utf8_lossy(&named.stderr);
    assert!(
        stderr.contains("parity-gone") && stderr.contains("--view"),
        "{stderr}"
    );
    let asked = ok(run_track(
        &daemon.url,
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

/// `track daemon --artifact-root s3://...` cannot serve a bucket: refused at startup (exit 2,
/// naming `--no-serve-artifacts`) before the database is created.
#[test]
fn the_daemon_serves_the_database_the_global_tracking_uri_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("named.db");
    let mut command = track(&format!("sqlite:{}", db.display()));
    command
        .args(["daemon", "--addr", "127.0.0.1:0"])
        .current_dir(dir.path());
    let daemon = DaemonProcess::spawn(command);
    let client = Client::open(&daemon.url).expect("client");
    client
        .get_or_create_experiment("served")
        .expect("the daemon creates an experiment");
    daemon.kill();
    assert!(
        !dir.path().join("gapwatch.db").exists(),
        "the default database was served instead"
    );
    let names: Vec<String> = Client::open(&db.display().to_string())
        .expect("embedded")
        .list_experiments()
        .expect("experiments")
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert!(names.contains(&"served".to_string()), "{names:?}");
    // A global URI naming a daemon is not a database: refused, not replaced by the default.
    let refused = run_track("http://127.0.0.1:9", &["daemon", "--addr", "127.0.0.1:0"]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--db"), "{stderr}");
}

#[test]
fn a_quiet_daemon_writes_its_bound_address_to_the_addr_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let addr_file = dir.path().join("addr");
    let mut child = Command::new(TRACK)
        .args(["--quiet", "daemon", "--addr", "127.0.0.1:0", "--db"])
        .arg(dir.path().join("runs.db"))
        .arg("--addr-file")
        .arg(&addr_file)
        .env_remove("TRACK_TOKEN_FILE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("daemon starts");
    let started = Instant::now();
    let url = loop {
        if let Ok(text) = std::fs::read_to_string(&addr_file) {
            break text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no address file after a minute"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(url.ends_with('\n'), "one whole line: {url:?}");
    let url = url.trim();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let health = ureq::get(&format!("{url}/health")).call();
    let _ = child.kill();
    let output = child.wait_with_output().expect("reaped");
    assert!(health.is_ok(), "{health:?}");
    assert!(
        output.stderr.is_empty(),
        "--quiet prints nothing: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_daemon_serving_artifacts_from_a_bucket_uri_is_refused_at_startup() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("runs.db");
    let mut child = Command::new(TRACK)
        .args(["daemon", "--db"])
        .arg(&db)
        .args(["--addr", "127.0.0.1:0", "--artifact-root", "s3://bucket/x"])
        .env_remove("TRACK_TOKEN_FILE")
        .env_remove("TRACK_ARTIFACT_ROOT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("track runs");
    // A daemon that accepted the root would serve until killed: a minute is a wide margin for
    // a refusal, and keeps the test from hanging.
    let started = Instant::now();
    while child.try_wait().expect("status").is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the daemon started with an s3:// artifact root it cannot serve");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--no-serve-artifacts") && stderr.contains("s3://bucket/x"),
        "{stderr}"
    );
    assert!(!db.exists(), "no database created");
}

#[test]
fn with_no_serve_artifacts_the_mlflow_client_writes_artifacts_under_the_root_itself() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("shared-artifacts");
    let root_text = root.display().to_string();
    let daemon = DaemonProcess::start_with(
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

#[test]
fn a_daemon_killed_with_sigkill_loses_no_acknowledged_metric_and_buffered_ones_arrive_after_restart()
 {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("runs.db");
    let daemon = DaemonProcess::start(&db, "127.0.0.1:0");
    let port = daemon.port().to_string();
    let client = Client::open(&daemon.url).expect("client");
    let experiment = client
        .get_or_create_experiment("durability")
        .expect("experiment");
    let run_id = client
        .create_run(&experiment.experiment_id, Some("kill-9"), &[])
        .expect("run")
        .info
        .run_id;
    let config = LoggerConfig {
        batch_size: 50,
        initial_backoff_ms: 20,
        max_backoff_ms: 200,
        flush_timeout_secs: 60,
        ..LoggerConfig::default()
    };
    let logger = client.logger(&run_id, config).expect("logger");

    const TOTAL: i64 = 3000;
    let log_range = |steps: std::ops::Range<i64>| {
        for step in steps {
            logger.log_metrics(
                [
                    ("loss", 1.0 / (step + 1) as f64),
                    ("acc", step as f64 / TOTAL as f64),
                ],
                step,
            );
            if step % 100 == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    };
    log_range(0..1000);
    let started = Instant::now();
    while logger.stats().sent == 0 && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let acknowledged = logger.stats().sent;
    assert!(acknowledged > 0, "nothing acknowledged before the kill");
    daemon.kill();
    log_range(1000..2000);

    // Every point acknowledged before the kill is in the database (points are sent in order).
    {
        let store = Store::open(&db).expect("the database opens after kill -9");
        let mut stored: Vec<(i64, String)> = store
            .run_metrics(&run_id)
            .expect("metrics")
            .into_iter()
            .map(|m| (m.step, m.key))
            .collect();
        stored.sort();
        let expected_steps = i64::try_from(acknowledged / 2).expect("fits");
        for step in 0..expected_steps {
            assert!(
                stored.binary_search(&(step, "loss".to_string())).is_ok(),
                "acknowledged loss@{step} lost"
            );
            assert!(
                stored.binary_search(&(step, "acc".to_string())).is_ok(),
                "acknowledged acc@{step} lost"
            );
        }
    }
    let stats = logger.stats();
    assert!(
        stats.pending > 0 && stats.retries > 0,
        "the logger keeps points while the daemon is down: {stats:?}"
    );

    let restarted = DaemonProcess::start(&db, &format!("127.0.0.1:{port}"));
    log_range(2000..TOTAL);
    let stats = logger.finish(RunStatus::Finished).expect("finish");
    assert_eq!(
        (stats.logged, stats.sent, stats.lost()),
        (2 * TOTAL as u64, 2 * TOTAL as u64, 0),
        "{stats:?}"
    );
    let history = client.metric_history(&run_id, "loss").expect("history");
    assert_eq!(
        history.iter().map(|m| m.step).collect::<Vec<_>>(),
        (0..TOTAL).collect::<Vec<_>>()
    );
    assert_eq!(
        client.get_run(&run_id).expect("run").info.status,
        RunStatus::Finished
    );
    drop(restarted);
}

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

/// `track query --view`, `track experiments --view` and `track export --include-deleted`
/// against `uri`: deleted experiments and runs (made by [`populate`]) shown only when asked for.
fn exercise_deleted(uri: &str, out: &Path) {
    let names = |args: &[&str]| -> Vec<String> {
        let mut args = args.to_vec();
        args.extend(["--columns", "run_name", "--format", "csv"]);
        let mut names: Vec<String> = ok(run_track(uri, &args))
            .lines()
            .skip(1)
            .map(String::from)
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(&["query", "--view", "deleted"]), ["dropped", "ghost"]);
    assert_eq!(
        names(&["query", "--view", "all"]),
        ["base", "dropped", "ghost", "reg", "tiny"]
    );
    assert_eq!(
        names(&["query", "-e", "cnn", "--view", "deleted"]),
        ["dropped"]
    );
    assert_eq!(names(&["query", "-e", "gone", "--view", "all"]), ["ghost"]);
    let refused = run_track(uri, &["query", "-e", "gone"]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("\"gone\" is deleted") && stderr.contains("--view"),
        "{stderr}"
    );

    let experiments = |view: &str| -> Vec<String> {
        ok(run_track(
            uri,
            &["experiments", "--view", view, "--format", "csv"],
        ))
        .lines()
        .skip(1)
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            format!("{}:{}", cells[1], cells[cells.len() - 1])
        })
        .collect()
    };
    assert_eq!(experiments("deleted"), ["gone:deleted"]);
    assert_eq!(
        experiments("all"),
        ["Default:active", "cnn:active", "mlp:active", "gone:deleted"]
    );

    let out_text = out.display().to_string();
    let refused = run_track(uri, &["export", "-e", "gone", "--out", &out_text]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--include-deleted"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let exported = ok(run_track(
        uri,
        &["export", "--include-deleted", "--out", &out_text, "--json"],
    ));
    let mut runs: Vec<(String, u64)> = exported
        .lines()
        .map(|line| {
            let summary: Value = serde_json::from_str(line).expect("summary");
            (
                summary["experiment_name"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                summary["runs"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    runs.sort();
    assert_eq!(
        runs,
        [
            ("Default".to_string(), 0),
            ("cnn".to_string(), 3),
            ("gone".to_string(), 1),
            ("mlp".to_string(), 1)
        ]
    );
}

/// Every CLI command against `uri`; returns the outputs that must not depend on the backend.
fn exercise_cli(uri: &str, ids: &[String], out: &Path) -> Vec<String> {
    let query = ok(run_track(
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

    let csv = ok(run_track(
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
    let table = ok(run_track(
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

    let show = ok(run_track(uri, &["show", ids[0].as_str()]));
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
    let by_name = ok(run_track(uri, &["show", "tiny", "--format", "json"]));
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

    let runs = ok(run_track(uri, &["runs", "--format", "csv"]));
    assert_eq!(runs.lines().count(), 4, "{runs}");
    assert!(runs.starts_with("run_id,run_name,experiment_id,status,start_time,end_time\n"));
    assert_eq!(
        ok(run_track(
            uri,
            &["runs", "--experiment", "mlp", "-n", "5", "--format", "csv"]
        ))
        .lines()
        .count(),
        2
    );

    let experiments = ok(run_track(uri, &["experiments", "--format", "csv"]));
    let names: Vec<&str> = experiments
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap_or(""))
        .collect();
    assert_eq!(names, ["Default", "cnn", "mlp"]);

    let exported = ok(run_track(
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
    let dir = tempfile::tempdir().expect("temp dir");
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
    let daemon = DaemonProcess::start(&db, "127.0.0.1:0");
    let served = exercise_cli(&daemon.url, &ids, &dir.path().join("export-daemon"));
    exercise_deleted(&daemon.url, &dir.path().join("deleted-daemon"));
    assert_eq!(
        embedded, served,
        "the same answers from the store embedded and served"
    );

    // The whole export through the daemon, read back as a pyarrow dataset with no options
    // (every engine reads an embedded export in `export_cli`).
    let out = dir.path().join("export-all");
    ok(run_track(
        &daemon.url,
        &["export", "--out", &out.display().to_string()],
    ));
    let output = Command::new(python)
        .arg(script("read_export.py"))
        .arg("pyarrow")
        .arg(&out)
        .output()
        .expect("python runs");
    let report: Value = serde_json::from_str(ok(output).trim()).expect("report JSON");
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
