//! The aggregator's Kafka side: records in, windows out, exactly once.
//!
//! One consumer (group `aggregator.group_id`, `read_committed`) reads
//! `stock-ticks-enriched`, `user-login-enriched` and the partials topic; every record
//! goes to the [`Operator`] of its partition. One [`StageOutput`] transaction per batch
//! holds everything the batch caused — final bars, login partials, final login
//! statistics, late events, dead letters — together with a checkpoint of every operator
//! the batch changed (in the state topic) and the consumed offsets. So after any crash
//! the outputs, the checkpoints and the offsets agree: a restarted or new owner of a
//! partition rebuilds its operator from the checkpoint ([`crate::restore`]) and goes on
//! from the committed offset.
//!
//! Two things can move the consumer behind an operator: a transaction that aborts
//! (the runtime rewinds the batch's partitions to their committed offsets) and a
//! rebalance. An operator that sees a record before its own position knows it is ahead
//! of the committed state and is rebuilt from the checkpoint first; revoked partitions'
//! operators are dropped. When partitions are revoked mid-batch the runtime commits the
//! open transaction inside the revoke callback, so [`Rebalance`] writes the batch's
//! checkpoints into that transaction first.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use ::metrics::Counter;
use anyhow::Context as _;
use ferroflow_runtime::kafka::batch::BatchHandler;
use ferroflow_runtime::kafka::context::{ObservedContext, PartitionListener, TopicPartition};
use ferroflow_runtime::kafka::dead_letter::Rejection;
use ferroflow_runtime::kafka::headers;
use ferroflow_runtime::kafka::transactional::StageOutput;
use ferroflow_runtime::metrics::{self as ff_metrics, Outcome};
use ferroflow_schema::{Format, LoginStats, Record, StockBar};
use rdkafka::Message;
use rdkafka::consumer::{ConsumerGroupMetadata, StreamConsumer};
use rdkafka::message::{BorrowedMessage, OwnedHeaders};
use rdkafka::producer::BaseRecord;

use crate::codec::{self, state_key};
use crate::metrics;
use crate::query::Query;
use crate::restore::Restorer;
use crate::state::{Applied, Decoded, Input, Operator, Readiness, decode};
use crate::topics::Layout;
use crate::window::{Timing, Window};

/// Topic names the pipeline reads and writes.
#[derive(Debug, Clone)]
pub struct Topics {
    /// Tick input.
    pub ticks: String,
    /// Login input.
    pub logins: String,
    /// Partials (internal, one partition).
    pub partials: String,
    /// Checkpoints (internal, compacted).
    pub state: String,
    /// Bars output.
    pub bars: String,
    /// Login statistics output.
    pub stats: String,
    /// Late events.
    pub late: String,
    /// Dead letters.
    pub dead_letters: String,
}

impl Topics {
    fn input(&self, topic: &str) -> Option<Input> {
        if topic == self.ticks {
            Some(Input::Ticks)
        } else if topic == self.logins {
            Some(Input::Logins)
        } else if topic == self.partials {
            Some(Input::Partials)
        } else {
            None
        }
    }

    fn of(&self, input: Input) -> &str {
        match input {
            Input::Ticks => &self.ticks,
            Input::Logins => &self.logins,
            Input::Partials => &self.partials,
        }
    }
}

/// Writes operator checkpoints into the open transaction.
#[derive(Debug, Clone)]
pub struct Checkpoints {
    topics: Arc<Topics>,
    layout: Layout,
    timing: Timing,
}

impl Checkpoints {
    /// Checkpoints of `topics`' operators in their state topic.
    pub fn new(topics: Arc<Topics>, layout: Layout, timing: Timing) -> Self {
        Checkpoints {
            topics,
            layout,
            timing,
        }
    }

    /// Sends the checkpoint of every operator changed since the last one.
    async fn write(&self, query: &Query, output: &StageOutput) -> anyhow::Result<usize> {
        let dirty = query.operators().take_dirty(self.timing);
        for ((input, partition), record) in &dirty {
            let key = state_key(self.topics.of(*input), *partition);
            let payload = record.encode();
            let out: BaseRecord<'_, str, [u8], usize> =
                BaseRecord::with_opaque_to(&self.topics.state, 0)
                    .key(key.as_str())
                    .payload(payload.as_slice())
                    .partition(self.layout.state_partition(*partition));
            output.send(out).await.context("cannot send a checkpoint")?;
        }
        Ok(dirty.len())
    }
}

/// Told of rebalances: writes the batch's checkpoints before the runtime commits the
/// open transaction on revocation, and forgets the operators of revoked partitions.
pub struct Rebalance {
    output: Arc<StageOutput>,
    query: Query,
    checkpoints: Checkpoints,
}

impl Rebalance {
    /// A listener for the consumer feeding `output`.
    pub fn new(output: Arc<StageOutput>, query: Query, checkpoints: Checkpoints) -> Self {
        Rebalance {
            output,
            query,
            checkpoints,
        }
    }
}

impl PartitionListener for Rebalance {
    fn assigned(&self, partitions: &[TopicPartition]) {
        // Operators are restored lazily, at a partition's first record: restoring here
        // would stall the rebalance for every partition at once.
        self.output.assigned(partitions);
    }

    fn revoked(
        &self,
        partitions: &[TopicPartition],
        lost: bool,
        group: Option<&ConsumerGroupMetadata>,
    ) {
        if lost {
            // The runtime aborts the transaction: whatever changed since the last
            // checkpoint is gone with it.
            self.query.operators().drop_dirty();
        } else {
            // Called inside the consumer's poll, so no record is being processed; the
            // send only waits if the producer queue is full.
            let written =
                futures::executor::block_on(self.checkpoints.write(&self.query, &self.output));
            if let Err(error) = written {
                // Without its checkpoints the transaction must not commit. Handing the
                // revocation on as lost makes the runtime abort it and stop the stage,
                // which then restarts from the committed state.
                tracing::error!(%error, "cannot write checkpoints before revocation; aborting");
                self.query.operators().drop_dirty();
                self.output.revoked(partitions, true, group);
                self.forget(partitions);
                return;
            }
        }
        self.output.revoked(partitions, lost, group);
        self.forget(partitions);
    }
}

impl Rebalance {
    fn forget(&self, partitions: &[TopicPartition]) {
        let mut operators = self.query.operators();
        for tp in partitions {
            if let Some(input) = self.checkpoints.topics.input(&tp.topic) {
                operators.remove((input, tp.partition));
            }
        }
    }
}

/// Counters of one input topic.
struct InputCounters {
    consumed: Counter,
    late: Counter,
    skipped: Counter,
}

impl InputCounters {
    fn new(topic: &str) -> Self {
        InputCounters {
            consumed: ff_metrics::records(topic, Outcome::Consumed),
            late: metrics::late_events(topic),
            skipped: ff_metrics::records(topic, Outcome::SkippedDuplicate),
        }
    }
}

/// The batch handler.
pub struct Aggregate<'a> {
    consumer: &'a StreamConsumer<ObservedContext>,
    output: Arc<StageOutput>,
    query: Query,
    restorer: Restorer,
    checkpoints: Checkpoints,
    topics: Arc<Topics>,
    early_results: bool,
    out: crate::state::Outputs,
    /// Per input: ticks, logins, partials.
    counters: (InputCounters, InputCounters, InputCounters),
    /// Final and early bars emitted.
    bars_emitted: (Counter, Counter),
    /// Final and early login statistics emitted.
    stats_emitted: (Counter, Counter),
}

impl<'a> Aggregate<'a> {
    /// A handler writing through `output`.
    pub fn new(
        consumer: &'a StreamConsumer<ObservedContext>,
        output: Arc<StageOutput>,
        query: Query,
        restorer: Restorer,
        checkpoints: Checkpoints,
        early_results: bool,
    ) -> Self {
        let topics = checkpoints.topics.clone();
        Aggregate {
            consumer,
            output,
            query,
            restorer,
            counters: (
                InputCounters::new(&topics.ticks),
                InputCounters::new(&topics.logins),
                InputCounters::new(&topics.partials),
            ),
            bars_emitted: (
                metrics::windows_emitted(&topics.bars, true),
                metrics::windows_emitted(&topics.bars, false),
            ),
            stats_emitted: (
                metrics::windows_emitted(&topics.stats, true),
                metrics::windows_emitted(&topics.stats, false),
            ),
            topics,
            checkpoints,
            early_results,
            out: crate::state::Outputs::default(),
        }
    }

    fn counters(&self, input: Input) -> &InputCounters {
        match input {
            Input::Ticks => &self.counters.0,
            Input::Logins => &self.counters.1,
            Input::Partials => &self.counters.2,
        }
    }

    /// Makes sure the operator of `key` is at the committed state before the record at
    /// `offset`; rebuilds it if it is missing or ahead.
    fn ensure_operator(&self, input: Input, partition: i32, offset: i64) -> anyhow::Result<()> {
        let readiness = self.query.operators().readiness((input, partition), offset);
        if readiness == Readiness::Ready {
            return Ok(());
        }
        let topic = self.topics.of(input).to_string();
        if readiness == Readiness::Ahead {
            tracing::info!(
                topic,
                partition,
                offset,
                "consumer rewound; rebuilding the operator"
            );
        }
        let restored =
            tokio::task::block_in_place(|| self.restorer.restore(input, &topic, partition))
                .with_context(|| format!("cannot restore the state of {topic}/{partition}"))?;
        metrics::restored(&topic, restored.replayed);
        self.query
            .operators()
            .install((input, partition), restored.operator);
        Ok(())
    }

    async fn send_bytes(
        &self,
        topic: &str,
        key: &str,
        payload: &[u8],
        partition: Option<i32>,
    ) -> anyhow::Result<()> {
        let hdrs = headers::with(
            OwnedHeaders::new_with_capacity(1),
            headers::CONTENT_TYPE,
            Format::Protobuf.content_type(),
        );
        let mut record: BaseRecord<'_, str, [u8], usize> = BaseRecord::with_opaque_to(topic, 0)
            .key(key)
            .payload(payload)
            .headers(hdrs);
        if let Some(p) = partition {
            record = record.partition(p);
        }
        self.output
            .send(record)
            .await
            .with_context(|| format!("cannot send to {topic}"))
    }

    async fn emit_bars(&self, bars: &[StockBar]) -> anyhow::Result<()> {
        for bar in bars {
            let payload = bar.encode_as(Format::Protobuf);
            self.send_bytes(&self.topics.bars, &bar.key(), &payload, None)
                .await?;
            let (finals, early) = &self.bars_emitted;
            if bar.r#final { finals } else { early }.increment(1);
        }
        let mut history = self.query.history();
        for bar in bars.iter().filter(|b| b.r#final) {
            history.record_bar(bar);
        }
        Ok(())
    }

    async fn emit_stats(&self, stats: &[LoginStats]) -> anyhow::Result<()> {
        for s in stats {
            let payload = s.encode_as(Format::Protobuf);
            self.send_bytes(&self.topics.stats, &s.key(), &payload, None)
                .await?;
            let (finals, early) = &self.stats_emitted;
            if s.r#final { finals } else { early }.increment(1);
        }
        let mut history = self.query.history();
        for s in stats {
            history.record_stats(s);
        }
        Ok(())
    }

    async fn emit_partials(
        &self,
        messages: &[crate::operators::PartialMessage],
    ) -> anyhow::Result<()> {
        for message in messages {
            let payload = codec::encode_partial(message);
            let key = message.source_partition.to_string();
            let record: BaseRecord<'_, str, [u8], usize> =
                BaseRecord::with_opaque_to(&self.topics.partials, 0)
                    .key(key.as_str())
                    .payload(payload.as_slice())
                    .partition(0);
            self.output
                .send(record)
                .await
                .context("cannot send login partials")?;
        }
        Ok(())
    }

    async fn reject(
        &self,
        message: &BorrowedMessage<'_>,
        topic: &str,
        kind: &str,
        reason: &str,
    ) -> anyhow::Result<()> {
        let rejection = Rejection {
            kind,
            message: reason,
        };
        self.output
            .send_rejected(message, topic, crate::STAGE, &rejection)
            .await
            .with_context(|| format!("cannot send to {topic}"))
    }

    /// Exports watermarks and state size.
    fn observe(&self) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        let operators = self.query.operators();
        let mut open: std::collections::BTreeMap<Input, usize> = std::collections::BTreeMap::new();
        for ((input, partition), op) in operators.iter() {
            *open.entry(*input).or_default() += op.open_windows();
            if let Some(wm) = op.watermark() {
                metrics::watermark_lag(self.topics.of(*input), *partition, (now - wm) as f64 / 1e3);
            }
        }
        for input in [Input::Ticks, Input::Logins, Input::Partials] {
            metrics::open_windows(
                self.topics.of(input),
                open.get(&input).copied().unwrap_or_default(),
            );
        }
    }
}

fn describe_late(placement_missed: &[Window], watermark: Option<i64>, event_ms: i64) -> String {
    let windows: Vec<String> = placement_missed
        .iter()
        .map(|w| format!("[{}, {})", w.start_ms, w.end_ms))
        .collect();
    format!(
        "event time {event_ms} ms is too late: window {} closed at watermark {}",
        windows.join(", "),
        watermark.map_or_else(|| "none".into(), |w| w.to_string())
    )
}

fn event_time(record: &Decoded) -> i64 {
    match record {
        Decoded::Tick(t) => t.timestamp_ms,
        Decoded::Login(l) => l.timestamp_seconds.saturating_mul(1_000),
        Decoded::Partial(_) => 0,
    }
}

impl BatchHandler for Aggregate<'_> {
    async fn handle(&mut self, message: &BorrowedMessage<'_>) -> anyhow::Result<()> {
        let topic = message.topic();
        let Some(input) = self.topics.input(topic) else {
            anyhow::bail!("record from unexpected topic {topic}");
        };
        let (partition, offset) = (message.partition(), message.offset());
        self.counters(input).consumed.increment(1);
        self.ensure_operator(input, partition, offset)?;

        let content_type = headers::get(message.headers(), headers::CONTENT_TYPE);
        let decoded = decode(input, message.payload(), content_type, message.key());
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        let applied = {
            let mut operators = self.query.operators();
            let next = operators
                .get((input, partition))
                .and_then(Operator::next_offset);
            if next.is_some_and(|next| offset < next) {
                // The checkpoint already covers this record: the group's offset was
                // behind it (someone reset the group's offsets?). Applying it again
                // would count it twice.
                None
            } else {
                let Some(op) = operators.get_mut((input, partition)) else {
                    anyhow::bail!("no operator for {topic}/{partition} after restore");
                };
                match &decoded {
                    Ok(record) => Some(Ok(op.apply(offset, record, &mut out)?)),
                    Err(e) => {
                        op.skip(offset);
                        Some(Err(e.clone()))
                    }
                }
            }
        };
        match applied {
            None => {
                self.counters(input).skipped.increment(1);
                tracing::warn!(
                    topic,
                    partition,
                    offset,
                    "record already in the checkpointed state; skipped"
                );
            }
            Some(Err(undecodable)) => {
                self.reject(
                    message,
                    &self.topics.dead_letters,
                    undecodable.kind,
                    &undecodable.message,
                )
                .await?;
                ff_metrics::dead_letters(topic, undecodable.kind).increment(1);
                ff_metrics::records(topic, Outcome::DeadLettered).increment(1);
            }
            Some(Ok(Applied::Placed(placement))) => {
                if placement.is_late() {
                    let reason = describe_late(
                        &placement.missed,
                        placement.watermark,
                        decoded.as_ref().map(event_time).unwrap_or_default(),
                    );
                    self.reject(message, &self.topics.late, "late", &reason)
                        .await?;
                    self.counters(input).late.increment(1);
                }
            }
            Some(Ok(Applied::Merged(outcome))) => {
                if outcome.dropped > 0 {
                    tracing::error!(
                        partition,
                        offset,
                        dropped = outcome.dropped,
                        "login shares arrived for windows already closed"
                    );
                    metrics::dropped_partials(outcome.dropped);
                }
            }
        }
        let emitted = async {
            self.emit_bars(&out.bars).await?;
            self.emit_partials(&out.partials).await?;
            self.emit_stats(&out.stats).await
        }
        .await;
        self.out = out;
        emitted?;
        self.output.consumed(topic, partition, offset)?;
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        if self.early_results {
            let (bars, partials, stats) = {
                let mut operators = self.query.operators();
                let (mut bars, mut partials, mut stats) = (Vec::new(), Vec::new(), Vec::new());
                for (_, op) in operators.iter_mut() {
                    match op {
                        Operator::Ticks(op) => bars.extend(op.early_bars()),
                        Operator::Logins(op) => partials.extend(op.early_partials()),
                        Operator::Merge(op) => stats.extend(op.early_stats()),
                    }
                }
                (bars, partials, stats)
            };
            self.emit_bars(&bars).await?;
            self.emit_partials(&partials).await?;
            self.emit_stats(&stats).await?;
        }
        self.checkpoints.write(&self.query, &self.output).await?;
        self.observe();
        self.output.commit(self.consumer).await?;
        Ok(())
    }
}
