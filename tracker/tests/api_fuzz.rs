//! A bounded, seeded fuzz campaign against a real daemon on 127.0.0.1: every route of the
//! router (read from `src/api/routes.rs`, so a new route is fuzzed without being listed here)
//! gets malformed JSON, wrong types, oversized strings, deep nesting, huge numbers, NUL bytes,
//! hostile filters and hostile artifact paths, through a raw HTTP/1.1 client that sends what no
//! HTTP library would.
//!
//! It asserts what a user depends on: no 5xx but the documented 501 (`POST logged-models`), an
//! answer to every request, a daemon that still answers `/health`, the data stored before the
//! campaign intact, and a database file that passes `PRAGMA integrity_check`.

mod common;
mod hostile;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::store_at;
use hostile::{Fuzzer, escape};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tracker::api::{Daemon, DaemonConfig};
use tracker::entities::{Metric, Param};
use tracker::store::{ArtifactUris, CreateRun, Store};

/// Requests of the campaign.
const REQUESTS: usize = 3000;
/// The campaign's seed (`API_FUZZ_SEED` overrides it, to explore further by hand).
const SEED: u64 = 0x15_f022;
/// The artifact upload limit of the fuzzed daemon.
const MAX_ARTIFACT_BYTES: usize = 256 * 1024;

/// One route: its methods and its full path (`{*path}` for the artifact wildcard).
#[derive(Debug, Clone)]
struct Route {
    methods: Vec<&'static str>,
    path: String,
}

/// The routes of `router()` in `src/api/routes.rs`: every `.route("...", get(..).post(..))`,
/// prefixed by the `.nest("...", name)` of the router it is built on.
fn routes() -> Vec<Route> {
    let source = include_str!("../src/api/routes.rs");
    let start = source
        .find("fn router(")
        .expect("router() in src/api/routes.rs");
    let body = &source[start..];
    let body = &body[..body.find("\n}\n").expect("end of router()")];
    let literal = |text: &str| -> Option<String> {
        let open = text.find('"')?;
        let close = text[open + 1..].find('"')?;
        Some(text[open + 1..open + 1 + close].to_string())
    };
    // `let <name> = Router::new()` blocks, nested under a prefix; the rest is the root.
    let mut prefixes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for nest in body.split(".nest(").skip(1) {
        let prefix = literal(nest).expect("nest prefix");
        let after = &nest[nest.find(',').expect("nest router") + 1..];
        let name: String = after
            .trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        prefixes.entry(name).or_default().push(prefix);
    }
    let mut routes = Vec::new();
    for statement in body.split(';') {
        // `let <name> = Router::new()...`: routes nested under <name>'s prefix; else the root.
        let name = statement
            .contains("Router::new()")
            .then(|| statement.split("let ").nth(1))
            .flatten()
            .and_then(|rest| rest.split_whitespace().next());
        // One router may be nested under several prefixes (`/api/...` and `/ajax-api/...`).
        let prefixes = name
            .and_then(|name| prefixes.get(name).cloned())
            .unwrap_or_else(|| vec![String::new()]);
        for route in statement.split(".route(").skip(1) {
            let path = literal(route).expect("route path");
            let route_end = route.find(".route(").unwrap_or(route.len());
            let text = &route[..route_end];
            let methods: Vec<&'static str> = [
                ("get(", "GET"),
                ("post(", "POST"),
                ("put(", "PUT"),
                ("delete(", "DELETE"),
                ("patch(", "PATCH"),
            ]
            .into_iter()
            .filter(|(call, _)| text.contains(call))
            .map(|(_, method)| method)
            .collect();
            assert!(!methods.is_empty(), "no method found for route {path}");
            for prefix in &prefixes {
                routes.push(Route {
                    methods: methods.clone(),
                    path: format!("{prefix}{path}"),
                });
            }
        }
    }
    routes
}

/// What the campaign stored before it began, to check it survives.
struct Seeded {
    experiment_id: String,
    run_id: String,
    deleted_run_id: String,
}

fn seed(store: &Store) -> Seeded {
    let experiment_id = store
        .create_experiment("fuzz-target", None, &[])
        .expect("experiment");
    let create = |name: &str| {
        store
            .create_run(CreateRun {
                experiment_id: experiment_id.clone(),
                run_name: Some(name.into()),
                ..CreateRun::default()
            })
            .expect("run")
            .info
            .run_id
    };
    let run_id = create("kept");
    let metrics: Vec<Metric> = (0..20)
        .map(|step| Metric {
            key: "loss".into(),
            value: 1.0 / f64::from(step + 1),
            timestamp: i64::from(step),
            step: i64::from(step),
        })
        .collect();
    let params = [Param {
        key: "lr".into(),
        value: "0.001".into(),
    }];
    store
        .log_batch(&run_id, &metrics, &params, &[])
        .expect("batch");
    let deleted_run_id = create("deleted");
    store.delete_run(&deleted_run_id).expect("delete");
    Seeded {
        experiment_id,
        run_id,
        deleted_run_id,
    }
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Status(u16),
    /// The daemon closed the connection before a whole body it refused was sent.
    ResetWhileSending,
}

/// One request over its own connection (`Connection: close`); the status, or how it ended.
fn send(
    addr: SocketAddr,
    method: &str,
    target: &str,
    body: &[u8],
    announce: Option<u64>,
) -> Outcome {
    let mut stream = TcpStream::connect(addr).expect("connect to the daemon");
    stream
        .set_read_timeout(Some(Duration::from_secs(90)))
        .expect("read timeout");
    let length = announce.unwrap_or(body.len() as u64);
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {length}\r\nConnection: close\r\n\r\n"
    );
    let sent = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body));
    let mut answer = Vec::new();
    let read = stream.read_to_end(&mut answer);
    if answer.is_empty() {
        // Refused mid-body: the daemon answers and closes; an unread body turns into a reset.
        if sent.is_err() || read.is_err() {
            return Outcome::ResetWhileSending;
        }
        panic!("{method} {target:.200}: the daemon closed the connection without an answer");
    }
    let head = String::from_utf8_lossy(&answer[..answer.len().min(64)]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{method} {target:.200}: not an HTTP answer: {head:?}"));
    Outcome::Status(status)
}

#[test]
fn every_route_survives_a_seeded_campaign_of_hostile_requests() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("fuzz.db");
    let store = store_at(&db, ArtifactUris::Served);
    let seeded = seed(&store);
    let daemon = Daemon::start(
        store,
        DaemonConfig {
            addr: "127.0.0.1:0".parse().expect("addr"),
            max_artifact_bytes: MAX_ARTIFACT_BYTES,
            ..DaemonConfig::default()
        },
    )
    .expect("daemon starts");
    let addr = daemon.addr();
    let routes = routes();
    for expected in [
        "/api/2.0/mlflow/runs/log-batch",
        "/api/2.0/mlflow/experiments/search",
        "/api/2.0/mlflow-artifacts/artifacts/{*path}",
        "/health",
    ] {
        assert!(
            routes.iter().any(|r| r.path == expected),
            "the route table read from src/api/routes.rs lacks {expected}: {routes:?}"
        );
    }
    let seed_value = std::env::var("API_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED);
    let mut fuzz = Fuzzer {
        rng: StdRng::seed_from_u64(seed_value),
        ids: vec![
            seeded.experiment_id.clone(),
            seeded.run_id.clone(),
            seeded.deleted_run_id.clone(),
            "0".into(),
            "-1".into(),
            "99999999999999999999".into(),
            "0".repeat(32),
        ],
        route: String::new(),
    };
    let mut outcomes: BTreeMap<Outcome, usize> = BTreeMap::new();
    let mut per_route: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for i in 0..REQUESTS {
        let route = fuzz.pick(&routes).clone();
        fuzz.route.clone_from(&route.path);
        let method = if fuzz.chance(0.05) {
            *fuzz.pick(&["DELETE", "PATCH", "OPTIONS", "PUT", "HEAD", "GET", "POST"])
        } else {
            *fuzz.pick(&route.methods)
        };
        let mut path = match route.path.strip_suffix("{*path}") {
            Some(prefix) => format!("{prefix}{}", fuzz.artifact_path()),
            None => route.path.clone(),
        };
        if route.path.ends_with("/artifacts") && route.path.contains("mlflow-artifacts") {
            path = format!("{path}?path={}", escape(&fuzz.artifact_path()));
        } else if method == "GET" || fuzz.chance(0.1) {
            let query = fuzz.query(&route.path);
            if !query.is_empty() {
                path = format!("{path}?{query}");
            }
        }
        let (body, announce) = match method {
            "PUT" if route.path.contains("{*path}") => match fuzz.rng.random_range(0..10) {
                0 => (Vec::new(), Some(u64::MAX / 2)),
                1 => (vec![0u8; MAX_ARTIFACT_BYTES + 1], None),
                2 => (Vec::new(), None),
                _ => (
                    (0..fuzz.rng.random_range(1..2048))
                        .map(|_| fuzz.rng.random())
                        .collect(),
                    None,
                ),
            },
            "GET" | "HEAD" | "DELETE" | "OPTIONS" => (Vec::new(), None),
            _ => (fuzz.body(&route.path), None),
        };
        let outcome = send(addr, method, &path, &body, announce);
        *outcomes.entry(outcome).or_default() += 1;
        *per_route.entry(route.path.clone()).or_default() += 1;
        match outcome {
            Outcome::Status(501) if route.path.ends_with("/logged-models") => {}
            Outcome::Status(status) if status >= 500 => {
                failures.push(format!("#{i} {method} {path:.300} → {status}"));
            }
            // A reset is fine only where the daemon refused before reading all that was sent:
            // an oversized body, or a request head over hyper's buffer (answered 431).
            Outcome::ResetWhileSending
                if body.len() <= MAX_ARTIFACT_BYTES
                    && announce.is_none()
                    && path.len() < 64 * 1024 =>
            {
                failures.push(format!(
                    "#{i} {method} {path:.300}: reset while sending {} bytes",
                    body.len()
                ));
            }
            _ => {}
        }
    }
    let classes = outcomes
        .iter()
        .fold(BTreeMap::new(), |mut classes, (outcome, n)| {
            let class = match outcome {
                Outcome::Status(501) => "501".to_string(),
                Outcome::Status(status) => format!("{}xx", status / 100),
                Outcome::ResetWhileSending => "reset while sending an oversized body".to_string(),
            };
            *classes.entry(class).or_insert(0usize) += n;
            classes
        });
    println!(
        "seed {seed_value:#x}, {REQUESTS} requests over {} routes",
        routes.len()
    );
    println!("answers by class: {classes:?}");
    println!("requests per route: {per_route:?}");
    assert!(
        failures.is_empty(),
        "{} server errors:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(per_route.len(), routes.len(), "every route was fuzzed");
    // The daemon still serves, and what was stored before is intact.
    assert!(matches!(
        send(addr, "GET", "/health", b"", None),
        Outcome::Status(200)
    ));
    daemon.shutdown().expect("clean shutdown");
    let store = Store::open(&db).expect("the database reopens");
    let history = store
        .metric_history(&seeded.run_id, "loss")
        .expect("history");
    for step in 0..20_i64 {
        assert!(
            history
                .iter()
                .any(|m| m.step == step && m.timestamp == step),
            "seeded point {step} was lost"
        );
    }
    let run = store.get_run(&seeded.run_id).expect("seeded run");
    assert!(
        run.data
            .params
            .iter()
            .any(|p| p.key == "lr" && p.value == "0.001")
    );
    drop(store);
    let conn = rusqlite::Connection::open(&db).expect("sqlite opens");
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .expect("integrity_check runs");
    assert_eq!(check, "ok");
}
