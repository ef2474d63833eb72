//! The daemon's key rules, request limits and searches over HTTP (a real daemon on
//! 127.0.0.1:0): MLflow's limits and messages, run search filters, orders and pages, and
//! hostile search input answered 400, never 500.

mod common;

use common::{api, assert_error, assert_invalid_naming};
use serde_json::{Value, json};

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
    assert_invalid_naming(
        api.post(
            "runs/log-batch",
            json!({ "run_id": run_id, "metrics": metrics(1001) }),
        ),
        &["1000"],
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
    assert_invalid_naming(
        api.post("runs/log-metric", key("bad$key".into())),
        &["alphanumerics"],
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
    assert_invalid_naming(
        search("metrics.val_loss < 1 OR params.lr = 'x'", &[], 10, None),
        &["position", "OR"],
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
fn search_limits_and_experiment_filters_are_400_not_500() {
    let api = api();
    let (experiment_id, _) = api.run("limits");
    // Experiments are searched by attributes and tags; a run field is the client's mistake.
    for filter in ["params.p = 'x'", "metrics.m > 1", "param.`a b` = 'x'"] {
        assert_invalid_naming(
            api.post("experiments/search", json!({ "filter": filter })),
            &["attributes", "tags"],
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
        assert_invalid_naming(
            search(json!({ "experiment_ids": [experiment_id], "order_by": keys(n) })),
            &[&limit.to_string()],
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
        assert_invalid_naming(
            search(json!({ "experiment_ids": [experiment_id], "filter": filter(n) })),
            &[&clauses.to_string()],
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
