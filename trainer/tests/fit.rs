//! The fit loop on the bundled Fashion-MNIST subset (small limits, a small CNN): learning,
//! early stopping, determinism, interruption, resume and failure, as a run records them.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{Device, ModuleT};
use candle_nn::VarMap;
use pipeline::{Dataset, Loader, Split};
use trainer::config::RunConfig;
use trainer::fit::{EpochMetrics, FitOptions, NoProgress, fit};
use trainer::model::{Cnn, InputShape, trainable_vars};
use trainer::optim::{Optimizer, correct_count, cross_entropy};
use trainer::report::{MemoryReporter, ReportError, Reporter, RunStatus};
use trainer::tensor::batch_to_tensors;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/fashion-mnist-mini");

/// Metrics that measure time, not learning: excluded from equality checks.
const TIMING: [&str; 3] = ["epoch_secs", "images_per_sec", "data_wait_secs"];

/// A small, quick run: 256 samples per split, a one-block CNN.
fn small_config(extra: &[&str]) -> Result<RunConfig, trainer::Error> {
    let mut sets: Vec<String> = vec![
        format!("data.path={DATA:?}"),
        "data.limit=256".into(),
        "model.conv_channels=[8]".into(),
        "model.dense_units=[32]".into(),
        "train.epochs=2".into(),
        "loader.decode_workers=1".into(),
        "loader.augment_workers=1".into(),
    ];
    sets.extend(extra.iter().map(|s| s.to_string()));
    RunConfig::from_toml_str("", "test", &sets)
}

fn learning_metrics(reporter: &MemoryReporter) -> Vec<(u64, String, f64)> {
    assert!(
        TIMING.iter().all(|name| EpochMetrics::NAMES.contains(name)),
        "{TIMING:?} are not all among {:?}",
        EpochMetrics::NAMES
    );
    reporter
        .metrics
        .iter()
        .filter(|(_, name, _)| !TIMING.contains(&name.as_str()))
        .cloned()
        .collect()
}

/// One fixed batch of real images (no augmentation) as tensors.
fn fixed_batch(
    size: usize,
) -> Result<(trainer::tensor::BatchTensors, InputShape), Box<dyn std::error::Error>> {
    let config = small_config(&[&format!("loader.batch_size={size}")])?;
    let dataset = Dataset::open(&config.data)?;
    let loader = Loader::eval(&dataset, Split::Val, &config.pipeline_config())?;
    let mut running = loader.epoch(0)?;
    let batch = running.next().ok_or("no batch")??;
    running.join()?;
    let [channels, height, width] = loader.shape();
    let input = InputShape {
        channels,
        height,
        width,
        classes: dataset.classes().len(),
    };
    Ok((
        batch_to_tensors(&batch, input.classes, &Device::Cpu)?,
        input,
    ))
}

#[test]
fn a_few_steps_lower_the_loss_and_a_fixed_batch_is_overfit() -> TestResult {
    let (batch, input) = fixed_batch(32)?;
    let config = small_config(&[
        "model.conv_dropout=0",
        "model.dense_dropout=0",
        "optim.learning_rate=0.003",
    ])?;
    let varmap = VarMap::new();
    let model = Cnn::new(&config.model, input, &varmap, &Device::Cpu, 1)?;
    let mut optimizer = Optimizer::new(trainable_vars(&varmap), &config.optim);
    let mut losses = Vec::new();
    for _ in 0..150 {
        let logits = model.forward_t(&batch.images, true)?;
        let loss = cross_entropy(&logits, &batch.labels, 0.0)?;
        losses.push(loss.to_scalar::<f32>()?);
        optimizer.backward_step(&loss)?;
        if correct_count(&model.forward_t(&batch.images, false)?, &batch.labels)? == batch.len {
            break;
        }
    }
    assert!(
        losses[5] < losses[0],
        "five steps did not lower the loss: {losses:?}"
    );
    let correct = correct_count(&model.forward_t(&batch.images, false)?, &batch.labels)?;
    assert_eq!(
        correct,
        batch.len,
        "not overfit after {} steps, losses {losses:?}",
        losses.len()
    );
    Ok(())
}

#[test]
fn a_run_records_every_metric_per_epoch_and_the_test_split() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = small_config(&[])?;
    let mut reporter = MemoryReporter::default();
    let summary = fit(
        &config,
        &mut reporter,
        &mut NoProgress,
        &FitOptions::new(dir.path()),
    )?;
    assert_eq!(reporter.status, Some(RunStatus::Finished));
    assert_eq!(summary.history.len(), 2);
    for name in EpochMetrics::NAMES {
        let series = reporter.series(name);
        assert_eq!(
            series.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            vec![1, 2],
            "{name}"
        );
        assert!(
            series.iter().all(|(_, v)| v.is_finite() && *v >= 0.0),
            "{name}: {series:?}"
        );
    }
    assert_eq!(reporter.series("test_acc").len(), 1);
    assert_eq!(reporter.param("optim.optimizer"), Some("adam"));
    assert_eq!(
        reporter.param("num_params"),
        Some(summary.num_params.to_string().as_str())
    );
    assert_eq!(reporter.param("train_size"), Some("256"));
    assert_eq!(reporter.param("num_classes"), Some("10"));
    assert_eq!(reporter.param("device"), Some("cpu"));
    assert!(
        reporter
            .tags
            .iter()
            .any(|(k, v)| k == "gapwatch.config" && v.contains("[optim]"))
    );
    assert!(dir.path().join(trainer::checkpoint::BEST_WEIGHTS).is_file());
    assert!(
        reporter
            .artifacts
            .iter()
            .any(|(name, _)| name == trainer::checkpoint::LAST_WEIGHTS)
    );
    Ok(())
}

#[test]
fn early_stopping_stops_after_patience_and_restores_the_best_weights() -> TestResult {
    let dir = tempfile::tempdir()?;
    // No later epoch can beat the first by 10: stop after epoch 1 + patience 1.
    let config = small_config(&[
        "train.epochs=5",
        "early_stopping.patience_epochs=1",
        "early_stopping.min_delta=10.0",
    ])?;
    let mut reporter = MemoryReporter::default();
    let summary = fit(
        &config,
        &mut reporter,
        &mut NoProgress,
        &FitOptions::new(dir.path()),
    )?;
    assert!(summary.stopped_early);
    assert_eq!(summary.history.len(), 2);
    assert_eq!(summary.best.map(|(epoch, _)| epoch), Some(1));
    let final_val = summary.final_val.ok_or("no final validation")?;
    let best = &summary.history[0];
    assert!(
        (final_val.loss - best.val_loss).abs() < 1e-6,
        "{final_val:?} vs {best:?}"
    );
    assert!((final_val.acc - best.val_acc).abs() < 1e-9);
    assert!(
        (summary.history[1].val_loss - best.val_loss).abs() > 1e-6,
        "epoch 2 changed nothing"
    );
    assert_eq!(reporter.series("best_epoch"), vec![(2, 1.0)]);
    Ok(())
}

#[test]
fn the_same_seed_gives_the_same_metrics() -> TestResult {
    let config = small_config(&["train.epochs=1"])?;
    let run = || -> Result<MemoryReporter, Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let mut reporter = MemoryReporter::default();
        fit(
            &config,
            &mut reporter,
            &mut NoProgress,
            &FitOptions::new(dir.path()),
        )?;
        Ok(reporter)
    };
    let (a, b) = (learning_metrics(&run()?), learning_metrics(&run()?));
    assert_eq!(a.len(), b.len());
    for ((sa, na, va), (sb, nb, vb)) in a.iter().zip(&b) {
        assert_eq!((sa, na), (sb, nb));
        assert!((va - vb).abs() <= 1e-6, "{na}: {va} vs {vb}");
    }
    Ok(())
}

/// Sets the interrupt flag once `after_epochs` epochs have been recorded (as Ctrl-C would).
struct InterruptAfter {
    inner: MemoryReporter,
    flag: Arc<AtomicBool>,
    after_epochs: u64,
}

impl Reporter for InterruptAfter {
    fn log_params(&mut self, params: &[(String, String)]) -> Result<(), ReportError> {
        self.inner.log_params(params)
    }
    fn set_tags(&mut self, tags: &[(String, String)]) -> Result<(), ReportError> {
        self.inner.set_tags(tags)
    }
    fn log_metrics(&mut self, step: u64, metrics: &[(&str, f64)]) -> Result<(), ReportError> {
        if step >= self.after_epochs {
            self.flag.store(true, Ordering::SeqCst);
        }
        self.inner.log_metrics(step, metrics)
    }
    fn log_artifact(&mut self, name: &str, path: &Path) -> Result<(), ReportError> {
        self.inner.log_artifact(name, path)
    }
    fn finish(&mut self, status: &RunStatus) -> Result<(), ReportError> {
        self.inner.finish(status)
    }
}

#[test]
fn an_interrupted_run_is_killed_with_its_metrics_and_resumes_exactly() -> TestResult {
    let config = small_config(&["train.epochs=2", "early_stopping.enabled=false"])?;
    // Uninterrupted reference.
    let full_dir = tempfile::tempdir()?;
    let mut full = MemoryReporter::default();
    fit(
        &config,
        &mut full,
        &mut NoProgress,
        &FitOptions::new(full_dir.path()),
    )?;

    // Interrupted during epoch 2.
    let dir = tempfile::tempdir()?;
    let mut options = FitOptions::new(dir.path());
    let mut killed = InterruptAfter {
        inner: MemoryReporter::default(),
        flag: Arc::clone(&options.interrupt),
        after_epochs: 1,
    };
    let summary = fit(&config, &mut killed, &mut NoProgress, &options)?;
    assert_eq!(killed.inner.status, Some(RunStatus::Killed));
    assert_eq!(summary.status, RunStatus::Killed);
    assert_eq!(
        killed.inner.series("val_loss").len(),
        1,
        "epoch 1's metrics are kept, nothing after"
    );
    assert!(killed.inner.series("test_acc").is_empty());
    assert!(
        dir.path().join(trainer::checkpoint::BEST_WEIGHTS).is_file(),
        "best checkpoint kept"
    );

    // Resume: epoch 2 equals the uninterrupted run's epoch 2.
    options.interrupt.store(false, Ordering::SeqCst);
    options.resume = true;
    let mut resumed = MemoryReporter::default();
    fit(&config, &mut resumed, &mut NoProgress, &options)?;
    assert_eq!(resumed.status, Some(RunStatus::Finished));
    let epoch2 = |r: &MemoryReporter| -> Vec<(String, f64)> {
        learning_metrics(r)
            .into_iter()
            .filter(|(s, _, _)| *s == 2)
            .map(|(_, n, v)| (n, v))
            .collect()
    };
    let (want, got) = (epoch2(&full), epoch2(&resumed));
    assert_eq!(want.len(), got.len());
    for ((n, a), (_, b)) in want.iter().zip(&got) {
        assert!(
            (a - b).abs() <= 1e-6,
            "{n}: uninterrupted {a} vs resumed {b}"
        );
    }
    Ok(())
}

#[test]
fn a_failing_run_is_recorded_failed_with_the_error() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = small_config(&["data.path=\"/nonexistent/gapwatch-data\""])?;
    let mut reporter = MemoryReporter::default();
    let err = fit(
        &config,
        &mut reporter,
        &mut NoProgress,
        &FitOptions::new(dir.path()),
    )
    .unwrap_err();
    match reporter.status {
        Some(RunStatus::Failed { error }) => {
            assert!(error.contains("gapwatch-data"), "{error} / {err}")
        }
        other => panic!("status {other:?}"),
    }
    Ok(())
}
