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
        let (reply, answer) = mpsc::sync_channel::<Result<T>>(1);
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
        answer.recv().map_err(|_| stopped())?
    }
}

impl Drop for Writer {
    /// Closes the channel, lets the thread finish the queued jobs, checkpoint and close the
    /// database, and waits for it.
    fn drop(&mut self) {
        self.sender.take();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!(path = %self.path.display(), "the store's writer thread panicked");
            }
        }
    }
}

fn in_savepoint<T>(conn: &Connection, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    let sql_error = |source| Error::Sqlite {
        context: "opening a savepoint".into(),
        path: conn.path().map(PathBuf::from).unwrap_or_default(),
        source,
    };
    conn.execute_batch("SAVEPOINT job").map_err(sql_error)?;
    let result = work(conn);
    let end = if result.is_ok() {
        "RELEASE job"
    } else {
        "ROLLBACK TO job; RELEASE job"
    };
    conn.execute_batch(end).map_err(sql_error)?;
    result
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
        if let Err(error) = conn.execute_batch("BEGIN IMMEDIATE") {
            let message = error.to_string();
            for job in jobs {
                // Run nothing: answer each job with the failure.
                let completion = job(None);
                completion(Err(message.clone()));
            }
            continue;
        }
        let completions: Vec<Completion> = jobs.into_iter().map(|job| job(Some(&conn))).collect();
        let commit = conn.execute_batch("COMMIT").map_err(|error| {
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
