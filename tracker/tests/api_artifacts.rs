//! The daemon's artifact routes over HTTP (a real daemon on 127.0.0.1:0): upload, list and
//! download as MLflow's client does them, and hostile artifact paths refused with MLflow's
//! errors, never written outside the run's directory.

mod common;

use common::{api, assert_error, read};
use serde_json::json;

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
    let run_dir = api.run_artifact_dir(&experiment_id, &run_id);
    let outside = tempfile::tempdir().expect("dir");
    std::os::unix::fs::symlink(outside.path(), run_dir.join("out")).expect("symlink");
    assert_eq!(put("out/stolen.txt", b"x").0, 400);
    assert!(!outside.path().join("stolen.txt").exists());
    // Another experiment's prefix or an unknown run is refused.
    let put_status =
        |path: &str| read(api.agent.put(api.url(path)).send(&b"x"[..]).expect("sent")).0;
    let wrong = format!("/api/2.0/mlflow-artifacts/artifacts/999/{run_id}/artifacts/a.txt");
    assert_eq!(put_status(&wrong), 400);
    let unknown = format!(
        "/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{}/artifacts/a.txt",
        "0".repeat(32)
    );
    assert_eq!(put_status(&unknown), 404);
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
    let run_dir = api.run_artifact_dir(&experiment_id, &run_id);
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
