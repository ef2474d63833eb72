//! `track experiments`: every experiment (active ones by default).

use std::process::ExitCode;

use tracker::client::table::{Cell, Format, Table};

use super::query::{View, open_client, print_table};
use crate::GlobalArgs;

/// Flags of `track experiments`.
#[derive(Debug, clap::Args)]
pub struct ExperimentsArgs {
    /// Which experiments to list: `active`, `deleted` or `all` (MLflow's `view_type`).
    #[arg(long, value_enum, default_value_t = View::Active)]
    pub view: View,
    /// Output format.
    #[arg(long, default_value = "table")]
    pub format: Format,
}

/// Runs `track experiments`.
pub fn run(args: ExperimentsArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let client = open_client(global)?;
    let experiments = client.list_experiments_in(args.view.view_type())?;
    let table = Table {
        columns: [
            "experiment_id",
            "name",
            "creation_time",
            "artifact_location",
            "lifecycle_stage",
        ]
        .map(String::from)
        .to_vec(),
        rows: experiments
            .into_iter()
            .map(|e| {
                vec![
                    Cell::Text(e.experiment_id),
                    Cell::Text(e.name),
                    e.creation_time.map_or(Cell::Null, Cell::Time),
                    Cell::Text(e.artifact_location),
                    Cell::Text(e.lifecycle_stage),
                ]
            })
            .collect(),
    };
    print_table(&table, args.format)
}
