//! Training a run and recording it: what `track train`, `track sweep` and `track demo` share
//! (the plan shown before a run, the Ctrl-C flag, progress bars, checkpoints, the FAILED record).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::Context;
use indicatif::ProgressBar;
use tracker::client::Client;
use trainer::checkpoint;
use trainer::config::RunConfig;
use trainer::fit::{EpochMetrics, FitOptions, FitSummary, Plan, Prepared, Progress};
use trainer::report::RunStatus;

use super::reporter::{TrackerReporter, remove_uploaded_checkpoints};

/// Exit status of a run stopped by Ctrl-C (128 + SIGINT, as shells report it).
pub const EXIT_KILLED: u8 = 130;

/// `--size N` as the override it is short for.
pub fn size_set(size: Option<u32>) -> Option<String> {
    size.map(|n| format!("transforms.size={n}"))
}

/// How to train, besides the config: what `track train`'s flags say.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// `cpu`, `cuda` or `cuda:N`.
    pub device: String,
    /// Local folder of per-run checkpoint folders; default: the system temp directory.
    pub checkpoint_root: Option<PathBuf>,
    /// Continue the run from its last checkpoint.
    pub resume: bool,
    /// No progress bars or per-epoch lines.
    pub quiet: bool,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            device: "cpu".into(),
            checkpoint_root: None,
            resume: false,
            quiet: false,
        }
    }
}

/// Trains `config` as a new run of `experiment` (`track sweep` and `track demo` call this);
/// returns the run id and what the fit did. Ctrl-C stops the run (status KILLED). A setup that
/// cannot train is refused before the run is recorded.
pub fn train_new_run(
    client: &Client,
    experiment: &str,
    run_name: Option<&str>,
    config: &RunConfig,
    options: &TrainOptions,
) -> anyhow::Result<(String, FitSummary)> {
    let prepared = prepare(config, options)?;
    let reporter = TrackerReporter::start(client, experiment, run_name)?;
    train_with(prepared, reporter, options)
}

/// Opens the data and sizes the model of `config`, then shows the plan (unless quiet) and its
/// warnings (always) on stderr.
pub fn prepare(config: &RunConfig, options: &TrainOptions) -> anyhow::Result<Prepared> {
    let device = trainer::device::parse_device(&options.device)?;
    let mut config = config.clone();
    config.loader.cache_dir = crate::cache_dir::resolve();
    let prepared = trainer::fit::prepare(&config, &device)?;
    let plan = prepared.plan();
    if !options.quiet {
        eprintln!("{}", describe_plan(plan));
    }
    for warning in &plan.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(prepared)
}

/// The plan in two lines: the data, then the model's input and size.
pub fn describe_plan(plan: &Plan) -> String {
    let test = if plan.test_size > 0 {
        format!(", {} test", plan.test_size)
    } else {
        String::new()
    };
    let input = plan.input;
    format!(
        "data: {} training, {} validation{test} images; {} classes\n\
         model: input {}x{}x{}, head {}, {} parameters ({:.0} per training image)",
        plan.train_size,
        plan.val_size,
        plan.class_names.len(),
        input.channels,
        input.height,
        input.width,
        plan.head.as_str(),
        plan.num_params,
        plan.params_per_image()
    )
}

/// Records a run that could not start as FAILED with `error`'s message.
pub fn fail_run(mut reporter: TrackerReporter, error: &anyhow::Error) {
    let status = RunStatus::Failed {
        error: format!("{error:#}"),
    };
    if let Err(report_error) = trainer::report::Reporter::finish(&mut reporter, &status) {
        tracing::warn!(error = %report_error, "could not record the FAILED status");
    }
}

/// The local checkpoint folder of run `run_id`: under `root`, else under the system temp
/// directory.
pub fn checkpoint_dir(root: Option<&Path>, run_id: &str) -> PathBuf {
    root.map_or_else(
        || std::env::temp_dir().join("gapwatch-runs"),
        Path::to_path_buf,
    )
    .join(run_id)
}

/// Fits a prepared run, reporting to `reporter`; records the run FAILED if training panics,
/// and removes the uploaded checkpoint copies when they were temporary.
pub fn train_with(
    prepared: Prepared,
    mut reporter: TrackerReporter,
    options: &TrainOptions,
) -> anyhow::Result<(String, FitSummary)> {
    let run_id = reporter.run_id().to_string();
    let device = prepared.device().clone();
    let artifact_dir = checkpoint_dir(options.checkpoint_root.as_deref(), &run_id);
    if options.resume {
        for name in [
            checkpoint::LAST_WEIGHTS,
            checkpoint::LAST_OPTIMIZER,
            checkpoint::LAST_STATE,
            checkpoint::BEST_WEIGHTS,
        ] {
            if !artifact_dir.join(name).is_file() {
                reporter.download(name, &artifact_dir)?;
            }
        }
    }
    let interrupt = interrupt_flag()?;
    let fit_options = FitOptions {
        device,
        artifact_dir,
        interrupt,
        resume: options.resume,
    };
    let mut bars = Bars::new(options.quiet);
    // A panic is a crash this process can see: record the run FAILED rather than leave it
    // RUNNING, then let the panic go on.
    let fitted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        trainer::fit::fit_prepared(prepared, &mut reporter, &mut bars, &fit_options)
    }));
    let summary = match fitted {
        Ok(result) => result.with_context(|| format!("run {run_id}"))?,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            fail_run(reporter, &anyhow::anyhow!("training panicked: {message}"));
            std::panic::resume_unwind(panic);
        }
    };
    remove_uploaded_checkpoints(&fit_options.artifact_dir, options.checkpoint_root.is_none());
    Ok((run_id, summary))
}

/// The process-wide interrupt flag, set by Ctrl-C (a second Ctrl-C exits at once).
pub fn interrupt_flag() -> anyhow::Result<Arc<AtomicBool>> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    if let Some(flag) = FLAG.get() {
        return Ok(Arc::clone(flag));
    }
    let flag = Arc::new(AtomicBool::new(false));
    let handler_flag = Arc::clone(&flag);
    ctrlc::set_handler(move || {
        if handler_flag.swap(true, Ordering::SeqCst) {
            std::process::exit(i32::from(EXIT_KILLED));
        }
        eprintln!("\ninterrupted: stopping at the next batch (Ctrl-C again to quit at once)");
    })
    .context("installing the Ctrl-C handler")?;
    Ok(Arc::clone(FLAG.get_or_init(|| flag)))
}

/// One progress bar per epoch: running loss, accuracy and images/s.
struct Bars {
    quiet: bool,
    bar: Option<ProgressBar>,
}

impl Bars {
    fn new(quiet: bool) -> Self {
        Self { quiet, bar: None }
    }
}

impl Progress for Bars {
    fn epoch_started(&mut self, epoch: usize, epochs: usize, batches: usize) {
        let bar = super::progress::bar(batches as u64, self.quiet);
        bar.set_prefix(format!("epoch {epoch}/{epochs}"));
        self.bar = Some(bar);
    }

    fn batch_finished(&mut self, batch: usize, loss: f64, acc: f64, images_per_sec: f64) {
        if let Some(bar) = &self.bar {
            bar.set_position(batch as u64);
            bar.set_message(format!(
                "loss {loss:.4} acc {acc:.4} {images_per_sec:.0} img/s"
            ));
        }
    }

    fn epoch_finished(&mut self, m: &EpochMetrics) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if !self.quiet {
            eprintln!(
                "epoch {:>3}  train_loss {:.4}  train_acc {:.4}  val_loss {:.4}  val_acc {:.4}  {:.1}s  {:.0} img/s",
                m.epoch,
                m.train_loss,
                m.train_acc,
                m.val_loss,
                m.val_acc,
                m.epoch_secs,
                m.images_per_sec
            );
        }
    }
}
