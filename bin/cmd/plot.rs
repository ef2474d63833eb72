//! `track plot`: training and validation curves of one or more runs, as PNG or SVG.

use std::path::PathBuf;
use std::process::ExitCode;

use tracker::plot::{PlotRun, PlotSize, plot_runs};

use crate::common::GlobalArgs;
use crate::common::analysis::{MetricArgs, display_name, load};

/// Flags of `track plot`.
#[derive(Debug, clap::Args)]
pub struct PlotArgs {
    /// The runs to overlay: ids, or names when unique.
    #[arg(required = true)]
    pub runs: Vec<String>,
    /// The image to write: `.png` or `.svg`.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Width in pixels.
    #[arg(long, default_value_t = tracker::plot::DEFAULT_WIDTH_PX)]
    pub width: u32,
    /// Height in pixels.
    #[arg(long, default_value_t = tracker::plot::DEFAULT_HEIGHT_PX)]
    pub height: u32,
    #[command(flatten)]
    pub metrics: MetricArgs,
}

/// Runs `track plot`.
pub fn run(args: PlotArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let config = args.metrics.config()?;
    let client = global.open_client()?;
    let loaded = args
        .runs
        .iter()
        .map(|r| load(&client, r, &config))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let names: Vec<String> = loaded.iter().map(|(run, _)| display_name(run)).collect();
    let runs: Vec<PlotRun<'_>> = loaded
        .iter()
        .zip(&names)
        .map(|((_, analysis), label)| PlotRun { label, analysis })
        .collect();
    let size = PlotSize {
        width_px: args.width,
        height_px: args.height,
    };
    plot_runs(&runs, &args.out, size)?;
    if !global.quiet {
        eprintln!("wrote {}", args.out.display());
    }
    Ok(ExitCode::SUCCESS)
}
