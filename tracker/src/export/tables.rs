//! The Arrow tables of the export, built from one experiment's data: `runs`, `params`,
//! `metrics` and `epochs` (the `analysis` table is in `analysis`), each with the experiment's
//! name as its first column.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

use crate::entities::{Metric, Run};
use crate::error::{Error, Result};

use super::{EPOCHS, ExperimentData, METRICS, PARAMS, RUNS};

fn utc_ms() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

fn strings<'a>(values: impl IntoIterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

fn utc_times(values: impl IntoIterator<Item = i64>) -> ArrayRef {
    Arc::new(TimestampMillisecondArray::from_iter_values(values).with_timezone("UTC"))
}

pub(super) fn batch(columns: Vec<(Field, ArrayRef)>, table: &str) -> Result<RecordBatch> {
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = columns.into_iter().unzip();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|error| Error::Io {
        path: PathBuf::from(table),
        source: std::io::Error::other(error),
    })
}

/// The `experiment_name` column, first, of a table of `rows` rows.
fn experiment_name(data: &ExperimentData, rows: usize) -> (Field, ArrayRef) {
    (
        Field::new("experiment_name", DataType::Utf8, false),
        strings(std::iter::repeat_n(data.experiment.name.as_str(), rows)),
    )
}

/// `batch` with the `experiment_name` column in front.
pub(super) fn with_experiment_name(
    data: &ExperimentData,
    batch: RecordBatch,
    table: &str,
) -> Result<RecordBatch> {
    let mut columns = vec![experiment_name(data, batch.num_rows())];
    let schema = batch.schema();
    columns.extend(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .zip(batch.columns().iter().cloned()),
    );
    self::batch(columns, table)
}

pub(super) fn runs_batch(data: &ExperimentData) -> Result<RecordBatch> {
    let runs = &data.runs;
    let info = |f: fn(&Run) -> &str| strings(runs.iter().map(f));
    let optional = |f: fn(&Run) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter(
            runs.iter().map(|r| Some(f(r)).filter(|s| !s.is_empty())),
        ))
    };
    let times = |f: fn(&Run) -> Option<i64>| -> ArrayRef {
        Arc::new(TimestampMillisecondArray::from_iter(runs.iter().map(f)).with_timezone("UTC"))
    };
    let columns = vec![
        experiment_name(data, runs.len()),
        (
            Field::new("run_id", DataType::Utf8, false),
            info(|r| &r.info.run_id),
        ),
        (
            Field::new("run_name", DataType::Utf8, false),
            info(|r| &r.info.run_name),
        ),
        (
            Field::new("status", DataType::Utf8, false),
            info(|r| r.info.status.as_str()),
        ),
        (
            Field::new("user_id", DataType::Utf8, true),
            optional(|r| &r.info.user_id),
        ),
        (
            Field::new("lifecycle_stage", DataType::Utf8, false),
            info(|r| &r.info.lifecycle_stage),
        ),
        (
            Field::new("start_time", utc_ms(), true),
            times(|r| r.info.start_time),
        ),
        (
            Field::new("end_time", utc_ms(), true),
            times(|r| r.info.end_time),
        ),
        (
            Field::new("artifact_uri", DataType::Utf8, true),
            optional(|r| &r.info.artifact_uri),
        ),
    ];
    batch(columns, RUNS)
}

pub(super) fn params_batch(data: &ExperimentData) -> Result<RecordBatch> {
    let rows: Vec<(&str, &str, &str)> = data
        .runs
        .iter()
        .flat_map(|r| {
            r.data
                .params
                .iter()
                .map(move |p| (r.info.run_id.as_str(), p.key.as_str(), p.value.as_str()))
        })
        .collect();
    batch(
        vec![
            experiment_name(data, rows.len()),
            (
                Field::new("run_id", DataType::Utf8, false),
                strings(rows.iter().map(|r| r.0)),
            ),
            (
                Field::new("key", DataType::Utf8, false),
                strings(rows.iter().map(|r| r.1)),
            ),
            (
                Field::new("value", DataType::Utf8, false),
                strings(rows.iter().map(|r| r.2)),
            ),
        ],
        PARAMS,
    )
}

/// Every metric point of the experiment, run by run in `data.runs` order.
fn points(data: &ExperimentData) -> impl Iterator<Item = (&str, &Metric)> {
    data.runs.iter().flat_map(|r| {
        let id = r.info.run_id.as_str();
        data.history
            .get(id)
            .into_iter()
            .flatten()
            .map(move |m| (id, m))
    })
}

pub(super) fn metrics_batch(data: &ExperimentData) -> Result<RecordBatch> {
    let rows: Vec<(&str, &Metric)> = points(data).collect();
    batch(
        vec![
            experiment_name(data, rows.len()),
            (
                Field::new("run_id", DataType::Utf8, false),
                strings(rows.iter().map(|r| r.0)),
            ),
            (
                Field::new("key", DataType::Utf8, false),
                strings(rows.iter().map(|r| r.1.key.as_str())),
            ),
            (
                Field::new("step", DataType::Int64, false),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1.step))) as ArrayRef,
            ),
            (
                Field::new("timestamp", utc_ms(), false),
                utc_times(rows.iter().map(|r| r.1.timestamp)),
            ),
            (
                Field::new("value", DataType::Float64, false),
                Arc::new(Float64Array::from_iter_values(
                    rows.iter().map(|r| r.1.value),
                )) as ArrayRef,
            ),
        ],
        METRICS,
    )
}

pub(super) fn epochs_batch(data: &ExperimentData) -> Result<RecordBatch> {
    // (run index, step, key) → (timestamp, value): the latest point wins, ties broken by value.
    let run_index: HashMap<&str, usize> = data
        .runs
        .iter()
        .enumerate()
        .map(|(i, r)| (r.info.run_id.as_str(), i))
        .collect();
    let mut table: BTreeMap<(usize, i64, &str), (i64, f64)> = BTreeMap::new();
    for (run_id, m) in points(data) {
        let cell = table
            .entry((run_index[run_id], m.step, m.key.as_str()))
            .or_insert((m.timestamp, m.value));
        if m.timestamp
            .cmp(&cell.0)
            .then(m.value.total_cmp(&cell.1))
            .is_gt()
        {
            *cell = (m.timestamp, m.value);
        }
    }
    batch(
        vec![
            experiment_name(data, table.len()),
            (
                Field::new("run_id", DataType::Utf8, false),
                strings(
                    table
                        .keys()
                        .map(|(i, _, _)| data.runs[*i].info.run_id.as_str()),
                ),
            ),
            (
                Field::new("step", DataType::Int64, false),
                Arc::new(Int64Array::from_iter_values(
                    table.keys().map(|(_, step, _)| *step),
                )) as ArrayRef,
            ),
            (
                Field::new("key", DataType::Utf8, false),
                strings(table.keys().map(|(_, _, key)| *key)),
            ),
            (
                Field::new("value", DataType::Float64, false),
                Arc::new(Float64Array::from_iter_values(
                    table.values().map(|(_, value)| *value),
                )) as ArrayRef,
            ),
            (
                Field::new("timestamp", utc_ms(), false),
                utc_times(table.values().map(|(timestamp, _)| *timestamp)),
            ),
        ],
        EPOCHS,
    )
}
