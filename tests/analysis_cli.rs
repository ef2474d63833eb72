//! `track demo`, `analyze`, `compare`, `plot` and `sweep` end to end on the bundled data: short
//! real training runs in a real SQLite store, judged from what was recorded.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::util::{DATA, Daemon, TestResult, data_path, sets, track_at};

/// Images per split and epochs of the end-to-end demo: small enough to train in well under a
/// minute, with batches of 16 so that the unregularized baseline memorizes its 200 images.
const DEMO_LIMIT: &str = "200";
const DEMO_EPOCHS: &str = "30";
const DEMO_BATCH: &str = "loader.batch_size=16";

/// Runs `track ARGS` against the store `db`, failing with its stderr unless it exits 0.
fn run(db: &Path, args: &[&str]) -> Result<Output, Box<dyn std::error::Error>> {
    let output = track_at(db).arg("--quiet").args(args).output()?;
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

/// [`run`]'s JSON output.
fn run_json(db: &Path, args: &[&str]) -> Result<Value, Box<dyn std::error::Error>> {
    Ok(serde_json::from_slice(&run(db, args)?.stdout)?)
}

#[test]
fn demo_baseline_overfits_and_regularization_narrows_the_gap() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("track.db");
    let png = dir.path().join("demo.png");
    let png_arg = png.to_str().ok_or("temp path is not UTF-8")?;
    let demo = run(
        &db,
        &[
            "demo",
            "--limit",
            DEMO_LIMIT,
            "--epochs",
            DEMO_EPOCHS,
            "--set",
            DEMO_BATCH,
            "--out",
            png_arg,
        ],
    )?;
    let text = String::from_utf8(demo.stdout)?;
    assert!(text.contains("verdict: overfitting"), "{text}");
    assert!(text.contains("params that differ"), "{text}");
    // The demo says how the cure did against the baseline, in standard errors of the
    // difference, and whether that is beyond the noise.
    let cure = text
        .lines()
        .find(|l| l.starts_with("regularized vs baseline, best validation loss:"))
        .ok_or_else(|| format!("no comparison of the cure in {text}"))?;
    assert!(
        cure.contains("standard errors of the difference")
            && (cure.contains("beyond the noise") || cure.contains("within the noise")),
        "{cure}"
    );

    let baseline = run_json(&db, &["analyze", "baseline", "--json"])?;
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

    let regularized = run_json(&db, &["analyze", "regularized", "--json"])?;
    let gap = |a: &Value| a["final_loss_gap"].as_f64().ok_or("no final gap");
    assert!(
        gap(&regularized)? < gap(&baseline)?,
        "regularized gap {} not below baseline gap {}",
        gap(&regularized)?,
        gap(&baseline)?
    );

    let comparison = run_json(&db, &["compare", "baseline", "regularized", "--json"])?;
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
    let by_experiment = run_json(&db, &["compare", "--experiment", "demo", "--json"])?;
    assert_eq!(by_experiment["runs"].as_array().map(Vec::len), Some(2));

    // The daemon serves the same analysis; the Parquet export holds one analysis row per run.
    let baseline_id = baseline["run_id"].as_str().ok_or("no run id")?;
    let served = served_analysis(&db, baseline_id)?;
    assert_eq!(served["verdict"]["label"], "overfitting");
    assert_eq!(served["onset_epoch"], baseline["onset_epoch"]);
    let export = dir.path().join("export");
    let export_arg = export.to_str().ok_or("temp path is not UTF-8")?;
    run(
        &db,
        &["export", "--experiment", "demo", "--out", export_arg],
    )?;
    // The one partition of the analysis table: `analysis/experiment_id=<demo's id>/`.
    let partitions: Vec<_> =
        std::fs::read_dir(export.join(tracker::export::ANALYSIS))?.collect::<Result<_, _>>()?;
    assert_eq!(partitions.len(), 1, "only demo was exported");
    let file = std::fs::File::open(partitions[0].path().join(tracker::export::PART_FILE))?;
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)?.build()?;
    let mut verdicts = Vec::new();
    for batch in reader {
        let batch = batch?;
        let column = batch.column_by_name("verdict").ok_or("no verdict column")?;
        let strings = column
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .ok_or("verdict is not a string column")?;
        verdicts.extend(strings.iter().map(|v| v.unwrap_or_default().to_string()));
    }
    assert_eq!(verdicts.len(), 2);
    assert!(
        verdicts.contains(&"overfitting".to_string()),
        "{verdicts:?}"
    );

    // The demo's plot and `track plot` write real images.
    let image = image::open(&png)?.to_rgb8();
    assert_eq!(image.dimensions(), (1400, 560));
    let svg = dir.path().join("runs.svg");
    run(
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

/// `GET /api/2.0/gapwatch/runs/analysis` of a `track daemon` on 127.0.0.1:0 over `db`.
fn served_analysis(db: &Path, run_id: &str) -> Result<Value, Box<dyn std::error::Error>> {
    let daemon = Daemon::start(db);
    let url = format!(
        "{}/api/2.0/gapwatch/runs/analysis?run_id={run_id}",
        daemon.url()
    );
    Ok(ureq::get(&url).call()?.body_mut().read_json()?)
}

#[test]
fn sweep_trains_every_combination_tagged_and_ranked() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("track.db");
    let out = run(
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
    let runs = run_json(&db, &["compare", "--experiment", "grid", "--json"])?;
    assert_eq!(runs["runs"].as_array().map(Vec::len), Some(4));
    Ok(())
}

#[test]
fn analyze_of_an_unknown_run_fails_naming_it() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("track.db");
    let output = track_at(&db).args(["analyze", "no-such-run"]).output()?;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no-such-run"), "{stderr}");
    Ok(())
}

#[test]
fn ctrl_c_stops_a_sweep_records_the_run_killed_and_starts_no_other() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("track.db");
    // Three runs, each long enough (200 epochs) to be interrupted while it trains.
    let sweep = track_at(&db)
        .args([
            "--quiet",
            "sweep",
            "--grid",
            "model.dense_dropout=0,0.25,0.5",
        ])
        .args(sets(&[
            &data_path(DATA),
            "data.limit=64",
            "train.epochs=200",
            "model.conv_channels=[4]",
            "model.dense_units=[8]",
            "early_stopping.enabled=false",
        ]))
        .args(["--experiment", "interrupted"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    // Wait until the first run has logged an epoch, then send SIGINT as Ctrl-C does.
    let first_epoch_logged = || -> Result<bool, Box<dyn std::error::Error>> {
        let out = track_at(&db)
            .args(["query", "metrics.val_loss > 0", "--format", "json"])
            .output()?;
        Ok(out.status.success()
            && serde_json::from_slice::<Value>(&out.stdout)?
                .as_array()
                .is_some_and(|a| !a.is_empty()))
    };
    let mut waited = 0;
    while !(db.exists() && first_epoch_logged().unwrap_or(false)) {
        std::thread::sleep(std::time::Duration::from_millis(200));
        waited += 1;
        assert!(waited < 600, "the first run logged no epoch in 2 minutes");
    }
    let signal = Command::new("kill")
        .args(["-INT", &sweep.id().to_string()])
        .status()?;
    assert!(signal.success());
    let output = sweep.wait_with_output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("2 of 3 runs not started"), "{stderr}");
    let runs = track_at(&db).args(["runs", "--format", "json"]).output()?;
    let runs: Value = serde_json::from_slice(&runs.stdout)?;
    let statuses: Vec<&str> = runs
        .as_array()
        .ok_or("no runs")?
        .iter()
        .filter_map(|r| r["status"].as_str())
        .collect();
    assert_eq!(statuses, vec!["KILLED"], "one run, recorded KILLED");
    Ok(())
}
