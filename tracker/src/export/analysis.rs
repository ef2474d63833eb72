//! The analyses of many runs as one Arrow table: the `analysis` table of the Parquet export
//! (`DIR/analysis/experiment_id=<id>/part-0.parquet`). Each run is read into a
//! [`crate::analysis::RunRecord`] and analysed with the default config.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field};

use crate::analysis::{Analysis, AnalysisConfig, analyze, record_of};
use crate::entities::{Metric, Run};
use crate::error::Result;

use super::ANALYSIS;
use super::tables::batch;

/// One row per run: `run_id`, `verdict` (null when the run cannot be analysed, with the reason
/// in `error`), `epochs`, `best_epoch`, `best_metric`, `best_value`, `onset_epoch`,
/// `final_loss_gap`, `final_acc_gap`, `max_loss_gap`, `top_cause` (its config key), `summary`,
/// `error`. The schema is the same whatever the runs hold (every column but `run_id` is
/// nullable), so every partition of the export's table has it. `history` holds every metric
/// point of each run, keyed by run id.
pub fn analysis_batch(runs: &[Run], history: &HashMap<String, Vec<Metric>>) -> Result<RecordBatch> {
    let config = AnalysisConfig::default();
    let results: Vec<_> = runs
        .iter()
        .map(|run| {
            let points = history.get(&run.info.run_id).map_or(&[][..], Vec::as_slice);
            analyze(&record_of(run, points), &config)
        })
        .collect();
    let ok = |f: &dyn Fn(&Analysis) -> Option<f64>| -> ArrayRef {
        Arc::new(Float64Array::from(
            results
                .iter()
                .map(|r| r.as_ref().ok().and_then(f))
                .collect::<Vec<_>>(),
        ))
    };
    let int = |f: &dyn Fn(&Analysis) -> Option<i64>| -> ArrayRef {
        Arc::new(Int64Array::from(
            results
                .iter()
                .map(|r| r.as_ref().ok().and_then(f))
                .collect::<Vec<_>>(),
        ))
    };
    let text = |f: &dyn Fn(&Analysis) -> Option<String>| -> ArrayRef {
        Arc::new(StringArray::from(
            results
                .iter()
                .map(|r| r.as_ref().ok().and_then(f))
                .collect::<Vec<_>>(),
        ))
    };
    let columns: Vec<(Field, ArrayRef)> = vec![
        (
            Field::new("run_id", DataType::Utf8, false),
            Arc::new(StringArray::from(
                runs.iter()
                    .map(|r| r.info.run_id.clone())
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            Field::new("verdict", DataType::Utf8, true),
            text(&|a| Some(a.verdict.label().to_string())),
        ),
        (
            Field::new("epochs", DataType::Int64, true),
            int(&|a| i64::try_from(a.epochs).ok()),
        ),
        (
            Field::new("best_epoch", DataType::Int64, true),
            int(&|a| Some(a.best.epoch)),
        ),
        (
            Field::new("best_metric", DataType::Utf8, true),
            text(&|a| Some(a.best.metric.clone())),
        ),
        (
            Field::new("best_value", DataType::Float64, true),
            ok(&|a| Some(a.best.value)),
        ),
        (
            Field::new("onset_epoch", DataType::Int64, true),
            int(&|a| a.onset_epoch),
        ),
        (
            Field::new("final_loss_gap", DataType::Float64, true),
            ok(&|a| a.final_loss_gap),
        ),
        (
            Field::new("final_acc_gap", DataType::Float64, true),
            ok(&|a| a.final_acc_gap),
        ),
        (
            Field::new("max_loss_gap", DataType::Float64, true),
            ok(&|a| a.max_loss_gap),
        ),
        (
            Field::new("top_cause", DataType::Utf8, true),
            text(&|a| a.causes.first().map(|c| c.config_key.clone())),
        ),
        (
            Field::new("summary", DataType::Utf8, true),
            text(&|a| Some(a.summary.clone())),
        ),
        (
            Field::new("error", DataType::Utf8, true),
            Arc::new(StringArray::from(
                results
                    .iter()
                    .map(|r| r.as_ref().err().map(ToString::to_string))
                    .collect::<Vec<_>>(),
            )),
        ),
    ];
    batch(columns, ANALYSIS)
}
