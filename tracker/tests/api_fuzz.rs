//! A bounded, seeded fuzz campaign against a real daemon on 127.0.0.1: every route of the
//! router (read from `src/api/mod.rs`, so a new route is fuzzed without being listed here)
//! gets malformed JSON, wrong types, oversized strings, deep nesting, huge numbers, NUL bytes,
//! hostile filters and hostile artifact paths, through a raw HTTP/1.1 client that sends what no
//! HTTP library would.
//!
//! It asserts what a user depends on: no 5xx but the documented 501 (`POST logged-models`), an
//! answer to every request, a daemon that still answers `/health`, the data stored before the
//! campaign intact, and a database file that passes `PRAGMA integrity_check`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tracker::api::{Daemon, DaemonConfig};
use tracker::entities::{Metric, Param};
use tracker::store::{ArtifactUris, CreateRun, Store, StoreOptions};

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

/// The routes of `router()` in `src/api/mod.rs`: every `.route("...", get(..).post(..))`,
/// prefixed by the `.nest("...", name)` of the router it is built on.
fn routes() -> Vec<Route> {
    let source = include_str!("../src/api/mod.rs");
    let start = source
        .find("fn router(")
        .expect("router() in src/api/mod.rs");
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

/// The campaign's inputs.
struct Fuzzer {
    rng: StdRng,
    ids: Vec<String>,
    /// The route of the request being made.
    route: String,
}

const FIELDS: &[&str] = &[
    "run_id",
    "run_uuid",
    "experiment_id",
    "experiment_ids",
    "experiment_name",
    "name",
    "key",
    "value",
    "timestamp",
    "step",
    "metrics",
    "params",
    "tags",
    "run_name",
    "status",
    "end_time",
    "start_time",
    "user_id",
    "filter",
    "order_by",
    "max_results",
    "page_token",
    "run_view_type",
    "view_type",
    "metric_key",
    "artifact_location",
    "datasets",
    "path",
    "new_name",
    "description",
];

impl Fuzzer {
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.rng.random_range(0..items.len())]
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    /// A string meant to hurt: empty, NUL bytes, control characters, unicode, SQL and path
    /// syntax, long, or very long.
    fn hostile_string(&mut self) -> String {
        match self.rng.random_range(0..14) {
            0 => String::new(),
            1 => "a\0b".into(),
            2 => "\u{1}\u{7f}\r\n\t".into(),
            3 => "é😀\u{202e}\u{feff}".repeat(self.rng.random_range(1..50)),
            4 => "' OR 1=1 --".into(),
            5 => "../../../../etc/passwd".into(),
            6 => "x".repeat(self.rng.random_range(200..300)),
            7 => "y".repeat(self.rng.random_range(5_000..20_000)),
            // Rarely over the 4 MiB body limit once escaped or repeated in a body.
            8 => "z".repeat(if self.chance(0.03) { 1_500_000 } else { 70_000 }),
            9 => "%_*?[".repeat(self.rng.random_range(1..2_000)),
            10 => self
                .pick(&["RUNNING", "FINISHED", "FAILED", "KILLED", "DONE", "ALL"])
                .to_string(),
            11 => self.filter(),
            12 => self.pick(&self.ids.clone()).clone(),
            _ => {
                let n = self.rng.random_range(1..40);
                (0..n)
                    .map(|_| char::from_u32(self.rng.random_range(1..0x3000)).unwrap_or('?'))
                    .collect()
            }
        }
    }

    /// A JSON number at the edges: huge, tiny, negative, fractional where an integer is due.
    fn hostile_number(&mut self) -> Value {
        match self.rng.random_range(0..8) {
            0 => json!(i64::MAX),
            1 => json!(i64::MIN),
            2 => json!(u64::MAX),
            3 => json!(1e308),
            4 => json!(-0.5),
            5 => json!(0),
            6 => json!(self.rng.random::<i32>()),
            _ => json!(self.rng.random::<f64>() * 1e12),
        }
    }

    /// Nested arrays or objects, `depth` deep.
    fn nested(&mut self, depth: usize) -> Value {
        let mut value = Value::Null;
        for _ in 0..depth {
            value = if self.chance(0.5) {
                json!([value])
            } else {
                json!({ "key": value })
            };
        }
        value
    }

    fn hostile_value(&mut self, depth: usize) -> Value {
        match self.rng.random_range(0..10) {
            0..=3 => Value::String(self.hostile_string()),
            4 => self.hostile_number(),
            5 => Value::Bool(self.chance(0.5)),
            6 => Value::Null,
            7 if depth < 3 => {
                let n = self.rng.random_range(0..5);
                Value::Array((0..n).map(|_| self.hostile_value(depth + 1)).collect())
            }
            8 if depth < 3 => {
                let n = self.rng.random_range(0..4);
                let mut map = serde_json::Map::new();
                for _ in 0..n {
                    let key = if self.chance(0.7) {
                        self.pick(&["key", "value", "timestamp", "step"])
                            .to_string()
                    } else {
                        self.hostile_string()
                    };
                    map.insert(key, self.hostile_value(depth + 1));
                }
                Value::Object(map)
            }
            _ => {
                let depth = self.rng.random_range(1..40);
                self.nested(depth)
            }
        }
    }

    /// A search filter: grammar pieces, joined and broken at random.
    fn filter(&mut self) -> String {
        let pieces = [
            "metrics.loss < 0.5",
            "metrics.`a b` >= -1e308",
            "params.lr = '0.001'",
            "params.p IS NULL",
            "tags.t IS NOT NULL",
            "tags.`mlflow.runName` LIKE '%k%'",
            "attributes.run_id IN ('a', 'b')",
            "attributes.run_id NOT IN ('a')",
            "attributes.status = 'FINISHED'",
            "attributes.start_time > 0",
            "name ILIKE 'FUZZ%'",
            "creation_time < 9223372036854775807",
            "metrics.m = 1e999",
            "params.x = 'unterminated",
            "OR",
            "(",
            "'",
            "\u{0}",
            "datasets.name = 'd'",
        ];
        // Pieces that parse for the route's search (a metric or param clause parses for
        // experiments too, and must be refused there); half the filters use only those, so
        // they reach the SQL.
        let experiments = [
            "name ILIKE 'FUZZ%'",
            "creation_time < 9223372036854775807",
            "last_update_time >= 0",
            "tags.t IS NOT NULL",
            "tags.`mlflow.note` LIKE '%k%'",
            "params.lr = '0.001'",
            "metrics.loss < 0.5",
        ];
        let valid = self.chance(0.5);
        let pieces = match (valid, self.route.contains("experiments")) {
            (true, true) => &experiments[..],
            (true, false) => &pieces[..10],
            (false, _) => &pieces[..],
        };
        let n = if self.chance(0.03) {
            self.rng.random_range(400..1200)
        } else {
            self.rng.random_range(usize::from(valid)..5)
        };
        let mut text = (0..n)
            .map(|_| self.pick(pieces).to_string())
            .collect::<Vec<_>>()
            .join(if valid || self.chance(0.9) {
                " AND "
            } else {
                " "
            });
        if self.chance(0.05) {
            text = format!(
                "tags.t LIKE '{}'",
                "%".repeat(self.rng.random_range(10_000..60_000))
            );
        }
        text
    }

    fn order_by(&mut self) -> Value {
        let keys = [
            "metrics.loss DESC",
            "params.lr",
            "tags.t ASC",
            "attributes.start_time",
            "name",
            "last_update_time DESC",
            "bogus",
            "metrics.",
        ];
        // Half the lists use only keys that parse for the route (runs or experiments).
        let keys = match (self.chance(0.5), self.route.contains("experiments")) {
            (true, true) => &["name DESC", "creation_time", "last_update_time ASC"][..],
            (true, false) => &keys[..4],
            (false, _) => &keys[..],
        };
        let n = if self.chance(0.1) {
            self.rng.random_range(30..100)
        } else {
            self.rng.random_range(0..4)
        };
        json!(
            (0..n)
                .map(|_| self.pick(keys).to_string())
                .collect::<Vec<_>>()
        )
    }

    /// A JSON object of known and unknown fields with hostile values (some well formed).
    fn fields(&mut self) -> serde_json::Map<String, Value> {
        let mut map = serde_json::Map::new();
        let n = self.rng.random_range(0..8);
        for _ in 0..n {
            let field = self.pick(FIELDS).to_string();
            let value = match field.as_str() {
                "run_id" | "run_uuid" | "experiment_id" if self.chance(0.6) => {
                    Value::String(self.pick(&self.ids.clone()).clone())
                }
                "filter" if self.chance(0.7) => Value::String(self.filter()),
                "order_by" if self.chance(0.7) => self.order_by(),
                "experiment_ids" if self.chance(0.5) => json!([self.pick(&self.ids.clone())]),
                "metrics" | "params" | "tags" if self.chance(0.5) => {
                    let n = if self.chance(0.05) { 1500 } else { 3 };
                    json!((0..n).map(|_| json!({
                        "key": if self.chance(0.5) { Value::String("k".into()) } else { self.hostile_value(2) },
                        "value": self.hostile_value(2),
                        "timestamp": self.hostile_number(),
                        "step": self.hostile_number(),
                    })).collect::<Vec<_>>())
                }
                _ => self.hostile_value(0),
            };
            map.insert(field, value);
        }
        map
    }

    /// A well-formed request of the route (by its last two path segments) with one field
    /// replaced by a hostile value: what reaches past the field checks into the store.
    fn near_valid(&mut self, route: &str) -> serde_json::Map<String, Value> {
        let run = self.ids[1].clone();
        let experiment = self.ids[0].clone();
        let tail: Vec<&str> = route.rsplit('/').take(2).collect();
        let mut template = match (tail.get(1).copied(), tail.first().copied()) {
            (Some("runs"), Some("log-metric")) => {
                json!({ "run_id": run, "key": "fuzz", "value": 0.5, "timestamp": 1, "step": 1 })
            }
            (Some("runs"), Some("log-parameter" | "set-tag")) => {
                json!({ "run_id": run, "key": "fuzz", "value": "v" })
            }
            (Some("runs"), Some("delete-tag")) => json!({ "run_id": run, "key": "fuzz" }),
            (Some("runs"), Some("log-batch")) => json!({ "run_id": run,
                "metrics": [{"key": "fuzz", "value": 1.0, "timestamp": 2, "step": 2}],
                "params": [{"key": "fuzz", "value": "v"}], "tags": [{"key": "fuzz", "value": "v"}] }),
            (Some("runs"), Some("create")) => {
                json!({ "experiment_id": experiment, "run_name": "fuzz", "start_time": 1 })
            }
            (Some("runs"), Some("update")) => {
                json!({ "run_id": run, "status": "FINISHED", "end_time": 3, "run_name": "kept" })
            }
            (Some("runs"), Some("search")) => json!({ "experiment_ids": [experiment],
                "filter": "metrics.loss < 1", "order_by": ["metrics.loss"], "max_results": 10 }),
            (Some("experiments"), Some("search")) => {
                json!({ "filter": "name LIKE 'fuzz%'", "max_results": 10 })
            }
            (Some("experiments"), Some("create")) => json!({ "name": "fuzz-created" }),
            (Some("experiments"), Some("set-experiment-tag")) => {
                json!({ "experiment_id": experiment, "key": "fuzz", "value": "v" })
            }
            (Some("experiments"), Some("update")) => {
                json!({ "experiment_id": experiment, "new_name": "fuzz-target" })
            }
            (Some("metrics"), Some("get-history")) => {
                json!({ "run_id": run, "metric_key": "loss", "max_results": 5 })
            }
            (_, Some("get" | "analysis" | "delete" | "restore" | "log-inputs")) => {
                json!({ "run_id": run, "experiment_id": experiment })
            }
            _ => json!({ "run_id": run, "experiment_id": experiment, "path": "file.txt" }),
        };
        let Value::Object(map) = &mut template else {
            return serde_json::Map::new();
        };
        if self.chance(0.8) {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = self.pick(&keys).clone();
            let value = self.hostile_value(0);
            map.insert(key, value);
        }
        map.clone()
    }

    /// A POST body: usually a JSON object, sometimes broken or not an object at all.
    fn body(&mut self, route: &str) -> Vec<u8> {
        if self.chance(0.35) {
            return Value::Object(self.near_valid(route))
                .to_string()
                .into_bytes();
        }
        match self.rng.random_range(0..12) {
            0 => Vec::new(),
            1 => b"{\"run_id\": ".to_vec(),
            2 => b"[1, 2, 3]".to_vec(),
            3 => b"\"just a string\"".to_vec(),
            4 => {
                let depth = self.rng.random_range(100..5000);
                let mut text = "[".repeat(depth);
                text.push_str(&"]".repeat(depth));
                text.into_bytes()
            }
            5 => b"{\"max_results\": 1e400, \"step\": 99999999999999999999999}".to_vec(),
            6 => {
                let n = self.rng.random_range(1..512);
                (0..n).map(|_| self.rng.random::<u8>()).collect()
            }
            7 => {
                // Valid JSON cut short.
                let text = Value::Object(self.fields()).to_string().into_bytes();
                let cut = self.rng.random_range(0..=text.len());
                text[..cut].to_vec()
            }
            8 => b"{\"key\": \"\\ud800\", \"value\": \"\\u0000\"}".to_vec(),
            _ => Value::Object(self.fields()).to_string().into_bytes(),
        }
    }

    /// A query string from hostile fields, with raw percent-escapes (invalid UTF-8 included).
    fn query(&mut self, route: &str) -> String {
        let mut parts = Vec::new();
        let fields = if self.chance(0.35) {
            self.near_valid(route)
        } else {
            self.fields()
        };
        for (key, value) in fields {
            let value = match value {
                Value::String(s) => s,
                other => other.to_string(),
            };
            parts.push(format!("{}={}", escape(&key), escape(&value)));
        }
        if self.chance(0.2) {
            parts.push(
                self.pick(&["path=%FF%FE", "a=%", "=x", "&&", "run_id=%00", "x=%zz"])
                    .to_string(),
            );
        }
        parts.join("&")
    }

    /// An artifact path under a run, or around one: traversal, NUL, long names, links' names.
    fn artifact_path(&mut self) -> String {
        let experiment = self.pick(&self.ids.clone()).clone();
        let run = self.pick(&self.ids.clone()).clone();
        let tail = match self.rng.random_range(0..16) {
            0 => "file.txt".to_string(),
            1 => "sub/dir/file.bin".to_string(),
            2 => "a%00b".to_string(),
            3 => "n".repeat(self.rng.random_range(250..300)),
            4 => vec!["d".repeat(200); self.rng.random_range(15..30)].join("/"),
            5 => "sub/".to_string(),
            6 => "..%2F..%2F..%2Fescape".to_string(),
            7 => "%2Fetc%2Fpasswd".to_string(),
            8 => "file.txt/inner".to_string(),
            9 => "./././x".to_string(),
            10 => "a\\b".to_string(),
            11 => "%FF%FE".to_string(),
            12 => String::new(),
            13 => "sub/.".to_string(),
            14 => escape(&self.hostile_string()),
            _ => "é/😀.txt".to_string(),
        };
        match self.rng.random_range(0..8) {
            0 => tail,
            1 => format!("{experiment}/{run}/{tail}"),
            _ => format!("{experiment}/{run}/artifacts/{tail}"),
        }
    }
}

/// Percent-escapes everything but unreserved ASCII (bytes, so NUL and any UTF-8 survive).
fn escape(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut escaped = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            escaped.push(char::from(b));
        } else {
            escaped.push('%');
            escaped.push(char::from(HEX[usize::from(b >> 4)]));
            escaped.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
    escaped
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
    let store = Store::open_with(
        &db,
        StoreOptions {
            artifact_root: None,
            artifact_uris: ArtifactUris::Served,
        },
    )
    .expect("store opens");
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
            "the route table read from src/api/mod.rs lacks {expected}: {routes:?}"
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
