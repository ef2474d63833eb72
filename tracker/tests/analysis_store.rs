//! Analysing runs stored in a real SQLite store: one logged the way the MLflow Python client
//! logs a Keras `fit` (autolog: `loss`, `accuracy`, `val_loss`, `val_accuracy` at steps 0, 1, ...).

#![allow(clippy::unwrap_used)] // Test helpers: a panic is the failure report.

use tracker::analysis::{AnalysisConfig, GapBasis, analyze_stored_run};
use tracker::entities::{Metric, Param};
use tracker::store::{CreateRun, Store};

/// Per-epoch curves of a small Keras CNN that overfits from epoch 5 (0-based).
const LOSS: [f64; 14] = [
    1.02, 0.61, 0.49, 0.42, 0.37, 0.33, 0.29, 0.26, 0.23, 0.2, 0.17, 0.15, 0.13, 0.11,
];
const ACCURACY: [f64; 14] = [
    0.64, 0.78, 0.82, 0.85, 0.87, 0.88, 0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.955, 0.96,
];
const VAL_LOSS: [f64; 14] = [
    0.72, 0.56, 0.49, 0.46, 0.44, 0.43, 0.44, 0.46, 0.47, 0.5, 0.52, 0.55, 0.58, 0.61,
];
const VAL_ACCURACY: [f64; 14] = [
    0.74, 0.8, 0.83, 0.84, 0.85, 0.855, 0.853, 0.85, 0.851, 0.848, 0.846, 0.845, 0.842, 0.84,
];

fn keras_run(store: &Store) -> String {
    let run = store
        .create_run(CreateRun {
            experiment_id: "0".into(),
            run_name: Some("keras-cnn".into()),
            ..CreateRun::default()
        })
        .unwrap();
    let run_id = run.info.run_id;
    // What mlflow.tensorflow.autolog() records as params.
    let params: Vec<Param> = [
        ("epochs", "14"),
        ("batch_size", "32"),
        ("opt_name", "Adam"),
        ("opt_learning_rate", "0.001"),
    ]
    .into_iter()
    .map(|(key, value)| Param {
        key: key.into(),
        value: value.into(),
    })
    .collect();
    store.log_batch(&run_id, &[], &params, &[]).unwrap();
    // One log-batch per epoch, as the autolog callback sends them.
    for epoch in 0..LOSS.len() {
        let metrics: Vec<Metric> = [
            ("loss", LOSS[epoch]),
            ("accuracy", ACCURACY[epoch]),
            ("val_loss", VAL_LOSS[epoch]),
            ("val_accuracy", VAL_ACCURACY[epoch]),
        ]
        .into_iter()
        .map(|(key, value)| Metric {
            key: key.into(),
            value,
            timestamp: 1_700_000_000_000 + epoch as i64 * 1000,
            step: epoch as i64,
        })
        .collect();
        store.log_batch(&run_id, &metrics, &[], &[]).unwrap();
    }
    run_id
}

#[test]
fn a_keras_run_logged_through_mlflow_is_analysed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("mlflow.db")).unwrap();
    let run_id = keras_run(&store);
    let analysis = analyze_stored_run(&store, &run_id, &AnalysisConfig::default()).unwrap();

    assert_eq!(analysis.metrics.train_loss.as_deref(), Some("loss"));
    assert_eq!(analysis.metrics.train_acc.as_deref(), Some("accuracy"));
    assert_eq!(analysis.metrics.val_acc.as_deref(), Some("val_accuracy"));
    assert_eq!(analysis.gap_basis, GapBasis::RunningTrain);
    assert_eq!(analysis.epochs, 14);
    assert_eq!(
        analysis.verdict.label(),
        "overfitting",
        "{}",
        analysis.summary
    );
    assert_eq!(analysis.onset_epoch, Some(5));
    assert_eq!(analysis.best.epoch, 5);
    let final_loss_gap = analysis.final_loss_gap.unwrap();
    assert!((final_loss_gap - (0.61 - 0.11)).abs() < 1e-9);
    let final_acc_gap = analysis.final_acc_gap.unwrap();
    assert!((final_acc_gap - (0.96 - 0.84)).abs() < 1e-9);
    // No augmentation/dropout params in an autologged run: nothing is guessed.
    assert!(analysis.causes.iter().all(|c| !c.config_key.is_empty()));
}

#[test]
fn monitoring_val_accuracy_picks_its_best_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("mlflow.db")).unwrap();
    let run_id = keras_run(&store);
    let config = AnalysisConfig {
        monitor: tracker::analysis::Monitor::ValAcc,
        ..AnalysisConfig::default()
    };
    let analysis = analyze_stored_run(&store, &run_id, &config).unwrap();
    assert_eq!(analysis.best.metric, "val_accuracy");
    assert_eq!(analysis.best.epoch, 5);
    assert!((analysis.best.value - 0.855).abs() < 1e-12);
}

#[test]
fn an_unknown_run_is_reported_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("mlflow.db")).unwrap();
    let error = analyze_stored_run(
        &store,
        "0123456789abcdef0123456789abcdef",
        &AnalysisConfig::default(),
    )
    .unwrap_err();
    assert_eq!(error.error_code(), "RESOURCE_DOES_NOT_EXIST");
    assert!(
        error
            .to_string()
            .contains("0123456789abcdef0123456789abcdef")
    );
}

/// The analysis runs in the `insight` crate, with its own error type: a stored run it cannot
/// analyse must still be the caller's mistake to the tracker (`INVALID_PARAMETER_VALUE`, a 400
/// from the daemon), not an internal error, with the analysis's message unchanged.
#[test]
fn a_stored_run_without_validation_loss_is_an_invalid_parameter_naming_what_it_has() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("mlflow.db")).unwrap();
    let run_id = store
        .create_run(CreateRun {
            experiment_id: "0".into(),
            ..CreateRun::default()
        })
        .unwrap()
        .info
        .run_id;
    let point = Metric {
        key: "loss".into(),
        value: 0.5,
        timestamp: 0,
        step: 0,
    };
    store.log_batch(&run_id, &[point], &[], &[]).unwrap();
    let error = analyze_stored_run(&store, &run_id, &AnalysisConfig::default()).unwrap_err();
    assert_eq!(error.error_code(), "INVALID_PARAMETER_VALUE");
    assert!(error.is_client_error());
    let message = error.to_string();
    assert!(
        message.contains(&run_id)
            && message.contains("val_loss")
            && message.contains("it has: loss"),
        "{message}"
    );
}
