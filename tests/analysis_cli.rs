//! `track demo`, `analyze`, `compare`, `plot` and `sweep` end to end on the bundled data: short
//! real training runs in a real SQLite store, judged from what was recorded.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const TRACK: &str = env!("CARGO_BIN_EXE_track");

/// Images per split and epochs of the end-to-end demo: small enough to take seconds, large
/// enough that the unregularized baseline overfits.
const DEMO_LIMIT: &str = "300";
const DEMO_EPOCHS: &str = "12";

/// Runs `track ARGS` against the store `db`, failing with its stderr unless it exits 0.
fn track(db: &Path, args: &[&str]) -> Result<Output, Box<dyn std::error::Error>> {
    let output = Command::new(TRACK)
        .arg("--tracking-uri")
        .arg(db)
        .arg("--quiet")
        .args(args)
        .env_remove("MLFLOW_TRACKING_URI")
        .env_remove("TRACK_TRACKING_URI")
        .env_remove("TRACK_EXPERIMENT")
        .output()?;
    if !output.status.success() {
        return Err(format!(
            "track {args:?} exited {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(output)
}

fn json(db: &Path, args: &[&str]) -> Result<Value, Box<dyn std::error::Error>> {
    Ok(serde_json::from_slice(&track(db, args)?.stdout)?)
}

#[test]
fn demo_baseline_overfits_and_regularization_narrows_the_gap() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("track.db");
    let png = dir.path().join("demo.png");
    let png_arg = png.to_str().ok_or("temp path is not UTF-8")?;
    let demo = track(
        &db,
        &[
            "demo",
            "--limit",
            DEMO_LIMIT,
            "--epochs",
            DEMO_EPOCHS,
            "--out",
            png_arg,
        ],
    )?;
    let text = String::from_utf8(demo.stdout)?;
    assert!(text.contains("verdict: overfitting"), "{text}");
    assert!(text.contains("params that differ"), "{text}");

    let baseline = json(&db, &["analyze", "baseline", "--json"])?;
    assert_eq!(baseline["verdict"]["label"], "overfitting", "{baseline:#}");
    let onset = baseline["onset_epoch"].as_i64().ok_or("no onset epoch")?;
    let epochs = baseline["epochs"].as_i64().ok_or("no epochs")?;
    assert!(
        onset >= 1 && onset < epochs,
        "onset {onset} of {epochs} epochs"
    );
    assert_eq!(baseline["gap_basis"], "train_eval");
    let causes: Vec<&str> = baseline["causes"]
        .as_array()
        .ok_or("no causes")?
        .iter()
        .filter_map(|c| c["config_key"].as_str())
        .collect();
    for key in [
        "transforms.augment",
        "optim.weight_decay",
        "early_stopping.enabled",
    ] {
        assert!(
            causes.contains(&key),
            "{key} not among the causes {causes:?}"
        );
    }

    let regularized = json(&db, &["analyze", "regularized", "--json"])?;
    let gap = |a: &Value| a["final_loss_gap"].as_f64().ok_or("no final gap");
    assert!(
        gap(&regularized)? < gap(&baseline)?,
        "regularized gap {} not below baseline gap {}",
        gap(&regularized)?,
        gap(&baseline)?
    );

    let comparison = json(&db, &["compare", "baseline", "regularized", "--json"])?;
    let differing: Vec<&str> = comparison["differing"]
        .as_array()
        .ok_or("no differing params")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for key in [
        "transforms.augment",
        "model.conv_dropout",
        "model.dense_dropout",
        "optim.weight_decay",
        "early_stopping.enabled",
    ] {
        assert!(differing.contains(&key), "{key} not in {differing:?}");
    }
    assert!(!differing.contains(&"optim.learning_rate"), "{differing:?}");
    let by_experiment = json(&db, &["compare", "--experiment", "demo", "--json"])?;
    assert_eq!(by_experiment["runs"].as_array().map(Vec::len), Some(2));

    // The demo's plot and `track plot` write real images.
    let image = image::open(&png)?.to_rgb8();
    assert_eq!(image.dimensions(), (1400, 560));
    let svg = dir.path().join("runs.svg");
    track(
        &db,
        &[
            "plot",
            "baseline",
            "regularized",
            "--out",
            svg.to_str().unwrap_or_default(),
        ],
    )?;
    let svg = std::fs::read_to_string(svg)?;
    assert!(svg.contains("baseline validation") && svg.contains("regularized validation"));
    Ok(())
}

#[test]
fn sweep_trains_every_combination_tagged_and_ranked() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("track.db");
    let out = track(
        &db,
        &[
            "sweep",
            "--grid",
            "augment=none,standard",
            "--grid",
            "model.dense_dropout=0,0.5",
            "--set",
            "data.limit=60",
            "--set",
            "train.epochs=1",
            "--set",
            "model.conv_channels=[4]",
            "--set",
            "model.dense_units=[8]",
            "--experiment",
            "grid",
        ],
    )?;
    let text = String::from_utf8(out.stdout)?;
    assert!(text.contains("4 runs"), "{text}");
    assert!(
        text.contains("transforms.augment") && text.contains("model.dense_dropout"),
        "{text}"
    );
    assert_eq!(
        text.matches("not enough epochs to tell").count(),
        4,
        "{text}"
    );
    let runs = json(&db, &["compare", "--experiment", "grid", "--json"])?;
    assert_eq!(runs["runs"].as_array().map(Vec::len), Some(4));
    Ok(())
}

#[test]
fn analyze_of_an_unknown_run_fails_naming_it() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("track.db");
    let output = Command::new(TRACK)
        .arg("--tracking-uri")
        .arg(&db)
        .args(["analyze", "no-such-run"])
        .output()?;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no-such-run"), "{stderr}");
    Ok(())
}
