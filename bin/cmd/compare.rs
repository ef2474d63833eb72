//! `track compare`: the params that differ between runs, side by side with their outcomes.

use std::process::ExitCode;

use anyhow::Context;
use tracker::analysis::{self, Analysis};
use tracker::client::Client;
use tracker::entities::Run;
use tracker::store::SearchRuns;

use crate::common::analysis::{MetricArgs, comparison, load};
use crate::common::render::print_comparison;
use crate::common::{GlobalArgs, OutputArgs};

/// Flags of `track compare`.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// The runs: ids, or names when unique.
    #[arg(required_unless_present = "experiment", conflicts_with = "experiment")]
    pub runs: Vec<String>,
    /// Compare every run of this experiment instead.
    #[arg(long, short = 'e')]
    pub experiment: Option<String>,
    // `--format`/`--json`: `table` prints the comparison as text, `json` the comparison, `csv`
    // its ranking table.
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub metrics: MetricArgs,
}

/// Runs `track compare`.
pub fn run(args: CompareArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let config = args.metrics.config()?;
    let client = global.open_client()?;
    let loaded = match &args.experiment {
        Some(name) => experiment_runs(&client, name, &config)?,
        None => args
            .runs
            .iter()
            .map(|r| load(&client, r, &config))
            .collect::<anyhow::Result<Vec<_>>>()?,
    };
    if loaded.is_empty() {
        eprintln!("no runs to compare");
        return Ok(ExitCode::from(1));
    }
    let comparison = comparison(&loaded);
    args.output.print(
        &comparison,
        false,
        || comparison.table(),
        |mut out| print_comparison(&mut out, &comparison),
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Every analysable run of experiment `name`; runs that cannot be analysed (no validation loss)
/// are reported on stderr and left out.
fn experiment_runs(
    client: &Client,
    name: &str,
    config: &analysis::AnalysisConfig,
) -> anyhow::Result<Vec<(Run, Analysis)>> {
    let experiment = client
        .get_experiment_by_name(name)?
        .with_context(|| format!("no experiment named {name:?}"))?;
    let search = SearchRuns {
        experiment_ids: vec![experiment.experiment_id],
        ..SearchRuns::default()
    };
    let mut loaded = Vec::new();
    for run in client.search_all_runs(&search, None)? {
        match analysis::analyze_stored_run(client, &run.info.run_id, config) {
            Ok(a) => loaded.push((run, a)),
            Err(error) => eprintln!("skipping run {}: {error}", run.info.run_id),
        }
    }
    Ok(loaded)
}
