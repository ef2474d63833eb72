//! The daemon over HTTP: a real SQLite file, a real daemon on 127.0.0.1:0, requests shaped as
//! the official MLflow client sends them (`docs/mlflow-wire.md`): the experiment and run flows
//! of MLflow's client, durability across shutdown, and the export hook.
//!
//! The same daemon's searches are in `api_search.rs`, its artifacts in `api_artifacts.rs`, its
//! transport rules and limits in `api_transport.rs`.

mod common;

use common::{Api, api, assert_error, assert_invalid_naming, next_page_token, start};
use serde_json::{Value, json};
use tracker::api::DaemonConfig;
use tracker::store::Store;

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
    let token = next_page_token(&search);
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
    assert_invalid_naming(api.post("runs/log-parameter", param("0.01")), &["lr"]);

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
    assert_invalid_naming(api.post("runs/log-metric", no_ts), &["timestamp"]);
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
    let token = next_page_token(&first);
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
    assert_invalid_naming(
        api.post("runs/log-metric", metric(json!(0.1), 2, 9)),
        &["active"],
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
    let history = store.metric_history(&run_id, "loss").expect("history");
    assert_eq!(history.len(), 50);
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
