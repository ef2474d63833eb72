//! `track compare`: the params that differ between runs, side by side with their outcomes.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use tracker::analysis::{self, Analysis, CompareInput, Comparison};
use tracker::client::Client;
use tracker::client::table::Format;
use tracker::entities::Run;
use tracker::store::SearchRuns;

use super::analyze::{MetricArgs, display_name, load};
use crate::GlobalArgs;

/// Flags of `track compare`.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// The runs: ids, or names when unique.
    #[arg(required_unless_present = "experiment", conflicts_with = "experiment")]
    pub runs: Vec<String>,
    /// Compare every run of this experiment instead.
    #[arg(long, short = 'e')]
    pub experiment: Option<String>,
    /// Print the comparison as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub metrics: MetricArgs,
}

/// Runs `track compare`.
pub fn run(args: CompareArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let config = args.metrics.config()?;
    let client = Client::open(&global.tracking_uri())?;
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
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &comparison)?;
        writeln!(out)?;
    } else {
        print_comparison(&mut out, &comparison)?;
    }
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

/// The comparison of loaded runs.
pub fn comparison(loaded: &[(Run, Analysis)]) -> Comparison {
    let names: Vec<String> = loaded.iter().map(|(run, _)| display_name(run)).collect();
    let params: Vec<BTreeMap<String, String>> = loaded
        .iter()
        .map(|(run, _)| {
            run.data
                .params
                .iter()
                .map(|p| (p.key.clone(), p.value.clone()))
                .collect()
        })
        .collect();
    let inputs: Vec<CompareInput<'_>> = loaded
        .iter()
        .zip(&names)
        .zip(&params)
        .map(|(((_, analysis), name), params)| CompareInput {
            name,
            params,
            analysis,
        })
        .collect();
    analysis::compare(&inputs)
}

/// Writes a comparison for people.
pub fn print_comparison(out: &mut impl Write, comparison: &Comparison) -> anyhow::Result<()> {
    if comparison.differing.is_empty() {
        writeln!(out, "params: the runs share every param")?;
    } else {
        writeln!(
            out,
            "params that differ: {}",
            comparison.differing.join(", ")
        )?;
    }
    writeln!(out, "best outcome first ({}):", comparison.ranking)?;
    comparison.table().write(Format::Table, out)?;
    Ok(())
}
