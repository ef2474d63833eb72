//! `track analyze`: says whether a run overfit, from which epoch, and what to change.

use std::process::ExitCode;

use crate::common::analysis::{MetricArgs, display_name, load};
use crate::common::render::{epoch_table, print_analysis};
use crate::common::{GlobalArgs, OutputArgs};

/// Flags of `track analyze`.
#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// The run: its id, or its name when that is unique.
    pub run: String,
    // `--format`/`--json`: `table` prints the analysis as text, `json` the analysis (the API's
    // shape), `csv` its per-epoch table.
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub metrics: MetricArgs,
}

/// Runs `track analyze`.
pub fn run(args: AnalyzeArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let config = args.metrics.config()?;
    let client = global.open_client()?;
    let (run, analysis) = load(&client, &args.run, &config)?;
    args.output.print(
        &analysis,
        false,
        || {
            // The text table leaves the best/onset column unnamed; a CSV header names it.
            let mut table = epoch_table(&analysis);
            for name in table.columns.iter_mut().filter(|n| n.is_empty()) {
                *name = "mark".into();
            }
            table
        },
        |mut out| print_analysis(&mut out, &display_name(&run), &analysis),
    )?;
    Ok(ExitCode::SUCCESS)
}
