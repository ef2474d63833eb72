//! Parquet export: five tables, one directory each, Hive-partitioned by experiment id, that
//! pandas, polars, DuckDB and pyarrow datasets read with no options.
//!
//! ```text
//! DIR/runs/experiment_id=<id>/part-0.parquet      one row per run
//! DIR/params/experiment_id=<id>/part-0.parquet    one row per run and param
//! DIR/metrics/experiment_id=<id>/part-0.parquet   one row per metric point (the whole history)
//! DIR/epochs/experiment_id=<id>/part-0.parquet    one row per run, step and metric key
//! DIR/analysis/experiment_id=<id>/part-0.parquet  one row per run: its overfitting analysis
//! ```
//!
//! Read a table by its directory: `pd.read_parquet("DIR/epochs")`, `pl.read_parquet("DIR/epochs")`,
//! `read_parquet('DIR/epochs/**/*.parquet')` in DuckDB, `pyarrow.dataset.dataset("DIR/epochs",
//! partitioning="hive")`. The `experiment_id` column comes from the directory names (the engines
//! infer an integer type for MLflow's numeric ids; pandas makes it categorical); every file holds
//! the experiment's name as the column `experiment_name`. Directory names depend on the id alone,
//! never on the name, so any valid name (up to 500 bytes) exports. Deleted experiments and runs
//! are left out unless asked for ([`export_with_client`] with `ViewType::All`: `track export
//! --include-deleted`); the `runs` table's `lifecycle_stage` tells them apart.
//!
//! Every partition of a table has the same schema, whatever the experiment logged: params and
//! metrics are long (key/value) tables, and `epochs` is tidy (one row per run, step and key;
//! pivot it on `key` for one column per metric). An experiment with no runs gets files with the
//! full schema and no rows, which also replaces what an earlier export wrote for it.
//!
//! | table | columns (`?` = nullable) |
//! |---|---|
//! | `runs` | `experiment_name`, `run_id`, `run_name`, `status`, `user_id`?, `lifecycle_stage`, `start_time`?, `end_time`?, `artifact_uri`? |
//! | `params` | `experiment_name`, `run_id`, `key`, `value` (all strings) |
//! | `metrics` | `experiment_name`, `run_id`, `key`, `step`, `timestamp`, `value` |
//! | `epochs` | `experiment_name`, `run_id`, `step`, `key`, `value`, `timestamp`: the latest point of each run, step and key (by timestamp, then value) |
//! | `analysis` | `experiment_name`, then the columns of [`analysis_batch`] |
//!
//! Strings are UTF-8, times `Timestamp(Millisecond, "UTC")`, steps `Int64`, values `Float64`
//! (NaN and ±inf kept); compression is zstd. Every file is written to a hidden temporary file in
//! its directory (`.part-0.parquet.<random>.tmp`, which the engines skip), synced, then renamed
//! over the old one, with the permissions `File::create` gives (see
//! [`crate::store::temp_file_in`]): a reader never sees half a file, and a crash never destroys
//! the previous export. (The five files of an experiment are replaced one after the other, not
//! together.) One experiment that fails to export does not stop the others
//! ([`ExportReport::failed`]).

use std::collections::HashMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;

use crate::client::Client;
use crate::entities::{Experiment, Metric, Run, ViewType};
use crate::error::{Error, Result};
use crate::store::{SearchRuns, Store};

mod analysis;
mod tables;

pub use analysis::analysis_batch;
use tables::{epochs_batch, metrics_batch, params_batch, runs_batch, with_experiment_name};

/// The runs table (its directory under the export root).
pub const RUNS: &str = "runs";
/// The long-form params table.
pub const PARAMS: &str = "params";
/// The long-form metrics table: every point.
pub const METRICS: &str = "metrics";
/// The tidy per-step table: the latest point per run, step and key.
pub const EPOCHS: &str = "epochs";
/// The analysis table, one row per run.
pub const ANALYSIS: &str = "analysis";
/// Every table of the export, in the order they are written.
pub const TABLES: [&str; 5] = [RUNS, PARAMS, METRICS, EPOCHS, ANALYSIS];
/// The Hive partition key of a table's directories (`experiment_id=<id>`).
pub const PARTITION_KEY: &str = "experiment_id";
/// The file in each partition directory.
pub const PART_FILE: &str = "part-0.parquet";

/// What one experiment's export wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportSummary {
    /// The experiment's id (its partition value).
    pub experiment_id: String,
    /// The experiment's name.
    pub experiment_name: String,
    /// The files written, one per table, in [`TABLES`] order.
    pub files: Vec<PathBuf>,
    /// Rows of the runs table.
    pub runs: usize,
    /// Rows of the params table.
    pub params: usize,
    /// Rows of the metrics table.
    pub metrics: usize,
    /// Rows of the epochs table.
    pub epochs: usize,
}

/// An experiment whose export failed.
#[derive(Debug)]
pub struct ExportFailure {
    /// The experiment's id.
    pub experiment_id: String,
    /// Why its export failed.
    pub error: Error,
}

/// What an export of several experiments did: each experiment is exported or failed.
#[derive(Debug, Default)]
pub struct ExportReport {
    /// The experiments exported.
    pub exported: Vec<ExportSummary>,
    /// The experiments that failed; the others were exported all the same.
    pub failed: Vec<ExportFailure>,
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
    /// Reads an experiment's runs in `view` (active, deleted or all) and every metric point of
    /// them from the store, in two queries.
    ///
    /// # Errors
    /// `RESOURCE_DOES_NOT_EXIST` for an unknown experiment; database errors.
    pub fn from_store(
        store: &Store,
        experiment_id: &str,
        view: ViewType,
    ) -> Result<ExperimentData> {
        let experiment = store.get_experiment(experiment_id)?;
        let runs = store.experiment_runs(experiment_id, view)?;
        let mut history: HashMap<String, Vec<Metric>> = HashMap::new();
        for point in store.experiment_metrics(experiment_id, view)? {
            history.entry(point.run_id).or_default().push(point.metric);
        }
        Ok(ExperimentData {
            experiment,
            runs,
            history,
        })
    }

    /// Reads an experiment's runs in `view` and their metric histories through a client: from
    /// its store when embedded, else with one search and a get-history request per run and key.
    ///
    /// # Errors
    /// As [`ExperimentData::from_store`], or the daemon's errors.
    pub fn from_client(
        client: &Client,
        experiment_id: &str,
        view: ViewType,
    ) -> Result<ExperimentData> {
        if let Some(store) = client.store() {
            return ExperimentData::from_store(store, experiment_id, view);
        }
        let experiment = client.get_experiment(experiment_id)?;
        let search = SearchRuns {
            experiment_ids: vec![experiment_id.to_string()],
            view_type: view,
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

/// Exports one experiment of `store` under `out_dir`, its active runs only: what the daemon's
/// `--export-dir` hook does when a run ends.
///
/// # Errors
/// `RESOURCE_DOES_NOT_EXIST` for an unknown experiment; I/O and Parquet errors naming the file.
pub fn export_experiment(
    store: &Store,
    experiment_id: &str,
    out_dir: &Path,
) -> Result<ExportSummary> {
    let data = ExperimentData::from_store(store, experiment_id, ViewType::ActiveOnly)?;
    write_experiment(&data, out_dir)
}

/// Exports every active experiment of `store` (their active runs) under `out_dir`.
///
/// # Errors
/// The experiments cannot be listed; the failures of single experiments are in the report.
pub fn export_all(store: &Store, out_dir: &Path) -> Result<ExportReport> {
    export_with_client(
        &Client::from_store(store.clone()),
        None,
        out_dir,
        ViewType::ActiveOnly,
    )
}

/// Exports the experiments `experiment_ids` (every one in `view` when `None`), each with its
/// runs in `view`, through a client, embedded or remote, under `out_dir`: what `track export`
/// does (`ViewType::All` with `--include-deleted`, else `ViewType::ActiveOnly`). An experiment
/// that fails is reported in [`ExportReport::failed`] (and logged) and the others are exported
/// all the same.
///
/// # Errors
/// The experiments cannot be listed.
pub fn export_with_client(
    client: &Client,
    experiment_ids: Option<&[String]>,
    out_dir: &Path,
    view: ViewType,
) -> Result<ExportReport> {
    let ids: Vec<String> = match experiment_ids {
        Some(ids) => ids.to_vec(),
        None => client
            .list_experiments_in(view)?
            .into_iter()
            .map(|e| e.experiment_id)
            .collect(),
    };
    let mut report = ExportReport::default();
    for id in ids {
        let exported = ExperimentData::from_client(client, &id, view)
            .and_then(|data| write_experiment(&data, out_dir));
        match exported {
            Ok(summary) => report.exported.push(summary),
            Err(error) => {
                tracing::warn!(experiment_id = %id, error = %error_chain(&error), "export failed");
                report.failed.push(ExportFailure {
                    experiment_id: id,
                    error,
                });
            }
        }
    }
    Ok(report)
}

/// `error` and its sources, joined by `": "`.
fn error_chain(error: &Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The partition directory of experiment `experiment_id` in table `table`:
/// `out_dir/<table>/experiment_id=<id>`, the id percent-encoded but for ASCII letters, digits,
/// `-` and `_` (MLflow's numeric ids are used as they are).
pub fn partition_dir(out_dir: &Path, table: &str, experiment_id: &str) -> PathBuf {
    let value: String = utf8_percent_encode(experiment_id, ID_ESCAPES).collect();
    out_dir.join(table).join(format!("{PARTITION_KEY}={value}"))
}

/// The file of experiment `experiment_id` in table `table`:
/// `out_dir/<table>/experiment_id=<id>/part-0.parquet`.
pub fn table_file(out_dir: &Path, table: &str, experiment_id: &str) -> PathBuf {
    partition_dir(out_dir, table, experiment_id).join(PART_FILE)
}

/// Characters of an experiment id escaped in its directory name: all but letters, digits, `-`
/// and `_`.
const ID_ESCAPES: &percent_encoding::AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_');

/// Writes the five tables of `data` under `out_dir`, each file replaced atomically.
///
/// # Errors
/// I/O and Parquet errors naming the file.
pub fn write_experiment(data: &ExperimentData, out_dir: &Path) -> Result<ExportSummary> {
    let id = &data.experiment.experiment_id;
    let runs = runs_batch(data)?;
    let params = params_batch(data)?;
    let metrics = metrics_batch(data)?;
    let epochs = epochs_batch(data)?;
    let analysis =
        with_experiment_name(data, analysis_batch(&data.runs, &data.history)?, ANALYSIS)?;
    let mut files = Vec::with_capacity(TABLES.len());
    for (table, batch) in TABLES
        .into_iter()
        .zip([&runs, &params, &metrics, &epochs, &analysis])
    {
        let dir = partition_dir(out_dir, table, id);
        fs::create_dir_all(&dir).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        let file = dir.join(PART_FILE);
        write_atomically(&file, batch)?;
        sync_dir(&dir)?;
        files.push(file);
    }
    tracing::debug!(
        experiment = %data.experiment.name,
        runs = runs.num_rows(),
        metrics = metrics.num_rows(),
        out = %out_dir.display(),
        "experiment exported"
    );
    Ok(ExportSummary {
        experiment_id: id.clone(),
        experiment_name: data.experiment.name.clone(),
        files,
        runs: runs.num_rows(),
        params: params.num_rows(),
        metrics: metrics.num_rows(),
        epochs: epochs.num_rows(),
    })
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
    let mut tmp = crate::store::temp_file_in(dir, &name).map_err(io_error)?;
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
