//! Kafka client setup. Architecture invariant: this module is the only place in ferroflow
//! that builds an rdkafka `ClientConfig`; services ask it for consumers and producers.
//!
//! Order of settings: ferroflow's defaults for the role, then the role's own needs
//! (group id, transactional id…), then the user's `kafka.properties`, so that an operator
//! can always override a default without a code change.

pub mod batch;
pub mod context;
pub mod dead_letter;
pub mod headers;
pub mod producer;
pub mod transactional;

use std::sync::Arc;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::AdminClient;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, ProducerContext, ThreadedProducer};

use crate::config::KafkaSettings;
use crate::health::Health;
pub use context::{ObservedContext, PartitionListener};

/// Errors creating Kafka clients.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// librdkafka refused the configuration or could not create the client.
    #[error("cannot create Kafka {role}: {source}")]
    Create {
        /// Which client.
        role: &'static str,
        /// librdkafka's reason.
        source: KafkaError,
    },
    /// The metadata probe itself failed to run.
    #[error("Kafka metadata probe failed: {0}")]
    Probe(String),
    /// Subscribing failed.
    #[error("cannot subscribe to {topics:?}: {source}")]
    Subscribe {
        /// The topics.
        topics: Vec<String>,
        /// librdkafka's reason.
        source: KafkaError,
    },
}

/// Delivery guarantee of a consumer's reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Only records of committed transactions (what every ferroflow consumer uses).
    ReadCommitted,
    /// Everything, including records of open or aborted transactions.
    ReadUncommitted,
}

/// Builds the Kafka clients of one service from its settings.
#[derive(Clone)]
pub struct KafkaClients {
    settings: KafkaSettings,
    service: String,
    health: Arc<Health>,
}

impl KafkaClients {
    /// A factory for `service`'s clients.
    pub fn new(settings: KafkaSettings, service: &str, health: Arc<Health>) -> Self {
        // Three statistics reports may go missing before a client stops counting.
        health.set_freshness((settings.statistics_interval * 3).max(Duration::from_secs(3)));
        KafkaClients {
            settings,
            service: service.to_string(),
            health,
        }
    }

    /// The bootstrap servers.
    pub fn bootstrap_servers(&self) -> &str {
        &self.settings.bootstrap_servers
    }

    /// The shared health state the clients report into.
    pub fn health(&self) -> &Arc<Health> {
        &self.health
    }

    fn base(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.settings.bootstrap_servers)
            .set(
                "client.id",
                self.settings.client_id.as_deref().unwrap_or(&self.service),
            )
            .set(
                "statistics.interval.ms",
                self.settings.statistics_interval.as_millis().to_string(),
            );
        config
    }

    fn finish(&self, mut config: ClientConfig) -> ClientConfig {
        for (name, value) in &self.settings.properties {
            config.set(name, value);
        }
        config
    }

    /// Settings of a producer that loses and doubles nothing: idempotent, `acks=all`.
    /// `linger.ms=5` lets librdkafka fill batches under load at little latency cost.
    pub fn producer_config(&self) -> ClientConfig {
        let mut config = self.base();
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("compression.type", "lz4")
            .set("message.timeout.ms", "120000");
        self.finish(config)
    }

    /// Settings of a group consumer whose offsets move only when the service says so:
    /// no auto-commit and no automatic offset store, so nothing is committed before the
    /// work it covers is durable.
    pub fn consumer_config(&self, group_id: &str, isolation: Isolation) -> ClientConfig {
        let mut config = self.base();
        config
            .set("group.id", group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("partition.assignment.strategy", "cooperative-sticky")
            // Once a partition's prefetch queue passes its threshold librdkafka waits
            // this long before fetching for it again (1 s by default); a stage that
            // drains its queue quickly sat idle for up to a second every few hundred
            // thousand records (docs/benchmarks.md, aggregator).
            .set("fetch.queue.backoff.ms", "10")
            .set(
                "isolation.level",
                match isolation {
                    Isolation::ReadCommitted => "read_committed",
                    Isolation::ReadUncommitted => "read_uncommitted",
                },
            );
        self.finish(config)
    }

    /// An observed producer that reports deliveries through a future per record.
    pub fn future_producer(&self) -> Result<FutureProducer<ObservedContext>, ClientError> {
        self.producer_config()
            .create_with_context(ObservedContext::new(self.health.clone(), None))
            .map_err(|source| ClientError::Create {
                role: "producer",
                source,
            })
    }

    /// A producer with a custom delivery context (the generator counts deliveries itself).
    pub fn threaded_producer<C: ProducerContext + 'static>(
        &self,
        context: C,
    ) -> Result<ThreadedProducer<C>, ClientError> {
        self.producer_config()
            .create_with_context(context)
            .map_err(|source| ClientError::Create {
                role: "producer",
                source,
            })
    }

    /// A group consumer subscribed to `topics`. Partition assignment counts towards
    /// readiness, and `listener` (if any) is told of every assignment and revocation.
    pub fn subscribed_consumer(
        &self,
        group_id: &str,
        topics: &[&str],
        isolation: Isolation,
        listener: Option<Arc<dyn PartitionListener>>,
    ) -> Result<StreamConsumer<ObservedContext>, ClientError> {
        self.health.require_assignment();
        let consumer: StreamConsumer<ObservedContext> = self
            .consumer_config(group_id, isolation)
            .create_with_context(ObservedContext::new(self.health.clone(), listener))
            .map_err(|source| ClientError::Create {
                role: "consumer",
                source,
            })?;
        consumer
            .subscribe(topics)
            .map_err(|source| ClientError::Subscribe {
                topics: topics.iter().map(|t| t.to_string()).collect(),
                source,
            })?;
        Ok(consumer)
    }

    /// An admin client (topic creation in tools such as the launcher), with the same
    /// connection and security settings as every other client.
    pub fn admin(&self) -> Result<AdminClient<ObservedContext>, ClientError> {
        self.finish(self.base())
            .create_with_context(ObservedContext::new(self.health.clone(), None))
            .map_err(|source| ClientError::Create {
                role: "admin client",
                source,
            })
    }

    /// Asks the cluster for metadata, which proves it is reachable.
    pub async fn probe(&self, timeout: Duration) -> Result<usize, ClientError> {
        let config = self.finish(self.base());
        let health = self.health.clone();
        tokio::task::spawn_blocking(move || {
            let consumer: rdkafka::consumer::BaseConsumer<ObservedContext> = config
                .create_with_context(ObservedContext::new(health.clone(), None))
                .map_err(|source| ClientError::Create {
                    role: "probe",
                    source,
                })?;
            let metadata =
                consumer
                    .fetch_metadata(None, timeout)
                    .map_err(|source| ClientError::Create {
                        role: "probe",
                        source,
                    })?;
            health.set_kafka_reachable(true);
            Ok(metadata.brokers().len())
        })
        .await
        .unwrap_or_else(|join| Err(ClientError::Probe(join.to_string())))
    }
}

/// Checks one librdkafka property by letting librdkafka parse it, so a typo fails at
/// start-up naming the property rather than at the first client creation.
pub fn check_property(name: &str, value: &str) -> Result<(), String> {
    let mut config = ClientConfig::new();
    config.set(name, value);
    match config.create_native_config() {
        Ok(_) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}
