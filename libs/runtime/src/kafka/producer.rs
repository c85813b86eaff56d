//! Delivery tracking for producers that keep many records in flight.
//!
//! A producer that awaits each send before the next has one record in flight and moves a
//! few thousand records a second. This one enqueues as fast as librdkafka accepts, counts
//! delivery reports in a callback, and treats a full local queue as backpressure: the
//! sender waits for deliveries to make room, never drops or fails the record.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use metrics::{Counter, Histogram};
use rdkafka::ClientContext;
use rdkafka::Message;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::ToBytes;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::statistics::Statistics;
use tokio::sync::Notify;

use crate::health::Health;
use crate::metrics::{self as m, Outcome};

/// One record in this many has its delivery latency recorded.
pub const LATENCY_SAMPLE: u64 = 16;

/// The token of a record whose latency is not recorded.
const NOT_SAMPLED: usize = 0;

/// Counts of one producer's records.
#[derive(Debug)]
pub struct DeliveryStats {
    epoch: Instant,
    enqueued: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    progress: Notify,
    first_error: Mutex<Option<String>>,
    per_topic: Mutex<HashMap<String, TopicMetrics>>,
}

#[derive(Debug)]
struct TopicMetrics {
    produced: Counter,
    failed: Counter,
    latency: Histogram,
}

impl DeliveryStats {
    fn new() -> Self {
        DeliveryStats {
            epoch: Instant::now(),
            enqueued: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            progress: Notify::new(),
            first_error: Mutex::new(None),
            per_topic: Mutex::new(HashMap::new()),
        }
    }

    /// Records handed to librdkafka.
    pub fn enqueued(&self) -> u64 {
        self.enqueued.load(Ordering::Relaxed)
    }

    /// Records the broker acknowledged.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Records that could not be delivered.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Records enqueued but not yet reported.
    pub fn in_flight(&self) -> u64 {
        self.enqueued()
            .saturating_sub(self.delivered() + self.failed())
    }

    /// The first delivery error, if any.
    pub fn first_error(&self) -> Option<String> {
        self.first_error.lock().ok().and_then(|e| e.clone())
    }

    /// An opaque token that carries the enqueue time to the delivery callback without an
    /// allocation per record; 0 for a record whose latency is not sampled. Reading the
    /// clock for every record at both ends cost more than the latency histogram is worth:
    /// one record in [`LATENCY_SAMPLE`] gives the same distribution.
    fn token(&self) -> usize {
        if !self.enqueued().is_multiple_of(LATENCY_SAMPLE) {
            return NOT_SAMPLED;
        }
        (self.epoch.elapsed().as_micros() as usize).max(1)
    }

    fn record(&self, topic: &str, ok: bool, enqueued_at_micros: usize) {
        if let Ok(mut topics) = self.per_topic.lock() {
            // Look up before inserting: `entry` would allocate the topic name for every
            // delivery report, and this runs once per record.
            if !topics.contains_key(topic) {
                topics.insert(
                    topic.to_string(),
                    TopicMetrics {
                        produced: m::records(topic, Outcome::Produced),
                        failed: m::records(topic, Outcome::Failed),
                        latency: m::produce_latency(topic),
                    },
                );
            }
            if let Some(metrics) = topics.get(topic) {
                metrics.record(ok, enqueued_at_micros, self.epoch);
            }
        }
        if ok {
            self.delivered.fetch_add(1, Ordering::Release);
        } else {
            self.failed.fetch_add(1, Ordering::Release);
        }
        self.progress.notify_one();
    }
}

impl TopicMetrics {
    fn record(&self, ok: bool, enqueued_at_micros: usize, epoch: Instant) {
        if ok {
            self.produced.increment(1);
            if enqueued_at_micros != NOT_SAMPLED {
                let now = epoch.elapsed().as_micros() as usize;
                self.latency
                    .record(now.saturating_sub(enqueued_at_micros) as f64 / 1e6);
            }
        } else {
            self.failed.increment(1);
        }
    }
}

/// Producer context that counts deliveries and exports statistics.
pub struct TrackingContext {
    health: Arc<Health>,
    stats: Arc<DeliveryStats>,
}

impl TrackingContext {
    /// A context reporting into `health`.
    pub fn new(health: Arc<Health>) -> Self {
        TrackingContext {
            health,
            stats: Arc::new(DeliveryStats::new()),
        }
    }

    /// The shared counters.
    pub fn stats(&self) -> Arc<DeliveryStats> {
        self.stats.clone()
    }
}

impl ClientContext for TrackingContext {
    fn stats(&self, statistics: Statistics) {
        super::context::export_statistics(&statistics, &self.health);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::AllBrokersDown)
        ) {
            self.health.set_kafka_reachable(false);
        }
        tracing::warn!(%error, reason, "Kafka producer error");
    }
}

impl ProducerContext for TrackingContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, enqueued_at: usize) {
        match result {
            Ok(message) => self.stats.record(message.topic(), true, enqueued_at),
            Err((error, message)) => {
                if let Ok(mut first) = self.stats.first_error.lock()
                    && first.is_none()
                {
                    *first = Some(error.to_string());
                    tracing::error!(%error, topic = message.topic(), "delivery failed");
                }
                self.stats.record(message.topic(), false, enqueued_at);
            }
        }
    }
}

/// The counters of a tracked producer.
pub fn stats(producer: &ThreadedProducer<TrackingContext>) -> Arc<DeliveryStats> {
    producer.context().stats()
}

/// Enqueues `record`, waiting while librdkafka's local queue is full.
pub async fn send<K, P>(
    producer: &ThreadedProducer<TrackingContext>,
    mut record: BaseRecord<'_, K, P, usize>,
) -> Result<(), KafkaError>
where
    K: ToBytes + ?Sized,
    P: ToBytes + ?Sized,
{
    let stats = &producer.context().stats;
    record = record.delivery_opaque(stats.token());
    loop {
        match producer.send(record) {
            Ok(()) => {
                stats.enqueued.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                // A delivery report frees a slot and wakes us; the timeout covers a report
                // that raced ahead of this wait.
                let _ = tokio::time::timeout(Duration::from_millis(10), stats.progress.notified())
                    .await;
            }
            Err((error, _)) => return Err(error),
        }
    }
}

/// Waits until every enqueued record has a delivery report, or `timeout` passes.
/// Returns the number still in flight.
pub async fn drain(producer: &ThreadedProducer<TrackingContext>, timeout: Duration) -> u64 {
    let stats = producer.context().stats.clone();
    let deadline = tokio::time::Instant::now() + timeout;
    while stats.in_flight() > 0 {
        let wait = stats.progress.notified();
        if stats.in_flight() == 0 {
            break;
        }
        let step = Duration::from_millis(50)
            .min(deadline.saturating_duration_since(tokio::time::Instant::now()));
        if step.is_zero() {
            break;
        }
        let _ = tokio::time::timeout(step, wait).await;
    }
    stats.in_flight()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_record_in_the_sample_size_carries_its_enqueue_time() {
        let stats = DeliveryStats::new();
        let mut sampled = 0;
        for _ in 0..LATENCY_SAMPLE * 4 {
            if stats.token() != NOT_SAMPLED {
                sampled += 1;
            }
            stats.enqueued.fetch_add(1, Ordering::Relaxed);
        }
        assert_eq!(sampled, 4);
    }

    #[test]
    fn the_first_record_is_sampled_even_at_the_epoch() {
        // A sampled token is never 0, or a record enqueued in the epoch's first
        // microsecond would pass for an unsampled one.
        let stats = DeliveryStats::new();
        assert_ne!(stats.token(), NOT_SAMPLED);
    }
}
