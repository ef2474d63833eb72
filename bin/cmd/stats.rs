//! `track stats`: per-channel mean/std of a data set's training split (cached per data set).

use std::process::ExitCode;

use pipeline::Dataset;
use pipeline::config::LoaderConfig;
use tracker::client::table::Cell;

use crate::common::data::DataArgs;
use crate::common::output::table;
use crate::common::{GlobalArgs, OutputArgs};

/// Flags of `track stats`.
#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Recompute even when cached.
    #[arg(long)]
    no_cache: bool,
    // `--format`/`--json`: `table` prints the statistics as text, `json` one JSON object (one
    // line), `csv` one row per channel.
    #[command(flatten)]
    output: OutputArgs,
}

/// Runs `track stats`.
pub fn run(args: StatsArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let config = args.data.resolve()?;
    let dataset = Dataset::open(&config.data)?;
    let workers = LoaderConfig::workers(config.loader.decode_workers);
    let stats = if args.no_cache {
        pipeline::normalize::compute_uncached(&dataset, workers)?
    } else {
        pipeline::normalize::compute(&dataset, workers, config.loader.cache_dir.as_deref())?
    };
    let names: &[&str] = if stats.mean.len() == 1 {
        &["gray"]
    } else {
        &["red", "green", "blue"]
    };
    let channels = || names.iter().zip(&stats.mean).zip(&stats.std);
    args.output.print(
        &stats,
        true,
        || {
            table(
                ["channel", "mean", "std"],
                channels().map(|((name, m), s)| {
                    [
                        Cell::Text((*name).to_string()),
                        Cell::Float(*m),
                        Cell::Float(*s),
                    ]
                }),
            )
        },
        |out| {
            writeln!(
                out,
                "{}: training split, {} images, {} pixels per channel, {} skipped",
                dataset.path().display(),
                stats.images,
                stats.pixels,
                stats.skipped
            )?;
            writeln!(out, "{:<8} {:>9} {:>9}", "channel", "mean", "std")?;
            for ((name, m), s) in channels() {
                writeln!(out, "{name:<8} {m:>9.4} {s:>9.4}")?;
            }
            Ok(())
        },
    )?;
    Ok(ExitCode::SUCCESS)
}
