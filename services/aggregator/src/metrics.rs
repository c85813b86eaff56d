//! The aggregator's own metrics, beside the runtime's shared ones
//! (`ferroflow_records_total{topic,outcome}` counts consumed, dead-lettered and
//! skipped-duplicate input records; `ferroflow_commits_total`, lag and so on).
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `ferroflow_aggregator_late_events_total` | counter | `topic` (input) |
//! | `ferroflow_aggregator_windows_emitted_total` | counter | `topic` (output), `result` = final, early |
//! | `ferroflow_aggregator_watermark_lag_seconds` | gauge | `topic`, `partition`: wall clock minus watermark |
//! | `ferroflow_aggregator_open_windows` | gauge | `topic` (input): state size |
//! | `ferroflow_aggregator_restores_total` | counter | `topic`: operator states rebuilt |
//! | `ferroflow_aggregator_replayed_records_total` | counter | `topic`: records re-read to rebuild them |
//! | `ferroflow_aggregator_dropped_partials_total` | counter | shares of windows the merger had closed |

use metrics::{Counter, counter, gauge};

/// Late events of input `topic`.
pub fn late_events(topic: &str) -> Counter {
    counter!("ferroflow_aggregator_late_events_total", "topic" => topic.to_string())
}

/// Windows emitted to output `topic`.
pub fn windows_emitted(topic: &str, is_final: bool) -> Counter {
    counter!(
        "ferroflow_aggregator_windows_emitted_total",
        "topic" => topic.to_string(),
        "result" => if is_final { "final" } else { "early" }
    )
}

/// How far event time trails the wall clock in `topic`'s `partition`.
pub fn watermark_lag(topic: &str, partition: i32, seconds: f64) {
    gauge!(
        "ferroflow_aggregator_watermark_lag_seconds",
        "topic" => topic.to_string(),
        "partition" => partition.to_string()
    )
    .set(seconds);
}

/// Open windows of the operators of input `topic`.
pub fn open_windows(topic: &str, windows: usize) {
    gauge!("ferroflow_aggregator_open_windows", "topic" => topic.to_string()).set(windows as f64);
}

/// A state restore of a partition of `topic`, which re-read `replayed` records.
pub fn restored(topic: &str, replayed: u64) {
    counter!("ferroflow_aggregator_restores_total", "topic" => topic.to_string()).increment(1);
    counter!("ferroflow_aggregator_replayed_records_total", "topic" => topic.to_string())
        .increment(replayed);
}

/// Shares dropped by the merger.
pub fn dropped_partials(count: usize) {
    counter!("ferroflow_aggregator_dropped_partials_total").increment(count as u64);
}
