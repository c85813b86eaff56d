//! Prometheus metrics. Names follow Prometheus conventions (`_total` counters, base units
//! `_seconds`/`_bytes`, a `ferroflow_` prefix); every series carries a `service` label set
//! once when the recorder is installed.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `ferroflow_records_total` | counter | `topic`, `outcome` = consumed, produced, failed, dead_lettered, skipped_duplicate |
//! | `ferroflow_dead_letters_total` | counter | `topic` (source), `reason` |
//! | `ferroflow_produce_latency_seconds` | histogram | `topic`; one record in 16 sampled |
//! | `ferroflow_producer_queue_records` | gauge | |
//! | `ferroflow_producer_queue_bytes` | gauge | |
//! | `ferroflow_consumer_lag_records` | gauge | `topic`, `partition`; partitions assigned here (0 once revoked) |
//! | `ferroflow_committed_offset` | gauge | `topic`, `partition` |
//! | `ferroflow_offset_commit_failures_total` | counter | |
//! | `ferroflow_kafka_client_errors_total` | counter | `code` |
//! | `ferroflow_ready` | gauge | 1 ready, 0 not |
//! | `ferroflow_kafka_reachable` | gauge | |
//! | `ferroflow_assigned_partitions` | gauge | |
//! | `ferroflow_batch_records` | histogram | `service` stage batches |
//! | `ferroflow_flush_duration_seconds` | histogram | |
//! | `process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_threads`, … | (metrics-process, at each scrape) | |

use metrics::{Counter, Histogram, counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use rdkafka::error::KafkaError;

/// Records consumed, produced, failed… per topic.
pub const RECORDS_TOTAL: &str = "ferroflow_records_total";
/// Dead letters per source topic and reason.
pub const DEAD_LETTERS_TOTAL: &str = "ferroflow_dead_letters_total";
/// Time from enqueue to delivery report.
pub const PRODUCE_LATENCY_SECONDS: &str = "ferroflow_produce_latency_seconds";
/// Records waiting in the producer's queues.
pub const PRODUCER_QUEUE_RECORDS: &str = "ferroflow_producer_queue_records";
/// Bytes waiting in the producer's queues.
pub const PRODUCER_QUEUE_BYTES: &str = "ferroflow_producer_queue_bytes";
/// Consumer lag in records per partition.
pub const CONSUMER_LAG_RECORDS: &str = "ferroflow_consumer_lag_records";
/// Last offset committed per partition.
pub const COMMITTED_OFFSET: &str = "ferroflow_committed_offset";
/// Offset commits that failed.
pub const OFFSET_COMMIT_FAILURES_TOTAL: &str = "ferroflow_offset_commit_failures_total";
/// Errors librdkafka reported.
pub const KAFKA_CLIENT_ERRORS_TOTAL: &str = "ferroflow_kafka_client_errors_total";
/// 1 when the service reports ready.
pub const READY: &str = "ferroflow_ready";
/// 1 when a broker is reachable.
pub const KAFKA_REACHABLE: &str = "ferroflow_kafka_reachable";
/// Partitions assigned to this instance.
pub const ASSIGNED_PARTITIONS: &str = "ferroflow_assigned_partitions";
/// Records per processed batch.
pub const BATCH_RECORDS: &str = "ferroflow_batch_records";
/// Time to make a batch durable (write, fsync, commit).
pub const FLUSH_DURATION_SECONDS: &str = "ferroflow_flush_duration_seconds";

/// What happened to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Read from Kafka.
    Consumed,
    /// Written to Kafka and acknowledged.
    Produced,
    /// Could not be written (delivery failed).
    Failed,
    /// Sent to the dead-letter topic.
    DeadLettered,
    /// Already processed before a restart; skipped.
    SkippedDuplicate,
}

impl Outcome {
    /// The `outcome` label value.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Consumed => "consumed",
            Outcome::Produced => "produced",
            Outcome::Failed => "failed",
            Outcome::DeadLettered => "dead_lettered",
            Outcome::SkippedDuplicate => "skipped_duplicate",
        }
    }
}

/// Installs the global Prometheus recorder for `service` and returns the handle that
/// renders `/metrics`. Installing twice in one process (tests) returns a handle to a
/// recorder that is not global; that is fine for rendering but records nothing.
pub fn install(service: &str) -> PrometheusHandle {
    let builder = PrometheusBuilder::new()
        .add_global_label("service", service)
        .set_buckets_for_metric(
            Matcher::Suffix("_seconds".into()),
            &[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ],
        )
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full(BATCH_RECORDS.into()),
                &[1.0, 10.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0, 50000.0],
            )
        })
        .unwrap_or_else(|_| PrometheusBuilder::new().add_global_label("service", service));
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    if metrics::set_global_recorder(recorder).is_err() {
        tracing::debug!("a metrics recorder is already installed");
    }
    handle
}

/// A counter of records with `outcome` on `topic`; keep the handle on hot paths.
pub fn records(topic: &str, outcome: Outcome) -> Counter {
    counter!(RECORDS_TOTAL, "topic" => topic.to_string(), "outcome" => outcome.label())
}

/// A counter of dead letters from `topic` for `reason`.
pub fn dead_letters(topic: &str, reason: &str) -> Counter {
    counter!(DEAD_LETTERS_TOTAL, "topic" => topic.to_string(), "reason" => reason.to_string())
}

/// The produce-latency histogram of `topic`.
pub fn produce_latency(topic: &str) -> Histogram {
    histogram!(PRODUCE_LATENCY_SECONDS, "topic" => topic.to_string())
}

/// The batch-size histogram.
pub fn batch_records() -> Histogram {
    histogram!(BATCH_RECORDS)
}

/// The flush-duration histogram.
pub fn flush_duration() -> Histogram {
    histogram!(FLUSH_DURATION_SECONDS)
}

pub(crate) fn producer_queue(records: u64, bytes: u64) {
    gauge!(PRODUCER_QUEUE_RECORDS).set(records as f64);
    gauge!(PRODUCER_QUEUE_BYTES).set(bytes as f64);
}

pub(crate) fn consumer_lag(topic: &str, partition: i32, lag: i64) {
    gauge!(CONSUMER_LAG_RECORDS, "topic" => topic.to_string(), "partition" => partition.to_string())
        .set(lag as f64);
}

pub(crate) fn committed_offset(topic: &str, partition: i32, offset: i64) {
    gauge!(COMMITTED_OFFSET, "topic" => topic.to_string(), "partition" => partition.to_string())
        .set(offset as f64);
}

pub(crate) fn commit_failed() {
    counter!(OFFSET_COMMIT_FAILURES_TOTAL).increment(1);
}

pub(crate) fn kafka_client_error(error: &KafkaError) {
    let code = error
        .rdkafka_error_code()
        .map(|c| format!("{c:?}"))
        .unwrap_or_else(|| "other".into());
    counter!(KAFKA_CLIENT_ERRORS_TOTAL, "code" => code).increment(1);
}

pub(crate) fn readiness(ready: bool, reachable: bool, assigned: usize) {
    gauge!(READY).set(if ready { 1.0 } else { 0.0 });
    gauge!(KAFKA_REACHABLE).set(if reachable { 1.0 } else { 0.0 });
    gauge!(ASSIGNED_PARTITIONS).set(assigned as f64);
}
