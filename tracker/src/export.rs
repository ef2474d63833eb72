//! Parquet export: each experiment as Hive-partitioned Parquet files that pandas (pyarrow),
//! polars and DuckDB open with no options.
//!
//! ```text
//! DIR/experiment=<name>/runs.parquet     one row per run: ids, names, status, times,
//!                                        `params.<key>` (string) and `metrics.<key>` (latest, double)
//!                   .../params.parquet   long form: run_id, key, value
//!                   .../metrics.parquet  long form: run_id, key, step, timestamp, value
//!                   .../epochs.parquet   one row per run and step, one double column per metric key
//! ```
//!
//! Times are `Timestamp(ms, "UTC")`, steps `Int64`, values `Float64` (NaN and ±inf kept),
//! compression zstd. Every file is written to a hidden temporary file in the same directory,
//! synced, then renamed over the old one: a reader never sees half a file, and a crash never
//! destroys the previous export. (The four files are replaced one after the other, not together.)
//! An experiment name is used as the partition value with `/`, `%`, `=` and other characters
//! unsafe in paths percent-encoded, which pyarrow's Hive partitioning decodes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde::Serialize;

use crate::client::Client;
use crate::entities::{Experiment, Metric, Run, ViewType};
use crate::error::{Error, Result};
use crate::store::{SearchRuns, Store};

/// The runs file of an experiment's directory.
pub const RUNS_FILE: &str = "runs.parquet";
/// The long-form params file.
pub const PARAMS_FILE: &str = "params.parquet";
/// The long-form metrics file.
pub const METRICS_FILE: &str = "metrics.parquet";
/// The wide per-epoch metrics file.
pub const EPOCHS_FILE: &str = "epochs.parquet";
/// The Hive partition key of an experiment's directory (`experiment=<name>`).
pub const PARTITION_KEY: &str = "experiment";

/// Characters of an experiment name escaped in its directory name.
const PARTITION_VALUE: &AsciiSet = &CONTROLS
    .add(b'/')
    .add(b'\\')
    .add(b'%')
    .add(b'=')
    .add(b':')
    .add(b'*')
    .add(b'?')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'|')
    .add(b'#');

/// What one experiment's export wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportSummary {
    /// The experiment's id.
    pub experiment_id: String,
    /// The experiment's name.
    pub experiment_name: String,
    /// The experiment's directory (`DIR/experiment=<name>`).
    pub dir: PathBuf,
    /// Rows of `runs.parquet`.
    pub runs: usize,
    /// Rows of `params.parquet`.
    pub params: usize,
    /// Rows of `metrics.parquet`.
    pub metrics: usize,
    /// Rows of `epochs.parquet`.
    pub epochs: usize,
}

/// Everything exported about one experiment.
#[derive(Debug, Clone)]
pub struct ExperimentData {
    /// The experiment.
    pub experiment: Experiment,
    /// Its runs, with their latest metrics, params and tags.
    pub runs: Vec<Run>,
    /// Every metric point of each run, keyed by run id.
    pub history: HashMap<String, Vec<Metric>>,
}

impl ExperimentData {
    /// Reads an experiment's active runs and every metric point of them from the store, in two
    /// queries.
    ///
    /// # Errors
    /// `RESOURCE_DOES_NOT_EXIST` for an unknown experiment; database errors.
    pub fn from_store(store: &Store, experiment_id: &str) -> Result<ExperimentData> {
        let experiment = store.get_experiment(experiment_id)?;
        let runs = store.experiment_runs(experiment_id, ViewType::ActiveOnly)?;
        let mut history: HashMap<String, Vec<Metric>> = HashMap::new();
        for point in store.experiment_metrics(experiment_id, ViewType::ActiveOnly)? {
            history.entry(point.run_id).or_default().push(point.metric);
        }
        Ok(ExperimentData {
            experiment,
            runs,
            history,
        })
    }

    /// Reads an experiment's active runs and their metric histories through a client: from
    /// its store when embedded, else with one search and a get-history request per run and key.
    ///
    /// # Errors
    /// As [`ExperimentData::from_store`], or the daemon's errors.
    pub fn from_client(client: &Client, experiment_id: &str) -> Result<ExperimentData> {
        if let Some(store) = client.store() {
            return ExperimentData::from_store(store, experiment_id);
        }
        let experiment = client.get_experiment(experiment_id)?;
        let search = SearchRuns {
            experiment_ids: vec![experiment_id.to_string()],
            ..SearchRuns::default()
        };
        let runs = client.search_all_runs(&search, None)?;
        let mut history = HashMap::new();
        for run in &runs {
            history.insert(
                run.info.run_id.clone(),
                client.run_metrics(&run.info.run_id)?,
            );
        }
        Ok(ExperimentData {
            experiment,
            runs,
            history,
        })
    }
}

/// Exports one experiment of `store` under `out_dir` (what the daemon does when a run ends).
///
/// # Errors
/// `RESOURCE_DOES_NOT_EXIST` for an unknown experiment; I/O and Parquet errors naming the file.
pub fn export_experiment(
    store: &Store,
    experiment_id: &str,
    out_dir: &Path,
) -> Result<ExportSummary> {
    write_experiment(&ExperimentData::from_store(store, experiment_id)?, out_dir)
}

/// Exports every active experiment of `store` under `out_dir`.
///
/// # Errors
/// As [`export_experiment`]; experiments exported before an error stay exported.
pub fn export_all(store: &Store, out_dir: &Path) -> Result<Vec<ExportSummary>> {
    export_with_client(&Client::from_store(store.clone()), None, out_dir)
}

/// Exports the experiments `experiment_ids` (every active one when `None`) through a client,
/// embedded or remote, under `out_dir`.
///
/// # Errors
/// As [`export_experiment`].
pub fn export_with_client(
    client: &Client,
    experiment_ids: Option<&[String]>,
    out_dir: &Path,
) -> Result<Vec<ExportSummary>> {
    let ids: Vec<String> = match experiment_ids {
        Some(ids) => ids.to_vec(),
        None => client
            .list_experiments()?
            .into_iter()
            .map(|e| e.experiment_id)
            .collect(),
    };
    ids.iter()
        .map(|id| write_experiment(&ExperimentData::from_client(client, id)?, out_dir))
        .collect()
}

/// The directory of an experiment under `out_dir`: `out_dir/experiment=<escaped name>`.
pub fn experiment_dir(out_dir: &Path, experiment_name: &str) -> PathBuf {
    let mut value: String = utf8_percent_encode(experiment_name, PARTITION_VALUE).collect();
    // pyarrow skips files and directories whose names start with '.' or '_'; `experiment=` is
    // always in front, so only an empty name needs care.
    if value.is_empty() {
        value.push_str("%20");
    }
    out_dir.join(format!("{PARTITION_KEY}={value}"))
}

/// Writes the four Parquet files of `data` under `out_dir`, each replaced atomically.
pub fn write_experiment(data: &ExperimentData, out_dir: &Path) -> Result<ExportSummary> {
    let dir = experiment_dir(out_dir, &data.experiment.name);
    fs::create_dir_all(&dir).map_err(|source| Error::Io {
        path: dir.clone(),
        source,
    })?;
    let runs = runs_batch(data)?;
    let params = params_batch(data)?;
    let metrics = metrics_batch(data)?;
    let epochs = epochs_batch(data)?;
    let analysis = crate::analysis::analysis_batch(&data.runs, &data.history)?;
    for (name, batch) in [
        (RUNS_FILE, &runs),
        (PARAMS_FILE, &params),
        (METRICS_FILE, &metrics),
        (EPOCHS_FILE, &epochs),
        (crate::analysis::ANALYSIS_FILE, &analysis),
    ] {
        write_atomically(&dir.join(name), batch)?;
    }
    sync_dir(&dir)?;
    tracing::debug!(
        experiment = %data.experiment.name,
        runs = runs.num_rows(),
        metrics = metrics.num_rows(),
        dir = %dir.display(),
        "experiment exported"
    );
    Ok(ExportSummary {
        experiment_id: data.experiment.experiment_id.clone(),
        experiment_name: data.experiment.name.clone(),
        dir,
        runs: runs.num_rows(),
        params: params.num_rows(),
        metrics: metrics.num_rows(),
        epochs: epochs.num_rows(),
    })
}

fn utc_ms() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

fn strings<'a>(values: impl IntoIterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

fn batch(columns: Vec<(Field, ArrayRef)>, what: &str) -> Result<RecordBatch> {
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = columns.into_iter().unzip();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|error| Error::Io {
        path: PathBuf::from(what),
        source: std::io::Error::other(error),
    })
}

fn runs_batch(data: &ExperimentData) -> Result<RecordBatch> {
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
    let mut columns = vec![
        (
            Field::new("experiment_id", DataType::Utf8, false),
            strings(runs.iter().map(|_| data.experiment.experiment_id.as_str())),
        ),
        (
            Field::new("experiment_name", DataType::Utf8, false),
            strings(runs.iter().map(|_| data.experiment.name.as_str())),
        ),
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
    let param_keys: BTreeSet<&str> = runs
        .iter()
        .flat_map(|r| r.data.params.iter().map(|p| p.key.as_str()))
        .collect();
    for key in param_keys {
        let values = StringArray::from_iter(runs.iter().map(|r| r.data.param(key)));
        columns.push((
            Field::new(format!("params.{key}"), DataType::Utf8, true),
            Arc::new(values),
        ));
    }
    let metric_keys: BTreeSet<&str> = runs
        .iter()
        .flat_map(|r| r.data.metrics.iter().map(|m| m.key.as_str()))
        .collect();
    for key in metric_keys {
        let values = Float64Array::from_iter(runs.iter().map(|r| r.data.metric(key)));
        columns.push((
            Field::new(format!("metrics.{key}"), DataType::Float64, true),
            Arc::new(values),
        ));
    }
    batch(columns, RUNS_FILE)
}

fn params_batch(data: &ExperimentData) -> Result<RecordBatch> {
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
        PARAMS_FILE,
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

fn metrics_batch(data: &ExperimentData) -> Result<RecordBatch> {
    let rows: Vec<(&str, &Metric)> = points(data).collect();
    batch(
        vec![
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
                Arc::new(
                    TimestampMillisecondArray::from_iter_values(rows.iter().map(|r| r.1.timestamp))
                        .with_timezone("UTC"),
                ) as ArrayRef,
            ),
            (
                Field::new("value", DataType::Float64, false),
                Arc::new(Float64Array::from_iter_values(
                    rows.iter().map(|r| r.1.value),
                )) as ArrayRef,
            ),
        ],
        METRICS_FILE,
    )
}

/// The column name of metric `key` in `epochs.parquet`: the key itself, unless it would clash
/// with `run_id` or `step`.
pub fn epoch_column(key: &str) -> String {
    if key == "run_id" || key == "step" {
        format!("metrics.{key}")
    } else {
        key.to_string()
    }
}

fn epochs_batch(data: &ExperimentData) -> Result<RecordBatch> {
    // (run index, step) → key → (timestamp, value): the latest point per key and step wins.
    let run_index: HashMap<&str, usize> = data
        .runs
        .iter()
        .enumerate()
        .map(|(i, r)| (r.info.run_id.as_str(), i))
        .collect();
    type Latest<'a> = HashMap<&'a str, (i64, f64)>;
    let mut table: BTreeMap<(usize, i64), Latest> = BTreeMap::new();
    let mut keys = BTreeSet::new();
    for (run_id, m) in points(data) {
        let row = table.entry((run_index[run_id], m.step)).or_default();
        keys.insert(m.key.as_str());
        let cell = row.entry(m.key.as_str()).or_insert((m.timestamp, m.value));
        if m.timestamp
            .cmp(&cell.0)
            .then(m.value.total_cmp(&cell.1))
            .is_gt()
        {
            *cell = (m.timestamp, m.value);
        }
    }
    let mut columns = vec![
        (
            Field::new("run_id", DataType::Utf8, false),
            strings(
                table
                    .keys()
                    .map(|(i, _)| data.runs[*i].info.run_id.as_str()),
            ),
        ),
        (
            Field::new("step", DataType::Int64, false),
            Arc::new(Int64Array::from_iter_values(table.keys().map(|(_, s)| *s))) as ArrayRef,
        ),
    ];
    for key in keys {
        let values =
            Float64Array::from_iter(table.values().map(|row| row.get(key).map(|(_, v)| *v)));
        columns.push((
            Field::new(epoch_column(key), DataType::Float64, true),
            Arc::new(values),
        ));
    }
    batch(columns, EPOCHS_FILE)
}

fn parquet_error(path: &Path) -> impl FnOnce(parquet::errors::ParquetError) -> Error + '_ {
    move |error| Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(error),
    }
}

/// Writes `batch` to a hidden temporary file beside `path`, syncs it and renames it to `path`.
fn write_atomically(path: &Path, batch: &RecordBatch) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let io_error = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io_error)?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_created_by(concat!("gapwatch ", env!("CARGO_PKG_VERSION")).to_string())
        .build();
    let file: &mut File = tmp.as_file_mut();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(properties))
        .map_err(parquet_error(path))?;
    writer.write(batch).map_err(parquet_error(path))?;
    writer.close().map_err(parquet_error(path))?;
    tmp.as_file().sync_all().map_err(io_error)?;
    tmp.persist(path).map_err(|error| io_error(error.error))?;
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })
}
