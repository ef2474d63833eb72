//! Runs read back for analysis: the metric-name flags of `analyze`, `compare` and `plot`, a
//! run's display name, loading and analysing a run, and the comparison of loaded runs.

use std::collections::BTreeMap;

use anyhow::Context;
use tracker::analysis::{self, Analysis, AnalysisConfig, Comparison, Monitor, Role};
use tracker::client::Client;
use tracker::entities::Run;

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
    analysis::display_name(run)
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

/// The comparison of loaded runs ([`analysis::compare_runs`], shared with the dashboard).
pub fn comparison(loaded: &[(Run, Analysis)]) -> Comparison {
    analysis::compare_runs(loaded)
}
