//! `track export`: experiments as Hive-partitioned Parquet files.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::query::{experiment_ids, open_client};
use crate::GlobalArgs;

/// Flags of `track export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Export only this experiment (by name); repeat for several. Default: every experiment.
    #[arg(long, short)]
    pub experiment: Vec<String>,
    /// Directory to write `experiment=<name>/{runs,params,metrics,epochs}.parquet` under.
    #[arg(long)]
    pub out: PathBuf,
    /// Print a JSON summary per experiment instead of a line of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `track export`.
pub fn run(args: ExportArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let client = open_client(global)?;
    let ids = experiment_ids(&client, &args.experiment)?;
    let summaries = tracker::export::export_with_client(&client, Some(&ids), &args.out)
        .with_context(|| format!("exporting to {}", args.out.display()))?;
    for summary in &summaries {
        if args.json {
            println!("{}", serde_json::to_string(summary)?);
        } else if !global.quiet {
            println!(
                "{}: {} runs, {} params, {} metric points, {} epoch rows -> {}",
                summary.experiment_name,
                summary.runs,
                summary.params,
                summary.metrics,
                summary.epochs,
                summary.dir.display()
            );
        }
    }
    Ok(if summaries.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
