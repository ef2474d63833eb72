//! The run store: one SQLite file (WAL, foreign keys, migrations by `PRAGMA user_version`).
//!
//! [`Store`] is cheap to clone and usable from many threads. Every write goes to one writer
//! thread that groups concurrent writes into one transaction and answers each caller only after
//! the commit (see `writer`), so what a caller was told is stored survives a `kill -9` of the
//! process (WAL with `synchronous=NORMAL`: a commit is in the WAL file before it is
//! acknowledged; only an OS crash or power loss could lose the last commits). Reads run on a
//! small pool of read connections, in a snapshot transaction each, and never wait for writes.
//!
//! # Artifacts
//! Each run gets an artifact directory `<artifact root>/<experiment id>/<run id>/artifacts`
//! ([`Store::run_artifact_dir`]); the artifact root defaults to `<db stem>-artifacts` beside the
//! database file. The run's `artifact_uri` names that directory:
//! `file:///<artifact root>/<exp>/<run>/artifacts` for an embedded store
//! ([`ArtifactUris::File`], the default), `mlflow-artifacts:/<exp>/<run>/artifacts` when the
//! store is served by the daemon ([`ArtifactUris::Served`]), which serves the same directory.
//!
//! ```
//! use tracker::entities::{Metric, Param};
//! use tracker::store::{CreateRun, Store};
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(dir.path().join("runs.db")).unwrap();
//! let exp = store.get_or_create_experiment("mnist").unwrap();
//! let run = store.create_run(CreateRun { experiment_id: exp, ..CreateRun::default() }).unwrap();
//! let id = &run.info.run_id;
//! store.log_param(id, &Param { key: "lr".into(), value: "0.001".into() }).unwrap();
//! store.log_metric(id, &Metric { key: "val_loss".into(), value: 0.5, timestamp: 1, step: 0 }).unwrap();
//! assert_eq!(store.get_run(id).unwrap().data.metric("val_loss"), Some(0.5));
//! ```
//!
//! # Layout
//! - `requests`: the options and requests the store's calls take;
//! - `validate`: MLflow's input rules, checked before anything is written;
//! - `schema`: the schema and its migrations;
//! - `writer`: the single writer thread and its transactions;
//! - `write`, `experiments`, `inputs`: the writes, as SQL on the writer's connection;
//! - `files`, `artifacts`: atomic files, and where a run's artifacts live;
//! - `compile`: the query language compiled to SQL with bound parameters;
//! - `search`, `read`: searches and reads, as SQL on pooled read connections;
//! - `page`: the dashboard's reads (a page of runs with their count, an experiment's keys, a
//!   metric's points after a step).

mod artifacts;
mod compile;
mod experiments;
mod files;
mod inputs;
mod page;
mod read;
mod requests;
mod schema;
mod search;
pub mod validate;
mod write;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags};

use crate::entities::{Experiment, ExperimentTag, Metric, Param, Run, RunInfo, RunStatus, RunTag};
use crate::error::{Error, Result};
use artifacts::{
    absolute, default_artifact_root, experiment_artifact_location, resolve_local_location,
    run_artifact_uri,
};
use writer::Pending;

pub use files::temp_file_in;
pub use page::{ExperimentKeys, RunsPage};
pub use requests::{
    ArtifactUris, CreateRun, RunMetric, SearchExperiments, SearchRuns, StoreOptions,
};
pub use schema::SCHEMA_VERSION;

/// How many read connections are kept open between reads.
const MAX_IDLE_READERS: usize = 8;
/// How long a connection waits for a lock before giving up, in milliseconds.
const BUSY_TIMEOUT_MS: u64 = 10_000;

/// The run store. Cheap to clone; every clone uses the same writer thread and database.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    artifact_root: PathBuf,
    artifact_uris: ArtifactUris,
    readers: Mutex<Vec<Connection>>,
    writer: writer::Writer,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .field("artifact_root", &self.inner.artifact_root)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the store at `path`, with default [`StoreOptions`].
    ///
    /// # Errors
    /// The file cannot be opened or created, is not a SQLite database, or has a schema newer
    /// than this build.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        Store::open_with(path, StoreOptions::default())
    }

    /// Opens (creating if needed) the store at `path`: creates the parent directory, sets WAL
    /// mode, applies the migrations, ensures the `Default` experiment (id 0) and starts the
    /// writer thread.
    ///
    /// # Errors
    /// As [`Store::open`].
    pub fn open_with(path: impl AsRef<Path>, options: StoreOptions) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| Error::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let artifact_root = match options.artifact_root {
            Some(root) => root,
            None => default_artifact_root(&path),
        };
        let artifact_root = absolute(&artifact_root)?;
        let sql = |context: &str| {
            let path = path.clone();
            let context = context.to_string();
            move |source| Error::Sqlite {
                context,
                path,
                source,
            }
        };
        let mut conn = Connection::open(&path).map_err(sql("opening the database"))?;
        configure(&conn).map_err(sql("configuring the database"))?;
        let found = schema::migrate(&mut conn).map_err(sql("migrating the schema"))?;
        if found > SCHEMA_VERSION {
            return Err(Error::invalid(format!(
                "{} has schema version {found}, newer than this build's {SCHEMA_VERSION}",
                path.display()
            )));
        }
        let store_uris = options.artifact_uris;
        write::ensure_default_experiment(
            &conn,
            &experiment_artifact_location(
                &store_uris,
                &artifact_root,
                crate::entities::DEFAULT_EXPERIMENT_ID,
            ),
        )
        .map_err(sql("creating the Default experiment"))?;
        tracing::debug!(path = %path.display(), schema_from = found, "store opened");
        let writer = writer::Writer::start(conn, path.clone())?;
        Ok(Store {
            inner: Arc::new(Inner {
                path,
                artifact_root,
                artifact_uris: store_uris,
                readers: Mutex::new(Vec::new()),
                writer,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The root of the run artifact directories (absolute).
    pub fn artifact_root(&self) -> &Path {
        &self.inner.artifact_root
    }

    /// How this store writes artifact URIs ([`ArtifactUris::Served`]: through a daemon).
    pub fn artifact_uris(&self) -> &ArtifactUris {
        &self.inner.artifact_uris
    }

    // ----- experiments -----

    /// Creates an experiment and returns its id. `artifact_location` defaults to the
    /// experiment's directory under the artifact root.
    ///
    /// # Errors
    /// `RESOURCE_ALREADY_EXISTS` if the name is taken (even by a deleted experiment);
    /// `INVALID_PARAMETER_VALUE` for an empty or over-long name or a bad tag key.
    pub fn create_experiment(
        &self,
        name: &str,
        artifact_location: Option<&str>,
        tags: &[ExperimentTag],
    ) -> Result<String> {
        validate::validate_experiment_name(name)?;
        for tag in tags {
            experiments::validate_experiment_tag(&tag.key, &tag.value)?;
        }
        let name = name.to_string();
        let location = artifact_location
            .filter(|l| !l.is_empty())
            .map(resolve_local_location)
            .transpose()?;
        let tags = tags.to_vec();
        let (uris, root) = (
            self.inner.artifact_uris.clone(),
            self.inner.artifact_root.clone(),
        );
        let path = self.inner.path.clone();
        self.inner.writer.write(move |conn| {
            write::create_experiment(conn, &path, &name, location, &tags, |id| {
                experiment_artifact_location(&uris, &root, id)
            })
        })
    }

    /// The experiment with this id (active or deleted).
    ///
    /// # Errors
    /// `RESOURCE_DOES_NOT_EXIST` if there is none.
    pub fn get_experiment(&self, experiment_id: &str) -> Result<Experiment> {
        self.read(|conn, path| read::experiment_by_id(conn, path, experiment_id))
    }

    /// The experiment with this name, or `None`.
    pub fn get_experiment_by_name(&self, name: &str) -> Result<Option<Experiment>> {
        self.read(|conn, path| read::experiment_by_name(conn, path, name))
    }

    /// The id of the experiment named `name`, created if missing (safe against a concurrent
    /// creation of the same name).
    pub fn get_or_create_experiment(&self, name: &str) -> Result<String> {
        if let Some(experiment) = self.get_experiment_by_name(name)? {
            return Ok(experiment.experiment_id);
        }
        match self.create_experiment(name, None, &[]) {
            Err(Error::ExperimentExists { .. }) => self
                .get_experiment_by_name(name)?
                .map(|e| e.experiment_id)
                .ok_or_else(|| Error::ExperimentNameNotFound {
                    name: name.to_string(),
                }),
            other => other,
        }
    }

    // ----- runs -----

    /// Creates a run (status RUNNING) in an active experiment and returns it. The run's name
    /// is also stored as the tag `mlflow.runName`, and like every tag value it is truncated to
    /// 8000 characters.
    ///
    /// # Errors
    /// `RESOURCE_DOES_NOT_EXIST` for an unknown experiment; `INVALID_PARAMETER_VALUE` for a
    /// deleted experiment or a bad tag key.
    pub fn create_run(&self, request: CreateRun) -> Result<Run> {
        let (_, tags) = validate::prepare_batch(&[], &[], &request.tags)?;
        let run_name = request.run_name.as_deref().map(validate::truncate_run_name);
        let request = CreateRun {
            tags,
            run_name,
            ..request
        };
        let run_id = format!("{:032x}", rand::random::<u128>());
        let (uris, root) = (
            self.inner.artifact_uris.clone(),
            self.inner.artifact_root.clone(),
        );
        let path = self.inner.path.clone();
        let id = run_id.clone();
        self.inner.writer.write(move |conn| {
            write::create_run(conn, &path, &id, &request, |exp, location| {
                run_artifact_uri(&uris, &root, exp, location, &id)
            })
        })?;
        self.get_run(&run_id)
    }

    /// The run with its latest metric per key, params and tags (active or deleted).
    ///
    /// # Errors
    /// `RESOURCE_DOES_NOT_EXIST` if there is none.
    pub fn get_run(&self, run_id: &str) -> Result<Run> {
        self.read(|conn, path| {
            let mut runs =
                read::runs_with_data(conn, path, vec![read::run_info(conn, path, run_id)?])?;
            runs.pop().ok_or_else(|| Error::RunNotFound {
                run_id: run_id.to_string(),
            })
        })
    }

    /// Updates a run's status, end time and name (each only when given); a new name is also
    /// written to the `mlflow.runName` tag. Returns the updated info.
    ///
    /// # Errors
    /// `RESOURCE_DOES_NOT_EXIST` for an unknown run, `INVALID_PARAMETER_VALUE` for a deleted one.
    pub fn update_run(
        &self,
        run_id: &str,
        status: Option<RunStatus>,
        end_time: Option<i64>,
        run_name: Option<&str>,
    ) -> Result<RunInfo> {
        let (id, name, path) = (
            run_id.to_string(),
            run_name.map(validate::truncate_run_name),
            self.inner.path.clone(),
        );
        self.inner.writer.write(move |conn| {
            write::update_run(conn, &path, &id, status, end_time, name.as_deref())
        })?;
        self.read(|conn, path| read::run_info(conn, path, run_id))
    }

    /// Marks a run deleted (its data stays; [`Store::restore_run`] undoes it).
    ///
    /// # Errors
    /// `RESOURCE_DOES_NOT_EXIST` for an unknown run.
    pub fn delete_run(&self, run_id: &str) -> Result<()> {
        self.set_lifecycle(run_id, crate::entities::LIFECYCLE_DELETED)
    }

    /// Marks a deleted run active again.
    ///
    /// # Errors
    /// `RESOURCE_DOES_NOT_EXIST` for an unknown run.
    pub fn restore_run(&self, run_id: &str) -> Result<()> {
        self.set_lifecycle(run_id, crate::entities::LIFECYCLE_ACTIVE)
    }

    fn set_lifecycle(&self, run_id: &str, stage: &'static str) -> Result<()> {
        let (id, path) = (run_id.to_string(), self.inner.path.clone());
        self.inner
            .writer
            .write(move |conn| write::set_lifecycle(conn, &path, &id, stage))
    }

    /// Logs metrics, params and tags to an active run, all or nothing, in one transaction.
    /// Keys follow MLflow's rules; param values over 6000 and tag values over 8000 characters
    /// are truncated; an exact duplicate metric point is stored once; NaN and ±inf are kept.
    /// The batch-size limits (1000 metrics, 100 params, 100 tags) are the daemon's, not the
    /// store's.
    ///
    /// # Errors
    /// `RESOURCE_DOES_NOT_EXIST` for an unknown run; `INVALID_PARAMETER_VALUE` for a deleted
    /// run, a bad key, or a param already logged with another value (listing every conflict).
    pub fn log_batch(
        &self,
        run_id: &str,
        metrics: &[Metric],
        params: &[Param],
        tags: &[RunTag],
    ) -> Result<()> {
        self.submit_batch(run_id, metrics.to_vec(), params, tags)?
            .wait()
    }

    /// [`Store::log_batch`] for async callers: validates at once, then awaits the commit without
    /// blocking the task's thread (the daemon's write routes use it).
    ///
    /// # Errors
    /// As [`Store::log_batch`].
    pub async fn log_batch_async(
        &self,
        run_id: &str,
        metrics: Vec<Metric>,
        params: &[Param],
        tags: &[RunTag],
    ) -> Result<()> {
        self.submit_batch(run_id, metrics, params, tags)?
            .recv()
            .await
    }

    fn submit_batch(
        &self,
        run_id: &str,
        metrics: Vec<Metric>,
        params: &[Param],
        tags: &[RunTag],
    ) -> Result<Pending<()>> {
        let (params, tags) = validate::prepare_batch(&metrics, params, tags)?;
        let (id, path) = (run_id.to_string(), self.inner.path.clone());
        self.inner
            .writer
            .submit(move |conn| write::log_batch(conn, &path, &id, &metrics, &params, &tags))
    }

    /// Logs one metric point (see [`Store::log_batch`]).
    ///
    /// # Errors
    /// As [`Store::log_batch`].
    pub fn log_metric(&self, run_id: &str, metric: &Metric) -> Result<()> {
        self.log_batch(run_id, std::slice::from_ref(metric), &[], &[])
    }

    /// Logs one param (see [`Store::log_batch`]): the same value again is fine, another is not.
    ///
    /// # Errors
    /// As [`Store::log_batch`].
    pub fn log_param(&self, run_id: &str, param: &Param) -> Result<()> {
        self.log_batch(run_id, &[], std::slice::from_ref(param), &[])
    }

    /// Sets (or overwrites) one tag (see [`Store::log_batch`]). Setting `mlflow.runName` also
    /// renames the run.
    ///
    /// # Errors
    /// As [`Store::log_batch`].
    pub fn set_tag(&self, run_id: &str, tag: &RunTag) -> Result<()> {
        self.log_batch(run_id, &[], &[], std::slice::from_ref(tag))
    }

    /// Deletes one tag of an active run.
    ///
    /// # Errors
    /// `RESOURCE_DOES_NOT_EXIST` for an unknown run or a tag that is not set;
    /// `INVALID_PARAMETER_VALUE` for a deleted run.
    pub fn delete_tag(&self, run_id: &str, key: &str) -> Result<()> {
        let (id, key, path) = (run_id.to_string(), key.to_string(), self.inner.path.clone());
        self.inner
            .writer
            .write(move |conn| write::delete_tag(conn, &path, &id, &key))
    }

    // ----- plumbing -----

    /// Runs `work` on a read connection inside a snapshot (deferred) transaction.
    fn read<T>(&self, work: impl FnOnce(&Connection, &Path) -> Result<T>) -> Result<T> {
        let path = &self.inner.path;
        let sql = |context: &str| {
            let context = context.to_string();
            move |source| Error::Sqlite {
                context,
                path: path.clone(),
                source,
            }
        };
        let pooled = self
            .inner
            .readers
            .lock()
            .ok()
            .and_then(|mut pool| pool.pop());
        let conn = match pooled {
            Some(conn) => conn,
            None => {
                let conn = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(sql("opening a read connection"))?;
                conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))
                    .map_err(sql("configuring a read connection"))?;
                conn
            }
        };
        conn.execute_batch("BEGIN")
            .map_err(sql("beginning a read"))?;
        let result = work(&conn, path);
        let ended = conn.execute_batch("COMMIT");
        if ended.is_ok()
            && let Ok(mut pool) = self.inner.readers.lock()
            && pool.len() < MAX_IDLE_READERS
        {
            pool.push(conn);
        }
        result
    }
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(mode, "the database could not be switched to WAL mode");
    }
    conn.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")
}

/// Maps a rusqlite error to [`Error::Sqlite`] with the database path and what was being done.
pub(crate) fn sql_error(
    path: &Path,
    context: &'static str,
) -> impl FnOnce(rusqlite::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Sqlite {
        context: context.to_string(),
        path,
        source,
    }
}

/// Now, in ms since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
