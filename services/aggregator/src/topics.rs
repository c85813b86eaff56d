//! The topics the aggregator reads and the internal ones it creates.
//!
//! The input topics must exist (the aggregator waits a while for them, then stops
//! naming them). The state topic and the partials topic are created when missing:
//!
//! - the **state topic** is compacted (only the latest checkpoint per input partition
//!   matters) and has as many partitions as the larger input topic; the checkpoint of
//!   input partition `p` goes to its partition `p` (modulo its count), so restoring a
//!   partition reads one small partition;
//! - the **partials topic** has one partition, so the merger sees every login
//!   partition's shares in one order, and one instance owns the merge.
//!
//! Replication is the broker's default (`default.replication.factor`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use ferroflow_runtime::kafka::KafkaClients;
use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::types::RDKafkaErrorCode;

/// Partition counts the aggregator works with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Partitions of the tick input.
    pub tick_partitions: i32,
    /// Partitions of the login input: the merger waits for all of them.
    pub login_partitions: i32,
    /// Partitions of the state topic.
    pub state_partitions: i32,
}

impl Layout {
    /// The state-topic partition holding the checkpoint of input partition `partition`.
    pub fn state_partition(&self, partition: i32) -> i32 {
        partition.rem_euclid(self.state_partitions.max(1))
    }
}

/// Settings of the compacted state topic: compaction keeps one checkpoint per key; short
/// segments let the cleaner reach old checkpoints within minutes, so a restore reads few.
const STATE_TOPIC_CONFIG: &[(&str, &str)] = &[
    ("cleanup.policy", "compact"),
    ("segment.ms", "600000"),
    ("min.cleanable.dirty.ratio", "0.1"),
];

/// Learns the input partition counts (waiting up to `wait` for the inputs to exist) and
/// creates the internal topics that are missing.
pub async fn prepare(
    clients: &KafkaClients,
    ticks: &str,
    logins: &str,
    state_topic: &str,
    partials_topic: &str,
    wait: Duration,
) -> anyhow::Result<Layout> {
    let admin = Arc::new(
        clients
            .admin()
            .context("cannot create a Kafka admin client")?,
    );
    let deadline = tokio::time::Instant::now() + wait;
    let counts = loop {
        let probe = partition_counts(&admin, [ticks, logins]).await?;
        if let [Some(t), Some(l)] = probe[..] {
            break (t, l);
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!(
                "input topics missing after {wait:?}: `{ticks}` and `{logins}` must exist \
                 (create them, e.g. with scripts/kafka.sh create-default-topics)"
            );
        }
        tracing::info!(ticks, logins, "waiting for the input topics to exist");
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let layout = Layout {
        tick_partitions: counts.0,
        login_partitions: counts.1,
        state_partitions: counts.0.max(counts.1),
    };
    // Create only what is missing: a cluster without CreateTopics support (librdkafka's
    // mock cluster in the embedded run) works when the topics were made beforehand.
    let existing = partition_counts(&admin, [state_topic, partials_topic]).await?;
    let mut missing = Vec::new();
    if existing.first().copied().flatten().is_none() {
        let mut state = NewTopic::new(
            state_topic,
            layout.state_partitions,
            TopicReplication::Fixed(-1),
        );
        for (name, value) in STATE_TOPIC_CONFIG {
            state = state.set(name, value);
        }
        missing.push(state);
    }
    if existing.get(1).copied().flatten().is_none() {
        missing.push(NewTopic::new(
            partials_topic,
            1,
            TopicReplication::Fixed(-1),
        ));
    }
    if !missing.is_empty() {
        let options = AdminOptions::new()
            .request_timeout(Some(Duration::from_secs(30)))
            .operation_timeout(Some(Duration::from_secs(30)));
        let results = admin
            .create_topics(&missing, &options)
            .await
            .with_context(|| {
                format!(
                    "cannot create the aggregator's internal topics {state_topic} and \
                     {partials_topic}; create them beforehand if this cluster does not let \
                     clients create topics"
                )
            })?;
        for result in results {
            match result {
                Ok(topic) => tracing::info!(topic, "created internal topic"),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => anyhow::bail!("cannot create topic {topic}: {code}"),
            }
        }
    }
    // Existing topics keep their partition count; read the state topic's real one. A
    // topic just created reaches the metadata of every broker a moment later (seen on a
    // three-node cluster), so wait for both internal topics to show their partitions.
    let deadline = tokio::time::Instant::now() + wait;
    let state_partitions = loop {
        let probe = partition_counts(&admin, [state_topic, partials_topic]).await?;
        if let [Some(state), Some(_)] = probe[..] {
            break state;
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!(
                "the internal topics {state_topic} and {partials_topic} show no partitions \
                 {wait:?} after their creation"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    Ok(Layout {
        state_partitions,
        ..layout
    })
}

/// The partition count of `topic`, `None` if it does not exist (yet).
/// The partition count of each topic in `names`, `None` where the metadata shows none.
/// Metadata requests block: they run off the async workers.
async fn partition_counts(
    admin: &Arc<rdkafka::admin::AdminClient<ferroflow_runtime::kafka::ObservedContext>>,
    names: [&str; 2],
) -> anyhow::Result<Vec<Option<i32>>> {
    let names = names.map(str::to_string);
    let admin = admin.clone();
    let counts = tokio::task::spawn_blocking(move || {
        names
            .iter()
            .map(|t| partitions_of(&admin, t))
            .collect::<Vec<_>>()
    })
    .await?;
    Ok(counts)
}

fn partitions_of(
    admin: &rdkafka::admin::AdminClient<ferroflow_runtime::kafka::ObservedContext>,
    topic: &str,
) -> Option<i32> {
    let metadata = admin
        .inner()
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .ok()?;
    let found = metadata.topics().first()?;
    if found.error().is_some() || found.partitions().is_empty() {
        return None;
    }
    i32::try_from(found.partitions().len()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_partitions_map_onto_state_partitions() {
        let layout = Layout {
            tick_partitions: 3,
            login_partitions: 6,
            state_partitions: 6,
        };
        assert_eq!(layout.state_partition(5), 5);
        let smaller = Layout {
            state_partitions: 4,
            ..layout
        };
        assert_eq!(smaller.state_partition(5), 1);
    }
}
