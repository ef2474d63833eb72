//! The run logger's shared state and its worker: the bounded buffer (oldest points dropped when
//! full), and the background thread that drains it in `log-batch` requests, retrying with
//! backoff what the server could not take.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::{LoggerConfig, LoggerStats};
use crate::client::Client;
use crate::entities::Metric;

pub(super) struct State {
    /// Waiting points, each with its sequence number (0, 1, 2, ... in logging order).
    pub(super) buffer: VecDeque<(u64, Metric)>,
    /// The sequence number the next logged point gets.
    pub(super) next_seq: u64,
    /// The lowest sequence number of the batch being sent, if one is.
    pub(super) in_flight_from: Option<u64>,
    /// Points in the batch being sent.
    pub(super) in_flight_len: u64,
    pub(super) stats: LoggerStats,
    /// Set by `finish`: the worker sends nothing more and exits.
    pub(super) stop: bool,
    /// Whether drops happened since the last warning was logged.
    pub(super) dropping: bool,
    /// Whether the worker is retrying a batch the server could not take.
    pub(super) retrying: bool,
    /// The last error a request met, for reports.
    pub(super) last_error: Option<String>,
}

impl State {
    /// The lowest sequence number not yet acknowledged, dropped or rejected.
    pub(super) fn first_pending(&self) -> u64 {
        let buffered = self.buffer.front().map_or(self.next_seq, |(seq, _)| *seq);
        self.in_flight_from
            .map_or(buffered, |seq| seq.min(buffered))
    }

    pub(super) fn snapshot(&self) -> LoggerStats {
        LoggerStats {
            pending: self.buffer.len() as u64 + self.in_flight_len,
            ..self.stats
        }
    }
}

pub(super) struct Shared {
    pub(super) state: Mutex<State>,
    /// Wakes the worker: points arrived, or stop.
    pub(super) wake: Condvar,
    /// Wakes flushers: the first pending sequence number moved.
    pub(super) progress: Condvar,
}

impl Shared {
    /// Locks the state. A panic while holding the lock cannot leave the counters inconsistent
    /// in a way that matters more than losing the logger, so a poisoned lock is taken over.
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Appends a point, dropping the oldest waiting one when the buffer is full.
pub(super) fn push(state: &mut State, config: &LoggerConfig, metric: Metric) {
    let seq = state.next_seq;
    state.next_seq += 1;
    state.stats.logged += 1;
    if state.buffer.len() >= config.max_buffered_metrics {
        state.buffer.pop_front();
        state.stats.dropped += 1;
        if !state.dropping {
            state.dropping = true;
            tracing::warn!(
                capacity = config.max_buffered_metrics,
                dropped = state.stats.dropped,
                "metric buffer full: dropping the oldest points until the server catches up"
            );
        }
    }
    state.buffer.push_back((seq, metric));
}

pub(super) struct Worker {
    pub(super) client: Client,
    pub(super) run_id: String,
    pub(super) config: LoggerConfig,
    pub(super) shared: Arc<Shared>,
}

impl Worker {
    pub(super) fn run(self) {
        while let Some(batch) = self.next_batch() {
            self.send(batch);
        }
    }

    /// Waits for points and takes the next batch out of the buffer; `None` once stopped.
    fn next_batch(&self) -> Option<Vec<Metric>> {
        let mut state = self.shared.lock();
        while state.buffer.is_empty() && !state.stop {
            state = self
                .shared
                .wake
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        if state.stop {
            return None;
        }
        let n = state.buffer.len().min(self.config.batch_size);
        state.in_flight_from = state.buffer.front().map(|(seq, _)| *seq);
        state.in_flight_len = n as u64;
        Some(state.buffer.drain(..n).map(|(_, metric)| metric).collect())
    }

    /// Sends one batch until it is acknowledged, refused, or the logger stops.
    fn send(&self, batch: Vec<Metric>) {
        let n = batch.len() as u64;
        let mut backoff = Duration::from_millis(self.config.initial_backoff_ms);
        loop {
            let result = self.client.log_batch(&self.run_id, &batch, &[], &[]);
            let mut state = self.shared.lock();
            match result {
                Ok(()) => {
                    state.stats.sent += n;
                    if std::mem::take(&mut state.retrying) {
                        tracing::info!(run_id = %self.run_id, "sending metrics again");
                    }
                    if state.buffer.len() < self.config.max_buffered_metrics {
                        state.dropping = false;
                    }
                }
                Err(error) if crate::client::http::is_retryable(&error) => {
                    state.stats.retries += 1;
                    if !std::mem::replace(&mut state.retrying, true) {
                        tracing::warn!(run_id = %self.run_id, %error, "cannot send metrics; retrying with backoff");
                    }
                    state.last_error = Some(error.to_string());
                    if state.stop {
                        // `stop_worker` counts the batch as unsent.
                        return;
                    }
                    let (state, _) = self
                        .shared
                        .wake
                        .wait_timeout_while(state, backoff, |s| !s.stop)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                    if state.stop {
                        return;
                    }
                    drop(state);
                    backoff = (backoff * 2).min(Duration::from_millis(self.config.max_backoff_ms));
                    continue;
                }
                Err(error) => {
                    tracing::error!(run_id = %self.run_id, points = n, %error, "server refused metrics");
                    state.stats.rejected += n;
                    state.last_error = Some(error.to_string());
                }
            }
            state.in_flight_from = None;
            state.in_flight_len = 0;
            drop(state);
            self.shared.progress.notify_all();
            return;
        }
    }
}
