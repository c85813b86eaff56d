//! Rebuilding an operator's state when its partition comes to this instance, or after
//! an aborted transaction rewound it.
//!
//! 1. Read the partition's latest checkpoint from the state topic (`read_committed`,
//!    up to the partition's end as it stood when the read began).
//! 2. No checkpoint: the partition was never processed; start fresh.
//! 3. Otherwise re-read the input partition from the checkpoint's `replay_from` up to
//!    its `next_offset` and apply every record again with its outputs discarded (see
//!    [`Checkpoint`](crate::operators::Checkpoint)).
//!
//! The checkpoint and the consumer group's offset were committed in one transaction, so
//! `next_offset` is exactly where the group resumes.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use ferroflow_runtime::kafka::headers;
use ferroflow_runtime::kafka::{Isolation, KafkaClients};
use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use crate::codec::{StateRecord, state_key};
use crate::state::{Input, Operator, Outputs, decode};
use crate::topics::Layout;
use crate::window::Timing;

/// The restore consumer's context: its statistics would only repeat the main
/// consumer's (and overwrite its lag gauges), so they are dropped.
struct Quiet;

impl ClientContext for Quiet {
    fn stats(&self, _: rdkafka::Statistics) {}
}

impl ConsumerContext for Quiet {}

/// Reads checkpoints and replays inputs, with a consumer of its own (assigned, never
/// subscribed, so it takes no part in the group).
pub struct Restorer {
    consumer: BaseConsumer<Quiet>,
    state_topic: String,
    layout: Layout,
    timing: Timing,
    timeout: Duration,
}

/// A rebuilt operator and how much was re-read for it.
pub struct Restored {
    /// The operator, at the committed position.
    pub operator: Operator,
    /// Input records re-read.
    pub replayed: u64,
}

impl Restorer {
    /// A restorer reading `state_topic`; each read gives up after `timeout` (it can
    /// only wait that long behind a transaction a crashed instance left open).
    pub fn new(
        clients: &KafkaClients,
        group_id: &str,
        state_topic: &str,
        layout: Layout,
        timing: Timing,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let consumer: BaseConsumer<Quiet> = clients
            .consumer_config(&format!("{group_id}-restore"), Isolation::ReadCommitted)
            .create_with_context(Quiet)
            .context("cannot create the state restore consumer")?;
        Ok(Restorer {
            consumer,
            state_topic: state_topic.to_string(),
            layout,
            timing,
            timeout,
        })
    }

    /// Rebuilds the operator of `topic`'s `partition` (of kind `input`).
    pub fn restore(&self, input: Input, topic: &str, partition: i32) -> anyhow::Result<Restored> {
        let started = Instant::now();
        let Some(record) = self.latest_checkpoint(topic, partition)? else {
            tracing::info!(
                topic,
                partition,
                "no checkpoint: the partition starts fresh"
            );
            return Ok(Restored {
                operator: Operator::new(
                    input,
                    partition,
                    self.timing,
                    self.layout.login_partitions,
                ),
                replayed: 0,
            });
        };
        let mut operator = Operator::replaying(
            input,
            partition,
            self.timing,
            self.layout.login_partitions,
            &record,
        )
        .map_err(|problem| {
            anyhow::anyhow!(
                "cannot restore {topic}/{partition}: {problem}. Window and lateness settings \
                 (aggregator.window_size, window_advance, max_out_of_orderness, grace) must not \
                 change under a running group; to start over with new ones, use a new \
                 aggregator.group_id"
            )
        })?;
        let (replay_from, next_offset) = match &record.checkpoint {
            crate::codec::OperatorCheckpoint::Ticks(c)
            | crate::codec::OperatorCheckpoint::Logins(c) => (c.replay_from, c.next_offset),
            crate::codec::OperatorCheckpoint::Merge { checkpoint, .. } => {
                (checkpoint.replay_from, checkpoint.next_offset)
            }
        };
        let replayed = self.replay(
            input,
            topic,
            partition,
            replay_from,
            next_offset,
            &mut operator,
        )?;
        tracing::info!(
            topic,
            partition,
            replay_from,
            next_offset,
            replayed,
            elapsed = ?started.elapsed(),
            "state restored from checkpoint"
        );
        Ok(Restored { operator, replayed })
    }

    fn latest_checkpoint(
        &self,
        topic: &str,
        partition: i32,
    ) -> anyhow::Result<Option<StateRecord>> {
        let state_partition = self.layout.state_partition(partition);
        let (low, high) = self
            .consumer
            .fetch_watermarks(&self.state_topic, state_partition, self.timeout)
            .with_context(|| format!("cannot read the end of {}", self.state_topic))?;
        if high <= low {
            return Ok(None);
        }
        let key = state_key(topic, partition);
        let mut latest: Option<Vec<u8>> = None;
        self.assign(&self.state_topic, state_partition, Offset::Beginning)?;
        let deadline = Instant::now() + self.timeout * 3;
        loop {
            if self.position(&self.state_topic, state_partition)? >= high {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "reading {} partition {state_partition} up to offset {high} took longer than \
                     {:?}: is a transaction of a crashed instance still open?",
                    self.state_topic,
                    self.timeout * 3
                );
            }
            match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) if message.key() == Some(key.as_bytes()) => {
                    latest = message.payload().map(<[u8]>::to_vec);
                }
                Some(Ok(_)) | None => {}
                Some(Err(error)) => tracing::warn!(%error, "state topic read error"),
            }
        }
        self.consumer
            .unassign()
            .context("unassign the state topic")?;
        latest
            .map(|bytes| {
                StateRecord::decode(&bytes).with_context(|| {
                    format!(
                        "the checkpoint of {topic}/{partition} in {} is unreadable",
                        self.state_topic
                    )
                })
            })
            .transpose()
    }

    fn replay(
        &self,
        input: Input,
        topic: &str,
        partition: i32,
        from: i64,
        to: i64,
        operator: &mut Operator,
    ) -> anyhow::Result<u64> {
        if from >= to {
            return Ok(0);
        }
        self.assign(topic, partition, Offset::Offset(from))?;
        let mut out = Outputs::default();
        let mut replayed = 0u64;
        let mut expected = from;
        let deadline = Instant::now() + self.timeout * 3;
        while operator.next_offset().is_none_or(|next| next < to) {
            if Instant::now() > deadline {
                bail!(
                    "replaying {topic}/{partition} from {from} to {to} took longer than {:?}",
                    self.timeout * 3
                );
            }
            let message = match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) => message,
                Some(Err(error)) => {
                    tracing::warn!(%error, "replay read error");
                    continue;
                }
                None => {
                    // Past the last record (only aborted or control records left).
                    if self.position(topic, partition)? >= to {
                        break;
                    }
                    continue;
                }
            };
            let offset = message.offset();
            if offset >= to {
                break;
            }
            if offset > expected && replayed == 0 {
                tracing::error!(
                    topic,
                    partition,
                    from,
                    first = offset,
                    "records the checkpoint needs are gone (retention?): windows open at the \
                     crash miss them"
                );
            }
            expected = offset + 1;
            let content_type = headers::get(message.headers(), headers::CONTENT_TYPE);
            match decode(input, message.payload(), content_type, message.key()) {
                Ok(record) => {
                    operator.apply(offset, &record, &mut out)?;
                }
                Err(_) => operator.skip(offset),
            }
            out.clear();
            replayed += 1;
        }
        self.consumer
            .unassign()
            .context("unassign the replayed input")?;
        Ok(replayed)
    }

    fn assign(&self, topic: &str, partition: i32, offset: Offset) -> anyhow::Result<()> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, partition, offset)
            .context("partition list")?;
        self.consumer
            .assign(&tpl)
            .with_context(|| format!("cannot read {topic}/{partition}"))
    }

    fn position(&self, topic: &str, partition: i32) -> anyhow::Result<i64> {
        let position = self.consumer.position().context("consumer position")?;
        Ok(position
            .find_partition(topic, partition)
            .and_then(|e| e.offset().to_raw())
            .unwrap_or(-1))
    }
}
