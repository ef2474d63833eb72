//! `track train` end to end: the bundled data, a real `track daemon` on 127.0.0.1, and the run
//! read back over the MLflow API and with `track query`.

use std::path::Path;

use trainer::fit::EpochMetrics;

use crate::util::{DATA, Daemon, TestResult, data_path, json, repo, sets, track};

fn get_json(url: &str) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    Ok(ureq::get(url).call()?.body_mut().read_json()?)
}

#[test]
fn train_records_a_finished_run_with_every_metric_per_epoch() -> TestResult {
    let dir = tempfile::tempdir()?;
    let daemon = Daemon::start(&dir.path().join("track.db"));
    let summary = json(
        &track()
            .args(["train", "--quiet", "--json", "--experiment", "e2e"])
            .args(["--tracking-uri", daemon.url()])
            .arg("--checkpoint-dir")
            .arg(dir.path().join("checkpoints"))
            .args(sets(&[
                &data_path(DATA),
                "data.limit=192",
                "train.epochs=2",
                "model.conv_channels=[8]",
                "model.dense_units=[32]",
            ]))
            .output()?,
    );
    assert_eq!(summary["status"], "FINISHED");
    assert_eq!(summary["epochs"].as_array().map(Vec::len), Some(2));
    let run_id = summary["run_id"].as_str().ok_or("no run id")?;

    // The run as the daemon stored it.
    let run = get_json(&format!(
        "{}/api/2.0/mlflow/runs/get?run_id={run_id}",
        daemon.url()
    ))?;
    assert_eq!(run["run"]["info"]["status"], "FINISHED");
    let params = run["run"]["data"]["params"].as_array().ok_or("no params")?;
    let param = |key: &str| {
        params
            .iter()
            .find(|p| p["key"] == key)
            .and_then(|p| p["value"].as_str())
            .map(str::to_string)
    };
    assert_eq!(param("data.limit").as_deref(), Some("192"));
    assert_eq!(param("model.conv_channels").as_deref(), Some("[8]"));
    assert_eq!(param("optim.optimizer").as_deref(), Some("adam"));
    assert_eq!(param("num_classes").as_deref(), Some("10"));
    assert!(param("num_params").is_some() && param("gapwatch_version").is_some());
    // Every metric `track train` records per epoch.
    for metric in EpochMetrics::NAMES {
        let history = get_json(&format!(
            "{}/api/2.0/mlflow/metrics/get-history?run_id={run_id}&metric_key={metric}",
            daemon.url()
        ))?;
        let mut steps: Vec<i64> = history["metrics"]
            .as_array()
            .ok_or("no history")?
            .iter()
            .filter_map(|m| m["step"].as_i64())
            .collect();
        steps.sort_unstable();
        assert_eq!(steps, vec![1, 2], "{metric}");
    }
    let test_acc = get_json(&format!(
        "{}/api/2.0/mlflow/metrics/get-history?run_id={run_id}&metric_key=test_acc",
        daemon.url()
    ))?;
    assert_eq!(test_acc["metrics"].as_array().map(Vec::len), Some(1));

    // And `track query` finds it by its params.
    let query = track()
        .args([
            "query",
            "--tracking-uri",
            daemon.url(),
            "params.`data.limit` = '192'",
        ])
        .output()?;
    assert!(
        query.status.success(),
        "track query: {}",
        String::from_utf8_lossy(&query.stderr)
    );
    assert!(String::from_utf8_lossy(&query.stdout).contains(run_id));
    Ok(())
}

#[test]
fn a_bad_config_key_is_named_and_nothing_is_trained() -> TestResult {
    let dir = tempfile::tempdir()?;
    let output = track()
        .args(["train", "--quiet", "--tracking-uri", "http://127.0.0.1:9"])
        .args(["--set", "optim.learnig_rate=0.1"])
        .current_dir(dir.path())
        .output()?;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("learnig_rate"), "{stderr}");
    Ok(())
}

/// Runs `track train --quiet` over the embedded store `db` with `sets`, from `dir`.
fn train_in(
    dir: &Path,
    db: &Path,
    sets: &[String],
) -> Result<std::process::Output, std::io::Error> {
    train_with_flags(dir, db, &["--quiet"], sets)
}

/// `track train FLAGS` over the embedded store `db` with `sets`, from `dir`.
fn train_with_flags(
    dir: &Path,
    db: &Path,
    flags: &[&str],
    sets: &[String],
) -> Result<std::process::Output, std::io::Error> {
    let mut command = track();
    command
        .arg("train")
        .args(flags)
        .arg("--tracking-uri")
        .arg(db)
        .current_dir(dir);
    for set in sets {
        command.args(["--set", set]);
    }
    command.output()
}

/// The runs the embedded store `db` holds (none when the file was never created).
fn stored_runs(db: &Path) -> Result<usize, Box<dyn std::error::Error>> {
    if !db.exists() {
        return Ok(0);
    }
    let output = track()
        .args(["runs", "--format", "json", "--tracking-uri"])
        .arg(db)
        .output()?;
    // Exit 1: nothing found.
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let runs: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    Ok(runs.as_array().map_or(0, Vec::len))
}

/// A setup that cannot train exits 2 with one clear message, and records no run.
fn refused_before_any_run(data: &Path, expect: &str) -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("runs.db");
    let output = train_in(dir.path(), &db, &[data_path(data)])?;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(expect), "{stderr}");
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "one message, once: {stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "no colour codes into a pipe: {stderr:?}"
    );
    assert_eq!(stored_runs(&db)?, 0, "no run is recorded");
    Ok(())
}

/// Copies `count` bundled PNG photos into `dir/<class>/`.
fn photos_into(dir: &Path, class: &str, count: usize) -> TestResult {
    let source = repo().join("data/photos");
    let class_dir = dir.join(class);
    std::fs::create_dir_all(&class_dir)?;
    let mut pngs: Vec<_> = std::fs::read_dir(&source)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    pngs.sort();
    for (i, png) in pngs.iter().cycle().take(count).enumerate() {
        std::fs::copy(png, class_dir.join(format!("{i}.png")))?;
    }
    Ok(())
}

/// A data folder with the classes `a` and `b`, of `count` bundled photos each.
fn two_classes(count: usize) -> Result<tempfile::TempDir, Box<dyn std::error::Error>> {
    let data = tempfile::tempdir()?;
    photos_into(data.path(), "a", count)?;
    photos_into(data.path(), "b", count)?;
    Ok(data)
}

#[test]
fn a_folder_with_one_class_exits_2_and_records_no_run() -> TestResult {
    let data = tempfile::tempdir()?;
    photos_into(data.path(), "cats", 6)?;
    refused_before_any_run(data.path(), "a classifier needs at least two")
}

#[test]
fn a_missing_data_path_exits_2_and_records_no_run() -> TestResult {
    let data = tempfile::tempdir()?;
    refused_before_any_run(&data.path().join("no-such-folder"), "no-such-folder")
}

#[test]
fn an_empty_data_folder_exits_2_and_records_no_run() -> TestResult {
    let data = tempfile::tempdir()?;
    refused_before_any_run(data.path(), "no images")
}

#[test]
fn a_tiny_validation_split_trains_with_a_warning_that_gives_its_noise_band() -> TestResult {
    let data = two_classes(12)?;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("runs.db");
    let sets = [
        data_path(data.path()),
        "data.val_fraction=0.25".to_string(),
        "train.epochs=1".to_string(),
        "transforms.size=32".to_string(),
        "model.conv_channels=[4]".to_string(),
        "model.dense_units=[]".to_string(),
    ];
    let output = train_in(dir.path(), &db, &sets)?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    // 6 validation images: one standard error of accuracy at 50% is √(0.25/6) = 20.4 points.
    let warning = stderr
        .lines()
        .find(|l| l.starts_with("warning: only 6 validation images"))
        .ok_or_else(|| format!("no warning in {stderr}"))?;
    assert!(warning.contains("±20.4 points"), "{warning}");
    assert_eq!(stored_runs(&db)?, 1);
    Ok(())
}

#[test]
fn photos_default_to_64_pixels_and_a_pooled_head_and_the_plan_is_shown() -> TestResult {
    let data = two_classes(10)?;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("runs.db");
    let data_set = data_path(data.path());
    let sets = |more: &[&str]| -> Vec<String> {
        std::iter::once(data_set.clone())
            .chain(more.iter().map(|s| s.to_string()))
            .collect()
    };
    let output = train_with_flags(
        dir.path(),
        &db,
        &["--json"],
        &sets(&["train.epochs=1", "data.val_fraction=0.2"]),
    )?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("model: input 3x64x64, head global_avg_pool, 27970 parameters"),
        "{stderr}"
    );
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    assert_eq!(summary["num_params"], 27970);
    // --size is short for transforms.size, and a flatten head at that size draws the warning.
    let big = train_with_flags(
        dir.path(),
        &db,
        &["--quiet", "--size", "96"],
        &sets(&["train.epochs=1", "model.head=flatten"]),
    )?;
    let stderr = String::from_utf8_lossy(&big.stderr);
    assert!(big.status.success(), "{stderr}");
    assert!(
        stderr.contains("parameters per training image, far more than the data can support")
            && stderr.contains("--set model.head=global_avg_pool"),
        "{stderr}"
    );
    Ok(())
}
