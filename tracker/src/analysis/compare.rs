//! Comparing runs: the params that differ between them, side by side with their outcomes.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::client::table::{Cell, Table};

use super::Analysis;

/// One run to compare: its name, params and analysis.
#[derive(Debug, Clone, Copy)]
pub struct CompareInput<'a> {
    /// Display name (the run name, or its id).
    pub name: &'a str,
    /// The run's params.
    pub params: &'a BTreeMap<String, String>,
    /// The run's analysis.
    pub analysis: &'a Analysis,
}

/// One run of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComparedRun {
    /// The run's id.
    pub run_id: String,
    /// Display name.
    pub name: String,
    /// Its value of each differing param (`None`: not recorded), in [`Comparison::differing`]
    /// order.
    pub params: Vec<Option<String>>,
    /// The metric the best epoch is chosen by.
    pub best_metric: String,
    /// Its best value.
    pub best_value: f64,
    /// The best epoch.
    pub best_epoch: i64,
    /// Validation accuracy at the best epoch, if logged.
    pub best_val_acc: Option<f64>,
    /// Loss gap at the last epoch.
    pub final_loss_gap: Option<f64>,
    /// Accuracy gap at the last epoch.
    pub final_acc_gap: Option<f64>,
    /// Onset of overfitting.
    pub onset_epoch: Option<i64>,
    /// The verdict's label.
    pub verdict: String,
    /// Epochs analysed.
    pub epochs: usize,
}

/// What changed between runs and how each turned out, best outcome first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The param keys whose values are not the same in every run (a key some runs lack counts).
    pub differing: Vec<String>,
    /// The runs, sorted by the best value of the monitored metric (best first).
    pub runs: Vec<ComparedRun>,
}

/// Compares `runs`: the params that differ and the outcomes, best first.
pub fn compare(runs: &[CompareInput<'_>]) -> Comparison {
    let keys: BTreeSet<&String> = runs.iter().flat_map(|r| r.params.keys()).collect();
    let differing: Vec<String> = keys
        .into_iter()
        .filter(|key| {
            let values: BTreeSet<Option<&String>> =
                runs.iter().map(|r| r.params.get(*key)).collect();
            values.len() > 1
        })
        .cloned()
        .collect();
    let mut order: Vec<&CompareInput<'_>> = runs.iter().collect();
    order.sort_by(|a, b| a.analysis.sort_key().total_cmp(&b.analysis.sort_key()));
    let runs = order
        .into_iter()
        .map(|r| {
            let a = r.analysis;
            ComparedRun {
                run_id: a.run_id.clone(),
                name: r.name.to_string(),
                params: differing.iter().map(|k| r.params.get(k).cloned()).collect(),
                best_metric: a.best.metric.clone(),
                best_value: a.best.value,
                best_epoch: a.best.epoch,
                best_val_acc: a.best.val_acc,
                final_loss_gap: a.final_loss_gap,
                final_acc_gap: a.final_acc_gap,
                onset_epoch: a.onset_epoch,
                verdict: a.verdict.label().to_string(),
                epochs: a.epochs,
            }
        })
        .collect();
    Comparison { differing, runs }
}

impl Comparison {
    /// One row per run: name, the differing params, then the outcomes.
    pub fn table(&self) -> Table {
        let mut columns = vec!["run".to_string()];
        columns.extend(self.differing.iter().cloned());
        columns.extend(
            [
                "best",
                "best_epoch",
                "best_val_acc",
                "final_loss_gap",
                "final_acc_gap",
                "onset",
                "verdict",
            ]
            .map(String::from),
        );
        let opt_f = |v: Option<f64>| v.map_or(Cell::Null, Cell::Float);
        let rows = self
            .runs
            .iter()
            .map(|r| {
                let mut row = vec![Cell::Text(r.name.clone())];
                row.extend(
                    r.params
                        .iter()
                        .map(|p| p.as_ref().map_or(Cell::Null, |v| Cell::Text(v.clone()))),
                );
                row.extend([
                    Cell::Text(format!("{} {:.4}", r.best_metric, r.best_value)),
                    Cell::Int(r.best_epoch),
                    opt_f(r.best_val_acc),
                    opt_f(r.final_loss_gap),
                    opt_f(r.final_acc_gap),
                    r.onset_epoch.map_or(Cell::Null, Cell::Int),
                    Cell::Text(r.verdict.clone()),
                ]);
                row
            })
            .collect();
        Table { columns, rows }
    }
}
