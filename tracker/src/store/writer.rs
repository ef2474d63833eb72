//! The single writer thread: every write of the store runs here, grouped into transactions.
//!
//! Callers send a job and block until the transaction that contains it is committed, so an
//! acknowledged write is in the WAL (and survives a `kill -9` of the process). Jobs that arrive
//! while a transaction runs are grouped into the next one (group commit); each job runs inside
//! its own savepoint, so a job that fails leaves the others of its group untouched.

use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::error::{Error, Result};

/// Most jobs grouped into one transaction.
const MAX_JOBS_PER_TRANSACTION: usize = 512;

type Completion = Box<dyn FnOnce(std::result::Result<(), String>) + Send>;
/// A job runs its work on `Some(conn)`; on `None` (no transaction could begin) it runs nothing.
type Job = Box<dyn FnOnce(Option<&Connection>) -> Completion + Send>;

/// Handle to the writer thread.
pub(crate) struct Writer {
    path: PathBuf,
    sender: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer thread, which owns `conn` until the writer is dropped.
    pub(crate) fn start(conn: Connection, path: PathBuf) -> Result<Writer> {
        let (sender, receiver) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("tracker-writer".into())
            .spawn(move || run(conn, receiver))
            .map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
        Ok(Writer {
            path,
            sender: Some(sender),
            thread: Some(thread),
        })
    }

    /// Runs `work` in the writer's next transaction and returns its result once committed.
    pub(crate) fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.submit(work)?.wait()
    }

    /// Queues `work` for the writer's next transaction without waiting for it.
    pub(crate) fn submit<T, F>(&self, work: F) -> Result<Pending<T>>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<Result<T>>();
        let path = self.path.clone();
        let job: Job = Box::new(move |conn: Option<&Connection>| {
            let result = match conn {
                Some(conn) => in_savepoint(conn, work),
                None => Err(Error::WriterStopped { path: path.clone() }),
            };
            Box::new(move |commit: std::result::Result<(), String>| {
                let outcome = match commit {
                    Ok(()) => result,
                    Err(message) => Err(Error::CommitFailed { path, message }),
                };
                // The caller may have gone away; then nobody needs the answer.
                let _ = reply.send(outcome);
            })
        });
        let stopped = || Error::WriterStopped {
            path: self.path.clone(),
        };
        self.sender
            .as_ref()
            .ok_or_else(stopped)?
            .send(job)
            .map_err(|_| stopped())?;
        Ok(Pending {
            answer,
            path: self.path.clone(),
        })
    }
}

/// A write queued on the writer: its result once the transaction holding it is committed.
#[must_use = "a write is acknowledged only once its result is received"]
pub(crate) struct Pending<T> {
    answer: oneshot::Receiver<Result<T>>,
    path: PathBuf,
}

impl<T> Pending<T> {
    /// Blocks the calling thread until the write is committed (never call it on an async task).
    pub(crate) fn wait(self) -> Result<T> {
        let path = self.path;
        self.answer
            .blocking_recv()
            .map_err(|_| Error::WriterStopped { path })?
    }

    /// Waits, without blocking the thread, until the write is committed.
    pub(crate) async fn recv(self) -> Result<T> {
        let path = self.path;
        self.answer
            .await
            .map_err(|_| Error::WriterStopped { path })?
    }
}

impl Drop for Writer {
    /// Closes the channel, lets the thread finish the queued jobs, checkpoint and close the
    /// database, and waits for it.
    fn drop(&mut self) {
        self.sender.take();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!(path = %self.path.display(), "the store's writer thread panicked");
        }
    }
}

fn in_savepoint<T>(conn: &Connection, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    let sql_error = |source| Error::Sqlite {
        context: "opening a savepoint".into(),
        path: conn.path().map(PathBuf::from).unwrap_or_default(),
        source,
    };
    execute_cached(conn, "SAVEPOINT job").map_err(sql_error)?;
    let result = work(conn);
    if result.is_err() {
        execute_cached(conn, "ROLLBACK TO job").map_err(sql_error)?;
    }
    execute_cached(conn, "RELEASE job").map_err(sql_error)?;
    result
}

/// Runs one statement from the connection's statement cache (these run once per write, and
/// `execute_batch` would parse them every time).
fn execute_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

fn run(conn: Connection, receiver: mpsc::Receiver<Job>) {
    while let Ok(first) = receiver.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_JOBS_PER_TRANSACTION {
            match receiver.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let count = jobs.len();
        if let Err(error) = execute_cached(&conn, "BEGIN IMMEDIATE") {
            let message = error.to_string();
            for job in jobs {
                // Run nothing: answer each job with the failure.
                let completion = job(None);
                completion(Err(message.clone()));
            }
            continue;
        }
        let completions: Vec<Completion> = jobs.into_iter().map(|job| job(Some(&conn))).collect();
        let commit = execute_cached(&conn, "COMMIT").map_err(|error| {
            let _ = conn.execute_batch("ROLLBACK");
            error.to_string()
        });
        tracing::trace!(jobs = count, ok = commit.is_ok(), "write transaction");
        for completion in completions {
            completion(commit.clone());
        }
    }
    if let Err(error) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
        tracing::warn!(%error, "final WAL checkpoint failed");
    }
    if let Err((_, error)) = conn.close() {
        tracing::warn!(%error, "closing the database failed");
    }
}
