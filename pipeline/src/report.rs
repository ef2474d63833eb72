//! Stage counters and the per-epoch report: items, busy time, time blocked on input and on
//! output per stage, the bottleneck stage, skipped samples by reason.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, Sender};
use serde::Serialize;

use crate::decode::SkipReason;
use crate::source::Split;

/// Counters of one stage, summed over its workers.
#[derive(Debug, Default)]
pub(crate) struct StageCounters {
    pub(crate) name: &'static str,
    pub(crate) workers: usize,
    pub(crate) items: AtomicU64,
    pub(crate) busy_ns: AtomicU64,
    pub(crate) wait_in_ns: AtomicU64,
    pub(crate) wait_out_ns: AtomicU64,
}

/// A worker's local tallies, added to its stage's counters when it exits.
#[derive(Default)]
pub(crate) struct Tally {
    pub(crate) items: u64,
    pub(crate) busy: Duration,
    pub(crate) wait_in: Duration,
    pub(crate) wait_out: Duration,
}

impl Tally {
    pub(crate) fn flush(&self, c: &StageCounters) {
        c.items.fetch_add(self.items, Ordering::Relaxed);
        c.busy_ns
            .fetch_add(self.busy.as_nanos() as u64, Ordering::Relaxed);
        c.wait_in_ns
            .fetch_add(self.wait_in.as_nanos() as u64, Ordering::Relaxed);
        c.wait_out_ns
            .fetch_add(self.wait_out.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Receives, timing the wait.
    pub(crate) fn recv<T>(&mut self, rx: &Receiver<T>) -> Option<T> {
        let t = Instant::now();
        let item = rx.recv().ok();
        self.wait_in += t.elapsed();
        item
    }

    /// Sends, timing the wait; false when the receiver is gone.
    pub(crate) fn send<T>(&mut self, tx: &Sender<T>, item: T) -> bool {
        let t = Instant::now();
        let ok = tx.send(item).is_ok();
        self.wait_out += t.elapsed();
        ok
    }
}

/// One stage in a [`PipelineReport`].
#[derive(Debug, Clone, Serialize)]
pub struct StageReport {
    /// `read`, `decode`, `augment` or `batch`.
    pub name: String,
    /// Worker threads.
    pub workers: usize,
    /// Items processed.
    pub items: u64,
    /// Items per wall-clock second.
    pub images_per_sec: f64,
    /// Seconds spent working, summed over workers.
    pub busy_secs: f64,
    /// Seconds blocked waiting for input, summed over workers.
    pub blocked_in_secs: f64,
    /// Seconds blocked waiting for room downstream, summed over workers.
    pub blocked_out_secs: f64,
    /// busy / (workers × wall): 1.0 means the stage never rested.
    pub utilization: f64,
}

/// What one epoch of a [`Running`](crate::Running) did.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineReport {
    /// The epoch.
    pub epoch: u64,
    /// The split.
    pub split: Split,
    /// Samples emitted in batches.
    pub samples: u64,
    /// Batches emitted.
    pub batches: u64,
    /// Wall-clock seconds from start to join.
    pub wall_secs: f64,
    /// Samples emitted per wall-clock second.
    pub images_per_sec: f64,
    /// Per-stage counters, in pipeline order.
    pub stages: Vec<StageReport>,
    /// The stage with the highest utilization.
    pub bottleneck: String,
    /// Skipped samples by reason.
    pub skipped: BTreeMap<SkipReason, u64>,
    /// Samples served from the decoded-image cache.
    pub cache_hits: u64,
}

impl PipelineReport {
    /// Total skipped samples.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    /// The epochs of `reports` as one report: counts, busy and blocked times and skips summed
    /// (stages matched by position), wall time summed, rates and the bottleneck recomputed over
    /// it; `epoch` is the last one's. `None` for no reports.
    pub fn merge(reports: &[PipelineReport]) -> Option<PipelineReport> {
        let (first, rest) = reports.split_first()?;
        let mut merged = first.clone();
        for r in rest {
            merged.epoch = r.epoch;
            merged.samples += r.samples;
            merged.batches += r.batches;
            merged.wall_secs += r.wall_secs;
            merged.cache_hits += r.cache_hits;
            for (i, s) in r.stages.iter().enumerate() {
                match merged.stages.get_mut(i) {
                    Some(acc) => {
                        acc.items += s.items;
                        acc.busy_secs += s.busy_secs;
                        acc.blocked_in_secs += s.blocked_in_secs;
                        acc.blocked_out_secs += s.blocked_out_secs;
                    }
                    None => merged.stages.push(s.clone()),
                }
            }
            for (reason, n) in &r.skipped {
                *merged.skipped.entry(*reason).or_default() += n;
            }
        }
        let wall = merged.wall_secs.max(1e-9);
        merged.images_per_sec = merged.samples as f64 / wall;
        for s in &mut merged.stages {
            s.set_rates(wall);
        }
        merged.bottleneck = bottleneck(&merged.stages);
        Some(merged)
    }
}

/// Per-stage reports from the counters of an epoch that ran `wall_secs`.
pub(crate) fn stage_reports(stages: &[StageCounters], wall_secs: f64) -> Vec<StageReport> {
    let secs = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64 / 1e9;
    stages
        .iter()
        .map(|c| {
            let items = c.items.load(Ordering::Relaxed);
            let mut report = StageReport {
                name: c.name.to_string(),
                workers: c.workers,
                items,
                images_per_sec: 0.0,
                busy_secs: secs(&c.busy_ns),
                blocked_in_secs: secs(&c.wait_in_ns),
                blocked_out_secs: secs(&c.wait_out_ns),
                utilization: 0.0,
            };
            report.set_rates(wall_secs);
            report
        })
        .collect()
}

impl StageReport {
    /// Recomputes `images_per_sec` and `utilization` for a run of `wall_secs` (after summing
    /// the counters of several epochs).
    pub fn set_rates(&mut self, wall_secs: f64) {
        let wall = wall_secs.max(1e-9);
        self.images_per_sec = self.items as f64 / wall;
        self.utilization = self.busy_secs / (self.workers.max(1) as f64 * wall);
    }
}

/// The name of the stage with the highest utilization (the one the others wait for).
pub fn bottleneck(stages: &[StageReport]) -> String {
    stages
        .iter()
        .max_by(|a, b| a.utilization.total_cmp(&b.utilization))
        .map(|s| s.name.clone())
        .unwrap_or_default()
}

/// The process's peak resident memory so far, in bytes (`VmHWM` of `/proc/self/status`, Linux);
/// none where that is unavailable.
pub fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_hwm(&status)
}

/// The `VmHWM:  123456 kB` line of a `/proc/<pid>/status` text, in bytes.
fn parse_vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let mut parts = line["VmHWM:".len()..].split_whitespace();
    let value: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") => Some(value * 1024),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(name: &str, items: u64, busy_secs: f64) -> StageReport {
        StageReport {
            name: name.into(),
            workers: 1,
            items,
            images_per_sec: 0.0,
            busy_secs,
            blocked_in_secs: 0.5,
            blocked_out_secs: 0.25,
            utilization: 0.0,
        }
    }

    fn epoch(
        epoch: u64,
        wall_secs: f64,
        decode_busy: f64,
        skipped: &[(SkipReason, u64)],
    ) -> PipelineReport {
        PipelineReport {
            epoch,
            split: Split::Train,
            samples: 100,
            batches: 4,
            wall_secs,
            images_per_sec: 100.0 / wall_secs,
            stages: vec![
                stage("decode", 100, decode_busy),
                stage("augment", 100, 1.0),
            ],
            bottleneck: String::new(),
            skipped: skipped.iter().copied().collect(),
            cache_hits: epoch * 10,
        }
    }

    #[test]
    fn merged_epochs_sum_their_counts_and_recompute_rates_and_the_bottleneck() {
        assert!(PipelineReport::merge(&[]).is_none());
        let reports = [
            epoch(1, 2.0, 1.9, &[(SkipReason::Truncated, 2)]),
            epoch(
                2,
                2.0,
                0.3,
                &[(SkipReason::Truncated, 1), (SkipReason::NotAnImage, 3)],
            ),
        ];
        let merged = PipelineReport::merge(&reports).unwrap_or_else(|| unreachable!());
        assert_eq!((merged.epoch, merged.samples, merged.batches), (2, 200, 8));
        assert_eq!(merged.wall_secs, 4.0);
        assert_eq!(merged.images_per_sec, 50.0);
        assert_eq!(merged.cache_hits, 30);
        assert_eq!(merged.skipped[&SkipReason::Truncated], 3);
        assert_eq!(merged.skipped[&SkipReason::NotAnImage], 3);
        assert_eq!(merged.skipped_total(), 6);
        let decode = &merged.stages[0];
        assert_eq!((decode.items, decode.blocked_in_secs), (200, 1.0));
        assert!((decode.utilization - 2.2 / 4.0).abs() < 1e-12);
        assert_eq!(merged.stages[1].utilization, 0.5);
        // Over both epochs decode is the busiest; in the second alone, augment.
        assert_eq!(merged.bottleneck, "decode");
        let only = PipelineReport::merge(&reports[1..]).unwrap_or_else(|| unreachable!());
        assert_eq!(only.bottleneck, "augment");
    }

    #[test]
    fn vm_hwm_is_read_in_bytes() {
        let text = "Name:\ttrack\nVmPeak:\t  900 kB\nVmHWM:\t   1234 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(parse_vm_hwm(text), Some(1234 * 1024));
        assert_eq!(parse_vm_hwm("Name:\ttrack\n"), None);
        #[cfg(target_os = "linux")]
        assert!(peak_resident_bytes().is_some_and(|b| b > 0));
    }
}
