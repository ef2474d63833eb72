//! The daemon's transport over a real connection to 127.0.0.1:0: client mistakes are never a
//! 5xx, the bearer token, stalled request heads, bodies over the limits (413, streamed to disk
//! in bounded memory) and connections that stay usable after a refusal.

mod common;

use common::{api, assert_error, read, start};
use serde_json::{Value, json};
use tracker::api::DaemonConfig;

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
    let run_dir = api.run_artifact_dir(&experiment_id, &run_id);
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
