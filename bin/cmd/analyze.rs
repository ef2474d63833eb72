//! `track analyze`: says whether a run overfit, from which epoch, and what to change.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use tracker::analysis::{self, Analysis, AnalysisConfig, Monitor, Role};
use tracker::client::Client;
use tracker::client::table::{Cell, Format, Table};
use tracker::entities::{Run, TAG_RUN_NAME};

use crate::GlobalArgs;

/// Flags of `track analyze`.
#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// The run: its id, or its name when that is unique.
    pub run: String,
    /// Print the analysis as JSON (the API's shape) instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub metrics: MetricArgs,
}

/// How runs are read: metric names and the monitored metric (shared by analyze, compare, plot).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct MetricArgs {
    /// A metric name for a role, e.g. `--metric val_loss=holdout_nll` (roles: train_loss,
    /// train_acc, train_eval_loss, train_eval_acc, val_loss, val_acc). Without it the common
    /// spellings are recognised (`val_loss`, `validation_loss`, Keras's `loss`/`val_accuracy`...).
    #[arg(long = "metric", value_name = "ROLE=NAME")]
    pub metric: Vec<String>,
    /// The metric that picks the best epoch: `val_loss` or `val_acc`.
    #[arg(long, default_value = "val_loss", value_parser = parse_monitor)]
    pub monitor: Monitor,
}

fn parse_monitor(s: &str) -> Result<Monitor, String> {
    match s {
        "val_loss" => Ok(Monitor::ValLoss),
        "val_acc" => Ok(Monitor::ValAcc),
        _ => Err(format!(
            "unknown monitor {s:?}: expected val_loss or val_acc"
        )),
    }
}

impl MetricArgs {
    /// The analysis config these flags describe.
    pub fn config(&self) -> anyhow::Result<AnalysisConfig> {
        let mut metric_names = BTreeMap::new();
        for spec in &self.metric {
            let (role, name) = spec
                .split_once('=')
                .with_context(|| format!("--metric {spec:?}: expected ROLE=NAME"))?;
            let role = Role::ALL
                .into_iter()
                .find(|r| r.as_str() == role.trim())
                .with_context(|| format!("--metric {spec:?}: unknown role {role:?}"))?;
            metric_names.insert(role, name.trim().to_string());
        }
        let config = AnalysisConfig {
            metric_names,
            monitor: self.monitor,
            ..AnalysisConfig::default()
        };
        config.validate()?;
        Ok(config)
    }
}

/// A run's display name: its `mlflow.runName` tag or name, else its id.
pub fn display_name(run: &Run) -> String {
    let name = run
        .data
        .tag(TAG_RUN_NAME)
        .filter(|n| !n.is_empty())
        .unwrap_or(&run.info.run_name);
    if name.is_empty() {
        run.info.run_id.clone()
    } else {
        name.to_string()
    }
}

/// Finds run `run` (id or unique name) and analyses it.
pub fn load(
    client: &Client,
    run: &str,
    config: &AnalysisConfig,
) -> anyhow::Result<(Run, Analysis)> {
    let found = client
        .find_run(run)
        .with_context(|| format!("run {run:?}"))?;
    let analysis = analysis::analyze_stored_run(client, &found.info.run_id, config)
        .with_context(|| format!("analysing run {run:?}"))?;
    Ok((found, analysis))
}

/// Runs `track analyze`.
pub fn run(args: AnalyzeArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let config = args.metrics.config()?;
    let client = Client::open(&global.tracking_uri())?;
    let (run, analysis) = load(&client, &args.run, &config)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &analysis)?;
        writeln!(out)?;
    } else {
        print_analysis(&mut out, &display_name(&run), &analysis)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes an analysis for people: verdict, best epoch, gaps, causes and the epoch table.
pub fn print_analysis(out: &mut impl Write, name: &str, a: &Analysis) -> anyhow::Result<()> {
    let basis = match a.gap_basis {
        analysis::GapBasis::TrainEval => "training set evaluated like validation",
        analysis::GapBasis::RunningTrain => "running training metrics",
    };
    writeln!(out, "run {name} ({}), {} epochs", a.run_id, a.epochs)?;
    writeln!(out, "  verdict: {}", a.verdict.label())?;
    writeln!(out, "  {}", a.summary)?;
    let acc = a
        .best
        .val_acc
        .map(|v| format!(", val acc {:.2}%", v * 100.0))
        .unwrap_or_default();
    let se = a
        .best
        .se
        .map(|se| format!(" ± {se:.4}"))
        .unwrap_or_default();
    writeln!(
        out,
        "  best epoch {} by {} = {:.4}{se} (val loss {:.4}{acc})",
        a.best.epoch, a.best.metric, a.best.value, a.best.val_loss
    )?;
    let noise = &a.noise;
    let loss_se = noise
        .val_loss_se
        .map_or("unknown".to_string(), |se| format!("{se:.4}"));
    let acc_se = noise
        .val_acc_se
        .map(|se| format!(", accuracy ±{:.1} pts", se * 100.0))
        .unwrap_or_default();
    writeln!(
        out,
        "  noise of one epoch: validation loss ±{loss_se}{acc_se} ({})",
        noise.describe()
    )?;
    let gap = |v: Option<f64>, pct: bool| match v {
        Some(v) if pct => format!("{:+.2} pts", v * 100.0),
        Some(v) => format!("{v:+.4}"),
        None => "-".to_string(),
    };
    writeln!(
        out,
        "  final gap: loss {}, accuracy {} (against the {basis})",
        gap(a.final_loss_gap, false),
        gap(a.final_acc_gap, true)
    )?;
    if a.causes.is_empty() {
        writeln!(out, "  likely causes: none to report")?;
    } else {
        writeln!(out, "  likely causes, most likely first:")?;
        for (i, c) in a.causes.iter().enumerate() {
            let current = c
                .current
                .as_deref()
                .map(|v| format!(" (now {v})"))
                .unwrap_or_default();
            writeln!(out, "   {}. {}", i + 1, c.evidence)?;
            writeln!(
                out,
                "      → set {}{current} to {}",
                c.config_key, c.suggested
            )?;
        }
    }
    writeln!(out)?;
    epoch_table(a).write(Format::Table, out)?;
    Ok(())
}

fn epoch_table(a: &Analysis) -> Table {
    let columns = [
        "epoch",
        "train_loss",
        "train_eval_loss",
        "val_loss",
        "loss_gap",
        "train_acc",
        "val_acc",
        "acc_gap",
        "",
    ];
    let f = |v: Option<f64>| v.map_or(Cell::Null, Cell::Float);
    let rows = a
        .per_epoch
        .iter()
        .map(|r| {
            let mark = [
                (r.epoch == a.best.epoch).then_some("best"),
                (Some(r.epoch) == a.onset_epoch).then_some("onset"),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ");
            vec![
                Cell::Int(r.epoch),
                f(r.train_loss),
                f(r.train_eval_loss),
                Cell::Float(r.val_loss),
                f(r.loss_gap),
                f(r.train_eval_acc.or(r.train_acc)),
                f(r.val_acc),
                f(r.acc_gap),
                Cell::Text(mark),
            ]
        })
        .collect();
    Table {
        columns: columns.map(String::from).to_vec(),
        rows,
    }
}
