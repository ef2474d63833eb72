//! `track show`: one run's params, tags, status and per-epoch metric table.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use tracker::client::table::{self, Format, Table};

use crate::common::output::key_values;
use crate::common::{GlobalArgs, OutputArgs};

/// Flags of `track show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The run: its id, or its name when only one run has it.
    pub run: String,
    // `--format`/`--json`: `table` prints sections; `json` one object with `info`, `params`,
    // `tags` and `epochs`; `csv` only the per-epoch metric table.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Runs `track show`.
pub fn run(args: ShowArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let client = global.open_client()?;
    let run = client.find_run(&args.run)?;
    let metrics = client.run_metrics(&run.info.run_id)?;
    let epochs = table::epochs_table(&metrics);
    let params = key_values(
        run.data
            .params
            .iter()
            .map(|p| (p.key.as_str(), p.value.as_str())),
    );
    let tags = key_values(
        run.data
            .tags
            .iter()
            .map(|t| (t.key.as_str(), t.value.as_str())),
    );
    let mut out = std::io::stdout().lock();
    match args.output.format() {
        Format::Csv => epochs.write(Format::Csv, &mut out)?,
        Format::Json => {
            let section = |t: &Table| -> anyhow::Result<serde_json::Value> {
                let mut buffer = Vec::new();
                t.write(Format::Json, &mut buffer)?;
                Ok(serde_json::from_slice(&buffer)?)
            };
            let object = serde_json::json!({
                "info": run.info,
                "params": run.data.params.iter().map(|p| (p.key.clone(), serde_json::Value::from(p.value.as_str()))).collect::<serde_json::Map<_, _>>(),
                "tags": run.data.tags.iter().map(|t| (t.key.clone(), serde_json::Value::from(t.value.as_str()))).collect::<serde_json::Map<_, _>>(),
                "epochs": section(&epochs)?,
            });
            serde_json::to_writer_pretty(&mut out, &object)?;
            writeln!(out)?;
        }
        Format::Table => {
            let info = &run.info;
            let time = |t: Option<i64>| t.map(table::format_time).unwrap_or_default();
            writeln!(out, "run         {} ({})", info.run_id, info.run_name)?;
            // The experiment by name, with its id (the id alone when it cannot be read).
            let experiment = client
                .get_experiment(&info.experiment_id)
                .map(|e| format!("{} ({})", e.name, info.experiment_id))
                .unwrap_or_else(|_| info.experiment_id.clone());
            writeln!(out, "experiment  {experiment}")?;
            writeln!(out, "status      {}", info.status)?;
            writeln!(out, "start       {} UTC", time(info.start_time))?;
            if info.end_time.is_some() {
                writeln!(out, "end         {} UTC", time(info.end_time))?;
            }
            writeln!(out, "artifacts   {}", info.artifact_uri)?;
            for (title, section) in [("params", &params), ("tags", &tags)] {
                writeln!(out, "\n{title}")?;
                section.write(Format::Table, &mut out)?;
            }
            writeln!(out, "\nmetrics per step")?;
            epochs.write(Format::Table, &mut out)?;
        }
    }
    out.flush().context("writing to stdout")?;
    Ok(ExitCode::SUCCESS)
}
