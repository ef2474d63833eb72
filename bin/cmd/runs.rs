//! `track runs`: the most recent runs.

use std::process::ExitCode;

use tracker::client::table;
use tracker::store::SearchRuns;

use crate::common::output::print_table;
use crate::common::{GlobalArgs, OutputArgs, experiment_ids};

/// Flags of `track runs`.
#[derive(Debug, clap::Args)]
pub struct RunsArgs {
    /// Only runs of this experiment (by name); repeat for several.
    #[arg(long, short)]
    pub experiment: Vec<String>,
    /// How many runs to show.
    #[arg(long, short = 'n', default_value_t = 20)]
    pub limit: usize,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// The columns `track runs` shows.
const COLUMNS: [&str; 6] = [
    "run_id",
    "run_name",
    "experiment_id",
    "status",
    "start_time",
    "end_time",
];

/// Runs `track runs`.
pub fn run(args: RunsArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let client = global.open_client()?;
    let search = SearchRuns {
        experiment_ids: experiment_ids(&client, &args.experiment)?,
        ..SearchRuns::default()
    };
    let runs = client.search_all_runs(&search, Some(args.limit))?;
    let columns: Vec<String> = COLUMNS.iter().map(|c| c.to_string()).collect();
    print_table(&table::runs_table(&runs, &columns), args.output.format())
}
