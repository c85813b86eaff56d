//! Shared set-up of the integration tests: a fresh database, unique topics, a producer of
//! the records sink-db reads, sink-db child processes, and what the tables hold.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ferroflow_runtime::config::TopicNames;
use ferroflow_schema::{EnrichedStockTick, EnrichedUserLogin, Format, Record};
use ferroflow_testkit::ChildService;
use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use sqlx::PgPool;

/// A database of its own in the test PostgreSQL.
pub struct TestDatabase {
    pub url: String,
    pub pool: PgPool,
}

impl TestDatabase {
    pub async fn create() -> Self {
        let url = ferroflow_testkit::database::create_database("sinkdb").await;
        let pool = PgPool::connect(&url)
            .await
            .expect("connect to the new database");
        TestDatabase { url, pool }
    }

    /// `seq` → rows carrying it, in `table` for records of `topic`.
    pub async fn sequences(&self, table: &str, topic: &str) -> HashMap<u64, usize> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(&format!(
            "SELECT seq, count(*) FROM {table} WHERE kafka_topic = $1 GROUP BY seq"
        ))
        .bind(topic)
        .fetch_all(&self.pool)
        .await
        .expect("query sequences");
        rows.into_iter()
            .map(|(seq, n)| {
                let seq = u64::try_from(seq).expect("a sequence number is not negative");
                (seq, usize::try_from(n).expect("a count fits usize"))
            })
            .collect()
    }

    /// Rows in `table`; 0 while the table does not exist yet (before the migrations).
    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&self.pool)
            .await
            .unwrap_or(0)
    }
}

/// Waits until `rows().await` reaches `target`, polling; panics naming `what`.
pub async fn wait_for_rows<F, Fut>(timeout: Duration, what: &str, target: i64, mut rows: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = i64>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let n = rows().await;
        if n >= target {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting until {what}: {n} of {target}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub use ferroflow_testkit::assert_exactly_once;

/// Unique topics for every stream sink-db reads, and dead letters.
pub async fn topics(partitions: i32) -> TopicNames {
    let names = TopicNames {
        stock_ticks_enriched: ferroflow_testkit::unique("ticks-enriched"),
        user_login_enriched: ferroflow_testkit::unique("logins-enriched"),
        stock_bars: ferroflow_testkit::unique("bars"),
        login_stats: ferroflow_testkit::unique("stats"),
        dead_letters: ferroflow_testkit::unique("dlq"),
        ..TopicNames::default()
    };
    for topic in [
        &names.stock_ticks_enriched,
        &names.user_login_enriched,
        &names.stock_bars,
        &names.login_stats,
        &names.dead_letters,
    ] {
        ferroflow_testkit::create_topic(topic, partitions).await;
    }
    names
}

/// A sink-db process.
pub struct SinkDb {
    env: Vec<(String, String)>,
    pub log: PathBuf,
}

impl SinkDb {
    pub fn new(dir: &Path, topics: &TopicNames, url: &str, extra: &[(&str, &str)]) -> Self {
        let mut env = ferroflow_testkit::pipeline::topic_env(topics);
        env.extend([
            ("FERROFLOW_SINK_DB__URL".into(), url.to_string()),
            (
                "FERROFLOW_SINK_DB__GROUP_ID".into(),
                ferroflow_testkit::unique("sink-db"),
            ),
            ("FERROFLOW_SINK_DB__BATCH_MAX_WAIT".into(), "100ms".into()),
            ("FERROFLOW_SINK_DB__RETRY_BACKOFF_MAX".into(), "1s".into()),
        ]);
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        SinkDb {
            env,
            log: dir.join("sink-db.log"),
        }
    }

    pub fn start(&self) -> ChildService {
        ChildService::start(
            Path::new(env!("CARGO_BIN_EXE_sink-db")),
            &self.env,
            &self.log,
        )
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A record to produce: key, payload (protobuf), and its sequence number.
pub type Outgoing = (String, Vec<u8>, u64);

/// Produces `records` to `topic` with `content-type`, `ff-producer-id` and `ff-seq`
/// headers, in transactions of `per_transaction` records (as the enricher and the
/// aggregator write: read_committed readers see commit markers between them), at about
/// `rate` records per second (None: as fast as possible). Runs on a blocking thread.
pub async fn produce(
    topic: &str,
    records: Vec<Outgoing>,
    per_transaction: usize,
    rate: Option<f64>,
) {
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || {
        let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
            .set("bootstrap.servers", ferroflow_testkit::bootstrap())
            .set(
                "transactional.id",
                ferroflow_testkit::unique("test-producer"),
            )
            .set("linger.ms", "5")
            .create()
            .expect("producer");
        producer
            .init_transactions(Duration::from_secs(30))
            .expect("init transactions");
        let producer_id = format!("test/{topic}");
        let started = Instant::now();
        let mut sent = 0usize;
        for chunk in records.chunks(per_transaction) {
            producer.begin_transaction().expect("begin");
            for (key, payload, seq) in chunk {
                let seq = seq.to_string();
                let headers = OwnedHeaders::new()
                    .insert(Header {
                        key: "content-type",
                        value: Some(Format::Protobuf.content_type()),
                    })
                    .insert(Header {
                        key: "ff-producer-id",
                        value: Some(producer_id.as_str()),
                    })
                    .insert(Header {
                        key: "ff-seq",
                        value: Some(seq.as_str()),
                    });
                let mut record = BaseRecord::to(&topic)
                    .key(key.as_str())
                    .payload(payload.as_slice())
                    .headers(headers);
                loop {
                    match producer.send(record) {
                        Ok(()) => break,
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                            record = back;
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        Err((error, _)) => panic!("produce: {error}"),
                    }
                }
            }
            producer
                .commit_transaction(Duration::from_secs(60))
                .expect("commit transaction");
            sent += chunk.len();
            if let Some(rate) = rate {
                // Pacing the load, not waiting for a condition.
                let due = started + Duration::from_secs_f64(sent as f64 / rate);
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
            }
        }
    })
    .await
    .expect("producer thread");
}

const TICKERS: [&str; 6] = [
    "STK_ONE", "STK_MNO", "STK_ABC", "STK_TWO", "STK_PQR", "STK_GHI",
];

/// Enriched ticks with sequence numbers `seqs`, keyed by ticker.
pub fn ticks(seqs: std::ops::Range<u64>) -> Vec<Outgoing> {
    seqs.map(|seq| {
        let ticker = TICKERS[seq as usize % TICKERS.len()];
        let tick = EnrichedStockTick {
            ticker: ticker.into(),
            timestamp_ms: 1_694_479_551_000 + seq as i64,
            price: 100 + (seq % 50) as i32,
            name: format!("{ticker} Corp."),
            exchange: "NASDAQ".into(),
            currency: "USD".into(),
            reference_known: true,
            change: (seq >= 6).then_some(1),
            change_percent: (seq >= 6).then_some(0.5),
            processing_time_ms: 1_694_479_552_000 + seq as i64,
            delay_ms: 1000,
        };
        (ticker.to_string(), tick.encode_as(Format::Protobuf), seq)
    })
    .collect()
}

/// Enriched logins with sequence numbers `seqs`, keyed by user id.
pub fn logins(seqs: std::ops::Range<u64>) -> Vec<Outgoing> {
    seqs.map(|seq| {
        let user = format!("424cdd21-063a-43a7-b91b-{seq:012x}");
        let login = EnrichedUserLogin {
            user_id: user.clone(),
            app_version: "2.3.0".into(),
            device_type: "android".into(),
            ip: "199.172.111.135".into(),
            locale: ["RU", "US", "DE"][seq as usize % 3].into(),
            device_id: "593-47-5928".into(),
            event_time_rfc3339: "2023-09-12T00:45:51Z".into(),
            timestamp_seconds: 1_694_479_551 + seq as i64,
            version_major: 2,
            version_minor: 3,
            version_patch: 0,
            version_outdated: seq % 4 == 0,
            ip_version: 4,
            ip_private: false,
            ip_anonymized: "199.172.111.0".into(),
            country: "Russian Federation".into(),
        };
        (user, login.encode_as(Format::Protobuf), seq)
    })
    .collect()
}
