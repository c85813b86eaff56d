//! Test helpers shared by every crate's integration tests.
//!
//! Integration tests run against the real Apache Kafka that the test command
//! (`scripts/test.sh`) starts with `scripts/kafka.sh`; its address arrives in
//! `FERROFLOW_TEST_BOOTSTRAP`. Each test makes its own topics and groups with unique
//! names, so tests share one broker without seeing each other's records.
#![warn(missing_docs)]

pub mod database;
pub mod pipeline;

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// Environment variable carrying the test broker's bootstrap servers.
pub const BOOTSTRAP_ENV: &str = "FERROFLOW_TEST_BOOTSTRAP";

/// The bootstrap servers of the test broker. Panics with instructions when the test
/// command did not start one: a test that needs Kafka must not pass without it.
pub fn bootstrap() -> String {
    std::env::var(BOOTSTRAP_ENV).unwrap_or_else(|_| {
        panic!(
            "{BOOTSTRAP_ENV} is not set: run the tests with scripts/test.sh, which starts a real \
             Kafka, or start one with `scripts/kafka.sh start` and export {BOOTSTRAP_ENV}"
        )
    })
}

/// A name no other test uses: `prefix-` and 10 random hex digits.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

/// Creates `topic` with `partitions` partitions (replication 1, or
/// `FERROFLOW_TEST_REPLICATION`) and waits until its partitions have leaders.
pub async fn create_topic(topic: &str, partitions: i32) {
    let replication: i32 = std::env::var("FERROFLOW_TEST_REPLICATION")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("admin client");
    let results = admin
        .create_topics(
            &[NewTopic::new(
                topic,
                partitions,
                TopicReplication::Fixed(replication),
            )],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        )
        .await
        .expect("create topic request");
    for result in results {
        if let Err((name, code)) = result {
            assert_eq!(
                code,
                rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists,
                "cannot create topic {name}"
            );
        }
    }
    let topic_name = topic.to_string();
    wait_until(Duration::from_secs(30), "topic has leaders", || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap())
            .create()
            .expect("consumer");
        consumer
            .fetch_metadata(Some(&topic_name), Duration::from_secs(5))
            .map(|m| {
                m.topics().first().is_some_and(|t| {
                    t.partitions().len() == partitions as usize
                        && t.partitions().iter().all(|p| p.leader() >= 0)
                })
            })
            .unwrap_or(false)
    })
    .await;
}

/// Polls `condition` every 50 ms until it holds; panics naming `what` after `timeout`.
pub async fn wait_until(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if condition() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One record as read back, with the headers tests check.
#[derive(Debug, Clone)]
pub struct ReadRecord {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Payload.
    pub payload: Option<Vec<u8>>,
    /// Headers, by name (the last of duplicate names wins).
    pub headers: HashMap<String, String>,
}

/// Reads every committed record of `topic` from the beginning until `expected` are read,
/// then on to the end of the topic (so that records beyond the expected ones — doubles —
/// are returned too), panicking after `timeout`. `read_committed`, as every ferroflow
/// consumer reads; the end is reached when every partition's position has passed its
/// high watermark as it stood once `expected` records were read.
pub fn read_topic(topic: &str, expected: usize, timeout: Duration) -> Vec<ReadRecord> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .expect("reader");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let mut tpl = TopicPartitionList::new();
    for p in metadata.topics()[0].partitions() {
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&tpl).expect("assign");
    let deadline = std::time::Instant::now() + timeout;
    let mut records = Vec::with_capacity(expected);
    let mut ends: Option<Vec<(i32, i64)>> = None;
    loop {
        if records.len() >= expected && ends.is_none() {
            ends = Some(
                metadata.topics()[0]
                    .partitions()
                    .iter()
                    .map(|p| {
                        let (_, high) = consumer
                            .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
                            .expect("watermarks");
                        (p.id(), high)
                    })
                    .collect(),
            );
        }
        if let Some(ends) = &ends {
            let position = consumer.position().expect("position");
            let at_end = ends.iter().all(|(partition, high)| {
                *high == 0
                    || position
                        .find_partition(topic, *partition)
                        .and_then(|e| e.offset().to_raw())
                        .is_some_and(|o| o >= *high)
            });
            if at_end {
                break;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "read {} of {expected} records from {topic} within {timeout:?}",
            records.len()
        );
        if let Some(message) = consumer.poll(Duration::from_millis(200)) {
            // Errors here are librdkafka reporting a transient condition (a broker
            // restarting, a leader moving); it retries underneath, so keep polling.
            let Ok(message) = message else { continue };
            let headers = message
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| {
                            (
                                h.key.to_string(),
                                String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            records.push(ReadRecord {
                partition: message.partition(),
                offset: message.offset(),
                key: message.key().map(<[u8]>::to_vec),
                payload: message.payload().map(<[u8]>::to_vec),
                headers,
            });
        }
    }
    records
}

/// Asserts that exactly the sequence numbers `expected` appear in `counts` (sequence
/// number → how many times it was seen), each once; names the first missing and doubled.
pub fn assert_exactly_once(counts: &HashMap<u64, usize>, expected: impl IntoIterator<Item = u64>) {
    let expected: Vec<u64> = expected.into_iter().collect();
    let missing: Vec<_> = expected
        .iter()
        .filter(|s| !counts.contains_key(s))
        .take(10)
        .collect();
    let doubled: Vec<_> = counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(s, n)| (*s, *n))
        .take(10)
        .collect();
    assert!(
        missing.is_empty(),
        "missing sequence numbers (first 10): {missing:?}"
    );
    assert!(
        doubled.is_empty(),
        "doubled sequence numbers (first 10): {doubled:?}"
    );
    assert_eq!(
        counts.len(),
        expected.len(),
        "records for unexpected sequence numbers"
    );
}

/// The committed end offsets (high watermarks) of `topic`, summed: how many records it holds.
pub fn topic_size(topic: &str) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| {
            // A topic created a moment ago may not have its leaders yet: that passes.
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            loop {
                match consumer.fetch_watermarks(topic, p.id(), Duration::from_secs(10)) {
                    Ok((low, high)) => return high - low,
                    Err(error) if std::time::Instant::now() < deadline => {
                        eprintln!("{topic}/{}: {error}; asking again", p.id());
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    Err(error) => panic!("watermarks of {topic}/{}: {error}", p.id()),
                }
            }
        })
        .sum()
}

/// A free TCP port on loopback (for a child service's HTTP server).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A service binary running as a child process, killed when dropped.
pub struct ChildService {
    child: Child,
    /// Its HTTP port.
    pub http_port: u16,
}

impl ChildService {
    /// Starts `binary` with `env` (plus the test broker and a free HTTP port), logging to
    /// `log` (appended, so restarts of one service share a file).
    pub fn start(binary: &Path, env: &[(String, String)], log: &Path) -> ChildService {
        let http_port = free_port();
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let child = Command::new(binary)
            .env("FERROFLOW_KAFKA__BOOTSTRAP_SERVERS", bootstrap())
            .env("FERROFLOW_HTTP__LISTEN", format!("127.0.0.1:{http_port}"))
            .env("FERROFLOW_TELEMETRY__LOG_FORMAT", "human")
            .env("RUST_LOG", "info,librdkafka=warn")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log"))
            .stderr(log_file)
            .spawn()
            .expect("spawn service");
        ChildService { child, http_port }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: the crash the guarantees must survive.
    pub fn kill_hard(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for the exit status (graceful shutdown).
    pub fn stop(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        terminate(&mut self.child, timeout)
    }

    /// Whether it has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// GET `path` on its HTTP server; the status code, or None if it does not answer.
    pub fn http_status(&self, path: &str) -> Option<u16> {
        http_get(self.http_port, path).map(|(status, _)| status)
    }

    /// GET `path` on its HTTP server; the body, or None if it does not answer.
    pub fn http_body(&self, path: &str) -> Option<String> {
        http_get(self.http_port, path).map(|(_, body)| body)
    }
}

impl Drop for ChildService {
    fn drop(&mut self) {
        self.kill_hard();
    }
}

/// Sends `child` SIGTERM and waits up to `timeout` for its exit status (None if it is
/// still running then).
pub fn terminate(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// A minimal HTTP/1.0 GET on loopback, enough for `/readyz` and `/metrics`.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// Nodes of the test cluster (`FERROFLOW_TEST_KAFKA_NODES`, set by `scripts/test.sh`).
pub fn cluster_nodes() -> usize {
    std::env::var("FERROFLOW_TEST_KAFKA_NODES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

/// Runs `scripts/kafka.sh <action> <node> --dir $FERROFLOW_TEST_KAFKA_DIR`: `kill-node`
/// takes a broker down with SIGKILL, `start-node` brings it back with its data.
pub fn kafka_node(action: &str, node: u32) {
    let dir = std::env::var("FERROFLOW_TEST_KAFKA_DIR").expect(
        "FERROFLOW_TEST_KAFKA_DIR names the test cluster's directory (scripts/test.sh sets it)",
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/kafka.sh");
    let status = Command::new(script)
        .args([action, &node.to_string(), "--dir", &dir])
        .status()
        .expect("run scripts/kafka.sh");
    assert!(status.success(), "scripts/kafka.sh {action} {node} failed");
}
