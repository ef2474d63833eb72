//! `track query`: runs matching an MLflow search filter, with their params and latest metrics.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::process::ExitCode;

use tracker::client::table::{self, Format};
use tracker::entities::{Run, ViewType};
use tracker::store::SearchRuns;

use crate::common::output::{fit_to_width, print_table, terminal_width};
use crate::common::{GlobalArgs, OutputArgs, View, experiment_ids_in};

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
    /// `tags.<key>`; `+params.<key>` adds a column to the default ones; `all`: ids, name,
    /// status, start time, every param and metric. Default: `all` for csv and json; for the
    /// table, id, name, status, the key metrics (`val_loss`, `val_acc`, `best_*`, `onset*`) and
    /// the params whose values differ between the runs listed, cut to the terminal's width.
    #[arg(long, value_delimiter = ',')]
    pub columns: Vec<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// The attributes the default table starts with.
const TABLE_ATTRIBUTES: [&str; 3] = ["run_id", "run_name", "status"];

/// The metrics the default table shows first, when a run has them.
const KEY_METRICS: [&str; 2] = ["val_loss", "val_acc"];

/// Whether `metric` is a key metric: [`KEY_METRICS`], or a best or onset value.
fn is_key_metric(metric: &str) -> bool {
    KEY_METRICS.contains(&metric) || metric.starts_with("best_") || metric.starts_with("onset")
}

/// The default columns of the `table` format: [`TABLE_ATTRIBUTES`], the key metrics any run
/// has, then the params whose values differ between `runs` (a param some runs lack differs).
pub fn table_columns(runs: &[Run]) -> Vec<String> {
    let metrics: BTreeSet<&str> = runs
        .iter()
        .flat_map(|r| r.data.metrics.iter().map(|m| m.key.as_str()))
        .filter(|key| is_key_metric(key))
        .collect();
    // `val_loss`, `val_acc` first, then the best and onset values by name.
    let metrics = KEY_METRICS
        .iter()
        .copied()
        .filter(|key| metrics.contains(key))
        .chain(metrics.iter().copied().filter(|k| !KEY_METRICS.contains(k)));
    let params: BTreeSet<&str> = runs
        .iter()
        .flat_map(|r| r.data.params.iter().map(|p| p.key.as_str()))
        .collect();
    let differing = params.into_iter().filter(|key| {
        let values: BTreeSet<Option<&str>> = runs.iter().map(|r| r.data.param(key)).collect();
        values.len() > 1
    });
    TABLE_ATTRIBUTES
        .iter()
        .map(|c| c.to_string())
        .chain(metrics.map(|k| format!("metrics.{k}")))
        .chain(differing.map(|k| format!("params.{k}")))
        .collect()
}

/// The columns `--columns` asks for: `all`, additions (`+c`) to the default `table` columns,
/// or a list of its own; `None` when the default applies.
fn chosen_columns(asked: &[String], runs: &[Run], format: Format) -> Vec<String> {
    let table_default = format == Format::Table;
    if asked.is_empty() && !table_default || asked.iter().any(|c| c == "all") {
        return table::default_run_columns(runs);
    }
    if asked.is_empty() {
        return table_columns(runs);
    }
    if asked.iter().all(|c| c.starts_with('+')) {
        let mut columns = if table_default {
            table_columns(runs)
        } else {
            table::default_run_columns(runs)
        };
        for column in asked.iter().map(|c| c.trim_start_matches('+')) {
            if !columns.iter().any(|c| c == column) {
                columns.push(column.to_string());
            }
        }
        return columns;
    }
    asked
        .iter()
        .map(|c| c.trim_start_matches('+').to_string())
        .collect()
}

/// Runs `track query`.
pub fn run(args: QueryArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let client = global.open_client()?;
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
    let format = args.output.format();
    let columns = chosen_columns(&args.columns, &runs, format);
    let mut table = table::runs_table(&runs, &columns);
    // The default table on a terminal: the columns that fit its width.
    if format == Format::Table && args.columns.is_empty() && std::io::stdout().is_terminal() {
        let fitted = fit_to_width(&table, terminal_width(), TABLE_ATTRIBUTES.len());
        let left_out = table.columns.len() - fitted.columns.len();
        if left_out > 0 && !global.quiet {
            eprintln!(
                "{left_out} more columns do not fit the terminal: `--columns +NAME` adds one, \
                 `--columns all` shows every one"
            );
        }
        table = fitted;
    }
    print_table(&table, format)
}
