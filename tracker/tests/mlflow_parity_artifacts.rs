//! Artifact parity with MLflow's own server, over HTTP against a real daemon on 127.0.0.1:0:
//! `artifacts/list` paths and root URI, and the artifact-serving choice (`mlflow-artifacts:`
//! URIs and the proxy routes, or `file://` and bucket roots with no proxy).

mod common;

use common::{Api, api, files_under, loopback, missing, read, start_with};
use serde_json::json;
use tracker::store::ArtifactUris;

#[test]
fn artifacts_list_gives_run_relative_paths_and_the_root_uri() {
    let api = api();
    let exp = api.experiment("listed");
    let run = api.run_in(&exp);
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
    let api = start_with(loopback(), ArtifactUris::File);
    let root = api.dir.path().join("runs-artifacts");
    let exp = api.experiment("direct");
    let (_, got) = api.get("experiments/get", &[("experiment_id", &exp)]);
    assert_eq!(
        got["experiment"]["artifact_location"],
        format!("file://{}", root.join(&exp).display()).as_str()
    );
    let run = api.run_in(&exp);
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
    let api = start_with(loopback(), ArtifactUris::Root("s3://bucket/mlruns/".into()));
    let exp = api.experiment("bucket");
    let (_, got) = api.get("experiments/get", &[("experiment_id", &exp)]);
    assert_eq!(
        got["experiment"]["artifact_location"],
        format!("s3://bucket/mlruns/{exp}").as_str()
    );
    let run = api.run_in(&exp);
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
