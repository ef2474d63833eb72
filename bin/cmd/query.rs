//! `track query`: runs matching an MLflow search filter, with their params and latest metrics.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use tracker::client::Client;
use tracker::client::table::{self, Format};
use tracker::entities::ViewType;
use tracker::store::SearchRuns;

use crate::GlobalArgs;

/// Flags of `track query`.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// MLflow search filter, e.g. `metrics.val_loss < 0.5 and params.lr = '0.001'`
    /// (default: every run).
    pub filter: Option<String>,
    /// Search only this experiment (by name); repeat for several. Default: every experiment
    /// (with the default view, every active one).
    #[arg(long, short)]
    pub experiment: Vec<String>,
    /// Which runs to show: `active` ones, `deleted` ones (deleted runs, and the runs of deleted
    /// experiments) or `all` (MLflow's `view_type`). With `deleted` or `all`, `--experiment`
    /// may name a deleted experiment.
    #[arg(long, value_enum, default_value_t = View::Active)]
    pub view: View,
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

/// Which lifecycle stages a command sees: MLflow's `view_type` (`ACTIVE_ONLY`, `DELETED_ONLY`,
/// `ALL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum View {
    /// Active ones only.
    Active,
    /// Deleted ones only.
    Deleted,
    /// Both.
    All,
}

impl View {
    /// The store's view type.
    pub(crate) fn view_type(self) -> ViewType {
        match self {
            View::Active => ViewType::ActiveOnly,
            View::Deleted => ViewType::DeletedOnly,
            View::All => ViewType::All,
        }
    }
}

/// Opens the client of the global tracking URI.
pub(crate) fn open_client(global: &GlobalArgs) -> anyhow::Result<Client> {
    let uri = global.tracking_uri();
    Client::open(&uri).with_context(|| format!("opening tracking URI {uri}"))
}

/// The ids of the experiments named `names` (every active one when empty); a deleted one
/// named is refused.
pub(crate) fn experiment_ids(client: &Client, names: &[String]) -> anyhow::Result<Vec<String>> {
    experiment_ids_in(client, names, ViewType::ActiveOnly, "restore it first")
}

/// The ids of the experiments named `names` (every one in `view` when empty). A named
/// experiment outside `view` is refused, the error ending with `hint` (how to include it).
pub(crate) fn experiment_ids_in(
    client: &Client,
    names: &[String],
    view: ViewType,
    hint: &str,
) -> anyhow::Result<Vec<String>> {
    let experiments = client.resolve_experiments(names, view)?;
    if let Some(outside) = experiments
        .iter()
        .find(|e| !view.stages().contains(&e.lifecycle_stage.as_str()))
    {
        anyhow::bail!(
            "experiment {:?} is {}: {hint}",
            outside.name,
            outside.lifecycle_stage
        );
    }
    Ok(experiments.into_iter().map(|e| e.experiment_id).collect())
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
    // Deleted runs live in deleted experiments and, deleted one by one, in active ones.
    let experiments = match args.view {
        View::Active => ViewType::ActiveOnly,
        View::Deleted | View::All => ViewType::All,
    };
    let search = SearchRuns {
        experiment_ids: experiment_ids_in(
            &client,
            &args.experiment,
            experiments,
            "`--view deleted` or `--view all` searches deleted experiments",
        )?,
        filter: args.filter.unwrap_or_default(),
        order_by: args.order_by,
        view_type: args.view.view_type(),
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
