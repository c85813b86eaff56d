//! The consume loop: position every assigned partition at the offset the database holds,
//! fill a batch while the previous one is written, and pause the partitions when the
//! database falls behind or goes away.
//!
//! Two batches at most are in memory: the one being written (by a task, so that the loop
//! keeps polling Kafka — serving rebalances and staying in the group — however long the
//! database takes) and the one filling. When the filling one is full while the other is
//! still being written, the loop stops taking records and waits for the write; if that
//! write takes longer than [`PAUSE_AFTER`], or the database is failing, every assigned
//! partition is paused and the loop polls again, to serve rebalances and stay in the
//! group (librdkafka drops what it prefetched for paused partitions and fetches it again
//! on resume, which is why a short wait does not pause). Hence the bound:
//! 2 × `batch_max_records` records and 2 × `batch_max_bytes` of payload (plus one
//! record), besides librdkafka's own prefetch queue (`queued.max.messages.kbytes`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferroflow_runtime::kafka::context::{ObservedContext, PartitionListener, TopicPartition};
use ferroflow_runtime::metrics::{self as ff_metrics, Outcome as RecordOutcome};
use ferroflow_runtime::shutdown::Shutdown;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::batch::{Batch, Entry, Limits, message_bytes};
use crate::rows::Stream;
use crate::write::Outcome;
use crate::writer::{Writer, Written, retrying};

/// How long a write may hold the loop (filling batch full) before the partitions are
/// paused and polling resumes.
pub const PAUSE_AFTER: Duration = Duration::from_secs(1);

/// Partition assignments and revocations, recorded by the consumer's callbacks and acted
/// on by the loop between two polls.
#[derive(Default)]
pub struct Rebalances {
    events: Mutex<Vec<Rebalance>>,
}

enum Rebalance {
    Assigned(Vec<TopicPartition>),
    Revoked(Vec<TopicPartition>),
}

impl Rebalances {
    fn take(&self) -> Vec<Rebalance> {
        self.events
            .lock()
            .map(|mut e| std::mem::take(&mut *e))
            .unwrap_or_default()
    }

    fn push(&self, event: Rebalance) {
        if let Ok(mut events) = self.events.lock() {
            events.push(event);
        }
    }
}

impl PartitionListener for Rebalances {
    fn assigned(&self, partitions: &[TopicPartition]) {
        self.push(Rebalance::Assigned(partitions.to_vec()));
    }

    fn revoked(
        &self,
        partitions: &[TopicPartition],
        _lost: bool,
        _: Option<&rdkafka::consumer::ConsumerGroupMetadata>,
    ) {
        // Lost or not, this instance must stop writing them: records it still holds are
        // dropped, and a write in flight is harmless (see `write`).
        self.push(Rebalance::Revoked(partitions.to_vec()));
    }
}

/// Where a partition stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// Reading its stored offset from the database (assignment number).
    LookingUp(u64),
    /// To be sought to this offset (`None`: the beginning); records are dropped until then.
    Seeking(Option<i64>),
    /// Positioned: records are taken. `tail` is what `kafka_offsets` will hold once every
    /// batch handed to the writer has committed.
    Ready { tail: Option<i64> },
}

/// Totals of a run.
#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    /// Records consumed into batches.
    pub records: u64,
    /// Batches written.
    pub batches: u64,
}

/// The batch being written.
struct Writing {
    records: usize,
    since: Instant,
    task: JoinHandle<(Batch, Written)>,
}

/// The loop's state.
pub struct Sink {
    consumer: Arc<StreamConsumer<ObservedContext>>,
    writer: Arc<Writer>,
    streams: HashMap<String, Stream>,
    rebalances: Arc<Rebalances>,
    limits: Limits,
    max_wait: Duration,
    positions: HashMap<TopicPartition, Position>,
    assignments: u64,
    filling: Batch,
    filling_due: Option<Instant>,
    writing: Option<Writing>,
    lookups: JoinSet<(u64, HashMap<TopicPartition, i64>, Vec<TopicPartition>)>,
    paused: bool,
    totals: Totals,
}

impl Sink {
    /// A loop over `consumer`, whose rebalances `rebalances` records, writing with
    /// `writer`; `streams` maps each subscribed topic to its stream.
    pub fn new(
        consumer: Arc<StreamConsumer<ObservedContext>>,
        writer: Arc<Writer>,
        streams: HashMap<String, Stream>,
        rebalances: Arc<Rebalances>,
        limits: Limits,
        max_wait: Duration,
    ) -> Self {
        Sink {
            consumer,
            writer,
            streams,
            rebalances,
            limits,
            max_wait,
            positions: HashMap::new(),
            assignments: 0,
            filling: Batch::default(),
            filling_due: None,
            writing: None,
            lookups: JoinSet::new(),
            paused: false,
            totals: Totals::default(),
        }
    }

    /// Runs until `shutdown` fires; then writes what it holds and returns.
    pub async fn run(mut self, shutdown: &Shutdown) -> anyhow::Result<Totals> {
        let consumer = self.consumer.clone();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            self.apply_rebalances();
            self.seek_pending();
            self.update_pause();
            let due = self.filling_due;
            // While the filling batch is full and the other is being written, records are
            // not taken, unless paused (then polling returns none, but serves rebalances).
            let take_records = !self.holding() || self.paused;
            let writing = &mut self.writing;
            let lookups = &mut self.lookups;
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                done = async {
                    match writing {
                        Some(w) => (&mut w.task).await,
                        None => std::future::pending().await,
                    }
                } => {
                    self.writing = None;
                    let (batch, written) = done?;
                    self.finish_write(batch, written);
                    self.start_write_if_due();
                }
                Some(found) = lookups.join_next(), if !lookups.is_empty() => {
                    let (assignment, stored, partitions) = found?;
                    self.finish_lookup(assignment, &stored, &partitions);
                }
                _ = async {
                    match due {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                }, if writing.is_none() => self.start_write(),
                received = consumer.recv(), if take_records => match received {
                    Ok(message) => {
                        // The rebalance that preceded this record, if any, comes first.
                        self.apply_rebalances();
                        self.take(&message);
                    }
                    // Transient by nature (a broker restarting): librdkafka retries.
                    Err(error) => tracing::warn!(%error, "consume error"),
                },
                _ = tick.tick() => {}
            }
        }
        // Shutdown: finish the write in flight, then write what is left, then commit the
        // group offsets once more so lag reads zero after a clean stop.
        if let Some(w) = self.writing.take() {
            let (batch, written) = w.task.await?;
            self.finish_write(batch, written);
        }
        if !self.filling.is_empty() {
            let batch = std::mem::take(&mut self.filling);
            let written = self.writer.write(&batch).await;
            self.finish_write(batch, written);
        }
        self.commit_group_offsets(CommitMode::Sync);
        Ok(self.totals)
    }

    fn apply_rebalances(&mut self) {
        for event in self.rebalances.take() {
            match event {
                Rebalance::Assigned(partitions) => {
                    self.assignments += 1;
                    let assignment = self.assignments;
                    for tp in &partitions {
                        self.positions
                            .insert(tp.clone(), Position::LookingUp(assignment));
                    }
                    let writer = self.writer.clone();
                    self.lookups.spawn(async move {
                        let stored = retrying(
                            "reading stored offsets",
                            writer.backoff,
                            &writer.status,
                            || async {
                                Ok(writer.db.stored_offsets(&writer.group, &partitions).await?)
                            },
                        )
                        .await;
                        (assignment, stored, partitions)
                    });
                    if self.paused {
                        self.pause_all(true);
                    }
                }
                Rebalance::Revoked(partitions) => {
                    for tp in &partitions {
                        self.positions.remove(tp);
                        let dropped = self.filling.remove_partition(tp);
                        if dropped > 0 {
                            tracing::info!(
                                topic = tp.topic,
                                partition = tp.partition,
                                dropped,
                                "records of a revoked partition left to its next owner"
                            );
                        }
                    }
                }
            }
        }
    }

    fn finish_lookup(
        &mut self,
        assignment: u64,
        stored: &HashMap<TopicPartition, i64>,
        partitions: &[TopicPartition],
    ) {
        for tp in partitions {
            if self.positions.get(tp) == Some(&Position::LookingUp(assignment)) {
                self.positions
                    .insert(tp.clone(), Position::Seeking(stored.get(tp).copied()));
            }
        }
        self.seek_pending();
    }

    /// Seeks every partition waiting for it; one librdkafka cannot seek yet (its fetch
    /// has not started right after assignment) is tried again on the next turn.
    fn seek_pending(&mut self) {
        let pending: Vec<(TopicPartition, Option<i64>)> = self
            .positions
            .iter()
            .filter_map(|(tp, p)| match p {
                Position::Seeking(target) => Some((tp.clone(), *target)),
                _ => None,
            })
            .collect();
        for (tp, target) in pending {
            let mut tpl = TopicPartitionList::new();
            let offset = target.map_or(Offset::Beginning, Offset::Offset);
            if tpl
                .add_partition_offset(&tp.topic, tp.partition, offset)
                .is_err()
            {
                continue;
            }
            let sought = self
                .consumer
                .seek_partitions(tpl, Duration::from_secs(5))
                .map(|result| result.elements().iter().all(|e| e.error().is_ok()));
            match sought {
                Ok(true) => {
                    tracing::info!(
                        topic = tp.topic,
                        partition = tp.partition,
                        offset = ?target,
                        "partition positioned at the offset stored in the database"
                    );
                    self.positions.insert(tp, Position::Ready { tail: target });
                }
                other => tracing::debug!(?other, topic = tp.topic, "seek not possible yet"),
            }
        }
    }

    fn take(&mut self, message: &BorrowedMessage<'_>) {
        let tp = TopicPartition {
            topic: message.topic().to_string(),
            partition: message.partition(),
        };
        let Some(&stream) = self.streams.get(&tp.topic) else {
            return;
        };
        let Some(Position::Ready { tail }) = self.positions.get_mut(&tp) else {
            // Not positioned yet: read again once it is.
            return;
        };
        let offset = message.offset();
        let expected = *tail;
        *tail = Some(offset + 1);
        ff_metrics::records(&tp.topic, RecordOutcome::Consumed).increment(1);
        let owned = message.detach();
        let bytes = message_bytes(&owned);
        let entry = Entry {
            offset,
            row: stream.decode(message),
            message: owned,
        };
        self.filling.push(&tp, stream, expected, entry, bytes);
        self.totals.records += 1;
        if self.filling_due.is_none() {
            self.filling_due = Some(Instant::now() + self.max_wait);
        }
        if self.filling.is_full(self.limits) && self.writing.is_none() {
            self.start_write();
        }
    }

    fn start_write_if_due(&mut self) {
        let due = self.filling_due.is_some_and(|at| at <= Instant::now());
        if due || self.filling.is_full(self.limits) {
            self.start_write();
        }
    }

    fn start_write(&mut self) {
        self.filling_due = None;
        if self.filling.is_empty() || self.writing.is_some() {
            return;
        }
        let batch = std::mem::take(&mut self.filling);
        let writer = self.writer.clone();
        let records = batch.records();
        self.writing = Some(Writing {
            records,
            since: Instant::now(),
            task: tokio::spawn(async move {
                let written = writer.write(&batch).await;
                (batch, written)
            }),
        });
    }

    fn finish_write(&mut self, batch: Batch, written: Written) {
        self.totals.batches += 1;
        ff_metrics::batch_records().record(batch.records() as f64);
        ff_metrics::flush_duration().record(written.took.as_secs_f64());
        for (table, rows) in &written.rows.0 {
            crate::metrics::rows_written(table, *rows);
        }
        let mut skipped_total = 0;
        for (tp, outcome) in &written.outcomes {
            match *outcome {
                Outcome::Applied { skipped, .. } => {
                    if skipped > 0 {
                        skipped_total += skipped;
                        ff_metrics::records(&tp.topic, RecordOutcome::SkippedDuplicate)
                            .increment(skipped as u64);
                    }
                }
                Outcome::Rewind { to } => {
                    crate::metrics::rewound();
                    tracing::warn!(
                        topic = tp.topic,
                        partition = tp.partition,
                        stored = ?to,
                        "the database holds less of this partition than expected (restored?); \
                         reading it again from the stored offset"
                    );
                    if self.positions.contains_key(tp) {
                        self.filling.remove_partition(tp);
                        self.positions.insert(tp.clone(), Position::Seeking(to));
                    }
                }
            }
        }
        tracing::debug!(
            records = batch.records(),
            rows = ?written.rows.0,
            dead_lettered = written.dead_lettered,
            skipped = skipped_total,
            took_ms = written.took.as_millis() as u64,
            "batch committed"
        );
        self.commit_offsets(&written, CommitMode::Async);
    }

    /// Tells Kafka the offsets the database now holds, for lag monitoring only: the sink
    /// itself positions partitions from the database.
    fn commit_offsets(&self, written: &Written, mode: CommitMode) {
        let mut tpl = TopicPartitionList::new();
        for (tp, outcome) in &written.outcomes {
            if let Outcome::Applied { next, .. } = outcome
                && self.positions.contains_key(tp)
            {
                let _ = tpl.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(*next));
            }
        }
        if tpl.count() > 0
            && let Err(error) = self.consumer.commit(&tpl, mode)
        {
            tracing::debug!(%error, "group offset commit failed; the database is unaffected");
        }
    }

    fn commit_group_offsets(&self, mode: CommitMode) {
        let mut tpl = TopicPartitionList::new();
        for (tp, position) in &self.positions {
            if let Position::Ready { tail: Some(next) } = position {
                let _ = tpl.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(*next));
            }
        }
        if tpl.count() > 0
            && let Err(error) = self.consumer.commit(&tpl, mode)
        {
            tracing::debug!(%error, "final group offset commit failed");
        }
    }

    /// Whether the filling batch is full while the other is being written.
    fn holding(&self) -> bool {
        self.writing.is_some() && self.filling.is_full(self.limits)
    }

    /// Backpressure: paused while the filling batch is full and the previous one has been
    /// written for longer than [`PAUSE_AFTER`], or while the database is failing.
    fn update_pause(&mut self) {
        let behind = self.holding()
            && self
                .writing
                .as_ref()
                .is_some_and(|w| w.since.elapsed() >= PAUSE_AFTER);
        let want = behind || self.writer.status.is_down();
        if want != self.paused {
            self.pause_all(want);
            if want {
                tracing::info!(
                    buffered = self.buffered(),
                    database_down = self.writer.status.is_down(),
                    "database behind: partitions paused"
                );
            } else {
                tracing::info!("partitions resumed");
            }
        }
        crate::metrics::buffered(self.buffered());
    }

    fn buffered(&self) -> usize {
        self.filling.records() + self.writing.as_ref().map_or(0, |w| w.records)
    }

    fn pause_all(&mut self, pause: bool) {
        let assignment = match self.consumer.assignment() {
            Ok(a) => a,
            Err(error) => {
                tracing::warn!(%error, "cannot read the assignment to pause it");
                return;
            }
        };
        let result = if pause {
            self.consumer.pause(&assignment)
        } else {
            self.consumer.resume(&assignment)
        };
        match result {
            Ok(()) => {
                self.paused = pause;
                crate::metrics::paused_partitions(if pause { assignment.count() } else { 0 });
            }
            Err(error) => tracing::warn!(%error, pause, "cannot pause or resume partitions"),
        }
    }
}
