//! `track`: the gapwatch command line.
//!
//! Thin by design: every subcommand parses its flags, calls into the `pipeline`, `trainer` and
//! `tracker` crates, and prints. Exit status: 0 ok, 1 nothing found, 2 error, 130 Ctrl-C.
//!
//! # Layout
//! - `main`: the command line (global flags, one subcommand), logging, exit status.
//! - [`common::global`]: the global flags, the tracking URI and the one way to open a client.
//! - [`common::data`]: the data and pipeline config of `pipeline` and `stats`.
//! - [`common::reporter`]: the trainer's reporter over the tracking client.
//! - [`common::progress`]: progress bars.
//! - [`common::training`]: training one recorded run (`train`, `sweep`, `demo`).
//! - [`common::analysis`]: runs read back and analysed, the comparison of several.
//! - [`common::render`]: analyses and comparisons as text.
//! - [`common::output`]: the `--format table|csv|json` flag and printing in each format.
//! - [`cmd`]: one leaf module per subcommand, in the flow data → training → tracking →
//!   analysis: `pipeline`, `stats`, `train`, `daemon`, `query`, `show`, `runs`,
//!   `experiments`, `export`, `analyze`, `compare`, `plot`, `sweep`, `demo`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::common::GlobalArgs;

mod cache_dir;
mod cmd;
mod common;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Train image classifiers and find out, with evidence, whether and why they overfit.
#[derive(Debug, Parser)]
#[command(name = "track", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run only the data pipeline and report its throughput, bottleneck, skips and digest.
    Pipeline(cmd::pipeline::PipelineArgs),
    /// Per-channel mean/std of a data set's training split (cached per data set).
    Stats(cmd::stats::StatsArgs),
    /// Train a CNN and record the run.
    Train(cmd::train::TrainArgs),
    /// Serve the MLflow-compatible tracking API over a SQLite store.
    Daemon(cmd::daemon::DaemonArgs),
    /// List runs matching an MLflow search filter, with params and latest metrics.
    Query(cmd::query::QueryArgs),
    /// Show one run: params, tags, status and its per-epoch metric table.
    Show(cmd::show::ShowArgs),
    /// List recent runs.
    Runs(cmd::runs::RunsArgs),
    /// List experiments.
    Experiments(cmd::experiments::ExperimentsArgs),
    /// Export experiments as Hive-partitioned Parquet files.
    Export(cmd::export::ExportArgs),
    /// Say whether a run overfit, from which epoch, and what to change.
    Analyze(cmd::analyze::AnalyzeArgs),
    /// Compare runs: the params that differ, side by side with their outcomes.
    Compare(cmd::compare::CompareArgs),
    /// Plot training and validation curves of one or more runs.
    Plot(cmd::plot::PlotArgs),
    /// Train every combination of a grid of config values and rank the runs.
    Sweep(cmd::sweep::SweepArgs),
    /// Train a baseline and a regularized run on the bundled data, then analyse and compare them.
    Demo(cmd::demo::DemoArgs),
}

fn main() -> ExitCode {
    // SAFETY: the first statement of `main`: no other thread runs yet.
    #[allow(unsafe_code)]
    unsafe {
        trainer::device::keep_candle_elementwise_on_caller()
    };
    trainer::device::make_caller_a_rayon_worker();
    #[cfg(target_os = "linux")]
    no_transparent_huge_pages();
    let cli = Cli::parse();
    init_logging(&cli.global.log);
    let global = cli.global;
    let result = match cli.command {
        Command::Pipeline(args) => cmd::pipeline::run(args, &global),
        Command::Stats(args) => cmd::stats::run(args, &global),
        Command::Train(args) => cmd::train::run(args, &global),
        Command::Daemon(args) => cmd::daemon::run(args, &global),
        Command::Query(args) => cmd::query::run(args, &global),
        Command::Show(args) => cmd::show::run(args, &global),
        Command::Runs(args) => cmd::runs::run(args, &global),
        Command::Experiments(args) => cmd::experiments::run(args, &global),
        Command::Export(args) => cmd::export::run(args, &global),
        Command::Analyze(args) => cmd::analyze::run(args, &global),
        Command::Compare(args) => cmd::compare::run(args, &global),
        Command::Plot(args) => cmd::plot::run(args, &global),
        Command::Sweep(args) => cmd::sweep::run(args, &global),
        Command::Demo(args) => cmd::demo::run(args, &global),
    };
    match result {
        Ok(code) => code,
        // Output piped into `head` and the like: the reader has what it wanted; end quietly, as
        // ripgrep does.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Turns transparent huge pages off for this process, unless `MIMALLOC_ALLOW_THP` is set (then
/// mimalloc does as it says). mimalloc asks for huge pages, and the first touch of each costs
/// the kernel (on a virtual machine, its host too) 2 MiB of zeroing at once, also for memory a
/// thread touches only a corner of. Measured on the 2-core dev VM, each run after 8–10 s of
/// idleness: the bench photos' train chain (`track pipeline`, 2 epochs) ran at 1,184–1,444
/// images/s with 0.20–0.26 s of system time, against 646–705 with 1.75–1.94 s when huge pages
/// were allowed; `track train` on 500 photos, 3 epochs, took 3.9 s against 5.7; Fashion-MNIST
/// training stayed within its run-to-run noise.
#[cfg(target_os = "linux")]
fn no_transparent_huge_pages() {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
        return;
    }
    // SAFETY: PR_SET_THP_DISABLE only sets a flag of the calling process; no memory is touched.
    // A kernel without it (before 3.15) refuses, and huge pages stay as it sets them.
    #[allow(unsafe_code)]
    let _ = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
}

/// Whether `error` comes from writing to a closed pipe.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Log lines go to stderr, coloured only when stderr is a terminal (a pipe or a file gets plain
/// text).
fn init_logging(filter: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}
