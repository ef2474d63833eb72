//! Tracker benchmarks against the real `track daemon` binary over HTTP (keep-alive `ureq`).
//!
//! - `tracker/log-batch/1000-metrics`: ingestion through `runs/log-batch` (elements = points).
//! - `tracker/log-metric/1`: one `runs/log-metric` request per iteration, one keep-alive client.
//! - `tracker/search/1000-runs-x100-steps-x6-metrics`: `runs/search` with a metric filter and
//!   order over 1,000 runs of 100 steps × 6 metrics (600,000 points).
//!
//! `cargo bench --bench tracker` runs them with criterion. With `TRACKER_LOAD_REPORT=1` the bench
//! instead runs the load once (`scripts/load-tracker.sh`): it fills a fresh daemon through HTTP,
//! measures the same three figures plus the daemon's resident memory from `/proc`, and prints
//! them as JSON. `TRACKER_LOAD_URL` (and `TRACKER_LOAD_PID`) point the same load at another
//! server of the MLflow API instead (`scripts/load-mlflow.sh` measures `mlflow server` so).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use serde_json::{Value, json};

const RUNS: usize = 1000;
const STEPS: i64 = 100;
const METRICS: [&str; 6] = [
    "train_loss",
    "val_loss",
    "train_acc",
    "val_acc",
    "lr",
    "grad_norm",
];
const FILTER: &str = "metrics.val_loss < 0.5 and params.optimizer = 'adamw'";
const ORDER: &str = "metrics.val_loss ASC";

/// A `track daemon` child process on a free loopback port.
struct DaemonProcess {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl DaemonProcess {
    fn start() -> DaemonProcess {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut child = Command::new(env!("CARGO_BIN_EXE_track"))
            .args(["daemon", "--addr", "127.0.0.1:0", "--db"])
            .arg(dir.path().join("bench.db"))
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("track daemon starts");
        let stderr = child.stderr.take().expect("stderr piped");
        let mut lines = BufReader::new(stderr).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("the daemon announces its address")
                .expect("stderr reads");
            if let Some(rest) = line.split(" on http://").nth(1) {
                break format!(
                    "http://{}",
                    rest.split_whitespace().next().expect("address")
                );
            }
        };
        // Keep draining stderr so the daemon never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        DaemonProcess {
            child,
            url,
            _dir: dir,
        }
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Client {
    agent: ureq::Agent,
    url: String,
}

impl Client {
    fn new(url: &str) -> Client {
        Client {
            agent: ureq::Agent::new_with_defaults(),
            url: format!("{url}/api/2.0/mlflow"),
        }
    }

    fn post(&self, path: &str, body: &Value) -> Value {
        self.agent
            .post(format!("{}/{path}", self.url))
            .send_json(body)
            .expect("request succeeds")
            .into_body()
            .read_json()
            .expect("JSON answer")
    }

    fn experiment(&self, name: &str) -> String {
        let answer = self.post("experiments/create", &json!({ "name": name }));
        answer["experiment_id"]
            .as_str()
            .expect("experiment id")
            .to_string()
    }

    fn run(&self, experiment_id: &str, index: usize) -> String {
        let answer = self.post(
            "runs/create",
            &json!({ "experiment_id": experiment_id, "run_name": format!("run-{index}"), "start_time": index }),
        );
        answer["run"]["info"]["run_id"]
            .as_str()
            .expect("run id")
            .to_string()
    }

    fn search(&self, experiment_id: &str) -> usize {
        let answer = self.post(
            "runs/search",
            &json!({ "experiment_ids": [experiment_id], "filter": FILTER, "order_by": [ORDER], "max_results": 1000 }),
        );
        answer["runs"].as_array().map_or(0, Vec::len)
    }
}

/// One run's 100 steps × 6 metrics as one log-batch body (600 points), seeded by the run index.
fn run_batch(run_id: &str, index: usize) -> Value {
    let mut metrics = Vec::with_capacity(METRICS.len() * STEPS as usize);
    for step in 0..STEPS {
        for (k, key) in METRICS.iter().enumerate() {
            let value = ((index * 31 + k * 7) % 100) as f64 / 100.0 + 1.0 / (step as f64 + 1.0);
            metrics.push(json!({ "key": key, "value": value, "timestamp": 1_700_000_000_000_i64 + step, "step": step }));
        }
    }
    let optimizer = if index.is_multiple_of(2) {
        "adamw"
    } else {
        "sgd"
    };
    json!({ "run_id": run_id, "metrics": metrics,
            "params": [{"key": "optimizer", "value": optimizer}, {"key": "lr", "value": format!("{}", 0.001 * (index % 5 + 1) as f64)}] })
}

/// Fills `experiment_id` with 1,000 runs × 100 steps × 6 metrics; returns points/s of the
/// log-batch requests alone.
fn fill(client: &Client, experiment_id: &str) -> f64 {
    let mut busy = Duration::ZERO;
    for index in 0..RUNS {
        let run_id = client.run(experiment_id, index);
        let body = run_batch(&run_id, index);
        let started = Instant::now();
        client.post("runs/log-batch", &body);
        busy += started.elapsed();
    }
    (RUNS * METRICS.len() * STEPS as usize) as f64 / busy.as_secs_f64()
}

/// Resident memory of `pid` and all its descendants (a server made of worker processes counts
/// whole), from `/proc`.
fn tree_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let own: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let children =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    own + children
        .split_whitespace()
        .filter_map(|c| c.parse().ok())
        .map(tree_rss_kib)
        .sum::<u64>()
}

/// The server under load: our own `track daemon`, or (with `TRACKER_LOAD_URL`, and
/// `TRACKER_LOAD_PID` for its memory) any server of the MLflow REST API, such as `mlflow server`.
enum Server {
    Own(DaemonProcess),
    External { url: String, pid: Option<u32> },
}

impl Server {
    fn from_env() -> Server {
        match std::env::var("TRACKER_LOAD_URL") {
            Ok(url) => Server::External {
                url: url.trim_end_matches('/').to_string(),
                pid: std::env::var("TRACKER_LOAD_PID")
                    .ok()
                    .and_then(|p| p.parse().ok()),
            },
            Err(_) => Server::Own(DaemonProcess::start()),
        }
    }

    fn url(&self) -> &str {
        match self {
            Server::Own(daemon) => &daemon.url,
            Server::External { url, .. } => url,
        }
    }

    fn rss_kib(&self) -> u64 {
        match self {
            Server::Own(daemon) => tree_rss_kib(daemon.child.id()),
            Server::External { pid, .. } => pid.map_or(0, tree_rss_kib),
        }
    }
}

fn load_report() {
    let daemon = Server::from_env();
    let client = Client::new(daemon.url());
    // A fresh experiment name each time, so a long-lived external server can be measured again.
    let name = format!(
        "load-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    );
    let experiment_id = client.experiment(&name);
    let rss_idle_kib = daemon.rss_kib();
    let ingest_points_per_sec = fill(&client, &experiment_id);

    let run_id = client.run(&experiment_id, RUNS);
    let requests = 5000;
    let started = Instant::now();
    for step in 0..requests {
        client.post(
            "runs/log-metric",
            &json!({ "run_id": run_id, "run_uuid": run_id, "key": "loss", "value": 1.0, "timestamp": step, "step": step }),
        );
    }
    let log_metric_per_sec = requests as f64 / started.elapsed().as_secs_f64();

    let mut latencies_ms: Vec<f64> = (0..20)
        .map(|_| {
            let started = Instant::now();
            let found = client.search(&experiment_id);
            assert!(found > 0, "the filter matches runs");
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    latencies_ms.sort_by(f64::total_cmp);
    let report = json!({
        "runs": RUNS, "steps": STEPS, "metrics_per_step": METRICS.len(),
        "log_batch_points_per_sec": ingest_points_per_sec.round(),
        "log_metric_requests_per_sec": log_metric_per_sec.round(),
        "search_ms_median": latencies_ms[latencies_ms.len() / 2],
        "search_ms_max": latencies_ms[latencies_ms.len() - 1],
        "search_matches": client.search(&experiment_id),
        "server": daemon.url(),
        "daemon_rss_mib_idle": rss_idle_kib as f64 / 1024.0,
        "daemon_rss_mib_after_load": daemon.rss_kib() as f64 / 1024.0,
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&report).unwrap_or_default()
    );
}

fn main() {
    if std::env::var_os("TRACKER_LOAD_REPORT").is_some() {
        load_report();
        return;
    }
    let mut criterion = Criterion::default().configure_from_args();
    let daemon = DaemonProcess::start();
    let client = Client::new(&daemon.url);

    let experiment_id = client.experiment("ingest");
    let run_id = client.run(&experiment_id, 0);
    let mut group = criterion.benchmark_group("tracker/log-batch");
    group.throughput(Throughput::Elements(1000));
    let mut step = 0_i64;
    group.bench_function("1000-metrics", |b| {
        b.iter(|| {
            let metrics: Vec<Value> = (0..1000)
                .map(|i| json!({ "key": METRICS[i % METRICS.len()], "value": i as f64 * 0.5, "timestamp": step, "step": step }))
                .collect();
            step += 1;
            client.post("runs/log-batch", &json!({ "run_id": run_id, "metrics": metrics }))
        })
    });
    group.finish();

    let mut group = criterion.benchmark_group("tracker/log-metric");
    group.throughput(Throughput::Elements(1));
    group.bench_function("1", |b| {
        b.iter(|| {
            step += 1;
            client.post("runs/log-metric", &json!({ "run_id": run_id, "key": "loss", "value": 0.5, "timestamp": step, "step": step }))
        })
    });
    group.finish();

    let query_experiment = client.experiment("query");
    fill(&client, &query_experiment);
    let mut group = criterion.benchmark_group("tracker/search");
    group.sample_size(20);
    group.bench_function("1000-runs-x100-steps-x6-metrics", |b| {
        b.iter(|| client.search(&query_experiment))
    });
    group.finish();
    criterion.final_summary();
}
