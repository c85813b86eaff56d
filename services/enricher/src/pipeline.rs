//! The enricher's Kafka side: read raw records, decode, validate and enrich, and write
//! the result — or a dead letter — through one [`StageOutput`], exactly-once by default.
//!
//! Every input record ends in exactly one place: its enriched topic (same key, so per-key
//! order holds, protobuf with a `content-type` header, the input's `ff-producer-id`,
//! `ff-seq` and trace context carried over) or `dead-letters` (the original record with
//! the reason in headers). In exactly-once mode both kinds of output and the input offsets
//! commit in one transaction per batch.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use ferroflow_runtime::config::TopicNames;
use ferroflow_runtime::kafka::batch::BatchHandler;
use ferroflow_runtime::kafka::context::ObservedContext;
use ferroflow_runtime::kafka::dead_letter::Rejection;
use ferroflow_runtime::kafka::headers;
use ferroflow_runtime::kafka::transactional::StageOutput;
use ferroflow_runtime::metrics::{self as ff_metrics, Outcome};
use ferroflow_schema::{Format, Record, StockTick, UserLogin, decode};
use metrics::Counter;
use rdkafka::Message;
use rdkafka::consumer::StreamConsumer;
use rdkafka::message::{BorrowedMessage, Header, Headers, OwnedHeaders};
use rdkafka::producer::BaseRecord;

use crate::{LoginEnricher, TickEnricher};

/// Which raw stream a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    Ticks,
    Logins,
}

/// Headers carried from input to output unchanged.
const CARRIED: [&str; 4] = [
    headers::PRODUCER_ID,
    headers::SEQUENCE,
    "traceparent",
    "tracestate",
];

/// Consumed records per input topic; produced ones are counted by the producer's
/// delivery callback, once the broker has them.
struct Counters {
    consumed: Counter,
}

/// The batch handler of the enricher.
pub struct Enrich<'a> {
    consumer: &'a StreamConsumer<ObservedContext>,
    output: Arc<StageOutput>,
    topics: &'a TopicNames,
    ticks: TickEnricher,
    logins: LoginEnricher,
    payload: Vec<u8>,
    ticks_counters: Counters,
    logins_counters: Counters,
}

impl<'a> Enrich<'a> {
    /// A handler writing through `output`.
    pub fn new(
        consumer: &'a StreamConsumer<ObservedContext>,
        output: Arc<StageOutput>,
        topics: &'a TopicNames,
        ticks: TickEnricher,
        logins: LoginEnricher,
    ) -> Self {
        let counters = |input: &str| Counters {
            consumed: ff_metrics::records(input, Outcome::Consumed),
        };
        Enrich {
            consumer,
            output,
            topics,
            ticks,
            logins,
            payload: Vec::with_capacity(512),
            ticks_counters: counters(&topics.stock_ticks),
            logins_counters: counters(&topics.user_login),
        }
    }

    async fn dead_letter(
        &self,
        message: &BorrowedMessage<'_>,
        kind: &str,
        reason: &str,
    ) -> anyhow::Result<()> {
        let rejection = Rejection {
            kind,
            message: reason,
        };
        self.output
            .send_rejected(message, &self.topics.dead_letters, crate::STAGE, &rejection)
            .await
            .context("cannot send a dead letter")?;
        ff_metrics::dead_letters(message.topic(), kind).increment(1);
        ff_metrics::records(message.topic(), Outcome::DeadLettered).increment(1);
        Ok(())
    }
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

fn carried_headers(message: &BorrowedMessage<'_>) -> OwnedHeaders {
    let mut out = OwnedHeaders::new_with_capacity(5);
    out = headers::with(out, headers::CONTENT_TYPE, Format::Protobuf.content_type());
    if let Some(input) = message.headers() {
        for header in input.iter().filter(|h| CARRIED.contains(&h.key)) {
            out = out.insert(Header {
                key: header.key,
                value: header.value,
            });
        }
    }
    out
}

impl BatchHandler for Enrich<'_> {
    async fn handle(&mut self, message: &BorrowedMessage<'_>) -> anyhow::Result<()> {
        let topic = message.topic();
        let input = if topic == self.topics.stock_ticks {
            Input::Ticks
        } else if topic == self.topics.user_login {
            Input::Logins
        } else {
            anyhow::bail!("record from unexpected topic {topic}");
        };
        let content_type = headers::get(message.headers(), headers::CONTENT_TYPE);
        let now = now_millis();
        self.payload.clear();
        let enriched: Result<(), (&'static str, String)> = match input {
            Input::Ticks => {
                self.ticks_counters.consumed.increment(1);
                match decode::<StockTick>(message.payload(), content_type, message.key()) {
                    Err(e) => Err((e.kind(), e.to_string())),
                    Ok(tick) => match self.ticks.enrich(tick, now) {
                        Err(e) => Err((e.kind(), e.to_string())),
                        Ok(out) => {
                            out.encode_into(Format::Protobuf, &mut self.payload);
                            Ok(())
                        }
                    },
                }
            }
            Input::Logins => {
                self.logins_counters.consumed.increment(1);
                match decode::<UserLogin>(message.payload(), content_type, message.key()) {
                    Err(e) => Err((e.kind(), e.to_string())),
                    Ok(login) => match self.logins.enrich(login, now) {
                        Err(e) => Err((e.kind(), e.to_string())),
                        Ok(out) => {
                            out.encode_into(Format::Protobuf, &mut self.payload);
                            Ok(())
                        }
                    },
                }
            }
        };
        match enriched {
            Ok(()) => {
                let out_topic = match input {
                    Input::Ticks => &self.topics.stock_ticks_enriched,
                    Input::Logins => &self.topics.user_login_enriched,
                };
                let mut record: BaseRecord<'_, [u8], [u8], usize> =
                    BaseRecord::with_opaque_to(out_topic, 0)
                        .payload(self.payload.as_slice())
                        .headers(carried_headers(message));
                if let Some(key) = message.key() {
                    record = record.key(key);
                }
                if let Some(ts) = message.timestamp().to_millis() {
                    record = record.timestamp(ts);
                }
                self.output
                    .send(record)
                    .await
                    .context("cannot send an enriched record")?;
            }
            Err((kind, reason)) => self.dead_letter(message, kind, &reason).await?,
        }
        self.output
            .consumed(topic, message.partition(), message.offset())?;
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        self.output.commit(self.consumer).await?;
        Ok(())
    }
}
