//! The daemon over HTTP: a real SQLite file, a real daemon on 127.0.0.1:0, requests shaped as
//! the official MLflow client sends them (`docs/mlflow-wire.md`).

use serde_json::{Value, json};
use tracker::api::{Daemon, DaemonConfig};
use tracker::store::{ArtifactUris, Store, StoreOptions};

struct Api {
    daemon: Daemon,
    agent: ureq::Agent,
    token: Option<String>,
    dir: tempfile::TempDir,
}

fn start(config: DaemonConfig) -> Api {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open_with(
        dir.path().join("runs.db"),
        StoreOptions {
            artifact_root: None,
            artifact_uris: ArtifactUris::Served,
        },
    )
    .expect("store opens");
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

fn api() -> Api {
    start(DaemonConfig {
        addr: "127.0.0.1:0".parse().expect("addr"),
        ..DaemonConfig::default()
    })
}

fn read(response: ureq::http::Response<ureq::Body>) -> (u16, Value) {
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
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.daemon.url())
    }

    fn auth<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(token) => request.header("Authorization", format!("Bearer {token}")),
            None => request,
        }
    }

    fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let request = self.auth(
            self.agent
                .post(self.url(&format!("/api/2.0/mlflow/{path}"))),
        );
        read(request.send_json(body).expect("request sent"))
    }

    fn get(&self, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
        let mut request = self.auth(self.agent.get(self.url(&format!("/api/2.0/mlflow/{path}"))));
        for (key, value) in query {
            request = request.query(*key, *value);
        }
        read(request.call().expect("request sent"))
    }

    /// An experiment and a run in it, as `set_experiment` + `start_run` create them.
    fn run(&self, experiment: &str) -> (String, String) {
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
}

fn assert_error(answer: (u16, Value), status: u16, code: &str) -> Value {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["error_code"], code, "{}", answer.1);
    assert!(
        answer.1["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        answer.1
    );
    answer.1
}

#[test]
fn set_experiment_flow_matches_mlflow() {
    let api = api();
    let missing = api.get("experiments/get-by-name", &[("experiment_name", "x")]);
    assert_error(missing, 404, "RESOURCE_DOES_NOT_EXIST");
    let (status, created) = api.post(
        "experiments/create",
        json!({ "name": "x", "tags": [{"key": "team", "value": "a"}] }),
    );
    assert_eq!(status, 200);
    let id = created["experiment_id"]
        .as_str()
        .expect("id as a string")
        .to_string();
    assert_error(
        api.post("experiments/create", json!({ "name": "x" })),
        400,
        "RESOURCE_ALREADY_EXISTS",
    );
    assert_error(
        api.post("experiments/create", json!({ "name": "" })),
        400,
        "INVALID_PARAMETER_VALUE",
    );
    let (status, got) = api.get("experiments/get", &[("experiment_id", &id)]);
    assert_eq!(status, 200);
    assert_eq!(got["experiment"]["name"], "x");
    assert_eq!(got["experiment"]["lifecycle_stage"], "active");
    assert_eq!(got["experiment"]["tags"][0]["value"], "a");
    let (_, by_name) = api.get("experiments/get-by-name", &[("experiment_name", "x")]);
    assert_eq!(by_name["experiment"]["experiment_id"], id.as_str());
    assert_error(
        api.get("experiments/get", &[("experiment_id", "999")]),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    );
    let (_, default) = api.get("experiments/get", &[("experiment_id", "0")]);
    assert_eq!(default["experiment"]["name"], "Default");
    let (status, search) = api.post("experiments/search", json!({ "max_results": 1 }));
    assert_eq!(status, 200);
    assert_eq!(search["experiments"].as_array().map(Vec::len), Some(1));
    let token = search["next_page_token"]
        .as_str()
        .expect("a second page")
        .to_string();
    let (_, second) = api.post(
        "experiments/search",
        json!({ "max_results": 1, "page_token": token }),
    );
    // Two pages of one experiment each (newest first: their order is in mlflow_parity.rs).
    let mut paged = [
        search["experiments"][0]["name"].clone(),
        second["experiments"][0]["name"].clone(),
    ];
    paged.sort_by_key(|name| name.to_string());
    assert_eq!(paged, [json!("Default"), json!("x")]);
    let (_, filtered) = api.get("experiments/search", &[("filter", "name LIKE 'x%'")]);
    assert_eq!(filtered["experiments"].as_array().map(Vec::len), Some(1));
}

#[test]
fn run_lifecycle_and_logging_match_mlflow() {
    let api = api();
    let (experiment_id, run_id) = api.run("lifecycle");
    let (_, run) = api.get("runs/get", &[("run_id", &run_id), ("run_uuid", &run_id)]);
    let info = &run["run"]["info"];
    assert_eq!(info["status"], "RUNNING");
    assert_eq!(info["run_uuid"], run_id.as_str());
    assert_eq!(info["run_name"], "r");
    assert_eq!(info["lifecycle_stage"], "active");
    assert_eq!(
        info["artifact_uri"],
        format!("mlflow-artifacts:/{experiment_id}/{run_id}/artifacts")
    );

    // Params: same value again is fine, another is refused and the first value stays.
    let param =
        |value: &str| json!({ "run_id": run_id, "run_uuid": run_id, "key": "lr", "value": value });
    assert_eq!(api.post("runs/log-parameter", param("0.001")).0, 200);
    assert_eq!(api.post("runs/log-parameter", param("0.001")).0, 200);
    let conflict = assert_error(
        api.post("runs/log-parameter", param("0.01")),
        400,
        "INVALID_PARAMETER_VALUE",
    );
    assert!(
        conflict["message"]
            .as_str()
            .is_some_and(|m| m.contains("lr"))
    );

    // Metrics: latest by step, then timestamp; only run_uuid is enough; step defaults to 0.
    let metric = |value: Value, ts: i64, step: i64| json!({ "run_uuid": run_id, "key": "val_loss", "value": value, "timestamp": ts, "step": step });
    assert_eq!(
        api.post("runs/log-metric", metric(json!(1.5), 10, 0)).0,
        200
    );
    assert_eq!(
        api.post("runs/log-metric", metric(json!("0.5"), 5, 2)).0,
        200
    );
    assert_eq!(
        api.post("runs/log-metric", metric(json!(0.9), 99, 1)).0,
        200
    );
    assert_eq!(
        api.post("runs/log-metric", metric(json!(0.9), 99, 1)).0,
        200,
        "exact duplicate accepted"
    );
    let no_step = json!({ "run_id": run_id, "key": "acc", "value": 0.25, "timestamp": 3 });
    assert_eq!(api.post("runs/log-metric", no_step).0, 200);
    let no_ts = json!({ "run_id": run_id, "key": "acc", "value": 0.25 });
    let missing = assert_error(
        api.post("runs/log-metric", no_ts),
        400,
        "INVALID_PARAMETER_VALUE",
    );
    assert!(
        missing["message"]
            .as_str()
            .is_some_and(|m| m.contains("timestamp"))
    );
    assert_error(
        api.post("runs/log-metric", metric(json!("abc"), 1, 0)),
        400,
        "INVALID_PARAMETER_VALUE",
    );

    // Non-finite values travel as strings, both ways.
    let batch = json!({ "run_id": run_id, "metrics": [
        {"key": "nan", "value": "NaN", "timestamp": 1, "step": 0},
        {"key": "inf", "value": "Infinity", "timestamp": 1, "step": 0},
        {"key": "ninf", "value": "-Infinity", "timestamp": 1, "step": 0}],
        "params": [{"key": "batch", "value": "64"}], "tags": [{"key": "stage", "value": "dev"}] });
    assert_eq!(api.post("runs/log-batch", batch).0, 200);
    let (_, run) = api.get("runs/get", &[("run_id", &run_id)]);
    let data = &run["run"]["data"];
    let latest = |key: &str| {
        data["metrics"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["key"] == key))
            .cloned()
            .expect(key)
    };
    assert_eq!(latest("val_loss")["value"], 0.5);
    assert_eq!(latest("val_loss")["step"], 2);
    assert_eq!(latest("acc")["step"], 0);
    assert_eq!(latest("nan")["value"], "NaN");
    assert_eq!(latest("inf")["value"], "Infinity");
    assert_eq!(latest("ninf")["value"], "-Infinity");
    assert_eq!(data["params"].as_array().map(Vec::len), Some(2));
    assert!(
        data["tags"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["key"] == "stage"))
    );

    // Tags: set, overwrite, delete; deleting a missing tag is a 404.
    let tag = json!({ "run_id": run_id, "run_uuid": run_id, "key": "stage", "value": "prod" });
    assert_eq!(api.post("runs/set-tag", tag).0, 200);
    assert_eq!(
        api.post(
            "runs/delete-tag",
            json!({ "run_id": run_id, "key": "stage" })
        )
        .0,
        200
    );
    assert_error(
        api.post(
            "runs/delete-tag",
            json!({ "run_id": run_id, "key": "stage" }),
        ),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    );

    // History, in step order, paginated.
    let (_, history) = api.get(
        "metrics/get-history",
        &[
            ("run_id", &run_id),
            ("metric_key", "val_loss"),
            ("max_results", "25000"),
        ],
    );
    let steps: Vec<i64> = history["metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .filter_map(|m| m["step"].as_i64())
        .collect();
    assert_eq!(steps, [0, 1, 2]);
    let (_, first) = api.get(
        "metrics/get-history",
        &[
            ("run_id", &run_id),
            ("metric_key", "val_loss"),
            ("max_results", "2"),
        ],
    );
    assert_eq!(first["metrics"].as_array().map(Vec::len), Some(2));
    let token = first["next_page_token"]
        .as_str()
        .expect("next page")
        .to_string();
    let (_, rest) = api.get(
        "metrics/get-history",
        &[
            ("run_id", &run_id),
            ("metric_key", "val_loss"),
            ("max_results", "2"),
            ("page_token", &token),
        ],
    );
    assert_eq!(rest["metrics"][0]["step"], 2);
    let (status, none) = api.get(
        "metrics/get-history",
        &[("run_id", &run_id), ("metric_key", "never")],
    );
    assert_eq!((status, none), (200, json!({})));

    // Update: FINISHED; an unknown status name is ignored; a finished run stays writable.
    let update = |status: &str| json!({ "run_id": run_id, "run_uuid": run_id, "status": status, "end_time": 1_795_761_069_850_i64 });
    let (status, updated) = api.post("runs/update", update("FINISHED"));
    assert_eq!(status, 200);
    assert_eq!(updated["run_info"]["status"], "FINISHED");
    assert_eq!(api.post("runs/update", update("DONE")).0, 200);
    let (_, run) = api.get("runs/get", &[("run_id", &run_id)]);
    assert_eq!(run["run"]["info"]["status"], "FINISHED");
    assert_eq!(run["run"]["info"]["end_time"], 1_795_761_069_850_i64);
    assert_eq!(api.post("runs/log-metric", metric(json!(0.1), 1, 9)).0, 200);

    // Deleted runs refuse writes until restored.
    assert_eq!(api.post("runs/delete", json!({ "run_id": run_id })).0, 200);
    let refused = assert_error(
        api.post("runs/log-metric", metric(json!(0.1), 2, 9)),
        400,
        "INVALID_PARAMETER_VALUE",
    );
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.contains("active"))
    );
    assert_eq!(api.post("runs/restore", json!({ "run_id": run_id })).0, 200);
    assert_eq!(api.post("runs/log-metric", metric(json!(0.1), 2, 9)).0, 200);

    // Unknown runs and experiments are 404s.
    let unknown = "0".repeat(32);
    let not_found = assert_error(
        api.get("runs/get", &[("run_id", &unknown), ("run_uuid", &unknown)]),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    );
    assert!(
        not_found["message"]
            .as_str()
            .is_some_and(|m| m.contains(&unknown))
    );
    assert_error(
        api.post(
            "runs/log-batch",
            json!({ "run_id": unknown, "metrics": [] }),
        ),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    );
    assert_error(
        api.post("runs/create", json!({ "experiment_id": "424242" })),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    );
    // No experiment id: Default (0).
    let (_, default_run) = api.post("runs/create", json!({ "start_time": 5 }));
    assert_eq!(default_run["run"]["info"]["experiment_id"], "0");
}

#[test]
fn limits_and_key_rules_match_mlflow() {
    let api = api();
    let (_, run_id) = api.run("limits");
    let metrics = |n: usize| -> Vec<Value> {
        (0..n)
            .map(|i| json!({ "key": "m", "value": i, "timestamp": 1, "step": i }))
            .collect()
    };
    let kv = |n: usize| -> Vec<Value> {
        (0..n)
            .map(|i| json!({ "key": format!("k{i}"), "value": "v" }))
            .collect()
    };
    assert_eq!(
        api.post(
            "runs/log-batch",
            json!({ "run_id": run_id, "metrics": metrics(1000) })
        )
        .0,
        200
    );
    let too_many = assert_error(
        api.post(
            "runs/log-batch",
            json!({ "run_id": run_id, "metrics": metrics(1001) }),
        ),
        400,
        "INVALID_PARAMETER_VALUE",
    );
    assert!(
        too_many["message"]
            .as_str()
            .is_some_and(|m| m.contains("1000"))
    );
    assert_eq!(
        api.post(
            "runs/log-batch",
            json!({ "run_id": run_id, "params": kv(100) })
        )
        .0,
        200
    );
    assert_error(
        api.post(
            "runs/log-batch",
            json!({ "run_id": run_id, "params": kv(101) }),
        ),
        400,
        "INVALID_PARAMETER_VALUE",
    );
    assert_error(
        api.post(
            "runs/log-batch",
            json!({ "run_id": run_id, "tags": kv(101) }),
        ),
        400,
        "INVALID_PARAMETER_VALUE",
    );
    let key = |k: String| json!({ "run_id": run_id, "key": k, "value": 1.0, "timestamp": 1 });
    assert_eq!(api.post("runs/log-metric", key("k".repeat(250))).0, 200);
    assert_error(
        api.post("runs/log-metric", key("k".repeat(251))),
        400,
        "INVALID_PARAMETER_VALUE",
    );
    let bad = assert_error(
        api.post("runs/log-metric", key("bad$key".into())),
        400,
        "INVALID_PARAMETER_VALUE",
    );
    assert!(
        bad["message"]
            .as_str()
            .is_some_and(|m| m.contains("alphanumerics"))
    );
    let long = json!({ "run_id": run_id, "key": "long", "value": "x".repeat(6001) });
    assert_eq!(api.post("runs/log-parameter", long).0, 200);
    let (_, run) = api.get("runs/get", &[("run_id", &run_id)]);
    let stored = run["run"]["data"]["params"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["key"] == "long"))
        .cloned();
    assert_eq!(
        stored.and_then(|p| p["value"].as_str().map(str::len)),
        Some(6000)
    );
    // A batch with a conflicting param stores nothing of it.
    let conflict = json!({ "run_id": run_id, "params": [{"key": "k0", "value": "other"}], "metrics": [{"key": "lost", "value": 1, "timestamp": 1}] });
    assert_error(
        api.post("runs/log-batch", conflict),
        400,
        "INVALID_PARAMETER_VALUE",
    );
    let (_, run) = api.get("runs/get", &[("run_id", &run_id)]);
    assert!(!run.to_string().contains("\"lost\""));
}

#[test]
fn search_filters_orders_and_pages() {
    let api = api();
    let (experiment_id, _) = api.run("search");
    let mut ids = Vec::new();
    for i in 0..5 {
        let (_, run) = api.post(
            "runs/create",
            json!({ "experiment_id": experiment_id, "start_time": 100 + i }),
        );
        let run_id = run["run"]["info"]["run_id"]
            .as_str()
            .expect("id")
            .to_string();
        let batch = json!({ "run_id": run_id,
            "metrics": [{"key": "val_loss", "value": 1.0 / f64::from(i + 1), "timestamp": 1, "step": 0}],
            "params": [{"key": "lr", "value": if i % 2 == 0 { "0.001" } else { "0.01" }}] });
        assert_eq!(api.post("runs/log-batch", batch).0, 200);
        ids.push(run_id);
    }
    let search = |filter: &str, order: &[&str], max: i64, token: Option<&str>| {
        let mut body = json!({ "experiment_ids": [experiment_id], "filter": filter, "run_view_type": "ACTIVE_ONLY", "max_results": max, "order_by": order });
        if let Some(token) = token {
            body["page_token"] = json!(token);
        }
        api.post("runs/search", body)
    };
    let names = |answer: &Value| -> Vec<String> {
        answer["runs"]
            .as_array()
            .map(|runs| {
                runs.iter()
                    .filter_map(|r| r["info"]["run_id"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (status, found) = search(
        "metrics.val_loss < 0.6 and params.lr = '0.001'",
        &["metrics.val_loss ASC"],
        10_000,
        None,
    );
    assert_eq!(status, 200, "{found}");
    assert_eq!(names(&found), [ids[4].clone(), ids[2].clone()]);
    // Default order: start_time DESC; pages of 2 cover all 6 runs once.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let (_, page) = search("", &[], 2, token.as_deref());
        seen.extend(names(&page));
        match page["next_page_token"].as_str() {
            Some(next) => token = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 6);
    // The first run (from `api.run`) has the latest start_time, so it comes first.
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(&seen[1..], &newest_first[..]);
    let bad = assert_error(
        search("metrics.val_loss < 1 OR params.lr = 'x'", &[], 10, None),
        400,
        "INVALID_PARAMETER_VALUE",
    );
    assert!(
        bad["message"]
            .as_str()
            .is_some_and(|m| m.contains("position") && m.contains("OR")),
        "{bad}"
    );
    assert_error(
        search("", &[], 10, Some("garbage")),
        400,
        "INVALID_PARAMETER_VALUE",
    );
    assert_error(
        search("", &[], 50_001, None),
        400,
        "INVALID_PARAMETER_VALUE",
    );
    assert_error(
        search("", &["metrics.val_loss SIDEWAYS"], 10, None),
        400,
        "INVALID_PARAMETER_VALUE",
    );
    // Quoted keys and attributes.
    let (_, named) = search(
        "tags.`mlflow.runName` = 'r' and attributes.status = 'RUNNING'",
        &[],
        10,
        None,
    );
    assert_eq!(names(&named).len(), 1);
    let (_, by_id) = search(
        &format!("attributes.run_id IN ('{}', '{}')", ids[0], ids[1]),
        &[],
        10,
        None,
    );
    assert_eq!(names(&by_id).len(), 2);
}

#[test]
fn transport_rules_never_answer_a_client_mistake_with_5xx() {
    let api = api();
    let (status, body) = read(api.agent.get(api.url("/health")).call().expect("health"));
    assert_eq!((status, body), (200, Value::String("OK".into())));
    let (status, _) = read(api.agent.get(api.url("/version")).call().expect("version"));
    assert_eq!(status, 200);
    assert_error(
        read(
            api.agent
                .get(api.url("/api/2.0/mlflow/nope"))
                .call()
                .expect("sent"),
        ),
        404,
        "ENDPOINT_NOT_FOUND",
    );
    let (status, body) = read(
        api.agent
            .get(api.url("/api/2.0/mlflow/runs/create"))
            .call()
            .expect("sent"),
    );
    assert_eq!(status, 405, "{body}");
    assert!(body["error_code"].is_string());
    let malformed = api
        .agent
        .post(api.url("/api/2.0/mlflow/runs/create"))
        .header("Content-Type", "application/json")
        .send("{not json")
        .expect("sent");
    assert_error(read(malformed), 400, "INVALID_PARAMETER_VALUE");
    let array = api
        .agent
        .post(api.url("/api/2.0/mlflow/runs/log-batch"))
        .send("[]")
        .expect("sent");
    assert_error(read(array), 400, "INVALID_PARAMETER_VALUE");
    assert_error(
        api.post("runs/log-batch", json!({})),
        400,
        "INVALID_PARAMETER_VALUE",
    );
    assert_error(
        api.post(
            "runs/log-batch",
            json!({ "run_id": "x", "metrics": "nope" }),
        ),
        400,
        "INVALID_PARAMETER_VALUE",
    );
    let huge = "x".repeat(DaemonConfig::default().max_body_bytes + 1);
    let (status, _) = read(
        api.agent
            .post(api.url("/api/2.0/mlflow/runs/log-batch"))
            .send(huge.as_bytes())
            .expect("sent"),
    );
    assert!((400..500).contains(&status), "{status}");
    // Extras of MLflow 3 clients.
    let (_, run_id) = api.run("extras");
    let inputs = json!({ "run_id": run_id, "datasets": [{"tags": [{"key": "mlflow.data.context", "value": "train"}], "dataset": {"name": "d", "digest": "1", "source_type": "local", "source": "s"}}] });
    assert_eq!(api.post("runs/log-inputs", inputs), (200, json!({})));
    assert_eq!(
        api.post("logged-models/search", json!({ "experiment_ids": ["1"] })),
        (200, json!({ "models": [] }))
    );
    let (status, _) = api.post("logged-models", json!({ "experiment_id": "1" }));
    assert!((400..500).contains(&status) || status == 501, "{status}");
}

#[test]
fn a_token_is_required_off_loopback_and_checked_on_every_request() {
    let open = DaemonConfig {
        addr: "0.0.0.0:0".parse().expect("addr"),
        ..DaemonConfig::default()
    };
    assert!(
        open.validate().is_err(),
        "a non-loopback bind without a token must be refused"
    );
    let mut api = start(DaemonConfig {
        addr: "127.0.0.1:0".parse().expect("addr"),
        token: Some("s3cret".into()),
        ..DaemonConfig::default()
    });
    assert_eq!(api.get("experiments/get", &[("experiment_id", "0")]).0, 200);
    api.token = Some("wrong".into());
    assert_error(
        api.get("experiments/get", &[("experiment_id", "0")]),
        401,
        "UNAUTHENTICATED",
    );
    api.token = None;
    assert_error(api.post("runs/create", json!({})), 401, "UNAUTHENTICATED");
}

#[test]
fn artifacts_upload_list_download_and_stay_inside_the_run() {
    let api = api();
    let (experiment_id, run_id) = api.run("artifacts");
    let base = format!("/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts");
    let put = |path: &str, body: &[u8]| {
        read(
            api.agent
                .put(api.url(&format!("{base}/{path}")))
                .send(body)
                .expect("sent"),
        )
    };
    assert_eq!(put("config.json", b"{\"lr\": 0.001}").0, 200);
    assert_eq!(put("plots/curve.svg", b"<svg/>").0, 200);
    let (status, listed) = read(
        api.agent
            .get(api.url("/api/2.0/mlflow-artifacts/artifacts"))
            .query("path", format!("{experiment_id}/{run_id}/artifacts"))
            .call()
            .expect("sent"),
    );
    assert_eq!(status, 200);
    assert_eq!(
        listed,
        json!({ "files": [
        {"path": "config.json", "is_dir": false, "file_size": 13},
        {"path": "plots", "is_dir": true}] })
    );
    let downloaded = api
        .agent
        .get(api.url(&format!("{base}/plots/curve.svg")))
        .call()
        .expect("sent");
    assert_eq!(
        downloaded.into_body().read_to_string().expect("body"),
        "<svg/>"
    );
    assert_error(
        read(
            api.agent
                .get(api.url(&format!("{base}/missing.txt")))
                .call()
                .expect("sent"),
        ),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    );
    // Escapes are refused, whatever the spelling.
    for escape in [
        "..%2F..%2F..%2Fescape.txt",
        "sub/..%2F..%2Fescape.txt",
        "%2Fetc%2Fpasswd",
    ] {
        let (status, body) = put(escape, b"x");
        assert_eq!(status, 400, "{escape}: {body}");
    }
    assert!(!api.dir.path().join("escape.txt").exists());
    // A link planted inside the run directory that points out of it is refused.
    let run_dir = api
        .dir
        .path()
        .join("runs-artifacts")
        .join(&experiment_id)
        .join(&run_id)
        .join("artifacts");
    let outside = tempfile::tempdir().expect("dir");
    std::os::unix::fs::symlink(outside.path(), run_dir.join("out")).expect("symlink");
    assert_eq!(put("out/stolen.txt", b"x").0, 400);
    assert!(!outside.path().join("stolen.txt").exists());
    // Another experiment's prefix or an unknown run is refused.
    let wrong = format!("/api/2.0/mlflow-artifacts/artifacts/999/{run_id}/artifacts/a.txt");
    assert_eq!(
        read(
            api.agent
                .put(api.url(&wrong))
                .send(&b"x"[..])
                .expect("sent")
        )
        .0,
        400
    );
    let unknown = format!(
        "/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{}/artifacts/a.txt",
        "0".repeat(32)
    );
    assert_eq!(
        read(
            api.agent
                .put(api.url(&unknown))
                .send(&b"x"[..])
                .expect("sent")
        )
        .0,
        404
    );
}

#[test]
fn shutdown_keeps_every_acknowledged_write() {
    let api = api();
    let (_, run_id) = api.run("durable");
    for step in 0..50 {
        let metric = json!({ "run_id": run_id, "key": "loss", "value": step, "timestamp": step, "step": step });
        assert_eq!(api.post("runs/log-metric", metric).0, 200);
    }
    let Api { daemon, dir, .. } = api;
    daemon.shutdown().expect("clean shutdown");
    let store = Store::open(dir.path().join("runs.db")).expect("reopens");
    assert_eq!(
        store
            .metric_history(&run_id, "loss")
            .expect("history")
            .len(),
        50
    );
}

#[test]
fn ending_a_run_re_exports_its_experiment_when_asked() {
    let export = tempfile::tempdir().expect("dir");
    let api = start(DaemonConfig {
        addr: "127.0.0.1:0".parse().expect("addr"),
        export_dir: Some(export.path().to_path_buf()),
        ..DaemonConfig::default()
    });
    let (experiment_id, run_id) = api.run("exported");
    let metric =
        json!({ "run_id": run_id, "key": "loss", "value": 0.5, "timestamp": 1, "step": 0 });
    assert_eq!(api.post("runs/log-metric", metric).0, 200);
    let runs_file =
        tracker::export::table_file(export.path(), tracker::export::RUNS, &experiment_id);
    assert!(
        !runs_file.exists(),
        "nothing is exported while the run is going"
    );
    let update = json!({ "run_id": run_id, "status": "FINISHED", "end_time": 2 });
    assert_eq!(api.post("runs/update", update).0, 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !runs_file.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        runs_file.exists(),
        "{} written after the run ended",
        runs_file.display()
    );
}

/// A run's artifact directory on disk, as the daemon of [`api`] lays it out.
fn run_artifact_dir(api: &Api, experiment_id: &str, run_id: &str) -> std::path::PathBuf {
    api.dir
        .path()
        .join("runs-artifacts")
        .join(experiment_id)
        .join(run_id)
        .join("artifacts")
}

#[test]
fn search_limits_and_experiment_filters_are_400_not_500() {
    let api = api();
    let (experiment_id, _) = api.run("limits");
    // Experiments are searched by attributes and tags; a run field is the client's mistake.
    for filter in ["params.p = 'x'", "metrics.m > 1", "param.`a b` = 'x'"] {
        let body = assert_error(
            api.post("experiments/search", json!({ "filter": filter })),
            400,
            "INVALID_PARAMETER_VALUE",
        );
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains("attributes") && m.contains("tags")),
            "{body}"
        );
        assert_error(
            api.get("experiments/search", &[("filter", filter)]),
            400,
            "INVALID_PARAMETER_VALUE",
        );
    }
    assert_eq!(
        api.post(
            "experiments/search",
            json!({ "filter": "tags.team = 'x' AND name LIKE 'lim%'" })
        )
        .0,
        200
    );
    let search = |body: Value| api.post("runs/search", body);
    // order_by: the limit works, one more is refused by name.
    let keys = |n: usize| -> Vec<String> { (0..n).map(|i| format!("metrics.m{i} DESC")).collect() };
    let limit = tracker::query::MAX_ORDER_BY_KEYS;
    assert_eq!(
        search(json!({ "experiment_ids": [experiment_id], "order_by": keys(limit) })).0,
        200
    );
    for n in [limit + 1, 64, 100] {
        let body = assert_error(
            search(json!({ "experiment_ids": [experiment_id], "order_by": keys(n) })),
            400,
            "INVALID_PARAMETER_VALUE",
        );
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains(&limit.to_string())),
            "{body}"
        );
    }
    // Filter clauses: every kind, up to the limit, then one more.
    let kinds = [
        "metrics.m{i} > 0.5",
        "params.p{i} = 'x'",
        "tags.t{i} LIKE 'a%'",
        "attributes.run_name != 'n{i}'",
        "params.q{i} IS NULL",
    ];
    let filter = |n: usize| -> String {
        (0..n)
            .map(|i| kinds[i % kinds.len()].replace("{i}", &i.to_string()))
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    let clauses = tracker::query::MAX_FILTER_CLAUSES;
    let (status, body) =
        search(json!({ "experiment_ids": [experiment_id], "filter": filter(clauses) }));
    assert_eq!(status, 200, "{body}");
    for n in [clauses + 1, 990, 2000] {
        let body = assert_error(
            search(json!({ "experiment_ids": [experiment_id], "filter": filter(n) })),
            400,
            "INVALID_PARAMETER_VALUE",
        );
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains(&clauses.to_string())),
            "{body}"
        );
    }
    // LIKE patterns: the longest allowed one runs (`*` grows threefold for SQLite's GLOB).
    let like = tracker::query::MAX_LIKE_PATTERN_BYTES;
    for op in ["LIKE", "ILIKE"] {
        let pattern = "*".repeat(like);
        let (status, body) = search(json!({
            "experiment_ids": [experiment_id],
            "filter": format!("attributes.run_name {op} '{pattern}'")
        }));
        assert_eq!(status, 200, "{body}");
        for n in [like + 1, 50_001, 200_000] {
            let body = assert_error(
                search(json!({
                    "experiment_ids": [experiment_id],
                    "filter": format!("tags.t {op} '%{}'", "x".repeat(n - 1))
                })),
                400,
                "INVALID_PARAMETER_VALUE",
            );
            let message = body["message"].as_str().unwrap_or_default();
            assert!(message.contains(&like.to_string()), "{message:.300}");
            assert!(
                message.len() < 2_000,
                "the error quotes a clip, not the whole filter"
            );
        }
    }
    let huge = "attributes.run_name = 'x' AND ".repeat(10_000) + "attributes.run_name = 'x'";
    assert_error(
        search(json!({ "experiment_ids": [experiment_id], "filter": huge })),
        400,
        "INVALID_PARAMETER_VALUE",
    );
}

#[test]
fn hostile_artifact_paths_are_4xx_with_mlflow_errors() {
    let api = api();
    let (experiment_id, run_id) = api.run("hostile-artifacts");
    let base = format!("/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts");
    let put = |path: &str| {
        read(
            api.agent
                .put(api.url(&format!("{base}/{path}")))
                .send(&b"x"[..])
                .expect("sent"),
        )
    };
    assert_eq!(put("file.txt").0, 200);
    let run_dir = run_artifact_dir(&api, &experiment_id, &run_id);
    std::os::unix::fs::symlink(run_dir.join("nowhere"), run_dir.join("dangling")).expect("symlink");
    std::os::unix::fs::symlink(run_dir.join("loop"), run_dir.join("loop")).expect("symlink");
    let long_name = "n".repeat(256);
    let long_path = vec!["d".repeat(200); 25].join("/") + "/f.txt";
    let cases: [(&str, &str, u16, &str); 10] = [
        ("a NUL byte", "a%00b.txt", 400, "INVALID_PARAMETER_VALUE"),
        (
            "a 256-byte name",
            &long_name,
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "an over-long path",
            &long_path,
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        ("a trailing slash", "sub/", 400, "INVALID_PARAMETER_VALUE"),
        ("a trailing dot", "sub/.", 400, "INVALID_PARAMETER_VALUE"),
        (
            "a path under a file",
            "file.txt/inner.txt",
            409,
            "RESOURCE_CONFLICT",
        ),
        (
            "deep under a file",
            "file.txt/a/b/c.txt",
            409,
            "RESOURCE_CONFLICT",
        ),
        (
            "a directory link that dangles",
            "dangling/x.txt",
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        ("a link loop", "loop/x.txt", 400, "INVALID_PARAMETER_VALUE"),
        (
            "the run directory itself",
            "",
            400,
            "INVALID_PARAMETER_VALUE",
        ),
    ];
    for (what, path, status, code) in cases {
        let answer = put(path);
        assert_eq!(answer.0, status, "{what}: {}", answer.1);
        assert_eq!(answer.1["error_code"], code, "{what}: {}", answer.1);
        assert!(answer.1["message"].is_string(), "{what}: {}", answer.1);
    }
    assert_eq!(put("sub/x.txt").0, 200);
    let answer = put("sub");
    assert_eq!(answer.0, 409, "a directory of that name: {}", answer.1);
    // Downloads and listings of such paths are client mistakes too, never 5xx.
    for path in [
        "a%00b.txt",
        &long_name,
        &long_path,
        "dangling/x.txt",
        "file.txt/x",
    ] {
        let (status, body) = read(
            api.agent
                .get(api.url(&format!("{base}/{path}")))
                .call()
                .expect("sent"),
        );
        assert!(
            (400..500).contains(&status),
            "GET {path:.40}: {status} {body}"
        );
    }
    // Nothing was left behind: the two files, the directory and the planted links.
    let mut names: Vec<String> = std::fs::read_dir(&run_dir)
        .expect("run dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["dangling", "file.txt", "loop", "sub"]);
    assert_eq!(
        std::fs::read_dir(run_dir.join("sub")).expect("sub").count(),
        1
    );
}

/// Held by the tests that measure this process's peak memory, so that they do not measure
/// each other.
static MEMORY_MEASURE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `VmHWM` (peak resident memory) of this process, kB.
fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

/// Reads one HTTP answer's status from a raw connection (the test's own client, for requests
/// no HTTP library would send).
fn raw_status(stream: &mut std::net::TcpStream) -> u16 {
    use std::io::Read;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(error) => panic!("no answer: {error}"),
        }
    }
    let head = String::from_utf8_lossy(&answer);
    head.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {head:?}"))
}

#[test]
fn uploads_stream_to_disk_and_over_the_limit_are_413() {
    use std::io::{Read, Write};
    let limit = 64 * 1024 * 1024;
    let api = start(DaemonConfig {
        addr: "127.0.0.1:0".parse().expect("addr"),
        max_artifact_bytes: limit,
        ..DaemonConfig::default()
    });
    let (experiment_id, run_id) = api.run("streaming");
    let base = format!("/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts");
    // A declared length over the limit is refused before a byte of the body is sent.
    let mut stream = std::net::TcpStream::connect(api.daemon.addr()).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("timeout");
    write!(
        stream,
        "PUT {base}/big.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 2147483648\r\n\r\n"
    )
    .expect("head sent");
    assert_eq!(raw_status(&mut stream), 413);
    // A body that turns out larger than the limit (no length announced) is refused too, and
    // leaves nothing behind.
    let chunked = api.agent.put(api.url(&format!("{base}/chunked.bin"))).send(
        ureq::SendBody::from_owned_reader(std::io::repeat(7).take(limit as u64 + 1)),
    );
    match chunked {
        Ok(response) => assert_eq!(response.status().as_u16(), 413),
        // The daemon may close before the client finished sending: also a refusal.
        Err(error) => assert!(
            matches!(error, ureq::Error::Io(_)),
            "unexpected client error {error}"
        ),
    }
    let run_dir = run_artifact_dir(&api, &experiment_id, &run_id);
    assert_eq!(
        std::fs::read_dir(&run_dir).expect("run dir").count(),
        0,
        "no temporary file is left"
    );
    // At the limit, twice: written whole, and never held in memory.
    let _measuring = MEMORY_MEASURE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let before = peak_rss_kb();
    let size = limit as u64;
    for _ in 0..2 {
        let (status, body) = read(
            api.agent
                .put(api.url(&format!("{base}/model.bin")))
                .send(ureq::SendBody::from_owned_reader(
                    std::io::repeat(7).take(size),
                ))
                .expect("sent"),
        );
        assert_eq!(status, 200, "{body}");
    }
    let mut download = api
        .agent
        .get(api.url(&format!("{base}/model.bin")))
        .call()
        .expect("sent")
        .into_body()
        .into_reader();
    let downloaded = std::io::copy(&mut download, &mut std::io::sink()).expect("download reads");
    let grown_kb = peak_rss_kb().saturating_sub(before);
    assert_eq!(downloaded, size);
    let stored = std::fs::read(run_dir.join("model.bin")).expect("stored");
    assert!(stored.len() as u64 == size && stored.iter().all(|&b| b == 7));
    // Buffered whole, an upload or a download alone would add 64 MiB.
    assert!(
        grown_kb < 40 * 1024,
        "peak memory grew by {grown_kb} kB over uploads of {size} bytes"
    );
}

#[test]
fn a_connection_that_stalls_in_its_request_head_is_closed() {
    use std::io::{Read, Write};
    let api = start(DaemonConfig {
        addr: "127.0.0.1:0".parse().expect("addr"),
        header_read_timeout_secs: 1,
        ..DaemonConfig::default()
    });
    for partial in ["GET /hea", "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: "] {
        let mut stream = std::net::TcpStream::connect(api.daemon.addr()).expect("connect");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .expect("timeout");
        stream.write_all(partial.as_bytes()).expect("partial head");
        let mut rest = Vec::new();
        match stream.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(error) => assert!(
                !matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "{partial:?}: the daemon still holds the connection after 60 s"
            ),
        }
    }
    // The daemon still serves.
    let health = api.agent.get(api.url("/health")).call().expect("health");
    assert_eq!(health.status().as_u16(), 200);
}

#[test]
fn the_bearer_scheme_is_case_insensitive() {
    let api = start(DaemonConfig {
        addr: "127.0.0.1:0".parse().expect("addr"),
        token: Some("s3cret".into()),
        ..DaemonConfig::default()
    });
    let get = |authorization: &str| {
        read(
            api.agent
                .get(api.url("/api/2.0/mlflow/experiments/get"))
                .query("experiment_id", "0")
                .header("Authorization", authorization)
                .call()
                .expect("sent"),
        )
        .0
    };
    for accepted in [
        "Bearer s3cret",
        "bearer s3cret",
        "BEARER s3cret",
        "bEaReR  s3cret",
    ] {
        assert_eq!(get(accepted), 200, "{accepted}");
    }
    for refused in [
        "Basic s3cret",
        "Bearers3cret",
        "bearer",
        "bearer S3CRET",
        "s3cret",
    ] {
        assert_eq!(get(refused), 401, "{refused}");
    }
}

#[test]
fn run_names_obey_the_tag_value_cap() {
    let api = api();
    let cap = tracker::store::validate::MAX_TAG_VAL_LENGTH;
    let (status, created) = api.post("experiments/create", json!({ "name": "names" }));
    assert_eq!(status, 200, "{created}");
    let experiment_id = created["experiment_id"].as_str().expect("id").to_string();
    let long = "é".repeat(300_000);
    let name_of = |run_id: &str| {
        let (status, run) = api.get("runs/get", &[("run_id", run_id)]);
        assert_eq!(status, 200, "{run}");
        let tag = run["run"]["data"]["tags"]
            .as_array()
            .and_then(|tags| tags.iter().find(|t| t["key"] == "mlflow.runName"))
            .and_then(|t| t["value"].as_str())
            .expect("mlflow.runName tag")
            .to_string();
        let name = run["run"]["info"]["run_name"]
            .as_str()
            .expect("run_name")
            .to_string();
        assert_eq!(name, tag, "the name and its tag agree");
        name.chars().count()
    };
    // runs/create: by run_name, by the tag, and by both (as the MLflow client sends it).
    let mut run_ids = Vec::new();
    for body in [
        json!({ "experiment_id": experiment_id, "run_name": long }),
        json!({ "experiment_id": experiment_id, "tags": [{"key": "mlflow.runName", "value": long}] }),
        json!({ "experiment_id": experiment_id, "run_name": long,
                "tags": [{"key": "mlflow.runName", "value": long}] }),
    ] {
        let (status, run) = api.post("runs/create", body);
        assert_eq!(status, 200, "{run:.300}");
        let run_id = run["run"]["info"]["run_id"]
            .as_str()
            .expect("run id")
            .to_string();
        assert_eq!(name_of(&run_id), cap);
        run_ids.push(run_id);
    }
    // runs/update and set-tag.
    let run_id = &run_ids[0];
    let renamed = "x".repeat(cap + 1);
    let (status, body) = api.post(
        "runs/update",
        json!({ "run_id": run_id, "run_name": renamed }),
    );
    assert_eq!(status, 200, "{body:.300}");
    assert_eq!(name_of(run_id), cap);
    let (status, body) = api.post(
        "runs/set-tag",
        json!({ "run_id": run_id, "key": "mlflow.runName", "value": long }),
    );
    assert_eq!(status, 200, "{body:.300}");
    assert_eq!(name_of(run_id), cap);
}

#[test]
fn the_largest_json_body_costs_a_bounded_amount_of_memory() {
    let api = api();
    let (_, run_id) = api.run("memory");
    // The costliest shape per byte: a 4 MiB list of one-digit numbers, each a JSON value.
    let limit = DaemonConfig::default().max_body_bytes;
    let head = format!("{{\"run_id\": \"{run_id}\", \"metrics\": [");
    let count = (limit - head.len() - 2) / 2;
    let mut body = head;
    body.push_str(&"0,".repeat(count));
    body.push_str("0]}");
    assert!(body.len() <= limit);
    let _measuring = MEMORY_MEASURE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let before = peak_rss_kb();
    let (status, answer) = read(
        api.agent
            .post(api.url("/api/2.0/mlflow/runs/log-batch"))
            .send(body.as_bytes())
            .expect("sent"),
    );
    let grown_mb = peak_rss_kb().saturating_sub(before) / 1024;
    assert_eq!(status, 400, "{answer}");
    // Measured: about 70 MB (the client's copy of the body included).
    assert!(
        grown_mb < 300,
        "one 4 MiB request made the process grow by {grown_mb} MB"
    );
}

#[test]
fn a_refused_upload_leaves_its_connection_usable() {
    use std::io::Write;
    let api = api();
    let (experiment_id, run_id) = api.run("keep-alive");
    let mut stream = std::net::TcpStream::connect(api.daemon.addr()).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("timeout");
    // Refused before its body is read (a trailing slash), the body sent after a pause (as a
    // client that writes the head and the body separately does), then the next request on the
    // same connection: the refusal must not have cost the connection.
    let body = "x".repeat(10_000);
    write!(
        stream,
        "PUT /api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts/sub/ \
         HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .expect("head sent");
    std::thread::sleep(std::time::Duration::from_millis(300));
    // The daemon may have closed already (the defect): then these writes fail or are dropped.
    let _ = stream.write_all(body.as_bytes());
    let _ = write!(stream, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut answers = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&answers).ends_with("\r\n\r\nOK") {
        match std::io::Read::read(&mut stream, &mut buf) {
            Ok(0) => break,
            Ok(n) => answers.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    let answers = String::from_utf8_lossy(&answers);
    assert!(
        answers.starts_with("HTTP/1.1 400") && answers.contains("HTTP/1.1 200"),
        "the refusal and then the next answer on one connection: {answers}"
    );
}
