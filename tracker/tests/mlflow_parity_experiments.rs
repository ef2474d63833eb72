//! Experiment parity with MLflow's own server, over HTTP against a real daemon on 127.0.0.1:0:
//! delete and restore (with their runs), rename and tags, relative artifact locations, and
//! `experiments/search` order, filters and pages.

mod common;

use common::{api, invalid, missing};
use serde_json::{Value, json};

#[test]
fn deleting_an_experiment_deletes_its_runs_and_restoring_brings_them_back() {
    let api = api();
    let exp = api.experiment("doomed");
    let (first, second) = (api.run_in(&exp), api.run_in(&exp));
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
    let run = api.run_in(id);
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
