//! The dead-letter topic: where a record goes when a stage cannot process it.
//!
//! The original key, payload, timestamp and headers are kept as they were, so the record
//! can be replayed once the cause is fixed; `ff-dlq-*` headers say where it came from and
//! why it was rejected (see [`crate::kafka::headers`]).

use std::time::Duration;

use rdkafka::Message;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Headers, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};

use super::context::ObservedContext;
use super::headers;
use crate::metrics;

/// Why a record was rejected.
#[derive(Debug, Clone)]
pub struct Rejection<'a> {
    /// Stable reason code, e.g. `missing_field`.
    pub kind: &'a str,
    /// Human-readable reason.
    pub message: &'a str,
}

/// The headers of `message`'s dead letter: its own headers, then where it came from and
/// why `stage` rejected it. A transactional stage sends dead letters inside its
/// transaction with these, so they are exactly-once like its other output.
///
/// `message` is a record as consumed or a detached copy of one (`OwnedMessage`), for a
/// stage that learns only later, e.g. from a database, that a record is rejected.
pub fn headers_for<M: Message>(
    message: &M,
    stage: &str,
    rejection: &Rejection<'_>,
) -> OwnedHeaders {
    let mut out =
        OwnedHeaders::new_with_capacity(message.headers().map(|h| h.count()).unwrap_or(0) + 7);
    if let Some(original) = message.headers() {
        for header in original.iter() {
            out = out.insert(header);
        }
    }
    let partition = message.partition().to_string();
    let offset = message.offset().to_string();
    let now = rdkafka::util::current_time_millis().to_string();
    for (name, value) in [
        (headers::DLQ_SOURCE_TOPIC, message.topic()),
        (headers::DLQ_SOURCE_PARTITION, partition.as_str()),
        (headers::DLQ_SOURCE_OFFSET, offset.as_str()),
        (headers::DLQ_STAGE, stage),
        (headers::DLQ_ERROR_KIND, rejection.kind),
        (headers::DLQ_ERROR_MESSAGE, rejection.message),
        (headers::DLQ_TIMESTAMP, now.as_str()),
    ] {
        out = headers::with(out, name, value);
    }
    out
}

/// Sends rejected records to the dead-letter topic.
pub struct DeadLetters {
    producer: FutureProducer<ObservedContext>,
    topic: String,
    stage: String,
}

impl DeadLetters {
    /// Dead letters of `stage` (the service name) go to `topic` through `producer`.
    pub fn new(producer: FutureProducer<ObservedContext>, topic: &str, stage: &str) -> Self {
        DeadLetters {
            producer,
            topic: topic.to_string(),
            stage: stage.to_string(),
        }
    }

    /// The dead-letter topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Enqueues `message` with the reason for its rejection. The returned future resolves
    /// once the broker has it; a caller must await it before committing past the record's
    /// offset, or the record could be lost. `message` may be a detached copy
    /// (`OwnedMessage`) of the consumed record.
    pub async fn send<M: Message>(
        &self,
        message: &M,
        rejection: Rejection<'_>,
    ) -> Result<DeliveryFuture, KafkaError> {
        let out = headers_for(message, &self.stage, &rejection);
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&self.topic).headers(out);
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        if let Some(payload) = message.payload() {
            record = record.payload(payload);
        }
        if let Some(ts) = message.timestamp().to_millis() {
            record = record.timestamp(ts);
        }
        loop {
            match self.producer.send_result(record) {
                Ok(delivery) => {
                    metrics::dead_letters(message.topic(), rejection.kind).increment(1);
                    metrics::records(message.topic(), metrics::Outcome::DeadLettered).increment(1);
                    tracing::debug!(
                        topic = message.topic(),
                        partition = message.partition(),
                        offset = message.offset(),
                        reason = rejection.kind,
                        "record sent to dead letters"
                    );
                    return Ok(delivery);
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    // The local queue is full: the producer thread is still delivering.
                    // Back off briefly instead of failing the record.
                    record = back;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((error, _)) => return Err(error),
            }
        }
    }

    /// Waits until every enqueued dead letter is delivered (or `timeout` passes).
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        rdkafka::producer::Producer::flush(&self.producer, timeout)
    }
}
