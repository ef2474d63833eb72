//! Tracking parity with MLflow's own server, over HTTP against a real daemon on 127.0.0.1:0:
//! the status, `error_code` and message the real `mlflow server` gives for each request of
//! MLflow's `tests/tracking/test_rest_tracking.py` (recorded in `docs/mlflow-wire.md`, §9), the
//! `/ajax-api/` prefix, experiment delete/restore/rename/tags, experiment search order, dataset
//! inputs, `artifacts/list`, the artifact-serving choice, and a version-1 database migrated to
//! the current schema without losing a row.

use serde_json::{Value, json};
use tracker::api::{Daemon, DaemonConfig};
use tracker::store::{ArtifactUris, Store, StoreOptions};

struct Api {
    daemon: Daemon,
    agent: ureq::Agent,
    dir: tempfile::TempDir,
}

fn start(uris: ArtifactUris) -> Api {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open_with(
        dir.path().join("runs.db"),
        StoreOptions {
            artifact_root: None,
            artifact_uris: uris,
        },
    )
    .expect("store opens");
    let config = DaemonConfig {
        addr: "127.0.0.1:0".parse().expect("addr"),
        ..DaemonConfig::default()
    };
    let daemon = Daemon::start(store, config).expect("daemon starts");
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    Api { daemon, agent, dir }
}

fn api() -> Api {
    start(ArtifactUris::Served)
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
    fn post_at(&self, prefix: &str, path: &str, body: Value) -> (u16, Value) {
        let url = format!("{}{prefix}/{path}", self.daemon.url());
        read(self.agent.post(url).send_json(body).expect("request sent"))
    }

    fn get_at(&self, prefix: &str, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
        let mut request = self
            .agent
            .get(format!("{}{prefix}/{path}", self.daemon.url()));
        for (key, value) in query {
            request = request.query(*key, *value);
        }
        read(request.call().expect("request sent"))
    }

    fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.post_at("/api/2.0/mlflow", path, body)
    }

    fn get(&self, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
        self.get_at("/api/2.0/mlflow", path, query)
    }

    fn ok(&self, path: &str, body: Value) -> Value {
        let (status, answer) = self.post(path, body);
        assert_eq!(status, 200, "{path}: {answer}");
        answer
    }

    fn experiment(&self, name: &str) -> String {
        let created = self.ok("experiments/create", json!({ "name": name }));
        created["experiment_id"].as_str().expect("id").to_string()
    }

    fn run(&self, experiment_id: &str) -> String {
        let created = self.ok(
            "runs/create",
            json!({ "experiment_id": experiment_id, "start_time": 1_795_761_062_033_i64 }),
        );
        created["run"]["info"]["run_id"]
            .as_str()
            .expect("run id")
            .to_string()
    }

    fn get_run(&self, run_id: &str) -> Value {
        let (status, answer) = self.get("runs/get", &[("run_id", run_id)]);
        assert_eq!(status, 200, "{answer}");
        answer["run"].clone()
    }

    fn experiment_names(&self, body: Value) -> (Vec<String>, Option<String>) {
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
}

const DOCS: &str = "See the API docs for more information about request parameters.";

/// MLflow's body for a field of the wrong JSON type.
fn invalid(value: &str, field: &str, python_type: &str) -> Value {
    json!({
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": format!(
            "Invalid value {value} for parameter '{field}' supplied:  Hint: Value was of type \
             '{python_type}'. {DOCS}"
        ),
    })
}

/// MLflow's body for a missing required field.
fn missing(field: &str) -> Value {
    json!({
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": format!("Missing value for required parameter '{field}'. {DOCS}"),
    })
}

#[test]
fn wrong_json_types_get_mlflows_400_and_message_and_store_nothing() {
    let api = api();
    let exp = api.experiment("validation");
    let run = api.run(&exp);
    let cases: Vec<(&str, Value, Value)> = vec![
        (
            "experiments/create",
            json!({"name": 123}),
            invalid("123", "name", "int"),
        ),
        ("experiments/create", json!({}), missing("name")),
        (
            "experiments/create",
            json!({"name": "experiment name", "artifact_location": 9.0,
                   "tags": [{"key": "key", "value": "value"}]}),
            invalid("9.0", "artifact_location", "float"),
        ),
        (
            "experiments/create",
            json!({"name": "experiment name", "artifact_location": "my_location", "tags": "5"}),
            invalid("\"5\"", "tags", "str"),
        ),
        (
            "runs/log-metric",
            json!({"run_id": 31, "key": "metric", "value": 41, "timestamp": 59, "step": 26}),
            invalid("31", "run_id", "int"),
        ),
        (
            "runs/log-metric",
            json!({"run_id": run, "key": 31, "value": 41, "timestamp": 59, "step": 26}),
            invalid("31", "key", "int"),
        ),
        (
            "runs/log-metric",
            json!({"run_id": run, "key": "foo", "value": 31, "timestamp": 59, "step": "foo"}),
            invalid("\"foo\"", "step", "str"),
        ),
        (
            "runs/log-metric",
            json!({"run_id": run, "key": "foo", "value": 31, "timestamp": "foo", "step": 41}),
            invalid("\"foo\"", "timestamp", "str"),
        ),
        (
            "runs/log-metric",
            json!({"run_id": null, "key": "foo", "value": 31, "timestamp": 59, "step": 41}),
            missing("run_id"),
        ),
        (
            "runs/log-metric",
            json!({"run_id": run, "value": 31, "timestamp": 59, "step": 41}),
            missing("key"),
        ),
        (
            "runs/log-metric",
            json!({"run_id": run, "key": null, "value": 31, "timestamp": 59, "step": 41}),
            missing("key"),
        ),
        (
            "runs/log-parameter",
            json!({"run_id": 31, "key": "param", "value": 41}),
            invalid("31", "run_id", "int"),
        ),
        (
            "runs/log-parameter",
            json!({"run_id": run, "key": 31, "value": 41}),
            invalid("31", "key", "int"),
        ),
        (
            "runs/set-tag",
            json!({"run_id": 31, "key": "tag", "value": 41}),
            invalid("31", "run_id", "int"),
        ),
        (
            "runs/set-tag",
            json!({"run_id": run, "key": "param", "value": 41}),
            invalid("41", "value", "int"),
        ),
        (
            "runs/set-tag",
            json!({"run_id": run, "value": "value"}),
            missing("key"),
        ),
        (
            "runs/log-batch",
            json!({"run_id": run, "metrics": "foo"}),
            invalid("\"foo\"", "metrics", "str"),
        ),
        (
            "runs/log-batch",
            json!({"run_id": run, "params": "foo"}),
            invalid("\"foo\"", "params", "str"),
        ),
        (
            "runs/log-batch",
            json!({"run_id": run, "tags": "foo"}),
            invalid("\"foo\"", "tags", "str"),
        ),
        (
            "runs/log-batch",
            json!({"run_id": run, "metrics": [{"key": "mae", "value": 2.5}]}),
            missing("metrics[0].timestamp"),
        ),
        (
            "runs/log-batch",
            json!({"run_id": run, "metrics": [{"key": "mae", "value": "abc", "timestamp": 1}]}),
            invalid("\"abc\"", "metrics[0].value", "str"),
        ),
        (
            "runs/log-batch",
            json!({"run_id": run, "params": [{"key": "k", "value": {"b": 1, "a": "é"}}]}),
            invalid("{\"a\":\"\\u00e9\",\"b\":1}", "params[0].value", "dict"),
        ),
        (
            "runs/log-inputs",
            json!({"datasets": []}),
            missing("run_id"),
        ),
    ];
    for (path, body, expected) in cases {
        let answer = api.post(path, body.clone());
        assert_eq!(answer, (400, expected), "{path} {body}");
    }
    // Nothing of the refused requests was stored.
    let (mut names, _) = api.experiment_names(json!({}));
    names.sort();
    assert_eq!(names, ["Default", "validation"]);
    let data = &api.get_run(&run)["data"];
    assert!(
        data.get("metrics").is_none() && data.get("params").is_none(),
        "{data}"
    );
    // The legacy `run_uuid` alone is enough; a timestamped batch metric is stored.
    api.ok(
        "runs/set-tag",
        json!({"run_uuid": run, "key": "key", "value": "value"}),
    );
    api.ok(
        "runs/log-batch",
        json!({"run_id": run, "metrics": [{"key": "mae", "value": 2.5, "timestamp": 123_456_789}]}),
    );
    let data = &api.get_run(&run)["data"];
    assert_eq!(data["metrics"][0]["value"], 2.5);
    assert!(
        data["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .any(|t| t["key"] == "key")
    );
}

#[test]
fn the_ajax_api_prefix_serves_the_tracking_and_artifact_routes() {
    let api = api();
    let ajax = "/ajax-api/2.0/mlflow";
    let (status, created) = api.post_at(ajax, "experiments/create", json!({ "name": "ui" }));
    assert_eq!(status, 200, "{created}");
    let id = created["experiment_id"].as_str().expect("id").to_string();
    let (status, got) = api.get("experiments/get", &[("experiment_id", &id)]);
    assert_eq!((status, &got["experiment"]["name"]), (200, &json!("ui")));
    let run = api.run(&id);
    for step in 0..10 {
        let (status, answer) = api.post_at(
            ajax,
            "runs/log-metric",
            json!({"run_id": run, "key": "m", "value": f64::from(step), "timestamp": 1, "step": step}),
        );
        assert_eq!(status, 200, "{answer}");
    }
    let (status, page) = api.get_at(
        ajax,
        "metrics/get-history",
        &[("run_id", &run), ("metric_key", "m"), ("max_results", "4")],
    );
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["metrics"].as_array().map(Vec::len), Some(4));
    assert!(page["next_page_token"].is_string());
    // The same validation answers under either prefix.
    assert_eq!(
        api.post_at(ajax, "experiments/create", json!({"name": 123})),
        (400, invalid("123", "name", "int"))
    );
    // The mlflow-artifacts routes too.
    let url = format!(
        "{}/ajax-api/2.0/mlflow-artifacts/artifacts/{id}/{run}/artifacts/a.txt",
        api.daemon.url()
    );
    let (status, _) = read(api.agent.put(&url).send("hello").expect("sent"));
    assert_eq!(status, 200);
    let (status, body) = read(api.agent.get(&url).call().expect("sent"));
    assert_eq!((status, body), (200, Value::String("hello".into())));
    // An unknown route under the prefix stays a JSON 404.
    let (status, answer) = api.get_at(ajax, "no/such/route", &[]);
    assert_eq!(
        (status, &answer["error_code"]),
        (404, &json!("ENDPOINT_NOT_FOUND"))
    );
}

#[test]
fn deleting_an_experiment_deletes_its_runs_and_restoring_brings_them_back() {
    let api = api();
    let exp = api.experiment("doomed");
    let (first, second) = (api.run(&exp), api.run(&exp));
    api.ok("experiments/delete", json!({ "experiment_id": exp }));
    let (_, got) = api.get("experiments/get", &[("experiment_id", &exp)]);
    assert_eq!(got["experiment"]["lifecycle_stage"], "deleted");
    for run in [&first, &second] {
        assert_eq!(api.get_run(run)["info"]["lifecycle_stage"], "deleted");
    }
    // Gone from the default views, there in DELETED_ONLY.
    let (names, _) = api.experiment_names(json!({}));
    assert_eq!(names, ["Default"]);
    let (names, _) = api.experiment_names(json!({ "view_type": "DELETED_ONLY" }));
    assert_eq!(names, ["doomed"]);
    // The enum's number is accepted too (protobuf's JSON mapping): 3 is ALL.
    let (mut names, _) = api.experiment_names(json!({ "view_type": 3 }));
    names.sort();
    assert_eq!(names, ["Default", "doomed"]);
    let searched = api.ok("runs/search", json!({ "experiment_ids": [exp] }));
    assert!(
        searched["runs"].as_array().is_none_or(Vec::is_empty),
        "{searched}"
    );
    // A deleted experiment takes no new runs, tags or names; deleting it again is a 404.
    let refused = api.post("runs/create", json!({ "experiment_id": exp }));
    assert_eq!(refused.0, 400, "{}", refused.1);
    assert_eq!(
        refused.1["message"],
        format!("The experiment {exp} must be in the 'active' state. Current state is deleted.")
    );
    let (status, answer) = api.post(
        "experiments/set-experiment-tag",
        json!({ "experiment_id": exp, "key": "k", "value": "v" }),
    );
    assert_eq!(
        (status, &answer["error_code"]),
        (400, &json!("INVALID_PARAMETER_VALUE"))
    );
    let (status, answer) = api.post(
        "experiments/update",
        json!({ "experiment_id": exp, "new_name": "other" }),
    );
    assert_eq!(
        (status, answer["message"].as_str()),
        (400, Some("Cannot rename a non-active experiment."))
    );
    let (status, answer) = api.post("experiments/delete", json!({ "experiment_id": exp }));
    assert_eq!(
        (status, answer["message"].as_str()),
        (
            404,
            Some(format!("No Experiment with id={exp} exists").as_str())
        )
    );
    // The name stays taken while deleted.
    let (status, answer) = api.post("experiments/create", json!({ "name": "doomed" }));
    assert_eq!(
        (status, &answer["error_code"]),
        (400, &json!("RESOURCE_ALREADY_EXISTS"))
    );

    api.ok("experiments/restore", json!({ "experiment_id": exp }));
    for run in [&first, &second] {
        assert_eq!(api.get_run(run)["info"]["lifecycle_stage"], "active");
    }
    let searched = api.ok("runs/search", json!({ "experiment_ids": [exp] }));
    assert_eq!(searched["runs"].as_array().map(Vec::len), Some(2));
    let (status, _) = api.post("experiments/restore", json!({ "experiment_id": exp }));
    assert_eq!(status, 404);
    let (status, _) = api.post("experiments/delete", json!({ "experiment_id": "999" }));
    assert_eq!(status, 404);
    assert_eq!(
        api.post("experiments/delete", json!({})),
        (400, missing("experiment_id"))
    );
}

#[test]
fn experiments_are_renamed_and_tagged_as_mlflow_does() {
    let api = api();
    let exp = api.experiment("before");
    api.experiment("taken");
    api.ok(
        "experiments/update",
        json!({ "experiment_id": exp, "new_name": "after" }),
    );
    let (_, got) = api.get("experiments/get-by-name", &[("experiment_name", "after")]);
    assert_eq!(got["experiment"]["experiment_id"], exp.as_str());
    let (status, _) = api.get("experiments/get-by-name", &[("experiment_name", "before")]);
    assert_eq!(status, 404);
    let (status, answer) = api.post(
        "experiments/update",
        json!({ "experiment_id": exp, "new_name": "taken" }),
    );
    assert_eq!(
        (status, &answer["error_code"]),
        (400, &json!("RESOURCE_ALREADY_EXISTS"))
    );
    assert_eq!(
        api.post("experiments/update", json!({ "experiment_id": exp })),
        (400, missing("new_name"))
    );

    api.ok(
        "experiments/set-experiment-tag",
        json!({ "experiment_id": exp, "key": "team", "value": "vision" }),
    );
    api.ok(
        "experiments/set-experiment-tag",
        json!({ "experiment_id": exp, "key": "team", "value": "audio" }),
    );
    api.ok(
        "experiments/set-experiment-tag",
        json!({ "experiment_id": exp, "key": "note", "value": "x" }),
    );
    let (_, got) = api.get("experiments/get", &[("experiment_id", &exp)]);
    assert_eq!(
        got["experiment"]["tags"],
        json!([{"key": "note", "value": "x"}, {"key": "team", "value": "audio"}])
    );
    api.ok(
        "experiments/delete-experiment-tag",
        json!({ "experiment_id": exp, "key": "note" }),
    );
    let (status, answer) = api.post(
        "experiments/delete-experiment-tag",
        json!({ "experiment_id": exp, "key": "note" }),
    );
    assert_eq!(
        (status, answer["message"].as_str()),
        (
            404,
            Some(format!("No tag with name: note in experiment with id {exp}").as_str())
        )
    );
    let (status, answer) = api.post(
        "experiments/set-experiment-tag",
        json!({ "experiment_id": exp, "key": "big", "value": "v".repeat(20_001) }),
    );
    assert_eq!(
        (status, &answer["error_code"]),
        (400, &json!("INVALID_PARAMETER_VALUE"))
    );
    assert_eq!(
        api.post(
            "experiments/set-experiment-tag",
            json!({ "experiment_id": exp, "key": 5, "value": "v" })
        ),
        (400, invalid("5", "key", "int"))
    );
    let (_, got) = api.get("experiments/get", &[("experiment_id", &exp)]);
    assert_eq!(
        got["experiment"]["tags"],
        json!([{"key": "team", "value": "audio"}])
    );
}

#[test]
fn a_relative_artifact_location_is_made_absolute_and_its_runs_live_under_it() {
    let api = api();
    let cwd = std::env::current_dir().expect("cwd");
    let created = api.ok(
        "experiments/create",
        json!({ "name": "located", "artifact_location": "my_location" }),
    );
    let id = created["experiment_id"].as_str().expect("id");
    let (_, got) = api.get("experiments/get", &[("experiment_id", id)]);
    let location = cwd.join("my_location").display().to_string();
    assert_eq!(got["experiment"]["artifact_location"], location.as_str());
    let run = api.run(id);
    assert_eq!(
        api.get_run(&run)["info"]["artifact_uri"],
        format!("{location}/{run}/artifacts").as_str()
    );
    // URIs and absolute paths are kept as given.
    for (name, given) in [("bucket", "s3://bucket/path"), ("absolute", "/data/runs")] {
        let created = api.ok(
            "experiments/create",
            json!({ "name": name, "artifact_location": given }),
        );
        let id = created["experiment_id"].as_str().expect("id");
        let (_, got) = api.get("experiments/get", &[("experiment_id", id)]);
        assert_eq!(got["experiment"]["artifact_location"], given);
    }
    assert!(
        !cwd.join("my_location").exists(),
        "nothing is written there"
    );
}

#[test]
fn experiments_search_is_newest_first_with_mlflows_filters_orders_and_pages() {
    let api = api();
    // Distinct creation times, as MLflow's test gets them (the order is by creation time).
    let pause = || std::thread::sleep(std::time::Duration::from_millis(3));
    pause();
    api.experiment("My Experiment");
    for (name, tag) in [("a", Some("value")), ("ab", Some("vaLue")), ("Abc", None)] {
        pause();
        let id = api.experiment(name);
        if let Some(value) = tag {
            api.ok(
                "experiments/set-experiment-tag",
                json!({ "experiment_id": id, "key": "key", "value": value }),
            );
        }
    }
    let names = |body: Value| api.experiment_names(body).0;
    assert_eq!(
        names(json!({})),
        ["Abc", "ab", "a", "My Experiment", "Default"]
    );
    for (filter, expected) in [
        ("attribute.name = 'a'", vec!["a"]),
        (
            "attribute.name != 'a'",
            vec!["Abc", "ab", "My Experiment", "Default"],
        ),
        ("name LIKE 'a%'", vec!["ab", "a"]),
        ("tag.key = 'value'", vec!["a"]),
        ("tag.key != 'value'", vec!["ab"]),
        ("tag.key ILIKE '%alu%'", vec!["ab", "a"]),
    ] {
        assert_eq!(names(json!({ "filter": filter })), expected, "{filter}");
    }
    assert_eq!(
        names(json!({ "order_by": ["name DESC"] })),
        ["ab", "a", "My Experiment", "Default", "Abc"]
    );
    let (first, token) = api.experiment_names(json!({ "max_results": 2 }));
    assert_eq!(first, ["Abc", "ab"]);
    let (rest, token) = api.experiment_names(json!({ "max_results": 3, "page_token": token }));
    assert_eq!(rest, ["a", "My Experiment", "Default"]);
    assert_eq!(token, None);
    // GET takes the same fields as strings.
    let (status, answer) = api.get("experiments/search", &[("max_results", "1")]);
    assert_eq!(
        (status, &answer["experiments"][0]["name"]),
        (200, &json!("Abc"))
    );
}

#[test]
fn dataset_inputs_are_stored_and_returned_with_their_tags() {
    let api = api();
    let exp = api.experiment("inputs");
    let (run, other) = (api.run(&exp), api.run(&exp));
    // A run with no inputs answers `inputs: {}`, as MLflow's server does.
    assert_eq!(api.get_run(&run)["inputs"], json!({}));
    let train = json!({
        "tags": [{"key": "mlflow.data.context", "value": "train"}],
        "dataset": {"name": "fmnist", "digest": "d1", "source_type": "local",
                    "source": "{\"uri\": \"/data\"}", "schema": "{\"cols\": []}",
                    "profile": "{\"rows\": 10}"}
    });
    let eval = json!({
        "tags": [{"key": "mlflow.data.context", "value": "eval"}],
        "dataset": {"name": "fmnist-test", "digest": "d2", "source_type": "local", "source": "s"}
    });
    api.ok(
        "runs/log-inputs",
        json!({ "run_id": run, "datasets": [train, eval, train] }),
    );
    // Logged again with other tags: kept as first logged (MLflow skips a known input).
    let retagged = json!({
        "tags": [{"key": "mlflow.data.context", "value": "other"}],
        "dataset": train["dataset"]
    });
    api.ok(
        "runs/log-inputs",
        json!({ "run_id": run, "datasets": [retagged] }),
    );
    let expected = json!({ "dataset_inputs": [train, eval] });
    assert_eq!(api.get_run(&run)["inputs"], expected);
    // Another run of the experiment shares the dataset, with its own tags.
    api.ok(
        "runs/log-inputs",
        json!({ "run_id": other, "datasets": [retagged] }),
    );
    assert_eq!(
        api.get_run(&other)["inputs"],
        json!({ "dataset_inputs": [retagged] })
    );
    // runs/search returns them too.
    let searched = api.ok(
        "runs/search",
        json!({ "experiment_ids": [exp], "filter": format!("attributes.run_id = '{run}'") }),
    );
    assert_eq!(searched["runs"][0]["inputs"], expected);
    // Refusals: a missing dataset field, a digest over 36 characters, a deleted run.
    let (status, answer) = api.post(
        "runs/log-inputs",
        json!({ "run_id": run, "datasets": [{"dataset": {"name": "n", "digest": "d", "source": "s"}}] }),
    );
    assert_eq!(
        (status, answer),
        (400, missing("datasets[0].dataset.source_type"))
    );
    let (status, answer) = api.post(
        "runs/log-inputs",
        json!({ "run_id": run, "datasets": [{"dataset": {"name": "n", "digest": "d".repeat(37),
               "source_type": "local", "source": "s"}}] }),
    );
    assert_eq!(
        (status, answer["message"].as_str()),
        (
            400,
            Some("'digest' exceeds the maximum length of 36 characters")
        )
    );
    api.ok("runs/delete", json!({ "run_id": other }));
    let (status, answer) = api.post(
        "runs/log-inputs",
        json!({ "run_id": other, "datasets": [eval] }),
    );
    assert_eq!(
        (status, &answer["error_code"]),
        (400, &json!("INVALID_PARAMETER_VALUE"))
    );
    let (status, _) = api.post(
        "runs/log-inputs",
        json!({ "run_id": "0123456789abcdef0123456789abcdef", "datasets": [eval] }),
    );
    assert_eq!(status, 404);
    assert_eq!(
        api.get_run(&run)["inputs"],
        expected,
        "refusals stored nothing"
    );
}

#[test]
fn artifacts_list_gives_run_relative_paths_and_the_root_uri() {
    let api = api();
    let exp = api.experiment("listed");
    let run = api.run(&exp);
    let base = format!(
        "{}/api/2.0/mlflow-artifacts/artifacts/{exp}/{run}/artifacts",
        api.daemon.url()
    );
    for (path, body) in [("my.file", "12345"), ("dir/my.file", "abc")] {
        let (status, _) = read(
            api.agent
                .put(format!("{base}/{path}"))
                .send(body)
                .expect("sent"),
        );
        assert_eq!(status, 200);
    }
    let root_uri = format!("mlflow-artifacts:/{exp}/{run}/artifacts");
    let (status, listed) = api.get("artifacts/list", &[("run_id", &run)]);
    assert_eq!(status, 200, "{listed}");
    assert_eq!(
        listed,
        json!({ "root_uri": root_uri, "files": [
            {"path": "dir", "is_dir": true},
            {"path": "my.file", "is_dir": false, "file_size": 5}
        ]})
    );
    let (_, listed) = api.get("artifacts/list", &[("run_uuid", &run), ("path", "dir")]);
    assert_eq!(
        listed["files"],
        json!([{"path": "dir/my.file", "is_dir": false, "file_size": 3}])
    );
    let (_, listed) = api.get("artifacts/list", &[("run_id", &run), ("path", "nothing")]);
    assert_eq!(listed, json!({ "root_uri": root_uri }));
    let (status, _) = api.get("artifacts/list", &[("run_id", &run), ("path", "../x")]);
    assert_eq!(status, 400);
    let (status, _) = api.get(
        "artifacts/list",
        &[("run_id", "0123456789abcdef0123456789abcdef")],
    );
    assert_eq!(status, 404);
    assert_eq!(api.get("artifacts/list", &[]), (400, missing("run_id")));
    // The UI prefix lists the same.
    let (status, listed) = api.get_at(
        "/ajax-api/2.0/mlflow",
        "artifacts/list",
        &[("run_id", &run)],
    );
    assert_eq!(
        (status, listed["files"].as_array().map(Vec::len)),
        (200, Some(2))
    );
}

#[test]
fn without_serving_artifacts_experiments_get_the_root_itself() {
    // A local root: `file://` locations the client writes itself; the daemon still lists them.
    let api = start(ArtifactUris::File);
    let root = api.dir.path().join("runs-artifacts");
    let exp = api.experiment("direct");
    let (_, got) = api.get("experiments/get", &[("experiment_id", &exp)]);
    assert_eq!(
        got["experiment"]["artifact_location"],
        format!("file://{}", root.join(&exp).display()).as_str()
    );
    let run = api.run(&exp);
    let dir = root.join(&exp).join(&run).join("artifacts");
    assert_eq!(
        api.get_run(&run)["info"]["artifact_uri"],
        format!("file://{}", dir.display()).as_str()
    );
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("model.bin"), b"weights").expect("written");
    let (_, listed) = api.get("artifacts/list", &[("run_id", &run)]);
    assert_eq!(
        listed["files"],
        json!([{"path": "model.bin", "is_dir": false, "file_size": 7}])
    );
    api.assert_no_artifact_proxy(&exp, &run);

    // A root URI (a bucket): handed out, never read by the daemon.
    let api = start(ArtifactUris::Root("s3://bucket/mlruns/".into()));
    let exp = api.experiment("bucket");
    let (_, got) = api.get("experiments/get", &[("experiment_id", &exp)]);
    assert_eq!(
        got["experiment"]["artifact_location"],
        format!("s3://bucket/mlruns/{exp}").as_str()
    );
    let run = api.run(&exp);
    assert_eq!(
        api.get_run(&run)["info"]["artifact_uri"],
        format!("s3://bucket/mlruns/{exp}/{run}/artifacts").as_str()
    );
    let (status, answer) = api.get("artifacts/list", &[("run_id", &run)]);
    assert_eq!(
        (status, &answer["error_code"]),
        (400, &json!("INVALID_PARAMETER_VALUE"))
    );
    api.assert_no_artifact_proxy(&exp, &run);
}

impl Api {
    /// Not serving artifacts, the daemon has no `mlflow-artifacts` proxy (as `mlflow server
    /// --no-serve-artifacts`): upload, download and list under both prefixes answer the JSON
    /// 404 of an unknown route, and nothing is written under the artifact root.
    fn assert_no_artifact_proxy(&self, exp: &str, run: &str) {
        let root = self.dir.path().join("runs-artifacts");
        let before = files_under(&root);
        for prefix in [
            "/api/2.0/mlflow-artifacts",
            "/ajax-api/2.0/mlflow-artifacts",
        ] {
            let base = format!("{}{prefix}/artifacts", self.daemon.url());
            let file = format!("{base}/{exp}/{run}/artifacts/proxied.txt");
            let answers = [
                read(self.agent.put(&file).send("bytes").expect("sent")),
                read(self.agent.get(&file).call().expect("sent")),
                read(
                    self.agent
                        .get(&base)
                        .query("path", format!("{exp}/{run}/artifacts"))
                        .call()
                        .expect("sent"),
                ),
            ];
            for (status, answer) in answers {
                assert_eq!(status, 404, "{prefix}: {answer}");
                assert_eq!(
                    answer["error_code"], "ENDPOINT_NOT_FOUND",
                    "{prefix}: {answer}"
                );
                assert!(
                    answer["message"]
                        .as_str()
                        .is_some_and(|m| m.contains(&format!("{prefix}/artifacts"))),
                    "names the route: {answer}"
                );
            }
        }
        assert_eq!(files_under(&root), before, "the proxy wrote under the root");
    }
}

/// Every file under `dir` (none when it does not exist), sorted.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
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

/// Schema version 1 as released (before dataset inputs), frozen here: the migration to the
/// current version must keep every row of it.
const SCHEMA_V1: &str = "
    CREATE TABLE experiments (
        experiment_id     INTEGER PRIMARY KEY,
        name              TEXT NOT NULL UNIQUE,
        artifact_location TEXT NOT NULL,
        lifecycle_stage   TEXT NOT NULL DEFAULT 'active',
        creation_time     INTEGER,
        last_update_time  INTEGER
    );
    CREATE TABLE experiment_tags (
        experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id) ON DELETE CASCADE,
        key           TEXT NOT NULL,
        value         TEXT NOT NULL,
        PRIMARY KEY (experiment_id, key)
    ) WITHOUT ROWID;
    CREATE TABLE runs (
        run_id          TEXT PRIMARY KEY,
        experiment_id   INTEGER NOT NULL REFERENCES experiments(experiment_id),
        run_name        TEXT NOT NULL DEFAULT '',
        user_id         TEXT NOT NULL DEFAULT '',
        status          TEXT NOT NULL,
        start_time      INTEGER,
        end_time        INTEGER,
        lifecycle_stage TEXT NOT NULL DEFAULT 'active',
        artifact_uri    TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX runs_by_experiment ON runs(experiment_id, start_time DESC, run_id);
    CREATE TABLE params (
        run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        key    TEXT NOT NULL,
        value  TEXT NOT NULL,
        PRIMARY KEY (run_id, key)
    ) WITHOUT ROWID;
    CREATE INDEX params_by_key ON params(key, value);
    CREATE TABLE tags (
        run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        key    TEXT NOT NULL,
        value  TEXT NOT NULL,
        PRIMARY KEY (run_id, key)
    ) WITHOUT ROWID;
    CREATE INDEX tags_by_key ON tags(key, value);
    CREATE TABLE metrics (
        run_id    TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        key       TEXT NOT NULL,
        step      INTEGER NOT NULL,
        timestamp INTEGER NOT NULL,
        value     REAL NOT NULL,
        is_nan    INTEGER NOT NULL,
        PRIMARY KEY (run_id, key, step, timestamp, value, is_nan)
    ) WITHOUT ROWID;
    CREATE TABLE latest_metrics (
        run_id    TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        key       TEXT NOT NULL,
        step      INTEGER NOT NULL,
        timestamp INTEGER NOT NULL,
        value     REAL NOT NULL,
        is_nan    INTEGER NOT NULL,
        PRIMARY KEY (run_id, key)
    ) WITHOUT ROWID;
    CREATE INDEX latest_metrics_by_key ON latest_metrics(key, value);
";

#[test]
fn a_version_1_database_keeps_its_data_and_takes_dataset_inputs_and_experiment_deletes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("old.db");
    let run_id = "0123456789abcdef0123456789abcdef";
    let old = rusqlite::Connection::open(&db).expect("opens");
    old.execute_batch(SCHEMA_V1).expect("schema v1");
    old.execute_batch(&format!(
        "INSERT INTO experiments VALUES (0, 'Default', 'mlflow-artifacts:/0', 'active', 1, 1),
                                        (1, 'old', 'mlflow-artifacts:/1', 'active', 2, 2);
         INSERT INTO experiment_tags VALUES (1, 'team', 'vision');
         INSERT INTO runs VALUES ('{run_id}', 1, 'r', 'u', 'FINISHED', 10, 20, 'active',
                                  'mlflow-artifacts:/1/{run_id}/artifacts');
         INSERT INTO params VALUES ('{run_id}', 'lr', '0.1');
         INSERT INTO tags VALUES ('{run_id}', 'mlflow.runName', 'r');
         INSERT INTO metrics VALUES ('{run_id}', 'loss', 0, 5, 0.5, 0),
                                    ('{run_id}', 'loss', 1, 6, 0.25, 0);
         INSERT INTO latest_metrics VALUES ('{run_id}', 'loss', 1, 6, 0.25, 0);
         PRAGMA user_version = 1;"
    ))
    .expect("version 1 rows");
    drop(old);

    let open = || {
        Store::open_with(
            &db,
            StoreOptions {
                artifact_root: None,
                artifact_uris: ArtifactUris::Served,
            },
        )
        .expect("the old database opens")
    };
    let store = open();
    let version: i64 = rusqlite::Connection::open(&db)
        .expect("opens")
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, tracker::store::SCHEMA_VERSION);
    // Every version-1 row is still there.
    let run = store.get_run(run_id).expect("the old run");
    assert_eq!(
        (
            run.info.run_name.as_str(),
            run.info.status.as_str(),
            run.info.end_time
        ),
        ("r", "FINISHED", Some(20))
    );
    assert_eq!(run.data.param("lr"), Some("0.1"));
    assert_eq!(run.data.tag("mlflow.runName"), Some("r"));
    assert_eq!(run.data.metric("loss"), Some(0.25));
    let history = store.metric_history(run_id, "loss").expect("history");
    assert_eq!(
        history
            .iter()
            .map(|m| (m.step, m.value))
            .collect::<Vec<_>>(),
        [(0, 0.5), (1, 0.25)]
    );
    let experiment = store.get_experiment("1").expect("the old experiment");
    assert_eq!(
        (experiment.name.as_str(), experiment.tags.len()),
        ("old", 1)
    );
    // The new tables take the old run's inputs; experiment delete reaches its runs.
    let input = tracker::entities::DatasetInput {
        tags: vec![tracker::entities::InputTag {
            key: "mlflow.data.context".into(),
            value: "train".into(),
        }],
        dataset: tracker::entities::Dataset {
            name: "fmnist".into(),
            digest: "d1".into(),
            source_type: "local".into(),
            source: "/data".into(),
            schema: None,
            profile: None,
        },
    };
    store
        .log_inputs(run_id, vec![input.clone()])
        .expect("inputs logged");
    store.delete_experiment("1").expect("deleted");
    assert_eq!(
        store.get_run(run_id).expect("run").info.lifecycle_stage,
        "deleted"
    );
    store.restore_experiment("1").expect("restored");
    drop(store);
    // Opened again: nothing migrates twice, and the inputs stayed.
    let store = open();
    let inputs = store.run_inputs(&[run_id.to_string()]).expect("inputs");
    assert_eq!(inputs[run_id].dataset_inputs, [input]);
    assert_eq!(
        store.metric_history(run_id, "loss").expect("history").len(),
        2
    );
}
