//! Output of a consume-transform-produce stage, exactly-once or at-least-once.
//!
//! **Exactly-once.** Output records and the consumed offsets commit in one Kafka
//! transaction: a batch's records are sent inside the transaction, then
//! `send_offsets_to_transaction` adds the offsets after the batch with the consumer's
//! group metadata, and `commit_transaction` makes both visible at once to `read_committed`
//! readers — or neither. The `transactional.id` is stable per instance
//! (`<prefix>-<instance>`), so a restarted instance fences its zombie predecessor at
//! `init_transactions`, which also aborts whatever the predecessor left open. When
//! partitions are revoked in a rebalance, the open transaction is committed first, inside
//! the revoke callback, so the next owner starts exactly after it.
//!
//! A transaction that cannot commit is aborted. If the error is not fatal — typically a
//! rebalance that moved the group to a new generation while the batch was open — the
//! batch's partitions that are still assigned are sought back to their committed
//! offsets and processed again in the next transaction, so nothing is skipped and
//! nothing doubled. A fatal error (this instance was fenced by a newer one with the same
//! `transactional.id`) stops the stage.
//!
//! **At-least-once.** No transaction: the idempotent producer sends, the batch waits for
//! every delivery report, and only then are the offsets committed. Lower latency (no
//! commit markers, no transaction coordinator round trips) at the price of duplicates
//! after a crash or rebalance between delivery and offset commit.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use metrics::{Counter, Histogram};
use rdkafka::Message;
use rdkafka::consumer::{CommitMode, Consumer, ConsumerGroupMetadata, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::ToBytes;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use super::context::{ObservedContext, PartitionListener, TopicPartition};
use super::dead_letter::{self, Rejection};
use super::producer::{self, TrackingContext};
use super::{ClientError, KafkaClients};

/// Delivery guarantee of a stage's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Guarantee {
    /// Kafka transactions: every input's output exactly once, or not at all.
    ExactlyOnce,
    /// Idempotent producer, offsets committed after delivery: nothing lost, duplicates
    /// possible after a crash.
    AtLeastOnce,
}

/// What went wrong while committing a batch.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The transaction could not commit and was aborted.
    #[error("transaction aborted ({step}): {source}; restarting from the committed offsets")]
    Aborted {
        /// Which step failed.
        step: &'static str,
        /// librdkafka's reason.
        source: KafkaError,
    },
    /// Records were not delivered (at-least-once).
    #[error("{0} records were not delivered; offsets not committed")]
    Undelivered(u64),
    /// Committing the offsets failed (at-least-once).
    #[error("offset commit failed: {0}")]
    Offsets(KafkaError),
    /// Seeking back to the committed offsets after an abort failed.
    #[error("cannot rewind to the committed offsets after an abort: {0}")]
    Rewind(KafkaError),
    /// A commit in a rebalance callback failed earlier.
    #[error("a transaction failed during a rebalance; restarting from the committed offsets")]
    FailedInRebalance,
}

#[derive(Default)]
struct Batch {
    open: bool,
    offsets: BTreeMap<TopicPartition, i64>,
    records: u64,
}

/// The producing side of a consume-transform-produce stage.
pub struct StageOutput {
    producer: ThreadedProducer<TrackingContext>,
    guarantee: Guarantee,
    timeout: Duration,
    batch: Mutex<Batch>,
    failed: AtomicBool,
    commit_latency: Histogram,
    commits: Counter,
    aborts: Counter,
}

impl StageOutput {
    /// Creates the producer; for exactly-once, with `transactional.id = transactional_id`,
    /// and initialises transactions (fencing any earlier instance with the same id).
    /// Blocks for up to `timeout`: call it before the consume loop starts.
    pub fn new(
        clients: &KafkaClients,
        guarantee: Guarantee,
        transactional_id: &str,
        timeout: Duration,
    ) -> Result<Arc<Self>, ClientError> {
        let mut config = clients.producer_config();
        if guarantee == Guarantee::ExactlyOnce {
            config.set("transactional.id", transactional_id);
            // How long the coordinator waits before aborting a dead instance's open
            // transaction (read_committed readers wait behind it); overridable.
            if config.get("transaction.timeout.ms").is_none() {
                config.set("transaction.timeout.ms", "60000");
            }
            // librdkafka requires a record's delivery timeout to fit in its transaction.
            let parse = |key: &str| config.get(key).and_then(|v| v.parse::<u64>().ok());
            if let (Some(message), Some(transaction)) =
                (parse("message.timeout.ms"), parse("transaction.timeout.ms"))
                && message > transaction
            {
                config.set("message.timeout.ms", transaction.to_string());
            }
        }
        let producer: ThreadedProducer<TrackingContext> = config
            .create_with_context(TrackingContext::new(clients.health().clone()))
            .map_err(|source| ClientError::Create {
                role: "stage producer",
                source,
            })?;
        if guarantee == Guarantee::ExactlyOnce {
            producer
                .init_transactions(timeout)
                .map_err(|source| ClientError::Create {
                    role: "transactional producer",
                    source,
                })?;
            tracing::info!(
                transactional_id,
                "transactions initialised; earlier instances fenced"
            );
        }
        let label = match guarantee {
            Guarantee::ExactlyOnce => "exactly_once",
            Guarantee::AtLeastOnce => "at_least_once",
        };
        Ok(Arc::new(StageOutput {
            producer,
            guarantee,
            timeout,
            batch: Mutex::new(Batch::default()),
            failed: AtomicBool::new(false),
            commit_latency: metrics::histogram!("ferroflow_commit_duration_seconds", "guarantee" => label),
            commits: metrics::counter!("ferroflow_commits_total", "guarantee" => label),
            aborts: metrics::counter!("ferroflow_transaction_aborts_total"),
        }))
    }

    /// The guarantee this output gives.
    pub fn guarantee(&self) -> Guarantee {
        self.guarantee
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Batch> {
        self.batch.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current batch, with a transaction begun if none is open.
    fn open_batch(&self) -> Result<std::sync::MutexGuard<'_, Batch>, KafkaError> {
        let mut batch = self.lock();
        if !batch.open {
            if self.guarantee == Guarantee::ExactlyOnce {
                self.producer.begin_transaction()?;
            }
            batch.open = true;
        }
        Ok(batch)
    }

    /// Sends one output record within the current batch (opening a transaction if none
    /// is open); waits only while the producer's queue is full.
    pub async fn send<K, P>(&self, record: BaseRecord<'_, K, P, usize>) -> Result<(), KafkaError>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        // Counted before it is sent: a record that fails to send stops the stage anyway.
        self.open_batch()?.records += 1;
        producer::send(&self.producer, record).await
    }

    /// Sends `message` as it was consumed — key, payload, timestamp and headers — to
    /// `topic` (dead letters, late events) with the headers saying where it came from and
    /// why `stage` set it aside, within the current batch like any other output.
    pub async fn send_rejected<M: Message>(
        &self,
        message: &M,
        topic: &str,
        stage: &str,
        rejection: &Rejection<'_>,
    ) -> Result<(), KafkaError> {
        let headers = dead_letter::headers_for(message, stage, rejection);
        let mut record: BaseRecord<'_, [u8], [u8], usize> =
            BaseRecord::with_opaque_to(topic, 0).headers(headers);
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        if let Some(payload) = message.payload() {
            record = record.payload(payload);
        }
        if let Some(ts) = message.timestamp().to_millis() {
            record = record.timestamp(ts);
        }
        self.send(record).await
    }

    /// Records that the input at `offset` is processed (its output, if any, sent): the
    /// batch's commit covers it.
    pub fn consumed(&self, topic: &str, partition: i32, offset: i64) -> Result<(), KafkaError> {
        let mut batch = self.open_batch()?;
        // Find before inserting: this runs once per record, a batch spans a few
        // partitions, and only a new partition needs its topic name allocated.
        let known = batch
            .offsets
            .iter_mut()
            .find(|(tp, _)| tp.partition == partition && tp.topic == topic);
        match known {
            Some((_, next)) => *next = offset + 1,
            None => {
                let tp = TopicPartition {
                    topic: topic.to_string(),
                    partition,
                };
                batch.offsets.insert(tp, offset + 1);
            }
        }
        Ok(())
    }

    /// Commits the batch: in exactly-once mode the transaction with the offsets; in
    /// at-least-once mode, after every delivery, the offsets through `consumer`.
    pub async fn commit(
        &self,
        consumer: &StreamConsumer<ObservedContext>,
    ) -> Result<(), CommitError> {
        if self.failed.load(Ordering::Acquire) {
            return Err(CommitError::FailedInRebalance);
        }
        match self.guarantee {
            Guarantee::ExactlyOnce => {
                // Wait for the batch's delivery reports here, awaiting our callback's
                // notifications, before committing: rust-rdkafka's commit_transaction
                // flushes first, and its flush polls the event queue in 100 ms steps while
                // the ThreadedProducer's own thread takes the events, so every commit with
                // records still in flight stalled for 100 ms (docs/benchmarks.md).
                let started = Instant::now();
                producer::drain(&self.producer, self.timeout).await;
                let group = consumer.group_metadata();
                tokio::task::block_in_place(|| {
                    match self.commit_transaction(group.as_ref(), started) {
                        Err(Aborted::Recoverable { error, offsets }) => {
                            tracing::warn!(%error, "transaction aborted; rewinding to the committed offsets");
                            self.rewind(consumer, &offsets)
                        }
                        Err(Aborted::Fatal(error)) => {
                            self.failed.store(true, Ordering::Release);
                            Err(error)
                        }
                        Ok(()) => Ok(()),
                    }
                })
            }
            Guarantee::AtLeastOnce => {
                let offsets = {
                    let mut batch = self.lock();
                    if !batch.open {
                        return Ok(());
                    }
                    let taken = std::mem::take(&mut *batch);
                    taken.offsets
                };
                let started = Instant::now();
                let left = producer::drain(&self.producer, self.timeout).await;
                let failed = producer::stats(&self.producer).failed();
                if left > 0 || failed > 0 {
                    return Err(CommitError::Undelivered(left + failed));
                }
                let tpl = to_tpl(&offsets);
                consumer
                    .commit(&tpl, CommitMode::Async)
                    .map_err(CommitError::Offsets)?;
                self.commit_latency.record(started.elapsed().as_secs_f64());
                self.commits.increment(1);
                Ok(())
            }
        }
    }

    /// Seeks the aborted batch's partitions that this consumer still owns back to their
    /// committed offsets (the start of the aborted batch); librdkafka drops what it had
    /// already fetched past them.
    fn rewind(
        &self,
        consumer: &StreamConsumer<ObservedContext>,
        offsets: &BTreeMap<TopicPartition, i64>,
    ) -> Result<(), CommitError> {
        let assigned = consumer.assignment().map_err(CommitError::Rewind)?;
        let mut owned = TopicPartitionList::new();
        for tp in offsets.keys() {
            if assigned.find_partition(&tp.topic, tp.partition).is_some() {
                owned.add_partition(&tp.topic, tp.partition);
            }
        }
        if owned.count() == 0 {
            return Ok(());
        }
        let committed = consumer
            .committed_offsets(owned, self.timeout)
            .map_err(CommitError::Rewind)?;
        for element in committed.elements() {
            let to = match element.offset() {
                Offset::Offset(o) => Offset::Offset(o),
                // Nothing committed yet: the group starts from the beginning.
                _ => Offset::Beginning,
            };
            consumer
                .seek(element.topic(), element.partition(), to, self.timeout)
                .map_err(CommitError::Rewind)?;
            tracing::info!(topic = element.topic(), partition = element.partition(), offset = ?to, "rewound after abort");
        }
        Ok(())
    }

    /// Commits the open transaction; `started` is when the stage began waiting for it
    /// (the commit latency metric).
    fn commit_transaction(
        &self,
        group: Option<&ConsumerGroupMetadata>,
        started: Instant,
    ) -> Result<(), Aborted> {
        let mut batch = self.lock();
        if !batch.open {
            return Ok(());
        }
        let result = (|| {
            if !batch.offsets.is_empty() {
                let group = group.ok_or(CommitError::Aborted {
                    step: "group metadata",
                    source: KafkaError::Canceled,
                })?;
                self.producer
                    .send_offsets_to_transaction(&to_tpl(&batch.offsets), group, self.timeout)
                    .map_err(|source| CommitError::Aborted {
                        step: "send offsets",
                        source,
                    })?;
            }
            self.producer
                .commit_transaction(self.timeout)
                .map_err(|source| CommitError::Aborted {
                    step: "commit",
                    source,
                })
        })();
        let records = batch.records;
        let offsets = std::mem::take(&mut *batch).offsets;
        drop(batch);
        match result {
            Ok(()) => {
                self.commit_latency.record(started.elapsed().as_secs_f64());
                self.commits.increment(1);
                tracing::trace!(records, "transaction committed");
                Ok(())
            }
            Err(error) => {
                self.abort();
                let fatal = match &error {
                    CommitError::Aborted {
                        source: KafkaError::Transaction(e),
                        ..
                    } => e.is_fatal(),
                    _ => false,
                };
                if fatal {
                    Err(Aborted::Fatal(error))
                } else {
                    Err(Aborted::Recoverable { error, offsets })
                }
            }
        }
    }

    fn abort(&self) {
        // A recoverable failure leaves the producer able to abort and go on; after a fatal
        // one the abort fails too, which the log says.
        self.aborts.increment(1);
        if self.guarantee == Guarantee::ExactlyOnce
            && let Err(error) = self.producer.abort_transaction(self.timeout)
        {
            tracing::error!(%error, "abort_transaction failed");
        }
        *self.lock() = Batch::default();
    }

    /// Flushes the producer at shutdown (the last batch is committed by the loop).
    pub fn close(&self) {
        if let Err(error) = self.producer.flush(self.timeout) {
            tracing::warn!(%error, "producer flush at shutdown failed");
        }
    }
}

/// How a transaction failed.
enum Aborted {
    /// Aborted; the batch can be processed again after a rewind.
    Recoverable {
        error: CommitError,
        offsets: BTreeMap<TopicPartition, i64>,
    },
    /// This producer can do no more (fenced): the stage must stop.
    Fatal(CommitError),
}

impl Aborted {
    fn error(&self) -> &CommitError {
        match self {
            Aborted::Recoverable { error, .. } | Aborted::Fatal(error) => error,
        }
    }
}

fn to_tpl(offsets: &BTreeMap<TopicPartition, i64>) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for (tp, next) in offsets {
        // Cannot fail for a valid offset; the partition is added either way.
        let _ = tpl.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(*next));
    }
    tpl
}

impl PartitionListener for StageOutput {
    fn assigned(&self, _: &[TopicPartition]) {}

    fn revoked(
        &self,
        partitions: &[TopicPartition],
        lost: bool,
        group: Option<&ConsumerGroupMetadata>,
    ) {
        if self.guarantee != Guarantee::ExactlyOnce || !self.lock().open {
            return;
        }
        if lost {
            // The group gave the partitions away already; committing their offsets now
            // would be fenced or, worse, double their output. Abort and restart.
            tracing::warn!(
                ?partitions,
                "assignment lost with a transaction open; aborting it"
            );
            self.abort();
            self.failed.store(true, Ordering::Release);
            return;
        }
        // Commit before the partitions move so the next owner starts right after us. If
        // that fails, the partitions we keep would need a rewind, which cannot be done from
        // inside the rebalance: stop and restart from the committed offsets instead.
        if let Err(error) = self.commit_transaction(group, Instant::now()) {
            tracing::error!(error = %error.error(), "commit on revocation failed");
            self.failed.store(true, Ordering::Release);
        } else {
            tracing::info!(?partitions, "open transaction committed before revocation");
        }
    }
}
