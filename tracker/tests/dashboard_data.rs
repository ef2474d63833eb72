//! The dashboard's data routes over HTTP (a real daemon on 127.0.0.1:0 over a real SQLite
//! file, runs logged to it): a metric's series downsampled and fetched from a step on, the
//! comparison `track compare --json` prints, and artifact downloads that stay inside the run.

mod common;

use common::dashboard::{Dash, GOOD_TRAIN, GOOD_VAL, OVERFIT_TRAIN, OVERFIT_VAL, dash};
use serde_json::{Value, json};
use tracker::analysis::{AnalysisConfig, analyze_stored_run, compare_runs};
use tracker::entities::Metric;

/// A long noisy series: `n` points, step `i`, with one spike down and one up.
fn long_series(dash: &Dash, n: usize) -> (String, Vec<f64>) {
    let (_, run_id) = dash.running_run("long");
    let values: Vec<f64> = (0..n)
        .map(|i| match i {
            1234 => -50.0,
            3210 => 75.0,
            _ => ((i * 7919) % 101) as f64 / 100.0,
        })
        .collect();
    for chunk in values.iter().enumerate().collect::<Vec<_>>().chunks(1000) {
        let metrics: Vec<Metric> = chunk
            .iter()
            .map(|(i, v)| Metric {
                key: "loss".into(),
                value: **v,
                timestamp: 10 * *i as i64,
                step: *i as i64,
            })
            .collect();
        dash.store
            .log_batch(&run_id, &metrics, &[], &[])
            .expect("logged");
    }
    (run_id, values)
}

#[test]
fn a_long_series_is_downsampled_keeping_its_ends_and_extremes() {
    let dash = dash();
    let (id, values) = long_series(&dash, 5000);
    let (status, series) = dash.get(
        "/api/2.0/gapwatch/runs/series",
        &[("run_id", &id), ("key", "loss"), ("max_points", "100")],
    );
    assert_eq!(status, 200, "{series}");
    assert_eq!(series["total"], 5000);
    assert_eq!(series["downsampled"], true);
    let steps = series["steps"].as_array().expect("steps");
    let shown = series["values"].as_array().expect("values");
    assert!(steps.len() <= 100 && steps.len() > 50, "{}", steps.len());
    assert_eq!(shown.len(), steps.len());
    assert_eq!(
        series["timestamps"].as_array().expect("ts").len(),
        steps.len()
    );
    assert_eq!(steps.first(), Some(&json!(0)));
    assert_eq!(steps.last(), Some(&json!(4999)));
    let steps: Vec<i64> = steps.iter().filter_map(Value::as_i64).collect();
    assert!(steps.windows(2).all(|w| w[0] < w[1]));
    assert!(shown.contains(&json!(-50.0)) && shown.contains(&json!(75.0)));
    for (step, value) in steps.iter().zip(shown) {
        assert_eq!(value.as_f64(), Some(values[*step as usize]));
    }
    // Short enough: whole, and not said to be downsampled.
    let (_, whole) = dash.get(
        "/api/2.0/gapwatch/runs/series",
        &[("run_id", &id), ("key", "loss"), ("after_step", "4989")],
    );
    assert_eq!(whole["total"], 10);
    assert_eq!(whole["downsampled"], false);
    assert_eq!(whole["steps"], json!((4990..5000).collect::<Vec<i64>>()));
    assert_eq!(whole["timestamps"][0], 49_900);
}

#[test]
fn a_series_says_nan_and_infinity_as_null_and_an_unknown_run_404() {
    let dash = dash();
    let (_, run_id) = dash.running_run("nan");
    let metrics: Vec<Metric> = [1.0, f64::NAN, f64::INFINITY, 0.5]
        .iter()
        .enumerate()
        .map(|(i, v)| Metric {
            key: "val_loss".into(),
            value: *v,
            timestamp: i as i64,
            step: i as i64,
        })
        .collect();
    dash.store
        .log_batch(&run_id, &metrics, &[], &[])
        .expect("logged");
    let (status, series) = dash.get(
        "/api/2.0/gapwatch/runs/series",
        &[("run_id", &run_id), ("key", "val_loss")],
    );
    assert_eq!(status, 200, "{series}");
    assert_eq!(series["values"], json!([1.0, null, null, 0.5]));
    let (status, _) = dash.get(
        "/api/2.0/gapwatch/runs/series",
        &[
            ("run_id", "0123456789abcdef0123456789abcdef"),
            ("key", "val_loss"),
        ],
    );
    assert_eq!(status, 404);
}

#[test]
fn compare_answers_what_track_compare_prints_and_needs_two_runs() {
    let dash = dash();
    let exp = dash.store.get_or_create_experiment("compare").expect("exp");
    let a = dash.run(
        &exp,
        "a",
        &[("optim.lr", "0.1"), ("seed", "1")],
        &[("train_loss", &OVERFIT_TRAIN), ("val_loss", &OVERFIT_VAL)],
    );
    let b = dash.run(
        &exp,
        "b",
        &[("optim.lr", "0.01"), ("seed", "1")],
        &[("train_loss", &GOOD_TRAIN), ("val_loss", &GOOD_VAL)],
    );
    let (status, compared) = dash.get(
        "/api/2.0/gapwatch/runs/compare",
        &[("run_ids", &format!("{a},{b}"))],
    );
    assert_eq!(status, 200, "{compared}");
    let config = AnalysisConfig::default();
    let loaded: Vec<_> = [&a, &b]
        .iter()
        .map(|id| {
            (
                dash.store.get_run(id).expect("run"),
                analyze_stored_run(&dash.store, id, &config).expect("analysis"),
            )
        })
        .collect();
    let expected = serde_json::to_value(compare_runs(&loaded)).expect("json");
    assert_eq!(compared, expected);
    assert_eq!(compared["differing"], json!(["optim.lr"]));
    let (status, error) = dash.get("/api/2.0/gapwatch/runs/compare", &[("run_ids", &a)]);
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["error_code"], "INVALID_PARAMETER_VALUE");
}

#[test]
fn get_artifact_downloads_a_file_and_refuses_paths_that_climb_out() {
    let dash = dash();
    let exp = dash.store.get_or_create_experiment("files").expect("exp");
    let id = dash.run(&exp, "files", &[], &[]);
    let dir = dash.store.run_artifact_dir(&id).expect("dir");
    std::fs::create_dir_all(dir.join("plots")).expect("mkdir");
    std::fs::write(dir.join("plots/curve.svg"), b"<svg/>").expect("write");
    std::fs::write(dir.parent().expect("run dir").join("secret.txt"), b"no").expect("write");
    let response = dash
        .agent
        .get(dash.url("/get-artifact"))
        .query("run_id", &id)
        .query("path", "plots/curve.svg")
        .call()
        .expect("sent");
    assert_eq!(response.status(), 200);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    assert_eq!(
        header("content-disposition").as_deref(),
        Some("attachment; filename=\"curve.svg\"")
    );
    assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"));
    assert_eq!(
        response.into_body().read_to_string().expect("body"),
        "<svg/>"
    );
    let status = |path: &str| {
        let (status, body) = dash.get("/get-artifact", &[("run_id", &id), ("path", path)]);
        (status, body["error_code"].clone())
    };
    assert_eq!(
        status("missing.txt"),
        (404, json!("RESOURCE_DOES_NOT_EXIST"))
    );
    for climb in ["../secret.txt", "plots/../../secret.txt", "/etc/passwd"] {
        assert_eq!(
            status(climb),
            (400, json!("INVALID_PARAMETER_VALUE")),
            "{climb}"
        );
    }
}

#[test]
fn the_analysis_for_a_page_keeps_the_first_and_last_epochs_the_best_and_the_onset() {
    let dash = dash();
    let exp = dash.store.get_or_create_experiment("rows").expect("exp");
    let id = dash.run(
        &exp,
        "overfit",
        &[],
        &[("train_loss", &OVERFIT_TRAIN), ("val_loss", &OVERFIT_VAL)],
    );
    let (status, full) = dash.get("/api/2.0/gapwatch/runs/analysis", &[("run_id", &id)]);
    assert_eq!(status, 200, "{full}");
    let epochs = |analysis: &Value| -> Vec<i64> {
        analysis["per_epoch"]
            .as_array()
            .expect("per_epoch")
            .iter()
            .map(|row| row["epoch"].as_i64().expect("epoch"))
            .collect()
    };
    let all = epochs(&full);
    assert_eq!(all.len(), OVERFIT_VAL.len());
    assert!(
        full.get("per_epoch_total").is_none(),
        "unchanged without it"
    );
    let (best, onset) = (full["best"]["epoch"].as_i64(), full["onset_epoch"].as_i64());
    let onset = onset.expect("the run overfits");

    let (status, thin) = dash.get(
        "/api/2.0/gapwatch/runs/analysis",
        &[("run_id", &id), ("per_epoch_rows", "4")],
    );
    assert_eq!(status, 200, "{thin}");
    assert_eq!(thin["per_epoch_total"], OVERFIT_VAL.len());
    let n = all.len();
    let mut expected: Vec<i64> = vec![all[0], all[1], all[n - 2], all[n - 1]];
    expected.extend(best);
    expected.push(onset);
    expected.sort_unstable();
    expected.dedup();
    assert_eq!(epochs(&thin), expected);
    // Everything but the table is the whole analysis.
    let (mut full, mut thin) = (full, thin);
    for analysis in [&mut full, &mut thin] {
        let fields = analysis.as_object_mut().expect("object");
        fields.remove("per_epoch");
        fields.remove("per_epoch_total");
    }
    assert_eq!(full, thin);

    let (status, error) = dash.get(
        "/api/2.0/gapwatch/runs/analysis",
        &[("run_id", &id), ("per_epoch_rows", "1")],
    );
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["error_code"], "INVALID_PARAMETER_VALUE");
}
