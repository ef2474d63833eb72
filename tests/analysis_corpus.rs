//! `track analyze` on the corpus of learning curves of known character (`tests/data/curves/`,
//! made by real `track train` runs with `scripts/make-curve-corpus.py`): overfitting despite
//! dropout on little data, late overfitting with SGD, underfitting with a tiny learning rate,
//! instability with a huge one, a good fit with regularization, validation sets too small to
//! tell, and colour photos. Each case is judged as the analysis reads it directly, as logged
//! through the official MLflow client (with gapwatch's metric names, and as a Keras script would
//! log it, with no standard errors), and, for the cases that train in seconds, as `track train`
//! records it afresh. A wrong verdict fails the test, naming the case.

use std::path::PathBuf;

use serde_json::Value;
use tracker::analysis::{AnalysisConfig, RunRecord, analyze};

use crate::util::{
    DATA, Daemon, TestResult, data_path, python, repo, script, scrubbed, sets, track,
};

fn corpus_dir() -> PathBuf {
    repo().join("tests/data/curves")
}

/// Every case of the corpus, by file name order.
fn cases() -> Result<Vec<Value>, Box<dyn std::error::Error>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(corpus_dir())?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    let cases = paths
        .iter()
        .map(|p| Ok(serde_json::from_str(&std::fs::read_to_string(p)?)?))
        .collect::<Result<Vec<Value>, Box<dyn std::error::Error>>>()?;
    assert!(cases.len() >= 6, "the corpus has {} cases", cases.len());
    Ok(cases)
}

/// The verdict a case stands for, in the variant `keras` (no standard errors) or not.
fn expected(case: &Value, keras: bool) -> Option<String> {
    let key = if keras { "expected_keras" } else { "expected" };
    case.get(key)
        .or_else(|| case.get("expected"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn record(case: &Value) -> RunRecord {
    let mut record = RunRecord::new(case["case"].as_str().unwrap_or_default());
    if let Some(params) = case["params"].as_object() {
        for (key, value) in params {
            record.set_param(key, value.as_str().unwrap_or_default());
        }
    }
    if let Some(metrics) = case["metrics"].as_object() {
        for (key, points) in metrics {
            for point in points.as_array().into_iter().flatten() {
                if let (Some(step), Some(value)) = (point[0].as_i64(), point[1].as_f64()) {
                    record.push_metric(key, step, value);
                }
            }
        }
    }
    record
}

#[test]
fn every_corpus_case_gets_its_verdict_with_its_strength() -> TestResult {
    let mut wrong = Vec::new();
    for case in cases()? {
        let name = case["case"].as_str().unwrap_or_default();
        let Some(expected) = expected(&case, false) else {
            continue;
        };
        let analysis = analyze(&record(&case), &AnalysisConfig::default())?;
        if analysis.verdict.label() != expected {
            wrong.push(format!(
                "{name}: expected {expected}, got {}",
                analysis.summary
            ));
            continue;
        }
        // Every verdict says how strong it is, in the run's own logged noise.
        assert!(
            analysis.noise.val_loss_se.is_some(),
            "{name}: no noise figure: {}",
            analysis.summary
        );
        if matches!(
            expected.as_str(),
            "overfitting" | "inconclusive" | "good fit"
        ) {
            assert!(
                analysis.summary.contains("standard errors of"),
                "{name}: {}",
                analysis.summary
            );
        }
        // Every cause names the key to change and a value to try, and no key twice.
        let mut keys = std::collections::BTreeSet::new();
        for cause in &analysis.causes {
            assert!(
                !cause.suggested.is_empty() && cause.evidence.chars().any(|c| c.is_ascii_digit()),
                "{name}: {cause:?}"
            );
            assert!(
                keys.insert(cause.config_key.clone()),
                "{name}: {:?} twice",
                cause.config_key
            );
        }
    }
    assert!(wrong.is_empty(), "wrong verdicts:\n{}", wrong.join("\n"));
    Ok(())
}

fn analyze_cli(uri: &str, run_id: &str) -> Result<Value, Box<dyn std::error::Error>> {
    let output = track()
        .args(["--tracking-uri", uri, "analyze", run_id, "--json"])
        .output()?;
    assert!(
        output.status.success(),
        "track analyze {run_id}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(serde_json::from_slice(&output.stdout)?)
}

#[test]
fn every_corpus_case_logged_by_the_mlflow_client_gets_its_verdict() -> TestResult {
    let dir = tempfile::tempdir()?;
    let daemon = Daemon::start(&dir.path().join("corpus.db"));
    let output = scrubbed(python())
        .arg(script("log_curves.py"))
        .arg(corpus_dir())
        .arg("corpus")
        .env("MLFLOW_TRACKING_URI", daemon.url())
        .output()?;
    assert!(
        output.status.success(),
        "log_curves.py: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let runs: Value = serde_json::from_str(stdout.lines().last().ok_or("no output")?)?;
    let mut wrong = Vec::new();
    let mut checked = 0;
    for case in cases()? {
        let name = case["case"].as_str().unwrap_or_default();
        for keras in [false, true] {
            let Some(expected) = expected(&case, keras) else {
                continue;
            };
            let run_name = if keras {
                format!("{name}-keras")
            } else {
                name.to_string()
            };
            let run_id = runs[&run_name].as_str().ok_or("run not logged")?;
            let analysis = analyze_cli(daemon.url(), run_id)?;
            checked += 1;
            let label = analysis["verdict"]["label"].as_str().unwrap_or_default();
            if label != expected {
                wrong.push(format!(
                    "{run_name}: expected {expected}, got {}",
                    analysis["summary"]
                ));
            }
            let source = analysis["noise"]["source"].as_str().unwrap_or_default();
            let want = if keras { "estimated" } else { "logged" };
            assert_eq!(source, want, "{run_name}: {}", analysis["noise"]);
        }
    }
    assert!(checked >= 12, "only {checked} runs checked");
    assert!(wrong.is_empty(), "wrong verdicts:\n{}", wrong.join("\n"));
    Ok(())
}

#[test]
fn quick_corpus_cases_trained_afresh_by_track_train_get_their_verdict() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("runs.db");
    let uri = db.to_str().ok_or("temp path is not UTF-8")?;
    for case in cases()? {
        let name = case["case"].as_str().unwrap_or_default();
        if !matches!(name, "underfit-tiny-lr" | "unstable-huge-lr") {
            continue;
        }
        let command = case["command"].as_str().ok_or("no command")?;
        let overrides: Vec<&str> = command
            .split_whitespace()
            .skip_while(|w| *w != "--set")
            .filter(|w| *w != "--set")
            .collect();
        let output = track()
            .args(["--tracking-uri", uri, "--quiet", "train", "--json"])
            .args(sets(&[&data_path(DATA)]))
            .args(sets(&overrides))
            .output()?;
        assert!(
            output.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let summary: Value = serde_json::from_slice(&output.stdout)?;
        let run_id = summary["run_id"].as_str().ok_or("no run id")?;
        let analysis = analyze_cli(uri, run_id)?;
        assert_eq!(
            analysis["verdict"]["label"].as_str(),
            expected(&case, false).as_deref(),
            "{name}: {}",
            analysis["summary"]
        );
    }
    Ok(())
}
