//! Tracking parity with MLflow's own server, over HTTP against a real daemon on 127.0.0.1:0:
//! the status, `error_code` and message the real `mlflow server` gives for each request of
//! MLflow's `tests/tracking/test_rest_tracking.py` (recorded in `docs/mlflow-wire.md`, §9), the
//! `/ajax-api/` prefix and dataset inputs.
//!
//! Experiments (delete/restore/rename/tags, search order) are in `mlflow_parity_experiments.rs`,
//! `artifacts/list` and the artifact-serving choice in `mlflow_parity_artifacts.rs`, and a
//! version-1 database migrated to the current schema in `mlflow_parity_migration.rs`.

mod common;

use common::{api, invalid, missing, read};
use serde_json::{Value, json};

#[test]
fn wrong_json_types_get_mlflows_400_and_message_and_store_nothing() {
    let api = api();
    let exp = api.experiment("validation");
    let run = api.run_in(&exp);
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
    let run = api.run_in(&id);
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
fn dataset_inputs_are_stored_and_returned_with_their_tags() {
    let api = api();
    let exp = api.experiment("inputs");
    let (run, other) = (api.run_in(&exp), api.run_in(&exp));
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
