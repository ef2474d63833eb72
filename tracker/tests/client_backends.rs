//! The client against a real daemon on 127.0.0.1:0 and against an embedded store: the same
//! calls give the same results; the run logger's bounded buffer reports what it drops.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{any_port, daemon_at, served_store};

use tracker::client::{ArtifactFile, Client, LoggerConfig};
use tracker::entities::{Metric, Param, RunStatus, RunTag};
use tracker::store::SearchRuns;

fn param(key: &str, value: &str) -> Param {
    Param {
        key: key.into(),
        value: value.into(),
    }
}

/// A run as read back: status, params, tags, latest metrics, and whether it has an end time.
type ObservedRun = (RunStatus, Vec<Param>, Vec<RunTag>, Vec<Metric>, bool);

/// Everything one scenario observes, with run ids replaced by run names so two stores compare.
#[derive(Debug, PartialEq)]
struct Observed {
    experiments: Vec<String>,
    searched: Vec<(String, Option<f64>, Option<String>)>,
    failed: Vec<String>,
    paged: Vec<String>,
    runs: BTreeMap<String, ObservedRun>,
    histories: BTreeMap<String, Vec<Metric>>,
    artifacts: Vec<ArtifactFile>,
    nested: Vec<ArtifactFile>,
    downloaded: Vec<u8>,
    conflict: String,
    missing: String,
}

fn scenario(client: &Client, scratch: &Path) -> Observed {
    let experiment = client.get_or_create_experiment("cmp").expect("experiment");
    assert_eq!(
        client
            .get_or_create_experiment("cmp")
            .expect("again")
            .experiment_id,
        experiment.experiment_id
    );
    let id = experiment.experiment_id.clone();
    let mut names = BTreeMap::new();
    for (name, lr, status) in [
        ("a", "0.1", RunStatus::Finished),
        ("b", "0.01", RunStatus::Finished),
        ("c", "0.001", RunStatus::Failed),
    ] {
        let run = client
            .create_run(
                &id,
                Some(name),
                &[RunTag {
                    key: "team".into(),
                    value: "x".into(),
                }],
            )
            .expect("run");
        let run_id = run.info.run_id.clone();
        client
            .log_params(&run_id, &[param("lr", lr), param("opt", "sgd")])
            .expect("params");
        let lr: f64 = lr.parse().expect("lr");
        let points: Vec<Metric> = (0..30)
            .flat_map(|step| {
                [
                    Metric {
                        key: "val_loss".into(),
                        value: lr + 1.0 / (step as f64 + 1.0),
                        timestamp: 1000 + step,
                        step,
                    },
                    Metric {
                        key: "odd".into(),
                        value: if step % 2 == 0 {
                            f64::NAN
                        } else {
                            f64::INFINITY
                        },
                        timestamp: 1000 + step,
                        step,
                    },
                ]
            })
            .collect();
        client.log_metrics(&run_id, &points).expect("metrics");
        client
            .set_tags(
                &run_id,
                &[RunTag {
                    key: "stage".into(),
                    value: name.into(),
                }],
            )
            .expect("tags");
        client
            .update_run(&run_id, status, Some(5000))
            .expect("update");
        names.insert(run_id, name.to_string());
    }
    let name_of = |run_id: &str| names[run_id].clone();
    let a = names
        .iter()
        .find(|(_, n)| *n == "a")
        .map(|(id, _)| id.clone())
        .expect("run a");

    let search = SearchRuns {
        experiment_ids: vec![id.clone()],
        filter: "metrics.val_loss < 1 and params.opt = 'sgd'".into(),
        order_by: vec!["metrics.val_loss ASC".into()],
        ..SearchRuns::default()
    };
    let searched = client
        .search_all_runs(&search, None)
        .expect("search")
        .iter()
        .map(|r| {
            (
                r.info.run_name.clone(),
                r.data.metric("val_loss"),
                r.data.param("lr").map(str::to_string),
            )
        })
        .collect();
    let failed = client
        .search_all_runs(
            &SearchRuns {
                experiment_ids: vec![id.clone()],
                filter: "attributes.status = 'FAILED'".into(),
                ..SearchRuns::default()
            },
            None,
        )
        .expect("search failed")
        .iter()
        .map(|r| r.info.run_name.clone())
        .collect();
    // Pages of one run each, followed to the end.
    let paged_search = SearchRuns {
        experiment_ids: vec![id.clone()],
        order_by: vec!["params.lr DESC".into()],
        max_results: 1,
        ..SearchRuns::default()
    };
    let first_page = client.search_runs(&paged_search).expect("page");
    assert_eq!(first_page.runs.len(), 1);
    assert!(first_page.next_page_token.is_some());
    let paged = client
        .search_all_runs(&paged_search, Some(2))
        .expect("limited")
        .iter()
        .map(|r| r.info.run_name.clone())
        .collect();

    let mut runs = BTreeMap::new();
    let mut histories = BTreeMap::new();
    for run_id in names.keys() {
        let run = client.get_run(run_id).expect("get run");
        let tags: Vec<RunTag> = run
            .data
            .tags
            .iter()
            .filter(|t| t.key != "mlflow.user")
            .cloned()
            .collect();
        runs.insert(
            name_of(run_id),
            (
                run.info.status,
                run.data.params.clone(),
                tags,
                run.data.metrics.clone(),
                run.info.end_time == Some(5000),
            ),
        );
        let all = client.run_metrics(run_id).expect("all metrics");
        assert_eq!(all.len(), 60);
        histories.insert(
            name_of(run_id),
            client.metric_history(run_id, "val_loss").expect("history"),
        );
        assert!(
            client
                .metric_history(run_id, "nope")
                .expect("unknown key")
                .is_empty()
        );
    }

    let file = scratch.join("config.json");
    std::fs::write(&file, b"{\"lr\": 0.1}").expect("write");
    assert_eq!(
        client.log_artifact(&a, &file, "").expect("log artifact"),
        "config.json"
    );
    assert_eq!(
        client
            .log_artifact(&a, &file, "configs/v1")
            .expect("nested"),
        "configs/v1/config.json"
    );
    let artifacts = client.list_artifacts(&a, "").expect("list");
    let nested = client
        .list_artifacts(&a, "configs/v1")
        .expect("list nested");
    let out = client
        .download_artifact(&a, "configs/v1/config.json", &scratch.join("out"))
        .expect("download");
    let downloaded = std::fs::read(out).expect("read");
    assert!(client.log_artifact(&a, &file, "../escape").is_err());

    let conflict = client
        .log_params(&a, &[param("lr", "0.5")])
        .expect_err("param conflict")
        .error_code()
        .to_string();
    let missing = client
        .get_run("0123456789abcdef0123456789abcdef")
        .expect_err("missing")
        .error_code()
        .to_string();
    let experiments = client
        .list_experiments()
        .expect("experiments")
        .into_iter()
        .map(|e| e.name)
        .collect();
    Observed {
        experiments,
        searched,
        failed,
        paged,
        runs,
        histories,
        artifacts,
        nested,
        downloaded,
        conflict,
        missing,
    }
}

#[test]
fn embedded_and_http_clients_give_the_same_results() {
    let dir = tempfile::tempdir().expect("temp dir");
    let daemon = daemon_at(served_store(dir.path()), any_port());
    let remote = Client::open(&daemon.url()).expect("http client");
    let embedded = Client::open(&format!(
        "sqlite:{}",
        dir.path().join("embedded.db").display()
    ))
    .expect("embedded client");
    assert!(remote.store().is_none() && embedded.store().is_some());

    std::fs::create_dir_all(dir.path().join("r")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("e")).expect("mkdir");
    let over_http = scenario(&remote, &dir.path().join("r"));
    let in_process = scenario(&embedded, &dir.path().join("e"));
    assert_eq!(over_http.experiments, in_process.experiments);
    assert_eq!(over_http.searched, in_process.searched);
    assert_eq!(
        (&over_http.failed, &over_http.paged),
        (&in_process.failed, &in_process.paged)
    );
    assert_eq!(over_http.runs, in_process.runs);
    assert_eq!(over_http.histories, in_process.histories);
    assert_eq!(
        (&over_http.artifacts, &over_http.nested),
        (&in_process.artifacts, &in_process.nested)
    );
    assert_eq!(over_http, in_process);

    // Spot-check the observations themselves, not only their equality.
    assert_eq!(in_process.experiments, ["Default", "cmp"]);
    let names: Vec<&str> = in_process
        .searched
        .iter()
        .map(|(n, _, _)| n.as_str())
        .collect();
    assert_eq!(names, ["c", "b", "a"]);
    assert_eq!(in_process.failed, ["c"]);
    assert_eq!(in_process.paged, ["a", "b"]);
    assert_eq!(in_process.histories["a"].len(), 30);
    assert_eq!(in_process.histories["a"][3].value, 0.1 + 0.25);
    let (status, params, tags, latest, ended) = &in_process.runs["a"];
    assert_eq!(*status, RunStatus::Finished);
    assert!(*ended);
    assert_eq!(params, &[param("lr", "0.1"), param("opt", "sgd")]);
    assert!(tags.iter().any(|t| t.key == "stage" && t.value == "a"));
    assert!(
        latest
            .iter()
            .any(|m| m.key == "odd" && m.value == f64::INFINITY && m.step == 29)
    );
    assert_eq!(
        in_process
            .artifacts
            .iter()
            .map(|f| f.path.as_str())
            .collect::<Vec<_>>(),
        ["config.json", "configs"]
    );
    assert_eq!(in_process.nested[0].file_size, Some(11));
    assert_eq!(in_process.downloaded, b"{\"lr\": 0.1}");
    assert_eq!(in_process.conflict, "INVALID_PARAMETER_VALUE");
    assert_eq!(in_process.missing, "RESOURCE_DOES_NOT_EXIST");
}

#[test]
fn bounded_buffer_drops_the_oldest_points_and_reports_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = served_store(dir.path());
    let daemon = daemon_at(store.clone(), any_port());
    let addr = daemon.addr();
    let client = Client::open(&daemon.url()).expect("client");
    let experiment = client
        .get_or_create_experiment("buffer")
        .expect("experiment");
    let run_id = client
        .create_run(&experiment.experiment_id, Some("r"), &[])
        .expect("run")
        .info
        .run_id;
    daemon.shutdown().expect("daemon stops");

    // The daemon is gone: nothing is acknowledged, the buffer fills, the oldest points go.
    let config = LoggerConfig {
        max_buffered_metrics: 100,
        batch_size: 10,
        initial_backoff_ms: 20,
        max_backoff_ms: 50,
        flush_timeout_secs: 20,
    };
    let logger = client.logger(&run_id, config).expect("logger");
    for step in 0..250 {
        logger.log_metric("loss", step as f64, step);
    }
    let stats = logger.stats();
    assert_eq!(stats.logged, 250);
    assert_eq!(stats.sent, 0);
    assert_eq!(stats.dropped + stats.pending, 250);
    assert!(stats.dropped >= 140, "{stats:?}");
    // The worker keeps trying while the daemon is down (bounded wait: the backoff is 20-50 ms).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while logger.stats().retries == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        logger.stats().retries > 0,
        "no retry while the daemon was down"
    );

    // The daemon comes back on the same port: what was kept arrives, the drops stay counted.
    let daemon = daemon_at(store.clone(), addr);
    let stats = logger.finish(RunStatus::Finished).expect("finish");
    assert_eq!(stats.lost(), stats.dropped);
    assert_eq!(stats.sent + stats.dropped, 250);
    let history = store.metric_history(&run_id, "loss").expect("history");
    let steps: Vec<i64> = history.iter().map(|m| m.step).collect();
    // Every kept point arrives once: the newest 100 (the buffer) plus at most the one batch the
    // worker held and retried while the daemon was down.
    assert_eq!(steps.len() as u64, stats.sent, "{steps:?}");
    assert!(steps.windows(2).all(|w| w[0] < w[1]), "{steps:?}");
    assert_eq!(
        steps[steps.len() - 100..],
        (150..250).collect::<Vec<_>>(),
        "the newest points are the ones kept"
    );
    assert!(steps.len() <= 100 + 10, "{steps:?}");
    assert_eq!(
        store.get_run(&run_id).expect("run").info.status,
        RunStatus::Finished
    );
    drop(daemon);
}

#[test]
fn finish_against_a_server_that_never_returns_fails_and_names_the_lost_points() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let client = Client::open(&url).expect("client");
    let config = LoggerConfig {
        max_buffered_metrics: 10,
        batch_size: 5,
        initial_backoff_ms: 10,
        max_backoff_ms: 20,
        flush_timeout_secs: 1,
    };
    let logger = client
        .logger("0123456789abcdef0123456789abcdef", config)
        .expect("logger");
    logger.log_metrics([("a", 1.0), ("b", 2.0)], 0);
    let error = logger.flush().expect_err("nothing can be acknowledged");
    assert!(error.to_string().contains("2 metric points"), "{error}");
    let error = logger
        .finish(RunStatus::Failed)
        .expect_err("the run cannot be ended");
    assert!(error.to_string().contains("2 unsent"), "{error}");
}

#[test]
fn a_refused_batch_is_counted_as_rejected_not_retried() {
    let dir = tempfile::tempdir().expect("temp dir");
    let daemon = daemon_at(served_store(dir.path()), any_port());
    let client = Client::open(&daemon.url()).expect("client");
    let experiment = client
        .get_or_create_experiment("refused")
        .expect("experiment");
    let run_id = client
        .create_run(&experiment.experiment_id, None, &[])
        .expect("run")
        .info
        .run_id;
    let logger = client
        .logger(&run_id, LoggerConfig::default())
        .expect("logger");
    logger.log_metric("bad key!", 1.0, 0);
    logger.flush().expect("a refusal is an answer");
    logger.log_metric("good", 1.0, 0);
    let stats = logger.finish(RunStatus::Finished).expect("finish");
    assert_eq!(
        (stats.sent, stats.rejected, stats.retries, stats.lost()),
        (1, 1, 0, 1)
    );
    assert_eq!(
        client
            .metric_history(&run_id, "good")
            .expect("history")
            .len(),
        1
    );
}

#[test]
fn tracking_uris_pick_the_backend() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plain = dir.path().join("plain.db");
    assert!(
        Client::open(&plain.display().to_string())
            .expect("plain path")
            .store()
            .is_some()
    );
    assert!(plain.exists());
    let alchemy = Client::open(&format!(
        "sqlite:///{}",
        dir.path().join("alchemy.db").display()
    ))
    .expect("sqlite:///");
    assert_eq!(
        alchemy.store().expect("embedded").path(),
        dir.path().join("alchemy.db")
    );
    assert!(Client::open("s3://bucket/x").is_err());
    assert!(
        Client::open("http://127.0.0.1:1")
            .expect("lazy")
            .store()
            .is_none()
    );
}
