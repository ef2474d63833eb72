//! `track sweep`: trains every combination of a grid of config values, then ranks the runs.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use tracker::analysis::{self, AnalysisConfig};
use tracker::entities::RunTag;
use trainer::config::RunConfig;
use trainer::report::RunStatus;

use crate::common::analysis::comparison;
use crate::common::render::print_comparison;
use crate::common::training::{EXIT_KILLED, TrainOptions, size_set, train_new_run};
use crate::common::{GlobalArgs, OutputArgs};

/// The tag every run of a sweep carries, valued with the sweep's id.
pub const TAG_SWEEP_ID: &str = "gapwatch.sweep_id";

/// Short grid keys accepted for their full config key.
pub const KEY_ALIASES: [(&str, &str); 1] = [("augment", "transforms.augment")];

/// Flags of `track sweep`.
#[derive(Debug, clap::Args)]
pub struct SweepArgs {
    /// Base run config (TOML) every combination starts from; default: the defaults.
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Override a base config key for every run, as `track train --set` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Side of the model's input in pixels for every run: short for `--set transforms.size=N`.
    #[arg(long, value_name = "PIXELS")]
    pub size: Option<u32>,
    /// One axis of the grid: `KEY=V1,V2,...` (a config key as `track train --set` takes it;
    /// `augment=` is short for `transforms.augment=`); list values are separated by `;`:
    /// `model.conv_channels=[16,32];[32,64]`. Repeat for more axes.
    #[arg(long = "grid", value_name = "KEY=V1,V2", required = true)]
    pub grid: Vec<String>,
    /// Train each combination this many times (seeds 0..K added to the config's seed).
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Experiment the runs are recorded under (created if missing).
    #[arg(long, default_value = "Default", env = "TRACK_EXPERIMENT")]
    pub experiment: String,
    /// Device: `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "cpu", env = "TRACK_DEVICE")]
    pub device: String,
    // `--format`/`--json`: `table` prints the sweep's line and the comparison as text, `json`
    // the comparison with `sweep_id`, `csv` the ranking table.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// One axis of a grid: a config key and the values it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Axis {
    /// The full config key.
    pub key: String,
    /// Its values, in the order given.
    pub values: Vec<String>,
}

/// Parses `KEY=V1,V2,...`, expanding a short key alias. Values that are lists hold commas of
/// their own, so a grid of lists separates its values with `;`:
/// `model.conv_channels=[16,32];[32,64]`.
pub fn parse_axis(spec: &str) -> anyhow::Result<Axis> {
    let (key, values) = spec
        .split_once('=')
        .with_context(|| format!("--grid {spec:?}: expected KEY=V1,V2,..."))?;
    let key = key.trim();
    if key.is_empty() {
        bail!("--grid {spec:?}: the key is empty");
    }
    let key = KEY_ALIASES
        .iter()
        .find(|(short, _)| *short == key)
        .map_or(key, |(_, full)| full);
    let separator = if values.contains('[') { ';' } else { ',' };
    let values: Vec<String> = values
        .split(separator)
        .map(|v| v.trim().to_string())
        .collect();
    if values.iter().any(String::is_empty) {
        bail!("--grid {spec:?}: an empty value");
    }
    Ok(Axis {
        key: key.to_string(),
        values,
    })
}

/// Every combination of the axes' values, the last axis varying fastest, as `(key, value)`
/// lists. Refuses a key given twice.
pub fn combinations(axes: &[Axis]) -> anyhow::Result<Vec<Vec<(String, String)>>> {
    for (i, axis) in axes.iter().enumerate() {
        if axes[..i].iter().any(|a| a.key == axis.key) {
            bail!("--grid: key {:?} given twice", axis.key);
        }
    }
    let mut combos: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for axis in axes {
        combos = combos
            .into_iter()
            .flat_map(|combo| {
                axis.values.iter().map(move |value| {
                    let mut next = combo.clone();
                    next.push((axis.key.clone(), value.clone()));
                    next
                })
            })
            .collect();
    }
    Ok(combos)
}

/// Runs `track sweep`: every combination (× `--repeat`) trained as a run tagged with the sweep
/// id, then the runs ranked by their best validation metric with gap and verdict.
pub fn run(mut args: SweepArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    args.sets.extend(size_set(args.size));
    let axes = args
        .grid
        .iter()
        .map(|s| parse_axis(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let combos = combinations(&axes)?;
    if args.repeat == 0 {
        bail!("--repeat 0: nothing to train");
    }
    // Check every combination's config before training any.
    let base = RunConfig::load(args.config.as_deref(), &args.sets)?;
    let mut plan = Vec::new();
    for combo in &combos {
        for k in 0..args.repeat {
            let mut sets = args.sets.clone();
            sets.extend(combo.iter().map(|(key, value)| format!("{key}={value}")));
            if args.repeat > 1 {
                sets.push(format!("train.seed={}", base.train.seed + k as u64));
            }
            let config = RunConfig::load(args.config.as_deref(), &sets)
                .with_context(|| format!("sweep combination {}", describe(combo)))?;
            plan.push((combo, k, config));
        }
    }
    let client = global.open_client()?;
    let sweep_id = format!("{:x}", tracker::client::now_ms());
    let options = TrainOptions {
        device: args.device.clone(),
        quiet: global.quiet,
        ..TrainOptions::default()
    };
    let analysis_config = AnalysisConfig::default();
    let mut loaded = Vec::new();
    for (i, (combo, k, config)) in plan.iter().enumerate() {
        let name = format!("sweep-{sweep_id}-{}", i + 1);
        if !global.quiet {
            let repeat = if args.repeat > 1 {
                format!(" (repeat {})", k + 1)
            } else {
                String::new()
            };
            eprintln!(
                "[{}/{}] {name}: {}{repeat}",
                i + 1,
                plan.len(),
                describe(combo)
            );
        }
        let (run_id, summary) =
            train_new_run(&client, &args.experiment, Some(&name), config, &options)?;
        if summary.status == RunStatus::Killed {
            // Ctrl-C: the run in progress is recorded KILLED; no further run starts.
            eprintln!(
                "sweep {sweep_id} interrupted: run {name} recorded KILLED, {} of {} runs not started",
                plan.len() - i - 1,
                plan.len()
            );
            return Ok(ExitCode::from(EXIT_KILLED));
        }
        client.set_tags(
            &run_id,
            &[RunTag {
                key: TAG_SWEEP_ID.to_string(),
                value: sweep_id.clone(),
            }],
        )?;
        let run = client.get_run(&run_id)?;
        match analysis::analyze_stored_run(&client, &run_id, &analysis_config) {
            Ok(a) => loaded.push((run, a)),
            Err(error) => eprintln!("run {name}: cannot analyse: {error}"),
        }
    }
    let comparison = comparison(&loaded);
    let mut json = serde_json::to_value(&comparison)?;
    if let Some(object) = json.as_object_mut() {
        object.insert("sweep_id".into(), sweep_id.clone().into());
    }
    args.output.print(
        &json,
        false,
        || comparison.table(),
        |mut out| {
            writeln!(
                out,
                "sweep {sweep_id}: {} runs (tag {TAG_SWEEP_ID} = {sweep_id})",
                plan.len()
            )?;
            print_comparison(&mut out, &comparison)
        },
    )?;
    Ok(ExitCode::SUCCESS)
}

fn describe(combo: &[(String, String)]) -> String {
    combo
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn augment_is_short_for_transforms_augment() {
        let axis = parse_axis("augment=none, standard").unwrap();
        assert_eq!(axis.key, "transforms.augment");
        assert_eq!(axis.values, vec!["none", "standard"]);
    }

    #[test]
    fn every_combination_once_last_axis_fastest() {
        let axes = [
            parse_axis("optim.learning_rate=1e-3,3e-4").unwrap(),
            parse_axis("model.conv_dropout=0,0.5").unwrap(),
            parse_axis("augment=none,standard").unwrap(),
        ];
        let combos = combinations(&axes).unwrap();
        assert_eq!(combos.len(), 8);
        assert_eq!(
            combos[1],
            vec![
                ("optim.learning_rate".to_string(), "1e-3".to_string()),
                ("model.conv_dropout".to_string(), "0".to_string()),
                ("transforms.augment".to_string(), "standard".to_string()),
            ]
        );
        let unique: std::collections::BTreeSet<_> = combos.iter().collect();
        assert_eq!(unique.len(), 8);
    }

    #[test]
    fn list_values_are_separated_by_semicolons_so_model_size_can_be_swept() {
        let axis = parse_axis("model.conv_channels=[16,32]; [32, 64]").unwrap();
        assert_eq!(axis.values, vec!["[16,32]", "[32, 64]"]);
        let sets: Vec<String> = combinations(&[axis])
            .unwrap()
            .into_iter()
            .map(|combo| format!("{}={}", combo[0].0, combo[0].1))
            .collect();
        let config = RunConfig::load(None, &sets[1..]).unwrap();
        assert_eq!(config.model.conv_channels, vec![32, 64]);
    }

    #[test]
    fn malformed_axes_are_refused_naming_the_spec() {
        for spec in ["optim.lr", "=1,2", "model.dropout=0,,1"] {
            let error = parse_axis(spec).unwrap_err().to_string();
            assert!(error.contains(spec), "{error}");
        }
        let twice = [
            parse_axis("augment=none").unwrap(),
            parse_axis("transforms.augment=standard").unwrap(),
        ];
        assert!(combinations(&twice).is_err());
    }
}
