//! Fixtures shared by the tracker's integration tests: a store in a temp directory, and one
//! daemon fixture ([`Api`]: a real daemon on 127.0.0.1:0 over a real SQLite file, with a JSON
//! client that sends requests shaped as the official MLflow client sends them).
//!
//! Each test binary uses only some of these, hence `dead_code` is allowed here.
#![allow(dead_code)]

pub mod dashboard;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tracker::api::{Daemon, DaemonConfig};
use tracker::store::{ArtifactUris, Store, StoreOptions};

/// The temp store: `runs.db` in `dir`, with the default options (reopened by calling again).
pub fn open_store(dir: &tempfile::TempDir) -> Store {
    Store::open(dir.path().join("runs.db")).expect("store opens")
}

/// The served store of a client test: `served.db` in `dir`, writing `mlflow-artifacts:` URIs.
pub fn served_store(dir: &Path) -> Store {
    store_at(&dir.join("served.db"), ArtifactUris::Served)
}

/// A store in the SQLite file `db`, its artifact root beside it, writing `uris`.
pub fn store_at(db: &Path, artifact_uris: ArtifactUris) -> Store {
    let options = StoreOptions {
        artifact_root: None,
        artifact_uris,
    };
    Store::open_with(db, options).expect("store opens")
}

/// 127.0.0.1 on any free port.
pub fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().expect("addr")
}

/// The default daemon config, bound to any free port of 127.0.0.1.
pub fn loopback() -> DaemonConfig {
    DaemonConfig {
        addr: any_port(),
        ..DaemonConfig::default()
    }
}

/// A daemon over `store`, bound to `addr`, with the default config.
pub fn daemon_at(store: Store, addr: SocketAddr) -> Daemon {
    Daemon::start(
        store,
        DaemonConfig {
            addr,
            ..DaemonConfig::default()
        },
    )
    .expect("daemon starts")
}

/// A daemon over a fresh store in its own temp directory, and a client for it.
pub struct Api {
    /// The daemon.
    pub daemon: Daemon,
    /// An agent that reads error statuses as answers.
    pub agent: ureq::Agent,
    /// The bearer token sent with every request, if the daemon wants one.
    pub token: Option<String>,
    /// The directory of `runs.db` and its artifact root `runs-artifacts`.
    pub dir: tempfile::TempDir,
}

/// A daemon with `config` over a store that serves its artifacts ([`ArtifactUris::Served`]).
pub fn start(config: DaemonConfig) -> Api {
    start_with(config, ArtifactUris::Served)
}

/// A daemon with `config` over a store writing artifact URIs as `uris`.
pub fn start_with(config: DaemonConfig, uris: ArtifactUris) -> Api {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store_at(&dir.path().join("runs.db"), uris);
    let token = config.token.clone();
    let daemon = Daemon::start(store, config).expect("daemon starts");
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    Api {
        daemon,
        agent,
        token,
        dir,
    }
}

/// The default daemon on 127.0.0.1, serving artifacts.
pub fn api() -> Api {
    start(loopback())
}

/// An answer's status and JSON body (`Null` when empty, the text itself when not JSON).
pub fn read(response: ureq::http::Response<ureq::Body>) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.into_body().read_to_string().expect("body reads");
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, value)
}

impl Api {
    /// The daemon's URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.daemon.url())
    }

    /// `request` with the bearer token, if there is one.
    pub fn auth<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(token) => request.header("Authorization", format!("Bearer {token}")),
            None => request,
        }
    }

    /// POSTs `body` to `<prefix>/<path>`.
    pub fn post_at(&self, prefix: &str, path: &str, body: Value) -> (u16, Value) {
        let request = self.auth(self.agent.post(self.url(&format!("{prefix}/{path}"))));
        read(request.send_json(body).expect("request sent"))
    }

    /// GETs `<prefix>/<path>` with `query`.
    pub fn get_at(&self, prefix: &str, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
        let mut request = self.auth(self.agent.get(self.url(&format!("{prefix}/{path}"))));
        for (key, value) in query {
            request = request.query(*key, *value);
        }
        read(request.call().expect("request sent"))
    }

    /// POSTs `body` to the tracking route `path` (`/api/2.0/mlflow/<path>`).
    pub fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.post_at("/api/2.0/mlflow", path, body)
    }

    /// GETs the tracking route `path` with `query`.
    pub fn get(&self, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
        self.get_at("/api/2.0/mlflow", path, query)
    }

    /// POSTs to `path` and asserts a 200; the answer.
    pub fn ok(&self, path: &str, body: Value) -> Value {
        let (status, answer) = self.post(path, body);
        assert_eq!(status, 200, "{path}: {answer}");
        answer
    }

    /// Creates the experiment `name`; its id.
    pub fn experiment(&self, name: &str) -> String {
        let created = self.ok("experiments/create", json!({ "name": name }));
        created["experiment_id"].as_str().expect("id").to_string()
    }

    /// An experiment and a run in it, as `set_experiment` + `start_run` create them.
    pub fn run(&self, experiment: &str) -> (String, String) {
        let (status, created) = self.post("experiments/create", json!({ "name": experiment }));
        assert_eq!(status, 200, "{created}");
        let experiment_id = created["experiment_id"].as_str().expect("id").to_string();
        let (status, run) = self.post(
            "runs/create",
            json!({
                "experiment_id": experiment_id, "user_id": "root", "run_name": "r",
                "start_time": 1_795_761_062_033_i64,
                "tags": [{"key": "mlflow.user", "value": "root"}, {"key": "mlflow.runName", "value": "r"}]
            }),
        );
        assert_eq!(status, 200, "{run}");
        (
            experiment_id,
            run["run"]["info"]["run_id"]
                .as_str()
                .expect("run id")
                .to_string(),
        )
    }

    /// A bare run in the experiment `experiment_id`; its id.
    pub fn run_in(&self, experiment_id: &str) -> String {
        let created = self.ok(
            "runs/create",
            json!({ "experiment_id": experiment_id, "start_time": 1_795_761_062_033_i64 }),
        );
        created["run"]["info"]["run_id"]
            .as_str()
            .expect("run id")
            .to_string()
    }

    /// The run `run_id` as `runs/get` answers it (asserting a 200).
    pub fn get_run(&self, run_id: &str) -> Value {
        let (status, answer) = self.get("runs/get", &[("run_id", run_id)]);
        assert_eq!(status, 200, "{answer}");
        answer["run"].clone()
    }

    /// The names of the experiments `experiments/search` answers `body` with, and the next
    /// page token.
    pub fn experiment_names(&self, body: Value) -> (Vec<String>, Option<String>) {
        let answer = self.ok("experiments/search", body);
        let names = answer["experiments"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|e| e["name"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default();
        (names, answer["next_page_token"].as_str().map(String::from))
    }

    /// A run's artifact directory on disk, as this fixture's daemon lays it out.
    pub fn run_artifact_dir(&self, experiment_id: &str, run_id: &str) -> PathBuf {
        self.dir
            .path()
            .join("runs-artifacts")
            .join(experiment_id)
            .join(run_id)
            .join("artifacts")
    }
}

/// The end of every MLflow message about a request field.
pub const DOCS: &str = "See the API docs for more information about request parameters.";

/// MLflow's body for a field of the wrong JSON type.
pub fn invalid(value: &str, field: &str, python_type: &str) -> Value {
    json!({
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": format!(
            "Invalid value {value} for parameter '{field}' supplied:  Hint: Value was of type \
             '{python_type}'. {DOCS}"
        ),
    })
}

/// MLflow's body for a missing required field.
pub fn missing(field: &str) -> Value {
    json!({
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": format!("Missing value for required parameter '{field}'. {DOCS}"),
    })
}

/// The `next_page_token` of a paged answer, which must have one.
pub fn next_page_token(answer: &Value) -> String {
    answer["next_page_token"]
        .as_str()
        .expect("a next page")
        .to_string()
}

/// Asserts an MLflow error answer with `status` and `code` and a message; the body.
pub fn assert_error(answer: (u16, Value), status: u16, code: &str) -> Value {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["error_code"], code, "{}", answer.1);
    assert!(
        answer.1["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        answer.1
    );
    answer.1
}

/// Asserts a 400 `INVALID_PARAMETER_VALUE` whose message names every one of `needles`; the
/// body.
pub fn assert_invalid_naming(answer: (u16, Value), needles: &[&str]) -> Value {
    let body = assert_error(answer, 400, "INVALID_PARAMETER_VALUE");
    let message = body["message"].as_str().unwrap_or_default();
    for needle in needles {
        assert!(message.contains(needle), "{needle:?} not named: {body}");
    }
    body
}

/// Every file under `dir` (none when it does not exist), sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}
