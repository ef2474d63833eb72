//! `track demo`: on the bundled data, a baseline (no augmentation, no dropout, no weight decay,
//! no early stopping) and a regularized run; then both analyses, the comparison, how the cure did
//! against the baseline in standard errors, the plot, and how to open the runs in the dashboard.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use tracker::analysis::{Analysis, AnalysisConfig, DEFAULT_SIGNIFICANCE_SE};
use tracker::plot::{PlotRun, PlotSize, plot_runs};
use trainer::config::RunConfig;
use trainer::report::RunStatus;

use crate::common::GlobalArgs;
use crate::common::analysis::{comparison, display_name, load};
use crate::common::render::{print_analysis, print_comparison};
use crate::common::training::{EXIT_KILLED, TrainOptions, size_set, train_new_run};

/// Training images per run (a stratified subset of the bundled 10,000): few enough that the
/// reference CNN's baseline overfits within a few epochs, and that both runs train in minutes on
/// two cores.
pub const DEFAULT_DEMO_LIMIT: usize = 1000;
/// Epochs per run (the regularized run may stop early): the regularized run learns more slowly
/// and needs them; the baseline passes its best within the first ten.
pub const DEFAULT_DEMO_EPOCHS: usize = 30;

/// What both runs share: the reference CNN, small batches (more steps per epoch) at a brisk
/// rate, and the bundled test split as the validation set (as many images as the training set,
/// held out whole), so that the comparison's noise is as small as the data allows.
pub const COMMON_SETS: [&str; 3] = [
    "loader.batch_size=32",
    "optim.learning_rate=0.003",
    "data.val_source=test",
];

/// What the baseline turns off.
pub const BASELINE_SETS: [&str; 5] = [
    "transforms.augment=none",
    "model.conv_dropout=0",
    "model.dense_dropout=0",
    "optim.weight_decay=0",
    "early_stopping.enabled=false",
];

/// What the regularized run turns on.
pub const REGULARIZED_SETS: [&str; 7] = [
    "transforms.augment=standard",
    "model.conv_dropout=0.25",
    "model.dense_dropout=0.5",
    "optim.weight_decay=0.0005",
    "early_stopping.enabled=true",
    "early_stopping.patience_epochs=6",
    "early_stopping.restore_best_weights=true",
];

/// Flags of `track demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where the plot goes (`.png` or `.svg`).
    #[arg(long, short, default_value = "gapwatch-demo.png")]
    pub out: PathBuf,
    /// Training images per run (each split is limited to this many).
    #[arg(long, default_value_t = DEFAULT_DEMO_LIMIT)]
    pub limit: usize,
    /// Epochs per run.
    #[arg(long, default_value_t = DEFAULT_DEMO_EPOCHS)]
    pub epochs: usize,
    /// Extra config overrides for both runs, as `track train --set` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Side of the model's input in pixels: short for `--set transforms.size=N`.
    #[arg(long, value_name = "PIXELS")]
    pub size: Option<u32>,
    /// Experiment the two runs are recorded under.
    #[arg(long, default_value = "demo")]
    pub experiment: String,
    /// Device: `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "cpu", env = "TRACK_DEVICE")]
    pub device: String,
}

/// The config of one demo run: the common sets, then the run's own.
fn demo_config(args: &DemoArgs, own: &[&str]) -> anyhow::Result<RunConfig> {
    let mut sets = vec![
        format!("data.limit={}", args.limit),
        format!("train.epochs={}", args.epochs),
    ];
    // Run from anywhere: the bundled data of this checkout when the working directory has none.
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join(pipeline::config::DEFAULT_DATA_PATH);
    if !Path::new(pipeline::config::DEFAULT_DATA_PATH).exists() && bundled.exists() {
        sets.push(format!("data.path={:?}", bundled.display().to_string()));
    }
    sets.extend(COMMON_SETS.iter().chain(own).map(|s| s.to_string()));
    sets.extend(args.sets.iter().cloned());
    sets.extend(size_set(args.size));
    Ok(RunConfig::load(None, &sets)?)
}

/// How the regularized run generalized against the baseline, beyond the noise or not: the best
/// validation loss and accuracy of each, their difference and its size in standard errors of
/// the difference (each run's standard error at its best epoch).
pub fn cure_lines(baseline: &Analysis, regularized: &Analysis) -> Vec<String> {
    let mut lines = Vec::new();
    let z = |diff: f64, a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if a > 0.0 || b > 0.0 => Some(diff / (a * a + b * b).sqrt()),
        _ => None,
    };
    let judge = |z: Option<f64>, better: bool| match z {
        Some(z) if z.abs() < DEFAULT_SIGNIFICANCE_SE => "within the noise: no better, no worse",
        _ if better => "better beyond the noise",
        _ => "WORSE beyond the noise: this regularization generalizes worse than none",
    };
    let (b, r) = (&baseline.best, &regularized.best);
    let loss_diff = b.val_loss - r.val_loss;
    let loss_z = z(loss_diff, b.se, r.se);
    lines.push(format!(
        "regularized vs baseline, best validation loss: {:.4} vs {:.4}, {:.4} {} ({}): {}",
        r.val_loss,
        b.val_loss,
        loss_diff.abs(),
        if loss_diff >= 0.0 { "lower" } else { "higher" },
        loss_z.map_or("noise unknown".to_string(), |z| format!(
            "{:.1} standard errors of the difference",
            z.abs()
        )),
        judge(loss_z, loss_diff > 0.0)
    ));
    let acc_at = |a: &Analysis| {
        a.per_epoch
            .iter()
            .filter_map(|row| row.val_acc)
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
    };
    if let (Some(b_acc), Some(r_acc)) = (acc_at(baseline), acc_at(regularized)) {
        let diff = r_acc - b_acc;
        let acc_z = z(
            diff,
            baseline.noise.val_acc_se,
            regularized.noise.val_acc_se,
        );
        lines.push(format!(
            "regularized vs baseline, best validation accuracy: {:.2}% vs {:.2}%, {:+.2} points \
             ({}): {}",
            r_acc * 100.0,
            b_acc * 100.0,
            diff * 100.0,
            acc_z.map_or("noise unknown".to_string(), |z| format!(
                "{:.1} standard errors of the difference",
                z.abs()
            )),
            judge(acc_z, diff > 0.0)
        ));
    }
    lines
}

/// Runs `track demo`.
pub fn run(args: DemoArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let runs = [
        ("baseline", demo_config(&args, &BASELINE_SETS)?),
        ("regularized", demo_config(&args, &REGULARIZED_SETS)?),
    ];
    let uri = global.tracking_uri();
    let client = global.open_client()?;
    let options = TrainOptions {
        device: args.device.clone(),
        quiet: global.quiet,
        ..TrainOptions::default()
    };
    let mut run_ids = Vec::new();
    for (i, (name, config)) in runs.iter().enumerate() {
        if !global.quiet {
            eprintln!(
                "[{}/{}] training {name}: {} epochs on {} images",
                i + 1,
                runs.len(),
                args.epochs,
                args.limit
            );
        }
        let (run_id, summary) =
            train_new_run(&client, &args.experiment, Some(name), config, &options)?;
        if summary.status == RunStatus::Killed {
            // Ctrl-C: the run in progress is recorded KILLED; no further run starts.
            eprintln!("demo interrupted: run {name} recorded KILLED");
            return Ok(ExitCode::from(EXIT_KILLED));
        }
        run_ids.push(run_id);
    }
    let config = AnalysisConfig::default();
    let loaded = run_ids
        .iter()
        .map(|id| load(&client, id, &config))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut out = std::io::stdout().lock();
    for (run, analysis) in &loaded {
        print_analysis(&mut out, &display_name(run), analysis)?;
        writeln!(out)?;
    }
    print_comparison(&mut out, &comparison(&loaded))?;
    if let [(_, baseline), (_, regularized)] = loaded.as_slice() {
        writeln!(out)?;
        for line in cure_lines(baseline, regularized) {
            writeln!(out, "{line}")?;
        }
    }
    let names: Vec<String> = loaded.iter().map(|(run, _)| display_name(run)).collect();
    let plot: Vec<PlotRun<'_>> = loaded
        .iter()
        .zip(&names)
        .map(|((_, analysis), label)| PlotRun { label, analysis })
        .collect();
    plot_runs(&plot, &args.out, PlotSize::default())?;
    writeln!(
        out,
        "\nplot: {}\nruns recorded at {uri} (experiment {:?}); demo took {:.0} s",
        args.out.display(),
        args.experiment,
        started.elapsed().as_secs_f64()
    )?;
    if let Some((run, _)) = loaded.first() {
        writeln!(out, "{}", dashboard_hint(&uri, &run.info.experiment_id))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// How to open the demo's runs in the web dashboard: the daemon's own page when the runs went
/// to a daemon, else the `track daemon` command that serves the database, and the page then.
pub fn dashboard_hint(uri: &str, experiment_id: &str) -> String {
    let uri = uri.trim();
    if uri.starts_with("http://") || uri.starts_with("https://") {
        format!(
            "dashboard: open {}/#/experiments/{experiment_id}",
            uri.trim_end_matches('/')
        )
    } else {
        // Quoted for a POSIX shell when the path has anything but plain characters.
        let plain = |c: char| c.is_ascii_alphanumeric() || "/._-:+@%=,".contains(c);
        let arg = if uri.chars().all(plain) {
            uri.to_string()
        } else {
            format!("'{}'", uri.replace('\'', "'\\''"))
        };
        format!(
            "dashboard: run `track daemon --tracking-uri {arg}`, then open \
             http://{}/#/experiments/{experiment_id}",
            tracker::api::DEFAULT_ADDR
        )
    }
}

#[cfg(test)]
mod tests {
    use super::dashboard_hint;

    #[test]
    fn the_dashboard_hint_opens_a_daemons_runs_directly() {
        assert_eq!(
            dashboard_hint("http://10.0.0.5:5055/", "3"),
            "dashboard: open http://10.0.0.5:5055/#/experiments/3"
        );
    }

    #[test]
    fn the_dashboard_hint_serves_a_database_first_quoting_its_path() {
        assert_eq!(
            dashboard_hint("runs/track.db", "1"),
            "dashboard: run `track daemon --tracking-uri runs/track.db`, then open \
             http://127.0.0.1:5055/#/experiments/1"
        );
        assert!(
            dashboard_hint("/tmp/my runs/it's.db", "1")
                .contains("--tracking-uri '/tmp/my runs/it'\\''s.db'`")
        );
    }
}
