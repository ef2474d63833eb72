//! The web dashboard in a real headless Chromium (Debian's `chromium` and `chromium-driver`),
//! served by [`tracker::api::Daemon`] over a store filled straight through [`Store`]:
//!
//! - `dashboard/experiment-10000-runs/first-rows`: from `goto("#/experiments/<id>")` (a fresh
//!   page load) to the first `tr[data-run-id]` in the page, for an experiment of 10,000 finished
//!   runs (3 params, 10 epochs of train/val loss and accuracy each). Target: under 1 s.
//! - `dashboard/run-6x100000-steps/charts-drawn`: from `goto(run page)` to both `#chart-loss`
//!   and `#chart-acc` carrying `data-drawn="true"`, for a run of 6 metrics of 100,000 steps
//!   each. Target: under 500 ms.
//! - the total size of the dashboard's assets as the daemon serves them (target: under 300 KB).
//!
//! Times are wall-clock, as a user waits: they include WebDriver's round trips (a few ms each).
//! The figures (medians of the measured page loads) are also printed as one JSON line at the
//! end. Without chromedriver the bench says what to install and exits 2.
//!
//! `cargo bench --bench dashboard`.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode};
use serde_json::json;
use tracker::api::{Daemon, DaemonConfig};
use tracker::entities::{Metric, Param, RunStatus};
use tracker::store::{CreateRun, Store};

#[allow(dead_code)]
#[path = "../tests/dashboard/browser.rs"]
mod browser;

use browser::Browser;

/// Runs of the large experiment.
const RUNS: usize = 10_000;
/// Epochs per run of the large experiment.
const EPOCHS: i64 = 10;
/// Metrics of the long run.
const LONG_METRICS: [&str; 6] = [
    "train_loss",
    "val_loss",
    "train_acc",
    "val_acc",
    "lr",
    "grad_norm",
];
/// Steps per metric of the long run.
const LONG_STEPS: i64 = 100_000;
/// Points per log-batch when filling the long run.
const CHUNK: usize = 20_000;
/// Threads writing the large experiment (the store's writer thread commits what they queue).
const WRITERS: usize = 8;
/// How long one page may take before the bench gives up on it.
const PAGE_TIMEOUT: Duration = Duration::from_secs(60);

/// The values of run `index` at `epoch`: a train loss that falls and a validation loss that
/// bottoms out, varied by the run's params.
fn epoch_points(index: usize, start: i64) -> Vec<Metric> {
    let spread = (index % 97) as f64 / 97.0;
    (1..=EPOCHS)
        .flat_map(|epoch| {
            let e = epoch as f64;
            [
                ("train_loss", 2.0 * (-0.3 * e).exp() + 0.05 * spread),
                ("val_loss", 1.0 + (-0.5 * e).exp() + 0.02 * spread * e),
                ("train_acc", 1.0 - 0.8 * (-0.3 * e).exp()),
                ("val_acc", 0.7 - 0.4 * (-0.5 * e).exp() - 0.01 * spread),
            ]
            .map(|(key, value)| Metric {
                key: key.into(),
                value,
                timestamp: start + epoch * 1000,
                step: epoch,
            })
        })
        .collect()
}

/// Writes run `index` of the large experiment: created, 3 params, [`EPOCHS`] epochs, finished.
fn write_run(store: &Store, experiment_id: &str, index: usize) {
    let start = 1_700_000_000_000 + index as i64 * 60_000;
    let run = store
        .create_run(CreateRun {
            experiment_id: experiment_id.into(),
            run_name: Some(format!("run-{index:05}")),
            start_time: Some(start),
            ..Default::default()
        })
        .expect("run created");
    let id = run.info.run_id;
    let params = [
        (
            "optim.learning_rate",
            format!("{}", 0.001 * (index % 5 + 1) as f64),
        ),
        (
            "model.dense_dropout",
            format!("{}", (index % 3) as f64 * 0.25),
        ),
        ("optim.optimizer", ["adam", "sgd"][index % 2].to_string()),
    ]
    .map(|(key, value)| Param {
        key: key.into(),
        value,
    });
    store
        .log_batch(&id, &epoch_points(index, start), &params, &[])
        .expect("batch logged");
    store
        .update_run(&id, Some(RunStatus::Finished), Some(start + 30_000), None)
        .expect("run finished");
}

/// An experiment of [`RUNS`] finished runs; returns its id.
fn fill_experiment(store: &Store) -> String {
    let experiment_id = store
        .create_experiment("bench-10000-runs", None, &[])
        .expect("experiment created");
    std::thread::scope(|scope| {
        for writer in 0..WRITERS {
            let (store, experiment_id) = (store, &experiment_id);
            scope.spawn(move || {
                for index in (writer..RUNS).step_by(WRITERS) {
                    write_run(store, experiment_id, index);
                }
            });
        }
    });
    experiment_id
}

/// A run of [`LONG_METRICS`] × [`LONG_STEPS`] steps; returns (experiment id, run id).
fn fill_long_run(store: &Store) -> (String, String) {
    let experiment_id = store
        .create_experiment("bench-long-run", None, &[])
        .expect("experiment created");
    let run = store
        .create_run(CreateRun {
            experiment_id: experiment_id.clone(),
            run_name: Some("long".into()),
            ..Default::default()
        })
        .expect("run created");
    let id = run.info.run_id;
    let points: Vec<Metric> = (0..LONG_STEPS)
        .flat_map(|step| {
            let s = step as f64;
            let t = s / LONG_STEPS as f64;
            let wiggle = (s * 0.37).sin() * 0.05;
            [
                2.0 * (-4.0 * t).exp() + 0.05 + wiggle,
                1.0 + (-5.0 * t).exp() + 0.2 * t + wiggle,
                1.0 - 0.8 * (-4.0 * t).exp() + wiggle * 0.1,
                0.7 - 0.4 * (-5.0 * t).exp() + wiggle * 0.1,
                0.01 * (1.0 - t),
                1.0 + (s * 0.013).cos().abs(),
            ]
            .into_iter()
            .zip(LONG_METRICS)
            .map(move |(value, key)| Metric {
                key: key.into(),
                value,
                timestamp: 1_700_000_000_000 + step * 10,
                step,
            })
        })
        .collect();
    for chunk in points.chunks(CHUNK) {
        store.log_batch(&id, chunk, &[], &[]).expect("batch logged");
    }
    store
        .update_run(&id, Some(RunStatus::Finished), None, None)
        .expect("run finished");
    (experiment_id, id)
}

/// Total bytes of the dashboard's assets as served, and what each weighs.
fn asset_bytes(url: &str) -> (usize, Vec<(String, usize)>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut each = Vec::new();
    // Each file the daemon embeds, at its first route (`/` for `index.html`).
    for path in tracker::dashboard::ASSETS
        .iter()
        .filter_map(|a| a.routes.first())
    {
        let mut response = agent
            .get(format!("{url}{path}"))
            .call()
            .expect("the daemon answers");
        if response.status() == 200 {
            let body = response.body_mut().read_to_vec().expect("the asset reads");
            each.push((path.to_string(), body.len()));
        } else {
            eprintln!("{path}: {} (not counted)", response.status());
        }
    }
    (each.iter().map(|(_, n)| n).sum(), each)
}

/// Loads `url` afresh (from `about:blank`) and returns the wall time until `ready` (a JS
/// expression) is true, polling as fast as WebDriver answers.
fn page_time(browser: &Browser, url: &str, ready: &str) -> Duration {
    browser.goto("about:blank").expect("about:blank");
    let script = format!("return !!({ready});");
    let started = Instant::now();
    browser.goto(url).expect("the page opens");
    loop {
        if browser.execute(&script, vec![]).expect("the page answers") == json!(true) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < PAGE_TIMEOUT,
            "{url}: not `{ready}` after {PAGE_TIMEOUT:?}: {}",
            browser.describe()
        );
    }
}

/// The median of `samples`, ms.
fn median_ms(samples: &[Duration]) -> f64 {
    let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    ms.get(ms.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    let browser = match Browser::open(None) {
        Ok(browser) => browser,
        Err(e) => {
            eprintln!("benches/dashboard: {e}");
            std::process::exit(2);
        }
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("bench.db")).expect("store opens");
    let filling = Instant::now();
    let experiment_id = fill_experiment(&store);
    let (long_experiment, long_run) = fill_long_run(&store);
    eprintln!(
        "filled {RUNS} runs and a run of {}×{LONG_STEPS} points in {:.1?}",
        LONG_METRICS.len(),
        filling.elapsed()
    );
    let config = DaemonConfig {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..DaemonConfig::default()
    };
    let daemon = Daemon::start(store, config).expect("the daemon starts");
    let url = daemon.url();

    let experiment_page = format!("{url}/#/experiments/{experiment_id}");
    let first_rows = "document.querySelector('tr[data-run-id]')";
    let run_page = format!("{url}/#/experiments/{long_experiment}/runs/{long_run}");
    let charts_drawn = "document.querySelector('#chart-loss[data-drawn=\"true\"]') && \
                        document.querySelector('#chart-acc[data-drawn=\"true\"]')";

    let experiment_times = RefCell::new(Vec::new());
    let run_times = RefCell::new(Vec::new());
    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        // criterion's plots need system fonts a headless machine may lack; the figures
        // are printed either way.
        .without_plots()
        .configure_from_args();
    {
        let mut group = criterion.benchmark_group("dashboard");
        group.sampling_mode(SamplingMode::Flat);
        group.bench_function("experiment-10000-runs/first-rows", |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        let time = page_time(&browser, &experiment_page, first_rows);
                        experiment_times.borrow_mut().push(time);
                        time
                    })
                    .sum()
            })
        });
        group.bench_function("run-6x100000-steps/charts-drawn", |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        let time = page_time(&browser, &run_page, charts_drawn);
                        run_times.borrow_mut().push(time);
                        time
                    })
                    .sum()
            })
        });
        group.finish();
    }
    criterion.final_summary();

    let (assets, each) = asset_bytes(&url);
    for (path, bytes) in &each {
        eprintln!("asset {path}: {bytes} bytes");
    }
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let figures = json!({
        "cores": cores,
        "experiment_runs": RUNS,
        "experiment_first_rows_ms": median_ms(&experiment_times.borrow()),
        "experiment_first_rows_target_ms": 1000,
        "run_points": LONG_METRICS.len() as i64 * LONG_STEPS,
        "run_charts_drawn_ms": median_ms(&run_times.borrow()),
        "run_charts_drawn_target_ms": 500,
        "assets_bytes": assets,
        "assets_target_bytes": 300 * 1000,
    });
    println!("{figures}");
    drop(browser);
    daemon.shutdown().expect("the daemon stops");
}
