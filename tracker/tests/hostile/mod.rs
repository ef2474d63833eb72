//! The fuzz campaign's input generator (`api_fuzz.rs`): hostile strings, numbers, nesting,
//! filters, orders, field sets, query strings and artifact paths, drawn from a seeded
//! generator so that a failing campaign can be replayed.

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

/// The campaign's inputs.
pub struct Fuzzer {
    /// The seeded generator.
    pub rng: StdRng,
    /// Ids to pick from: real ones of the seeded store and hostile ones.
    pub ids: Vec<String>,
    /// The route of the request being made.
    pub route: String,
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
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.rng.random_range(0..items.len())]
    }

    pub fn chance(&mut self, p: f64) -> bool {
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
    pub fn body(&mut self, route: &str) -> Vec<u8> {
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
    pub fn query(&mut self, route: &str) -> String {
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
    pub fn artifact_path(&mut self) -> String {
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
pub fn escape(text: &str) -> String {
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
