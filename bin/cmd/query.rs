//! `track query`: runs matching an MLflow search filter, with their params and latest metrics.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use tracker::client::Client;
use tracker::client::table::{self, Format};
use tracker::store::SearchRuns;

use crate::GlobalArgs;

/// Flags of `track query`.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// MLflow search filter, e.g. `metrics.val_loss < 0.5 and params.lr = '0.001'`
    /// (default: every run).
    pub filter: Option<String>,
    /// Search only this experiment (by name); repeat for several. Default: every experiment.
    #[arg(long, short)]
    pub experiment: Vec<String>,
    /// Order-by clause, e.g. `metrics.val_loss ASC`; repeat for ties. Default: newest first.
    #[arg(long)]
    pub order_by: Vec<String>,
    /// Show at most this many runs.
    #[arg(long, short = 'n')]
    pub limit: Option<usize>,
    /// Columns to show, comma-separated: `run_id`, `run_name`, `experiment_id`, `status`,
    /// `user_id`, `start_time`, `end_time`, `artifact_uri`, `params.<key>`, `metrics.<key>`,
    /// `tags.<key>`. Default: ids, name, status, start time, every param and metric.
    #[arg(long, value_delimiter = ',')]
    pub columns: Vec<String>,
    /// Output format.
    #[arg(long, default_value = "table")]
    pub format: Format,
}

/// Opens the client of the global tracking URI.
pub(crate) fn open_client(global: &GlobalArgs) -> anyhow::Result<Client> {
    let uri = global.tracking_uri();
    Client::open(&uri).with_context(|| format!("opening tracking URI {uri}"))
}

/// The ids of the experiments named `names` (all experiments when empty).
pub(crate) fn experiment_ids(client: &Client, names: &[String]) -> anyhow::Result<Vec<String>> {
    Ok(client
        .resolve_experiments(names)?
        .into_iter()
        .map(|e| e.experiment_id)
        .collect())
}

/// Prints `table` in `format` to stdout; exit 1 when it has no rows.
pub(crate) fn print_table(table: &table::Table, format: Format) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    table.write(format, &mut out).context("writing to stdout")?;
    out.flush().context("writing to stdout")?;
    Ok(if table.rows.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Runs `track query`.
pub fn run(args: QueryArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let client = open_client(global)?;
    let search = SearchRuns {
        experiment_ids: experiment_ids(&client, &args.experiment)?,
        filter: args.filter.unwrap_or_default(),
        order_by: args.order_by,
        ..SearchRuns::default()
    };
    let runs = client.search_all_runs(&search, args.limit)?;
    let columns = if args.columns.is_empty() {
        table::default_run_columns(&runs)
    } else {
        args.columns
    };
    print_table(&table::runs_table(&runs, &columns), args.format)
}
