//! `track experiments`: every experiment (active ones by default).

use std::process::ExitCode;

use tracker::client::table::Cell;

use crate::common::output::{print_table, table};
use crate::common::{GlobalArgs, OutputArgs, View};

/// Flags of `track experiments`.
#[derive(Debug, clap::Args)]
pub struct ExperimentsArgs {
    /// Which experiments to list: `active`, `deleted` or `all` (MLflow's `view_type`).
    #[arg(long, value_enum, default_value_t = View::Active)]
    pub view: View,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Runs `track experiments`.
pub fn run(args: ExperimentsArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let client = global.open_client()?;
    let experiments = client.list_experiments_in(args.view.view_type())?;
    let table = table(
        [
            "experiment_id",
            "name",
            "creation_time",
            "artifact_location",
            "lifecycle_stage",
        ],
        experiments.into_iter().map(|e| {
            [
                Cell::Text(e.experiment_id),
                Cell::Text(e.name),
                e.creation_time.map_or(Cell::Null, Cell::Time),
                Cell::Text(e.artifact_location),
                Cell::Text(e.lifecycle_stage),
            ]
        }),
    );
    print_table(&table, args.output.format())
}
