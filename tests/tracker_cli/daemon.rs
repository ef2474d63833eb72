//! `track daemon` as a process: which database it serves, the address it writes for scripts
//! (`--addr-file`, whatever `--quiet` says), an artifact root it cannot serve refused at startup,
//! and SIGKILL under load losing no acknowledged metric.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tracker::client::{Client, LoggerConfig};
use tracker::entities::RunStatus;
use tracker::store::Store;

use super::run::run_track;
use crate::util::{Daemon, tempdir, track, track_at};

/// `THP_enabled` of a live process's `/proc/PID/status`: whether it may get transparent huge
/// pages.
#[cfg(target_os = "linux")]
fn thp_enabled(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let line = status.lines().find(|l| l.starts_with("THP_enabled:"));
    line.expect("a kernel that reports THP_enabled (4.18+)")
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

#[cfg(target_os = "linux")]
#[test]
fn track_turns_transparent_huge_pages_off_unless_mimalloc_is_told_otherwise() {
    let dir = tempdir();
    let db = dir.path().join("thp.db");
    let daemon = |allow_thp: Option<&str>| {
        let mut command = track();
        command.env_remove("MIMALLOC_ALLOW_THP");
        if let Some(value) = allow_thp {
            command.env("MIMALLOC_ALLOW_THP", value);
        }
        command
            .args(["daemon", "--db"])
            .arg(&db)
            .args(["--addr", "127.0.0.1:0"]);
        Daemon::spawn(command)
    };
    let quiet = daemon(None);
    assert_eq!(thp_enabled(quiet.pid()), "0", "huge pages off by default");
    drop(quiet);
    // The variable is mimalloc's own choice: `track` leaves the process as it started.
    let told = daemon(Some("1"));
    assert_eq!(thp_enabled(told.pid()), thp_enabled(std::process::id()));
}

#[test]
fn the_daemon_serves_the_database_the_global_tracking_uri_names() {
    let dir = tempdir();
    let db = dir.path().join("named.db");
    let mut command = track_at(format!("sqlite:{}", db.display()));
    command
        .args(["daemon", "--addr", "127.0.0.1:0"])
        .current_dir(dir.path());
    let daemon = Daemon::spawn(command);
    let client = Client::open(daemon.url()).expect("client");
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
    let dir = tempdir();
    let mut command = track();
    command
        .args(["--quiet", "daemon", "--addr", "127.0.0.1:0", "--db"])
        .arg(dir.path().join("runs.db"));
    // The fixture passes `--addr-file` and waits for the file.
    let daemon = Daemon::spawn(command);
    let line = daemon.addr_file();
    assert!(line.ends_with('\n'), "one whole line: {line:?}");
    let url = daemon.url().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let health = ureq::get(&format!("{url}/health")).call();
    let stderr = daemon.kill();
    assert!(health.is_ok(), "{health:?}");
    assert!(stderr.is_empty(), "--quiet prints nothing: {stderr}");
}

/// `track daemon --artifact-root s3://...` cannot serve a bucket: refused at startup (exit 2,
/// naming `--no-serve-artifacts`) before the database is created.
#[test]
fn a_daemon_serving_artifacts_from_a_bucket_uri_is_refused_at_startup() {
    let dir = tempdir();
    let db = dir.path().join("runs.db");
    let mut child = track()
        .args(["daemon", "--db"])
        .arg(&db)
        .args(["--addr", "127.0.0.1:0", "--artifact-root", "s3://bucket/x"])
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
fn a_daemon_killed_with_sigkill_loses_no_acknowledged_metric_and_buffered_ones_arrive_after_restart()
 {
    let dir = tempdir();
    let db = dir.path().join("runs.db");
    let daemon = Daemon::start(&db);
    let port = daemon.port().to_string();
    let client = Client::open(daemon.url()).expect("client");
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

    let restarted = Daemon::start_with(&db, &format!("127.0.0.1:{port}"), &[]);
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
