//! The client context every ferroflow Kafka client runs with: it turns librdkafka's
//! statistics and errors into metrics and readiness, and tells the service about partition
//! assignments and revocations.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryResult, ProducerContext};
use rdkafka::statistics::Statistics;
use rdkafka::{Offset, TopicPartitionList};

use crate::health::Health;
use crate::metrics;

/// A topic and partition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: i32,
}

/// Told of partition assignment changes. Called on the consumer's polling task, inside
/// `recv()`, so the service's loop is not running at the same time.
pub trait PartitionListener: Send + Sync {
    /// Partitions newly assigned to this consumer.
    fn assigned(&self, partitions: &[TopicPartition]);
    /// Partitions taken away. `lost` means the group already gave them to someone else
    /// (session timeout): their uncommitted work must be dropped, not committed.
    /// `group` is the consumer's current group metadata, which a transactional stage
    /// needs to commit its open transaction before the partitions move.
    fn revoked(
        &self,
        partitions: &[TopicPartition],
        lost: bool,
        group: Option<&rdkafka::consumer::ConsumerGroupMetadata>,
    );
}

/// Client context shared by consumers and producers.
pub struct ObservedContext {
    health: Arc<Health>,
    listener: Option<Arc<dyn PartitionListener>>,
    assigned: Mutex<BTreeSet<TopicPartition>>,
    /// librdkafka's instance name (e.g. `sink-csv#consumer-1`), learnt from statistics.
    name: Mutex<String>,
}

impl ObservedContext {
    /// A context reporting into `health`, telling `listener` of rebalances.
    pub fn new(health: Arc<Health>, listener: Option<Arc<dyn PartitionListener>>) -> Self {
        ObservedContext {
            health,
            listener,
            assigned: Mutex::new(BTreeSet::new()),
            name: Mutex::new(String::new()),
        }
    }

    fn name(&self) -> String {
        self.name.lock().map(|n| n.clone()).unwrap_or_default()
    }

    /// Partitions currently assigned to this consumer.
    pub fn assigned(&self) -> Vec<TopicPartition> {
        self.assigned
            .lock()
            .map(|a| a.iter().cloned().collect())
            .unwrap_or_default()
    }
}

fn partitions(tpl: &TopicPartitionList) -> Vec<TopicPartition> {
    tpl.elements()
        .iter()
        .map(|e| TopicPartition {
            topic: e.topic().to_string(),
            partition: e.partition(),
        })
        .collect()
}

impl ClientContext for ObservedContext {
    fn stats(&self, statistics: Statistics) {
        if let Ok(mut name) = self.name.lock()
            && *name != statistics.name
        {
            *name = statistics.name.clone();
        }
        export_statistics(&statistics, &self.health);
        if let Ok(assigned) = self.assigned.lock() {
            export_consumer_lag(&statistics, &assigned);
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::AllBrokersDown)
        ) {
            self.health.report_reachability(&self.name(), false);
        }
        metrics::kafka_client_error(&error);
        tracing::warn!(%error, reason, "Kafka client error");
    }
}

impl ConsumerContext for ObservedContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let revoked = partitions(tpl);
            let lost = rdkafka::consumer::Consumer::assignment_lost(consumer);
            tracing::info!(partitions = ?revoked, lost, "partitions revoked");
            if let Some(listener) = &self.listener {
                let group = rdkafka::consumer::Consumer::group_metadata(consumer);
                listener.revoked(&revoked, lost, group.as_ref());
            }
            if let Ok(mut assigned) = self.assigned.lock() {
                for tp in &revoked {
                    assigned.remove(tp);
                    // The gauge would otherwise keep the last lag seen here for good, and
                    // summed with the new owner's it would count the partition twice.
                    metrics::consumer_lag(&tp.topic, tp.partition, 0);
                }
                self.health.set_assigned_partitions(assigned.len());
            }
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let added = partitions(tpl);
                tracing::info!(partitions = ?added, "partitions assigned");
                if let Ok(mut assigned) = self.assigned.lock() {
                    assigned.extend(added.iter().cloned());
                    self.health.set_assigned_partitions(assigned.len());
                }
                if let Some(listener) = &self.listener {
                    listener.assigned(&added);
                }
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(error) => tracing::error!(%error, "rebalance failed"),
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        match result {
            Ok(()) => {
                for e in offsets.elements() {
                    if let Offset::Offset(o) = e.offset() {
                        metrics::committed_offset(e.topic(), e.partition(), o);
                    }
                }
            }
            Err(error) => {
                metrics::commit_failed();
                tracing::warn!(%error, "offset commit failed");
            }
        }
    }
}

impl ProducerContext for ObservedContext {
    type DeliveryOpaque = ();

    fn delivery(&self, _: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {}
}

/// Turns one librdkafka statistics report into Kafka reachability and the producer
/// queue gauges (consumer lag needs the assignment, which the consumer context holds).
pub fn export_statistics(statistics: &Statistics, health: &Health) {
    let up = statistics
        .brokers
        .values()
        .any(|b| b.nodeid >= 0 && b.state == "UP");
    health.report_reachability(&statistics.name, up);
    if statistics.client_type == "producer" {
        metrics::producer_queue(statistics.msg_cnt, statistics.msg_size);
    }
}

/// The lag of each partition in `assigned`, from one statistics report. Only those: the
/// report still lists partitions given up in a rebalance, with their last lag.
fn export_consumer_lag(statistics: &Statistics, assigned: &BTreeSet<TopicPartition>) {
    for tp in assigned {
        let partition = statistics
            .topics
            .get(&tp.topic)
            .and_then(|topic| topic.partitions.get(&tp.partition));
        // Lag is -1 until the consumer has a position and the broker's high watermark.
        if let Some(partition) = partition
            && partition.consumer_lag >= 0
        {
            metrics::consumer_lag(&tp.topic, tp.partition, partition.consumer_lag);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::statistics::{Partition, Topic};

    fn report(lags: &[(i32, i64)]) -> Statistics {
        let partitions = lags
            .iter()
            .map(|&(partition, consumer_lag)| {
                let stats = Partition {
                    partition,
                    consumer_lag,
                    ..Partition::default()
                };
                (partition, stats)
            })
            .collect();
        let topic = Topic {
            topic: "ticks".into(),
            partitions,
            ..Topic::default()
        };
        Statistics {
            topics: [("ticks".to_string(), topic)].into(),
            ..Statistics::default()
        }
    }

    fn lag_lines(rendered: &str) -> Vec<&str> {
        let mut lines: Vec<&str> = rendered
            .lines()
            .filter(|l| l.starts_with(metrics::CONSUMER_LAG_RECORDS))
            .collect();
        lines.sort();
        lines
    }

    #[test]
    fn lag_is_exported_only_for_partitions_this_consumer_owns() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let assigned: BTreeSet<TopicPartition> = [TopicPartition {
            topic: "ticks".into(),
            partition: 1,
        }]
        .into();
        ::metrics::with_local_recorder(&recorder, || {
            // Partition 0 was given up: the report still carries its last lag.
            export_consumer_lag(&report(&[(0, 500), (1, 7), (2, -1)]), &assigned);
        });
        assert_eq!(
            lag_lines(&handle.render()),
            [r#"ferroflow_consumer_lag_records{topic="ticks",partition="1"} 7"#]
        );
    }
}
