//! Tables of runs for people and scripts: the rows `track query`, `track runs` and `track show`
//! print. The table type itself ([`Table`], [`Cell`], [`Format`]) is the leaf module
//! [`insight::table`], re-exported here.

use std::collections::{BTreeMap, BTreeSet};

use crate::entities::{Metric, Run};

pub use insight::table::{Cell, Format, Table, format_time};

/// The columns every run table starts with, unless `--columns` says otherwise.
pub const DEFAULT_RUN_COLUMNS: [&str; 5] = [
    "run_id",
    "run_name",
    "experiment_id",
    "status",
    "start_time",
];

/// One value of a run by column name: `run_id`, `run_name`, `experiment_id`, `status`,
/// `user_id`, `start_time`, `end_time`, `artifact_uri`, `params.<key>`, `metrics.<key>`
/// (latest value), `tags.<key>`.
pub fn run_cell(run: &Run, column: &str) -> Cell {
    let text = |s: &str| {
        if s.is_empty() {
            Cell::Null
        } else {
            Cell::Text(s.to_string())
        }
    };
    let info = &run.info;
    match column {
        "run_id" => text(&info.run_id),
        "run_name" => text(&info.run_name),
        "experiment_id" => text(&info.experiment_id),
        "status" => Cell::Text(info.status.to_string()),
        "user_id" => text(&info.user_id),
        "start_time" => info.start_time.map_or(Cell::Null, Cell::Time),
        "end_time" => info.end_time.map_or(Cell::Null, Cell::Time),
        "artifact_uri" => text(&info.artifact_uri),
        _ => {
            if let Some(key) = column.strip_prefix("params.") {
                run.data.param(key).map_or(Cell::Null, text)
            } else if let Some(key) = column.strip_prefix("metrics.") {
                run.data.metric(key).map_or(Cell::Null, Cell::Float)
            } else if let Some(key) = column.strip_prefix("tags.") {
                run.data.tag(key).map_or(Cell::Null, text)
            } else {
                Cell::Null
            }
        }
    }
}

/// The default columns of a run table: [`DEFAULT_RUN_COLUMNS`], then every param and every
/// metric any of `runs` has, each sorted by key.
pub fn default_run_columns(runs: &[Run]) -> Vec<String> {
    let params: BTreeSet<&str> = runs
        .iter()
        .flat_map(|r| r.data.params.iter().map(|p| p.key.as_str()))
        .collect();
    let metrics: BTreeSet<&str> = runs
        .iter()
        .flat_map(|r| r.data.metrics.iter().map(|m| m.key.as_str()))
        .collect();
    DEFAULT_RUN_COLUMNS
        .iter()
        .map(|c| c.to_string())
        .chain(params.into_iter().map(|k| format!("params.{k}")))
        .chain(metrics.into_iter().map(|k| format!("metrics.{k}")))
        .collect()
}

/// A table of `runs` with `columns` (see [`run_cell`]).
pub fn runs_table(runs: &[Run], columns: &[String]) -> Table {
    Table {
        columns: columns.to_vec(),
        rows: runs
            .iter()
            .map(|run| columns.iter().map(|c| run_cell(run, c)).collect())
            .collect(),
    }
}

/// A run's metrics one row per step, one column per key (sorted): the per-epoch table. When a
/// key has several points at one step, the latest (by timestamp, then value) is shown.
pub fn epochs_table(metrics: &[Metric]) -> Table {
    let keys: BTreeSet<&str> = metrics.iter().map(|m| m.key.as_str()).collect();
    let mut steps: BTreeMap<i64, BTreeMap<&str, &Metric>> = BTreeMap::new();
    for metric in metrics {
        let slot = steps
            .entry(metric.step)
            .or_default()
            .entry(metric.key.as_str())
            .or_insert(metric);
        if metric
            .timestamp
            .cmp(&slot.timestamp)
            .then(metric.value.total_cmp(&slot.value))
            .is_gt()
        {
            *slot = metric;
        }
    }
    Table {
        columns: std::iter::once("step".to_string())
            .chain(keys.iter().map(|k| k.to_string()))
            .collect(),
        rows: steps
            .into_iter()
            .map(|(step, row)| {
                std::iter::once(Cell::Int(step))
                    .chain(
                        keys.iter()
                            .map(|k| row.get(k).map_or(Cell::Null, |m| Cell::Float(m.value))),
                    )
                    .collect()
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(key: &str, step: i64, timestamp: i64, value: f64) -> Metric {
        Metric {
            key: key.into(),
            value,
            timestamp,
            step,
        }
    }

    #[test]
    fn epochs_table_has_one_row_per_step_and_the_latest_point_per_key() {
        let table = epochs_table(&[
            point("val_loss", 1, 10, 0.5),
            point("train_loss", 0, 5, 0.9),
            point("val_loss", 0, 5, 0.8),
            point("val_loss", 1, 20, 0.4),
        ]);
        assert_eq!(table.columns, ["step", "train_loss", "val_loss"]);
        assert_eq!(
            table.rows,
            vec![
                vec![Cell::Int(0), Cell::Float(0.9), Cell::Float(0.8)],
                vec![Cell::Int(1), Cell::Null, Cell::Float(0.4)],
            ]
        );
    }
}
