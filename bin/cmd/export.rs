//! `track export`: experiments as Parquet tables, Hive-partitioned by experiment id.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use tracker::client::table::{Cell, Format};
use tracker::entities::ViewType;
use tracker::export::ExportSummary;

use crate::common::output::table;
use crate::common::{GlobalArgs, OutputArgs, experiment_ids_in};

/// Flags of `track export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Export only this experiment (by name); repeat for several. Default: every experiment
    /// (every active one without `--include-deleted`).
    #[arg(long, short)]
    pub experiment: Vec<String>,
    /// Export deleted experiments and deleted runs too (the `runs` table's `lifecycle_stage`
    /// tells them apart). Default: active ones only.
    #[arg(long)]
    pub include_deleted: bool,
    /// Directory to write the tables under:
    /// `{runs,params,metrics,epochs,analysis}/experiment_id=<id>/part-0.parquet`.
    #[arg(long)]
    pub out: PathBuf,
    // `--format`/`--json`: `table` prints a line of text per experiment, `json` one JSON
    // summary per line, `csv` one row per experiment.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Runs `track export`: 0 when every experiment was exported, 1 when there was none, 2 when
/// one or more failed (each named on stderr; the others are exported all the same).
pub fn run(args: ExportArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let client = global.open_client()?;
    let view = if args.include_deleted {
        ViewType::All
    } else {
        ViewType::ActiveOnly
    };
    let ids = experiment_ids_in(
        &client,
        &args.experiment,
        view,
        "`--include-deleted` exports deleted experiments",
    )?;
    let report = tracker::export::export_with_client(&client, Some(&ids), &args.out, view)
        .with_context(|| format!("exporting to {}", args.out.display()))?;
    let format = args.output.format();
    if format == Format::Csv {
        let mut out = std::io::stdout().lock();
        summaries_table(&report.exported).write(Format::Csv, &mut out)?;
    }
    for summary in &report.exported {
        if format == Format::Json {
            println!("{}", serde_json::to_string(summary)?);
        } else if format == Format::Table && !global.quiet {
            println!(
                "{}: {} runs, {} params, {} metric points, {} epoch rows -> {}",
                summary.experiment_name,
                summary.runs,
                summary.params,
                summary.metrics,
                summary.epochs,
                args.out
                    .join(format!(
                        "*/{}={}",
                        tracker::export::PARTITION_KEY,
                        summary.experiment_id
                    ))
                    .display()
            );
        }
    }
    let failed = !report.failed.is_empty();
    for failure in report.failed {
        let error = anyhow::Error::new(failure.error);
        eprintln!(
            "error: exporting experiment {} to {}: {error:#}",
            failure.experiment_id,
            args.out.display()
        );
    }
    Ok(if failed {
        ExitCode::from(2)
    } else if report.exported.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// One row per exported experiment: its id, name and row counts.
fn summaries_table(exported: &[ExportSummary]) -> tracker::client::table::Table {
    let count = |n: usize| Cell::Int(i64::try_from(n).unwrap_or(i64::MAX));
    table(
        [
            "experiment_id",
            "experiment_name",
            "runs",
            "params",
            "metrics",
            "epochs",
        ],
        exported.iter().map(|s| {
            [
                Cell::Text(s.experiment_id.clone()),
                Cell::Text(s.experiment_name.clone()),
                count(s.runs),
                count(s.params),
                count(s.metrics),
                count(s.epochs),
            ]
        }),
    )
}
