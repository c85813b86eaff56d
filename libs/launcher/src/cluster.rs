//! The Kafka cluster of a run: librdkafka's in-process mock cluster, or a real broker.
//!
//! The mock brokers live inside the launcher and listen on loopback TCP, so the services
//! (separate processes) reach them like any broker. They hold records in memory only:
//! a demo substrate, gone when the launcher exits. The launcher therefore drops the
//! cluster only after every service has stopped and committed.

use std::time::Duration;

use anyhow::{Context as _, bail};
use ferroflow_runtime::kafka::KafkaClients;
use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::types::RDKafkaErrorCode;

/// Brokers of the embedded cluster: enough for replication 3 and a realistic spread of
/// partition leaders.
pub const EMBEDDED_BROKERS: i32 = 3;

/// librdkafka settings every service needs on the embedded cluster, with the reason.
///
/// Empty: against librdkafka 2.12.1's mock cluster, ferroflow's defaults (idempotent
/// producer with `acks=all`, `cooperative-sticky` assignment, `read_committed`) were
/// tried and work as they are, so nothing is overridden. An entry here is passed to every
/// service as `FERROFLOW_RDKAFKA_<NAME>` and logged at start-up.
pub const EMBEDDED_OVERRIDES: &[Override] = &[];

/// A librdkafka property the services get on one kind of cluster.
#[derive(Debug, Clone, Copy)]
pub struct Override {
    /// librdkafka property name, e.g. `partition.assignment.strategy`.
    pub property: &'static str,
    /// Its value.
    pub value: &'static str,
    /// Why the default does not work there.
    pub reason: &'static str,
}

/// The cluster the services talk to.
pub enum Cluster {
    /// librdkafka's mock cluster, alive as long as this value.
    Embedded(MockCluster<'static, DefaultProducerContext>),
    /// A broker the launcher does not own.
    External {
        /// Its bootstrap servers.
        servers: String,
        /// Its cluster id, if it told.
        id: Option<String>,
    },
}

impl Cluster {
    /// Starts the embedded mock cluster and creates `topics` on it.
    pub fn embedded(topics: &[&str], partitions: i32, replication: i32) -> anyhow::Result<Self> {
        let cluster = MockCluster::new(EMBEDDED_BROKERS)
            .context("cannot start the embedded Kafka mock cluster")?;
        for topic in topics {
            cluster
                .create_topic(topic, partitions, replication)
                .with_context(|| {
                    format!(
                        "cannot create topic {topic} ({partitions} partitions, replication \
                         {replication}) on the mock cluster"
                    )
                })?;
        }
        Ok(Cluster::Embedded(cluster))
    }

    /// Uses the broker at `bootstrap_servers`, creating whichever of `topics` are missing.
    /// Existing topics are left as they are, whatever their partition count.
    ///
    /// The admin client comes from the runtime's `KafkaClients`, so it reaches a secured
    /// cluster (SASL, TLS…) with the same pass-through settings as the services.
    pub async fn external(
        clients: &KafkaClients,
        topics: &[&str],
        partitions: i32,
        replication: i32,
    ) -> anyhow::Result<Self> {
        let bootstrap_servers = clients.bootstrap_servers();
        let admin = clients
            .admin()
            .context("cannot create a Kafka admin client")?;
        let new_topics: Vec<NewTopic<'_>> = topics
            .iter()
            .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(replication)))
            .collect();
        let options = AdminOptions::new()
            .request_timeout(Some(Duration::from_secs(30)))
            .operation_timeout(Some(Duration::from_secs(30)));
        let results = admin
            .create_topics(&new_topics, &options)
            .await
            .with_context(|| format!("cannot reach Kafka at {bootstrap_servers}"))?;
        for result in results {
            match result {
                Ok(topic) => tracing::info!(topic, partitions, replication, "created topic"),
                Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => {
                    tracing::debug!(topic, "topic exists");
                }
                Err((topic, code)) => {
                    bail!("cannot create topic {topic} at {bootstrap_servers}: {code}")
                }
            }
        }
        // Blocks this thread briefly; the cluster already answered, so the metadata is at hand.
        let id = admin.inner().fetch_cluster_id(Duration::from_secs(10));
        Ok(Cluster::External {
            servers: bootstrap_servers.to_string(),
            id,
        })
    }

    /// The address list the services connect to.
    pub fn bootstrap_servers(&self) -> String {
        match self {
            Cluster::Embedded(mock) => mock.bootstrap_servers(),
            Cluster::External { servers, .. } => servers.clone(),
        }
    }

    /// A short description for logs and the banner.
    pub fn describe(&self) -> String {
        match self {
            Cluster::Embedded(mock) => format!(
                "embedded mock cluster ({EMBEDDED_BROKERS} brokers, in memory) at {}",
                mock.bootstrap_servers()
            ),
            Cluster::External { servers, .. } => format!("Kafka cluster at {servers}"),
        }
    }

    /// librdkafka settings the services need on this cluster.
    pub fn overrides(&self) -> &'static [Override] {
        match self {
            Cluster::Embedded(_) => EMBEDDED_OVERRIDES,
            Cluster::External { .. } => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};

    use super::*;

    #[test]
    fn embedded_cluster_serves_the_topics_it_was_given_over_tcp() {
        let cluster = Cluster::embedded(&["a-topic", "b-topic"], 3, 3).unwrap();
        let bootstrap = cluster.bootstrap_servers();
        assert_eq!(bootstrap.split(',').count(), 3, "{bootstrap}");
        assert!(bootstrap.starts_with("127.0.0.1:"), "{bootstrap}");
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .create()
            .unwrap();
        let metadata = consumer
            .fetch_metadata(Some("b-topic"), Duration::from_secs(10))
            .unwrap();
        assert_eq!(metadata.topics()[0].partitions().len(), 3);
        assert!(cluster.describe().contains("embedded mock cluster"));
    }

    #[test]
    fn external_cluster_is_described_by_its_address() {
        let cluster = Cluster::External {
            servers: "kafka:9092".into(),
            id: Some("abc".into()),
        };
        assert_eq!(cluster.bootstrap_servers(), "kafka:9092");
        assert_eq!(cluster.describe(), "Kafka cluster at kafka:9092");
        assert!(cluster.overrides().is_empty());
    }
}
