//! `track train`: train a CNN from a run config and record the run.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::Context;
use indicatif::ProgressBar;
use tracker::client::Client;
use trainer::checkpoint;
use trainer::config::RunConfig;
use trainer::fit::{
    CONFIG_ARTIFACT, EpochMetrics, FitOptions, FitSummary, Plan, Prepared, Progress,
};
use trainer::report::RunStatus;

use crate::GlobalArgs;
use crate::reporter::TrackerReporter;

/// Exit status of a run stopped by Ctrl-C (128 + SIGINT, as shells report it).
pub const EXIT_KILLED: u8 = 130;

/// Flags of `track train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Run config (TOML; see examples/run.toml). Without it: the defaults, i.e. the reference
    /// CNN on the bundled Fashion-MNIST subset.
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Override a config key after the file is read, e.g. `--set optim.learning_rate=0.01`
    /// (repeatable; the value is TOML, a bare word is a string).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Side of the model's input in pixels: short for `--set transforms.size=N` (default: the
    /// native size of IDX data, 64 for image files).
    #[arg(long, value_name = "PIXELS")]
    pub size: Option<u32>,
    /// Device: `cpu`, `cuda` or `cuda:N` (CUDA needs a build with `--features cuda`).
    #[arg(long, default_value = "cpu", env = "TRACK_DEVICE")]
    pub device: String,
    /// Experiment the run is recorded under (created if missing).
    #[arg(long, default_value = "Default", env = "TRACK_EXPERIMENT")]
    pub experiment: String,
    /// Name of the run (the tracker picks one when absent).
    #[arg(long)]
    pub run_name: Option<String>,
    /// Continue the stopped run RUN (its id) from its last checkpoint, with its recorded config
    /// (`--config` and `--set` are not allowed with it).
    #[arg(long, value_name = "RUN", conflicts_with_all = ["config", "sets", "size"])]
    pub resume: Option<String>,
    /// Local working directory of checkpoints (uploaded to the run's artifacts as they are
    /// written). Default: a per-run folder under the system temp directory.
    #[arg(long, value_name = "DIR", env = "TRACK_CHECKPOINT_DIR")]
    pub checkpoint_dir: Option<PathBuf>,
    /// Print the summary as JSON on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `--size N` as the override it is short for.
pub fn size_set(size: Option<u32>) -> Option<String> {
    size.map(|n| format!("transforms.size={n}"))
}

/// Runs `track train`: 0 when the run finished, 130 when Ctrl-C stopped it, 2 on an error.
///
/// A setup that cannot train (a missing or empty data path, fewer than two classes, an invalid
/// config) is refused before a run is recorded.
pub fn run(args: TrainArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    trainer::device::parse_device(&args.device)?;
    let uri = global.tracking_uri();
    let client = Client::open(&uri).with_context(|| format!("tracking URI {uri}"))?;
    let options = TrainOptions {
        device: args.device.clone(),
        checkpoint_root: args.checkpoint_dir.clone(),
        resume: args.resume.is_some(),
        quiet: global.quiet,
    };
    let (prepared, reporter) = match &args.resume {
        None => {
            let mut sets = args.sets.clone();
            sets.extend(size_set(args.size));
            let config = RunConfig::load(args.config.as_deref(), &sets)?;
            let prepared = prepare(&config, &options)?;
            let reporter =
                TrackerReporter::start(&client, &args.experiment, args.run_name.as_deref())?;
            (prepared, reporter)
        }
        Some(run_id) => {
            let reporter = TrackerReporter::resume(&client, run_id)?;
            let dir = checkpoint_dir(args.checkpoint_dir.as_deref(), run_id);
            let path = reporter.download(CONFIG_ARTIFACT, &dir)?;
            let prepared = RunConfig::load(Some(&path), &[])
                .map_err(anyhow::Error::from)
                .and_then(|config| prepare(&config, &options));
            match prepared {
                Ok(prepared) => (prepared, reporter),
                Err(error) => {
                    fail_run(reporter, &error);
                    return Err(error);
                }
            }
        }
    };
    if !global.quiet {
        eprintln!("run {} at {uri}", reporter.run_id());
    }
    let (run_id, summary) = train_with(prepared, reporter, &options)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summary_json(&run_id, &uri, &summary))?
        );
    } else {
        print_summary(&run_id, &uri, &summary);
    }
    Ok(match summary.status {
        RunStatus::Killed => ExitCode::from(EXIT_KILLED),
        _ => ExitCode::SUCCESS,
    })
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
    let prepared = trainer::fit::prepare(config, &device)?;
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
fn fail_run(mut reporter: TrackerReporter, error: &anyhow::Error) {
    let status = RunStatus::Failed {
        error: format!("{error:#}"),
    };
    if let Err(report_error) = trainer::report::Reporter::finish(&mut reporter, &status) {
        tracing::warn!(error = %report_error, "could not record the FAILED status");
    }
}

fn checkpoint_dir(root: Option<&Path>, run_id: &str) -> PathBuf {
    root.map_or_else(
        || std::env::temp_dir().join("gapwatch-runs"),
        Path::to_path_buf,
    )
    .join(run_id)
}

fn train_with(
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
    crate::reporter::remove_uploaded_checkpoints(
        &fit_options.artifact_dir,
        options.checkpoint_root.is_none(),
    );
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
        let bar = crate::progress::bar(batches as u64, self.quiet);
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

fn summary_json(run_id: &str, uri: &str, s: &FitSummary) -> serde_json::Value {
    let epochs: Vec<serde_json::Value> = s
        .history
        .iter()
        .map(|m| {
            let mut object = serde_json::Map::new();
            object.insert("epoch".into(), m.epoch.into());
            for (name, value) in m.pairs() {
                object.insert(name.into(), value.into());
            }
            serde_json::Value::Object(object)
        })
        .collect();
    serde_json::json!({
        "run_id": run_id,
        "tracking_uri": uri,
        "status": s.status.as_str(),
        "num_params": s.num_params,
        "train_size": s.train_size,
        "classes": s.classes,
        "best_epoch": s.best.map(|(epoch, _)| epoch),
        "best_value": s.best.map(|(_, value)| value),
        "stopped_early": s.stopped_early,
        "test_loss": s.test.map(|t| t.loss),
        "test_acc": s.test.map(|t| t.acc),
        "epochs": epochs,
    })
}

fn print_summary(run_id: &str, uri: &str, s: &FitSummary) {
    println!(
        "{:>5} {:>10} {:>9} {:>15} {:>14} {:>9} {:>8} {:>9} {:>7} {:>7}",
        "epoch",
        "train_loss",
        "train_acc",
        "train_eval_loss",
        "train_eval_acc",
        "val_loss",
        "val_acc",
        "lr",
        "secs",
        "img/s"
    );
    for m in &s.history {
        println!(
            "{:>5} {:>10.4} {:>9.4} {:>15.4} {:>14.4} {:>9.4} {:>8.4} {:>9.2e} {:>7.1} {:>7.0}",
            m.epoch,
            m.train_loss,
            m.train_acc,
            m.train_eval_loss,
            m.train_eval_acc,
            m.val_loss,
            m.val_acc,
            m.lr,
            m.epoch_secs,
            m.images_per_sec
        );
    }
    if let Some((epoch, value)) = s.best {
        let stop = if s.stopped_early {
            " (stopped early)"
        } else {
            ""
        };
        println!("best epoch {epoch}: {value:.4}{stop}");
    }
    if let Some(t) = s.test {
        println!(
            "test_loss {:.4}  test_acc {:.4}  ({} images)",
            t.loss, t.acc, t.images
        );
    }
    println!(
        "{} params, {} training images, {} classes",
        s.num_params, s.train_size, s.classes
    );
    println!("run {run_id} {} at {uri}", s.status.as_str());
}
