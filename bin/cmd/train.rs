//! `track train`: train a CNN from a run config and record the run.

use std::path::PathBuf;
use std::process::ExitCode;

use tracker::client::table::{Cell, Table};
use trainer::config::RunConfig;
use trainer::fit::{CONFIG_ARTIFACT, FitSummary};
use trainer::report::RunStatus;

use crate::common::reporter::TrackerReporter;
use crate::common::training::{
    EXIT_KILLED, TrainOptions, checkpoint_dir, fail_run, prepare, size_set, train_with,
};
use crate::common::{GlobalArgs, OutputArgs};

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
    // `--format`/`--json`: `table` prints the per-epoch table and summary, `json` one object
    // (summary and epochs), `csv` the per-epoch table.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Runs `track train`: 0 when the run finished, 130 when Ctrl-C stopped it, 2 on an error.
///
/// A setup that cannot train (a missing or empty data path, fewer than two classes, an invalid
/// config) is refused before a run is recorded.
pub fn run(args: TrainArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    trainer::device::parse_device(&args.device)?;
    let uri = global.tracking_uri();
    let client = global.open_client()?;
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
    args.output.print(
        &summary_json(&run_id, &uri, &summary),
        false,
        || epochs_table(&summary),
        |_| {
            print_summary(&run_id, &uri, &summary);
            Ok(())
        },
    )?;
    Ok(match summary.status {
        RunStatus::Killed => ExitCode::from(EXIT_KILLED),
        _ => ExitCode::SUCCESS,
    })
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

/// The per-epoch history: the epoch, then every metric in the order it is logged.
fn epochs_table(s: &FitSummary) -> Table {
    let names = s.history.first().map(|m| m.pairs()).unwrap_or_default();
    Table {
        columns: std::iter::once("epoch".to_string())
            .chain(names.iter().map(|(name, _)| name.to_string()))
            .collect(),
        rows: s
            .history
            .iter()
            .map(|m| {
                std::iter::once(Cell::Int(m.epoch as i64))
                    .chain(m.pairs().into_iter().map(|(_, value)| Cell::Float(value)))
                    .collect()
            })
            .collect(),
    }
}

/// A column of the summary table: a metric of [`trainer::fit::EpochMetrics::NAMES`], its
/// header, its width and how its value is written.
type SummaryColumn = (&'static str, &'static str, usize, fn(f64) -> String);

/// The summary table's columns after the epoch, in order.
const SUMMARY_COLUMNS: [SummaryColumn; 9] = [
    ("train_loss", "train_loss", 10, fixed::<4>),
    ("train_acc", "train_acc", 9, fixed::<4>),
    ("train_eval_loss", "train_eval_loss", 15, fixed::<4>),
    ("train_eval_acc", "train_eval_acc", 14, fixed::<4>),
    ("val_loss", "val_loss", 9, fixed::<4>),
    ("val_acc", "val_acc", 8, fixed::<4>),
    ("lr", "lr", 9, |v| format!("{v:.2e}")),
    ("epoch_secs", "secs", 7, fixed::<1>),
    ("images_per_sec", "img/s", 7, fixed::<0>),
];

/// `v` with `DECIMALS` digits after the point.
fn fixed<const DECIMALS: usize>(v: f64) -> String {
    format!("{v:.DECIMALS$}")
}

fn print_summary(run_id: &str, uri: &str, s: &FitSummary) {
    let header: Vec<String> = SUMMARY_COLUMNS
        .iter()
        .map(|(_, header, width, _)| format!("{header:>width$}"))
        .collect();
    println!("{:>5} {}", "epoch", header.join(" "));
    for m in &s.history {
        let cells: Vec<String> = SUMMARY_COLUMNS
            .iter()
            .map(|(name, _, width, write)| {
                let value = m.get(name).map_or_else(String::new, write);
                format!("{value:>width$}")
            })
            .collect();
        println!("{:>5} {}", m.epoch, cells.join(" "));
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
