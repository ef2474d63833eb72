//! [`RunLogger`]: metrics buffered in memory and sent by a background thread.
//!
//! Training calls [`RunLogger::log_metric`], which only appends to a bounded in-memory buffer and
//! never waits on the network. One worker thread drains the buffer in `log-batch` requests of at
//! most [`LoggerConfig::batch_size`] points, one request in flight at a time, so points queue up
//! (and batch up) while a request is on the wire. When the daemon cannot be reached or answers
//! with a status worth retrying (408, 429, 5xx), the worker retries the same batch with
//! exponential backoff; exact duplicates are stored once by the server, so a batch whose answer
//! was lost can be sent again safely. While the buffer is full the oldest waiting points are
//! dropped: counted, logged once per episode, and reported by [`RunLogger::finish`].
//! A batch the server refuses as a client mistake (4xx) is not retried: it is counted as
//! rejected, with the server's message.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::entities::{Metric, RunStatus};
use crate::error::{Error, Result};

use super::{Client, now_ms};

mod worker;

use worker::{Shared, State, Worker, push};

/// Default for [`LoggerConfig::max_buffered_metrics`].
pub const DEFAULT_MAX_BUFFERED_METRICS: usize = 100_000;
/// Default for [`LoggerConfig::batch_size`]: MLflow's limit of metrics per log-batch request.
pub const DEFAULT_BATCH_SIZE: usize = 1000;
/// Default for [`LoggerConfig::initial_backoff_ms`].
pub const DEFAULT_INITIAL_BACKOFF_MS: u64 = 100;
/// Default for [`LoggerConfig::max_backoff_ms`].
pub const DEFAULT_MAX_BACKOFF_MS: u64 = 5_000;
/// Default for [`LoggerConfig::flush_timeout_secs`].
pub const DEFAULT_FLUSH_TIMEOUT_SECS: u64 = 120;

/// How a [`RunLogger`] buffers and retries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggerConfig {
    /// The most metric points kept waiting to be sent; when a new point arrives at a full
    /// buffer, the oldest waiting point is dropped and counted.
    pub max_buffered_metrics: usize,
    /// The most points per log-batch request: 1 to 1000 (MLflow's limit).
    pub batch_size: usize,
    /// The wait before the first retry of a failed request; doubled after each failure.
    pub initial_backoff_ms: u64,
    /// The longest wait between two retries.
    pub max_backoff_ms: u64,
    /// How long [`RunLogger::flush`] and [`RunLogger::finish`] wait for the server to
    /// acknowledge what was logged before giving up.
    pub flush_timeout_secs: u64,
}

impl Default for LoggerConfig {
    fn default() -> Self {
        LoggerConfig {
            max_buffered_metrics: DEFAULT_MAX_BUFFERED_METRICS,
            batch_size: DEFAULT_BATCH_SIZE,
            initial_backoff_ms: DEFAULT_INITIAL_BACKOFF_MS,
            max_backoff_ms: DEFAULT_MAX_BACKOFF_MS,
            flush_timeout_secs: DEFAULT_FLUSH_TIMEOUT_SECS,
        }
    }
}

impl LoggerConfig {
    /// Checks the invariants: `1 <= batch_size <= 1000`, `batch_size <= max_buffered_metrics`,
    /// `0 < initial_backoff_ms <= max_backoff_ms`.
    pub fn validate(&self) -> Result<()> {
        if !(1..=DEFAULT_BATCH_SIZE).contains(&self.batch_size) {
            return Err(Error::invalid(format!(
                "logger batch_size must be 1 to {DEFAULT_BATCH_SIZE}, got {}",
                self.batch_size
            )));
        }
        if self.max_buffered_metrics < self.batch_size {
            return Err(Error::invalid(format!(
                "logger max_buffered_metrics ({}) must be at least batch_size ({})",
                self.max_buffered_metrics, self.batch_size
            )));
        }
        if self.initial_backoff_ms == 0 || self.initial_backoff_ms > self.max_backoff_ms {
            return Err(Error::invalid(format!(
                "logger backoff must satisfy 0 < initial_backoff_ms ({}) <= max_backoff_ms ({})",
                self.initial_backoff_ms, self.max_backoff_ms
            )));
        }
        Ok(())
    }
}

/// What happened to the points given to a [`RunLogger`] so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LoggerStats {
    /// Points given to the logger.
    pub logged: u64,
    /// Points the server acknowledged.
    pub sent: u64,
    /// Points dropped because the buffer was full.
    pub dropped: u64,
    /// Points the server refused (a 4xx answer, e.g. an invalid key).
    pub rejected: u64,
    /// Points given up on at [`RunLogger::finish`] because the server never acknowledged them
    /// within the flush timeout.
    pub unsent: u64,
    /// Points still waiting (buffered or in flight).
    pub pending: u64,
    /// Requests that failed and were retried.
    pub retries: u64,
}

impl LoggerStats {
    /// Points that were logged but will never reach the server.
    pub fn lost(&self) -> u64 {
        self.dropped + self.rejected + self.unsent
    }
}

/// Logs a run's metrics without ever making training wait on the network.
///
/// Made by [`Client::logger`]. Call [`RunLogger::finish`] at the end of the run: it waits for
/// the server to acknowledge every point, ends the run with the given status and returns what
/// happened to the points. Dropping a logger without `finish` stops its thread and logs how
/// many points were still waiting, but waits for nothing.
pub struct RunLogger {
    client: Client,
    run_id: String,
    config: LoggerConfig,
    shared: Arc<Shared>,
    worker: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for RunLogger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunLogger")
            .field("run_id", &self.run_id)
            .field("stats", &self.stats())
            .finish()
    }
}

impl RunLogger {
    /// Starts the worker thread for run `run_id`.
    pub(crate) fn start(client: Client, run_id: &str, config: LoggerConfig) -> Result<RunLogger> {
        config.validate()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                buffer: VecDeque::new(),
                next_seq: 0,
                in_flight_from: None,
                in_flight_len: 0,
                stats: LoggerStats::default(),
                stop: false,
                dropping: false,
                retrying: false,
                last_error: None,
            }),
            wake: Condvar::new(),
            progress: Condvar::new(),
        });
        let worker = Worker {
            client: client.clone(),
            run_id: run_id.to_string(),
            config: config.clone(),
            shared: Arc::clone(&shared),
        };
        let worker = std::thread::Builder::new()
            .name("track-logger".into())
            .spawn(move || worker.run())
            .map_err(|source| Error::Io {
                path: "track-logger thread".into(),
                source,
            })?;
        Ok(RunLogger {
            client,
            run_id: run_id.to_string(),
            config,
            shared,
            worker: Some(worker),
        })
    }

    /// The run this logger writes to.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Logs one point of metric `key` at `step`, timestamped now. Returns at once.
    pub fn log_metric(&self, key: &str, value: f64, step: i64) {
        self.log(Metric {
            key: key.to_string(),
            value,
            timestamp: now_ms(),
            step,
        });
    }

    /// Logs several metrics at the same `step` with one timestamp. Returns at once.
    pub fn log_metrics<'a>(&self, metrics: impl IntoIterator<Item = (&'a str, f64)>, step: i64) {
        let timestamp = now_ms();
        let mut state = self.shared.lock();
        for (key, value) in metrics {
            push(
                &mut state,
                &self.config,
                Metric {
                    key: key.to_string(),
                    value,
                    timestamp,
                    step,
                },
            );
        }
        drop(state);
        self.shared.wake.notify_one();
    }

    /// Logs one point as given. Returns at once.
    pub fn log(&self, metric: Metric) {
        push(&mut self.shared.lock(), &self.config, metric);
        self.shared.wake.notify_one();
    }

    /// What happened to the points so far.
    pub fn stats(&self) -> LoggerStats {
        self.shared.lock().snapshot()
    }

    /// Waits until the server acknowledged (or refused) every point logged before this call.
    ///
    /// Fails after [`LoggerConfig::flush_timeout_secs`] with the number of points still
    /// waiting; they stay buffered and the worker keeps retrying them.
    pub fn flush(&self) -> Result<LoggerStats> {
        let deadline = Instant::now() + Duration::from_secs(self.config.flush_timeout_secs);
        let mut state = self.shared.lock();
        let target = state.next_seq;
        self.shared.wake.notify_one();
        while state.first_pending() < target {
            let now = Instant::now();
            if now >= deadline {
                let waiting = state.snapshot().pending;
                let reason = state
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "no answer".into());
                return Err(Error::Http {
                    url: self.client.uri().to_string(),
                    message: format!(
                        "{waiting} metric points of run {} not acknowledged after {}s (last error: {reason})",
                        self.run_id, self.config.flush_timeout_secs
                    ),
                });
            }
            state = self
                .shared
                .progress
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
        Ok(state.snapshot())
    }

    /// Flushes, stops the worker and ends the run with `status` and the current time.
    ///
    /// Points the server did not acknowledge within the flush timeout are counted as `unsent`
    /// and logged as an error; the returned stats say what was lost ([`LoggerStats::lost`]).
    ///
    /// # Errors
    /// The run's status could not be recorded (retried until the flush timeout); the message
    /// carries the counts of sent, dropped, rejected and unsent points.
    pub fn finish(mut self, status: RunStatus) -> Result<LoggerStats> {
        let flushed = self.flush();
        let stats = self.stop_worker();
        if let Err(error) = flushed {
            tracing::error!(run_id = %self.run_id, %error, "metrics were not all delivered");
        }
        if stats.lost() > 0 {
            tracing::error!(
                run_id = %self.run_id,
                dropped = stats.dropped,
                rejected = stats.rejected,
                unsent = stats.unsent,
                "metric points were lost"
            );
        }
        let deadline = Instant::now() + Duration::from_secs(self.config.flush_timeout_secs);
        let mut backoff = Duration::from_millis(self.config.initial_backoff_ms);
        loop {
            match self.client.update_run(&self.run_id, status, Some(now_ms())) {
                Ok(()) => return Ok(stats),
                Err(error)
                    if super::http::is_retryable(&error) && Instant::now() + backoff < deadline =>
                {
                    tracing::debug!(run_id = %self.run_id, %error, "retrying run update");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_millis(self.config.max_backoff_ms));
                }
                Err(error) => {
                    return Err(Error::Http {
                        url: self.client.uri().to_string(),
                        message: format!(
                            "run {} could not be set {status} ({error}); metric points: {} sent, \
                             {} dropped, {} rejected, {} unsent",
                            self.run_id, stats.sent, stats.dropped, stats.rejected, stats.unsent
                        ),
                    });
                }
            }
        }
    }

    /// Tells the worker to stop, waits for it and counts what it leaves behind as unsent.
    fn stop_worker(&mut self) -> LoggerStats {
        self.shared.lock().stop = true;
        self.shared.wake.notify_all();
        if let Some(worker) = self.worker.take()
            && worker.join().is_err()
        {
            tracing::error!(run_id = %self.run_id, "the metric logger thread panicked");
        }
        let mut state = self.shared.lock();
        let left = state.buffer.len() as u64 + state.in_flight_len;
        state.buffer.clear();
        state.in_flight_from = None;
        state.in_flight_len = 0;
        state.stats.unsent += left;
        state.snapshot()
    }
}

impl Drop for RunLogger {
    fn drop(&mut self) {
        if self.worker.is_none() {
            return;
        }
        let mut state = self.shared.lock();
        state.stop = true;
        let pending = state.snapshot().pending;
        drop(state);
        self.shared.wake.notify_all();
        if pending > 0 {
            tracing::warn!(run_id = %self.run_id, pending, "metric logger dropped without finish(): waiting points are lost");
        }
    }
}
