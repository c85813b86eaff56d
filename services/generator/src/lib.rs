//! The generator: produces stock ticks to `stock-ticks` and user logins to `user-login`.
//!
//! Each stream has its own format (JSON or protobuf), rate (10/s up to "max"), count
//! (bounded or forever) and share of malformed records. Every record carries a
//! `content-type` header, an `ff-producer-id` (instance and topic) and a dense `ff-seq`
//! sequence number from 0, so any consumer can prove nothing was lost or doubled.
//!
//! The producer is idempotent with `acks=all`, keeps many records in flight and counts
//! delivery reports in a callback; a full local queue makes the stream wait, never drop.
//!
//! # Layout
//! - [`config`]: the `[generator]` section.
//! - [`ticks`], [`logins`]: the data models; [`faults`]: malformed records on purpose.
//! - [`pacing`]: rate control.
//! - [`generate`]: the loop, callable from tests with any settings.

pub mod config;
pub mod faults;
pub mod logins;
pub mod pacing;
pub mod ticks;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use ferroflow_runtime::config::TopicNames;
use ferroflow_runtime::kafka::KafkaClients;
use ferroflow_runtime::kafka::headers;
use ferroflow_runtime::kafka::producer::{self, DeliveryStats, TrackingContext};
use ferroflow_runtime::service::Context;
use ferroflow_runtime::shutdown::Shutdown;
use ferroflow_schema::{Format, Record};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{BaseRecord, ThreadedProducer};
use serde::Serialize;

use crate::config::{GeneratorSettings, StreamSettings};
use crate::faults::{Fault, Field, LOGIN_FIELDS, TICK_FIELDS};

/// What one stream sent.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct StreamReport {
    /// Topic written to.
    pub topic: String,
    /// Value of the `ff-producer-id` header.
    pub producer_id: String,
    /// Records enqueued (sequence numbers 0..sent).
    pub sent: u64,
    /// Of those, malformed on purpose.
    pub malformed: u64,
}

/// What a run of the generator did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Report {
    /// Per stream.
    pub streams: Vec<StreamReport>,
    /// Records acknowledged by the broker.
    pub delivered: u64,
    /// Records that could not be delivered.
    pub failed: u64,
    /// Wall time from the first send to the last delivery report.
    pub elapsed_seconds: f64,
    /// Delivered records per second.
    pub records_per_second: f64,
    /// Delivered payload bytes per second.
    pub bytes_per_second: f64,
}

/// The service entry point.
pub async fn run(ctx: Context<GeneratorSettings>) -> anyhow::Result<()> {
    let report = generate(
        &ctx.kafka,
        &ctx.settings.topics,
        &ctx.settings.service,
        &ctx.shutdown,
        ctx.settings.shutdown.deadline,
    )
    .await?;
    if let Some(path) = &ctx.settings.service.summary_file {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("cannot write generator.summary_file {}", path.display()))?;
    }
    if report.failed > 0 {
        anyhow::bail!(
            "{} of {} records were not delivered",
            report.failed,
            report.failed + report.delivered
        );
    }
    Ok(())
}

/// Produces until every bounded stream is done or `shutdown` fires, then waits up to
/// `drain_timeout` for the outstanding delivery reports.
pub async fn generate(
    kafka: &KafkaClients,
    topics: &TopicNames,
    settings: &GeneratorSettings,
    shutdown: &Shutdown,
    drain_timeout: Duration,
) -> anyhow::Result<Report> {
    let producer = kafka.threaded_producer(TrackingContext::new(kafka.health().clone()))?;
    kafka.health().set_started();
    // The producer's statistics report broker state; a metadata probe makes readiness
    // and a wrong bootstrap address visible at once rather than at the first delivery.
    match kafka.probe(Duration::from_secs(10)).await {
        Ok(brokers) => tracing::info!(brokers, "Kafka reachable"),
        Err(error) => {
            tracing::warn!(%error, "Kafka not reachable yet; producing anyway (librdkafka retries)")
        }
    }
    let stats = producer::stats(&producer);
    let instance = settings
        .instance_id
        .clone()
        .unwrap_or_else(|| format!("gen-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]));
    let seed = settings.seed.unwrap_or_else(rand::random);
    let started = Instant::now();
    let bytes = Arc::new(std::sync::atomic::AtomicU64::new(0));

    let ticks = async {
        if !settings.stock_ticks.enabled {
            return Ok(None);
        }
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut model = ticks::TickModel::new(&settings.tickers, &mut rng);
        let stream = Stream::new(
            &producer,
            &topics.stock_ticks,
            &instance,
            &settings.stock_ticks,
            TICK_FIELDS,
        );
        stream
            .run(shutdown, &mut rng, &bytes, |rng| {
                let tick = model.next_tick(rng, now_millis());
                let key = tick.ticker.clone();
                (key, tick)
            })
            .await
            .map(Some)
    };
    let logins = async {
        if !settings.user_login.enabled {
            return Ok(None);
        }
        let mut rng = SmallRng::seed_from_u64(seed.wrapping_add(1));
        let model = logins::LoginModel::new(10_000, &mut rng);
        let stream = Stream::new(
            &producer,
            &topics.user_login,
            &instance,
            &settings.user_login,
            LOGIN_FIELDS,
        );
        stream
            .run(shutdown, &mut rng, &bytes, |rng| {
                let login = model.next_login(rng, now_millis() / 1000);
                let key = login.user_id.clone();
                (key, login)
            })
            .await
            .map(Some)
    };
    let progress = report_progress(&stats, settings, shutdown);
    let (ticks, logins) = tokio::select! {
        results = async { tokio::join!(ticks, logins) } => results,
        _ = progress => unreachable!("progress reporting never ends by itself"),
    };
    let streams: Vec<StreamReport> = [ticks?, logins?].into_iter().flatten().collect();

    let left = producer::drain(&producer, drain_timeout).await;
    if left > 0 {
        tracing::error!(
            in_flight = left,
            "records still unacknowledged at the drain deadline"
        );
    }
    let elapsed = started.elapsed().as_secs_f64();
    let report = Report {
        streams,
        delivered: stats.delivered(),
        failed: stats.failed() + left,
        elapsed_seconds: elapsed,
        records_per_second: stats.delivered() as f64 / elapsed,
        bytes_per_second: bytes.load(std::sync::atomic::Ordering::Relaxed) as f64 / elapsed,
    };
    tracing::info!(
        delivered = report.delivered,
        failed = report.failed,
        elapsed_s = format!("{elapsed:.2}"),
        records_per_s = format!("{:.0}", report.records_per_second),
        mb_per_s = format!("{:.2}", report.bytes_per_second / 1e6),
        "generator finished"
    );
    Ok(report)
}

struct Stream<'a> {
    producer: &'a ThreadedProducer<TrackingContext>,
    topic: &'a str,
    producer_id: String,
    settings: &'a StreamSettings,
    fields: &'static [Field],
}

impl<'a> Stream<'a> {
    fn new(
        producer: &'a ThreadedProducer<TrackingContext>,
        topic: &'a str,
        instance: &str,
        settings: &'a StreamSettings,
        fields: &'static [Field],
    ) -> Self {
        Stream {
            producer,
            topic,
            producer_id: format!("{instance}/{topic}"),
            settings,
            fields,
        }
    }

    async fn run<R: Record>(
        &self,
        shutdown: &Shutdown,
        rng: &mut SmallRng,
        bytes: &std::sync::atomic::AtomicU64,
        mut next: impl FnMut(&mut SmallRng) -> (String, R),
    ) -> anyhow::Result<StreamReport> {
        let format = self.settings.format;
        let pacer = pacing::Pacer::new(self.settings.rate);
        let mut report = StreamReport {
            topic: self.topic.to_string(),
            producer_id: self.producer_id.clone(),
            ..StreamReport::default()
        };
        let mut payload = Vec::with_capacity(256);
        let mut seq_text = String::with_capacity(20);
        let count = self.settings.count.unwrap_or(u64::MAX);
        tracing::info!(topic = self.topic, producer_id = %self.producer_id, ?format, rate = ?self.settings.rate, count = ?self.settings.count, "stream started");
        while report.sent < count && !shutdown.is_triggered() {
            // Yield to the shutdown trigger and the other stream between paced waits; at
            // "max" rate the queue-full backpressure in `send` is the only wait.
            if report.sent.is_multiple_of(1024) {
                tokio::task::yield_now().await;
            }
            pacer.wait_for(report.sent).await;
            let (key, record) = next(rng);
            payload.clear();
            record.encode_into(format, &mut payload);
            let fault = (self.settings.malformed_ratio > 0.0
                && rng.random_bool(self.settings.malformed_ratio))
            .then(|| Fault::pick(rng));
            if let Some(fault) = fault {
                let field = self.fields[rng.random_range(0..self.fields.len())];
                payload = faults::damage(fault, format, &payload, field, rng);
                report.malformed += 1;
            } else if let Some(size) = self.settings.pad_to_bytes {
                pad(&mut payload, format, size);
            }
            seq_text.clear();
            use std::fmt::Write as _;
            let _ = write!(seq_text, "{}", report.sent);
            let mut h = OwnedHeaders::new_with_capacity(5);
            h = headers::with(h, headers::CONTENT_TYPE, format.content_type());
            h = headers::with(h, headers::PRODUCER_ID, &self.producer_id);
            h = headers::with(h, headers::SEQUENCE, &seq_text);
            if let Some(fault) = fault {
                h = headers::with(h, headers::INJECTED_FAULT, fault.name());
            }
            h = headers::inject_trace_context(h);
            bytes.fetch_add(payload.len() as u64, std::sync::atomic::Ordering::Relaxed);
            let record = BaseRecord::with_opaque_to(self.topic, 0usize)
                .key(key.as_bytes())
                .payload(&payload)
                .headers(h);
            producer::send(self.producer, record)
                .await
                .with_context(|| {
                    format!("cannot enqueue record {} for {}", report.sent, self.topic)
                })?;
            report.sent += 1;
        }
        tracing::info!(
            topic = self.topic,
            sent = report.sent,
            malformed = report.malformed,
            "stream done"
        );
        Ok(report)
    }
}

/// Pads a valid encoding to `size` bytes with a field decoders ignore: a `"pad"` member in
/// JSON, unknown field 15 in protobuf (both forms skip unknown fields by design).
fn pad(payload: &mut Vec<u8>, format: Format, size: usize) {
    match format {
        Format::Json => {
            // `,"pad":""` is 9 bytes; pad only when there is room for it.
            if payload.last() == Some(&b'}') && payload.len() + 9 <= size {
                payload.pop();
                payload.extend_from_slice(b",\"pad\":\"");
                payload.resize(size - 2, b'x');
                payload.extend_from_slice(b"\"}");
            }
        }
        Format::Protobuf => {
            // Fields of tag 15 (length-delimited), each at most 129 bytes so its length
            // fits one varint byte; never leave a single byte, which no field can fill.
            let mut room = size.saturating_sub(payload.len());
            while room >= 2 {
                let mut chunk = (room - 2).min(127);
                if room - (chunk + 2) == 1 {
                    chunk -= 1;
                }
                payload.push(0x7a);
                payload.push(chunk as u8);
                payload.resize(payload.len() + chunk, b'x');
                room -= chunk + 2;
            }
        }
    }
}

async fn report_progress(stats: &DeliveryStats, settings: &GeneratorSettings, shutdown: &Shutdown) {
    let mut ticker = tokio::time::interval(settings.progress_interval);
    ticker.tick().await;
    let mut last = (Instant::now(), 0u64);
    let total: Option<u64> = [
        settings
            .stock_ticks
            .enabled
            .then_some(settings.stock_ticks.count)
            .flatten(),
        settings
            .user_login
            .enabled
            .then_some(settings.user_login.count)
            .flatten(),
    ]
    .into_iter()
    .sum();
    loop {
        ticker.tick().await;
        let delivered = stats.delivered();
        let rate = (delivered - last.1) as f64 / last.0.elapsed().as_secs_f64();
        last = (Instant::now(), delivered);
        let percent = total
            .filter(|t| *t > 0)
            .map(|t| format!("{:.1}%", 100.0 * delivered as f64 / t as f64));
        tracing::info!(
            delivered,
            failed = stats.failed(),
            in_flight = stats.in_flight(),
            records_per_s = format!("{rate:.0}"),
            progress = percent.as_deref().unwrap_or("unbounded"),
            draining = shutdown.is_triggered(),
            "progress"
        );
    }
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferroflow_schema::{StockTick, decode};

    #[test]
    fn padded_records_have_the_exact_size_and_still_decode() {
        let tick = StockTick {
            ticker: "STK_ONE".into(),
            timestamp_ms: 1_700_000_000_000,
            price: 4321,
        };
        for format in [Format::Json, Format::Protobuf] {
            for size in [100, 150, 300] {
                let mut payload = tick.encode_as(format);
                pad(&mut payload, format, size);
                assert_eq!(payload.len(), size, "{format:?} {size}");
                let back: StockTick =
                    decode(Some(&payload), Some(format.content_type().as_bytes()), None).unwrap();
                assert_eq!(back, tick);
            }
        }
    }
}
