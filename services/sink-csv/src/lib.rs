//! sink-csv: lands Kafka records in CSV files, exactly once across crashes.
//!
//! It consumes the configured streams (`read_committed`, group `ferroflow-sink-csv`),
//! writes one file per partition with a header row, the record's fields and its topic,
//! partition, offset and event time, and rotates files by size or age. A record that cannot
//! be decoded goes to `dead-letters` with the reason in headers and is counted.
//!
//! Exactly-once to files: see [`store`]. In short, a per-partition checkpoint (file,
//! length, next offset) is replaced atomically after the rows are fsynced; recovery cuts
//! the file back to the checkpoint and skips records it already covers. Offsets are
//! committed to Kafka only after that, for lag monitoring and a quick restart.
//!
//! # Layout
//! - [`config`]: the `[sink_csv]` section.
//! - [`rows`]: record types and their CSV columns.
//! - [`store`]: files, checkpoints, recovery.

pub mod config;
pub mod rows;
pub mod store;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ::metrics::Counter;
use anyhow::Context as _;
use ferroflow_runtime::kafka::batch::{self, BatchHandler, BatchPolicy};
use ferroflow_runtime::kafka::context::{ObservedContext, PartitionListener, TopicPartition};
use ferroflow_runtime::kafka::dead_letter::{DeadLetters, Rejection};
use ferroflow_runtime::kafka::{Isolation, headers};
use ferroflow_runtime::metrics::{self as ff_metrics, Outcome};
use ferroflow_runtime::service::Context;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::DeliveryFuture;
use rdkafka::{Offset, TopicPartitionList};

use crate::config::SinkCsvSettings;
use crate::rows::{Origin, RecordKind, RowError};
use crate::store::{Rotation, Store};

/// The service entry point.
pub async fn run(ctx: Context<SinkCsvSettings>) -> anyhow::Result<()> {
    let settings = &ctx.settings.service;
    let mut kinds = HashMap::new();
    for stream in &settings.streams {
        let topic = ctx
            .settings
            .topics
            .by_stream(stream)
            .context("stream validated at start-up")?;
        let kind = RecordKind::for_stream(stream).context("stream validated at start-up")?;
        kinds.insert(topic.to_string(), kind);
    }
    let topics: Vec<String> = kinds.keys().cloned().collect();
    std::fs::create_dir_all(&settings.directory).with_context(|| {
        format!(
            "cannot create sink_csv.directory {}",
            settings.directory.display()
        )
    })?;
    let store = Arc::new(SharedStore(Mutex::new(Store::new(
        settings.directory.clone(),
        Rotation {
            max_bytes: settings.rotate_bytes,
            max_age: settings.rotate_interval,
        },
        kinds,
    ))));
    let dead_letters = DeadLetters::new(
        ctx.kafka.future_producer()?,
        &ctx.settings.topics.dead_letters,
        ctx.service,
    );
    let topic_refs: Vec<&str> = topics.iter().map(String::as_str).collect();
    let consumer = ctx.kafka.subscribed_consumer(
        &settings.group_id,
        &topic_refs,
        Isolation::ReadCommitted,
        Some(store.clone() as Arc<dyn PartitionListener>),
    )?;
    tracing::info!(topics = ?topics, directory = %settings.directory.display(), group = %settings.group_id, "sink-csv started");

    let mut handler = Sink::new(&consumer, store, &dead_letters);
    let policy = BatchPolicy {
        max_records: settings.batch_max_records,
        max_wait: settings.batch_max_wait,
    };
    let totals = batch::run(&consumer, policy, &ctx.shutdown, &mut handler).await?;
    // The last flush committed asynchronously; a synchronous commit makes the group's
    // offsets current before the consumer leaves, so lag reads zero after a clean stop.
    handler.commit(CommitMode::Sync)?;
    tracing::info!(
        records = totals.records,
        batches = totals.batches,
        "sink-csv stopped; all rows flushed"
    );
    Ok(())
}

/// The store behind a mutex, shared with the consumer's rebalance callbacks.
struct SharedStore(Mutex<Store>);

impl SharedStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        // A panic while holding the lock leaves only in-memory pending rows, which are
        // never committed; the data on disk is guarded by checkpoints, so carry on.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl PartitionListener for SharedStore {
    fn assigned(&self, _: &[TopicPartition]) {
        // Recovery happens on a partition's first record, on the consumer's task.
    }

    fn revoked(
        &self,
        partitions: &[TopicPartition],
        lost: bool,
        _: Option<&rdkafka::consumer::ConsumerGroupMetadata>,
    ) {
        let dropped = self.lock().release(partitions);
        if dropped > 0 {
            tracing::info!(
                dropped,
                lost,
                "pending rows of revoked partitions left to their next owner"
            );
        }
    }
}

struct TopicCounters {
    consumed: Counter,
    skipped: Counter,
}

/// The batch handler: rows into the store, bad records to dead letters.
struct Sink<'a> {
    consumer: &'a StreamConsumer<ObservedContext>,
    store: Arc<SharedStore>,
    dead_letters: &'a DeadLetters,
    in_flight_dead_letters: Vec<DeliveryFuture>,
    to_commit: HashMap<TopicPartition, i64>,
    counters: HashMap<String, TopicCounters>,
    written: Counter,
}

impl<'a> Sink<'a> {
    fn new(
        consumer: &'a StreamConsumer<ObservedContext>,
        store: Arc<SharedStore>,
        dead_letters: &'a DeadLetters,
    ) -> Self {
        Sink {
            consumer,
            store,
            dead_letters,
            in_flight_dead_letters: Vec::new(),
            to_commit: HashMap::new(),
            counters: HashMap::new(),
            written: ::metrics::counter!("ferroflow_sink_csv_rows_written_total"),
        }
    }

    fn counters(&mut self, topic: &str) -> &TopicCounters {
        self.counters
            .entry(topic.to_string())
            .or_insert_with(|| TopicCounters {
                consumed: ff_metrics::records(topic, Outcome::Consumed),
                skipped: ff_metrics::records(topic, Outcome::SkippedDuplicate),
            })
    }

    fn commit(&mut self, mode: CommitMode) -> anyhow::Result<()> {
        if self.to_commit.is_empty() {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::new();
        for (tp, next) in self.to_commit.drain() {
            tpl.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(next))?;
        }
        if let Err(error) = self.consumer.commit(&tpl, mode) {
            // Not fatal: the checkpoint already holds the truth; the group offset only
            // trails it, and the next commit catches up.
            tracing::warn!(%error, "offset commit failed; checkpoints are unaffected");
        }
        Ok(())
    }
}

/// What became of one record.
enum Handled {
    /// Its row is in the batch.
    Row,
    /// A checkpoint already covers it (redelivered after a restart).
    AlreadyCovered,
    /// It cannot be decoded: a dead letter.
    Rejected(ferroflow_schema::DecodeError),
}

impl BatchHandler for Sink<'_> {
    async fn handle(&mut self, message: &BorrowedMessage<'_>) -> anyhow::Result<()> {
        let topic = message.topic();
        let (partition, offset) = (message.partition(), message.offset());
        self.counters(topic).consumed.increment(1);
        let hdrs = message.headers();
        let origin = Origin {
            topic,
            partition,
            offset,
            producer_id: headers::get_str(hdrs, headers::PRODUCER_ID),
            sequence: headers::get_str(hdrs, headers::SEQUENCE),
        };
        let content_type = headers::get(hdrs, headers::CONTENT_TYPE);
        // The store's lock is held only for this block, never across an await: the
        // rebalance callbacks take it too.
        let outcome = {
            let mut store = self.store.lock();
            let kind = store
                .kind(topic)
                .context("record from a topic sink-csv did not subscribe to")?;
            let sink = store.partition(topic, partition)?;
            if sink.covers(offset) {
                Handled::AlreadyCovered
            } else {
                match kind.write_row(
                    sink.rows(),
                    origin,
                    message.key(),
                    message.payload(),
                    content_type,
                ) {
                    Ok(()) => {
                        sink.handled(offset, true);
                        Handled::Row
                    }
                    Err(RowError::Decode(error)) => Handled::Rejected(error),
                    Err(other) => return Err(other.into()),
                }
            }
        };
        let error = match outcome {
            Handled::Row => return Ok(()),
            Handled::AlreadyCovered => {
                self.counters(topic).skipped.increment(1);
                return Ok(());
            }
            Handled::Rejected(error) => error,
        };
        // The offset counts as handled only once the dead letter is on its way; the flush
        // awaits its delivery before any checkpoint moves past it.
        let reason = error.to_string();
        let delivery = self
            .dead_letters
            .send(
                message,
                Rejection {
                    kind: error.kind(),
                    message: &reason,
                },
            )
            .await
            .context("cannot send to the dead-letter topic")?;
        self.in_flight_dead_letters.push(delivery);
        self.store
            .lock()
            .partition(topic, partition)?
            .handled(offset, false);
        tracing::debug!(
            topic,
            partition,
            offset,
            reason,
            "undecodable record dead-lettered"
        );
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        // Dead letters first: a checkpoint that moved past a record whose dead letter was
        // then lost would lose that record.
        for delivery in self.in_flight_dead_letters.drain(..) {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((error, _))) => anyhow::bail!("dead letter not delivered: {error}"),
                Err(_) => anyhow::bail!("dead-letter producer went away"),
            }
        }
        let (flushed, commits) = self.store.lock().flush()?;
        self.written.increment(flushed.rows);
        tracing::debug!(
            rows = flushed.rows,
            bytes = flushed.bytes,
            partitions = commits.len(),
            "flushed"
        );
        self.to_commit.extend(commits);
        self.commit(CommitMode::Async)
    }
}

/// The header row of a stream's files (for tools and tests).
pub fn header_for_stream(stream: &str) -> Option<Vec<&'static str>> {
    RecordKind::for_stream(stream).map(RecordKind::header)
}

/// Parses every data row of every CSV file under `dir/topic` (header rows skipped); rows
/// are returned per file in file-name order (which is offset order per partition).
pub fn read_rows(dir: &std::path::Path, topic: &str) -> anyhow::Result<Vec<csv::StringRecord>> {
    let mut files: Vec<_> = match std::fs::read_dir(dir.join(topic)) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "csv"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    files.sort();
    let mut rows = Vec::new();
    for file in files {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_path(&file)?;
        for row in reader.records() {
            rows.push(row.with_context(|| format!("bad row in {}", file.display()))?);
        }
    }
    Ok(rows)
}
