//! `track stats`: per-channel mean/std of a data set's training split (cached per data set).

use std::process::ExitCode;

use pipeline::Dataset;
use pipeline::config::LoaderConfig;

use crate::GlobalArgs;
use crate::cmd::pipeline::DataArgs;

/// Flags of `track stats`.
#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Recompute even when cached.
    #[arg(long)]
    no_cache: bool,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Runs `track stats`.
pub fn run(args: StatsArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let config = args.data.resolve()?;
    let dataset = Dataset::open(&config.data)?;
    let workers = LoaderConfig::workers(config.loader.decode_workers);
    let stats = if args.no_cache {
        pipeline::stats::compute_uncached(&dataset, workers)?
    } else {
        pipeline::stats::compute(&dataset, workers)?
    };
    if args.json {
        println!("{}", serde_json::to_string(&stats)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{}: training split, {} images, {} pixels per channel, {} skipped",
        dataset.path().display(),
        stats.images,
        stats.pixels,
        stats.skipped
    );
    let names: &[&str] = if stats.mean.len() == 1 {
        &["gray"]
    } else {
        &["red", "green", "blue"]
    };
    println!("{:<8} {:>9} {:>9}", "channel", "mean", "std");
    for ((name, m), s) in names.iter().zip(&stats.mean).zip(&stats.std) {
        println!("{name:<8} {m:>9.4} {s:>9.4}");
    }
    Ok(ExitCode::SUCCESS)
}
