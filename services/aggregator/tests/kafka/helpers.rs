//! Topics, enriched input written straight into the input topics, aggregator child
//! processes, and the comparison with the batch recomputation.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferroflow_aggregator::recompute::{InputRecord, Recomputed, recompute};
use ferroflow_aggregator::state::Input;
use ferroflow_aggregator::window::{Lateness, Timing, WindowSpec};
use ferroflow_runtime::config::TopicNames;
use ferroflow_schema::{
    EnrichedStockTick, EnrichedUserLogin, Format, LoginStats, Record, StockBar, decode,
};
use ferroflow_testkit::{ChildService, ReadRecord, read_topic};
use rdkafka::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

pub const READ: Duration = Duration::from_secs(120);
pub const PARTITIONS: i32 = 3;
/// Event times start here (2023-11-14T22:13:20Z): far from the wall clock on purpose,
/// the aggregator must not care.
pub const T0: i64 = 1_700_000_000_000;
pub const TICKERS: [&str; 6] = [
    "STK_ONE", "STK_MNO", "STK_ABC", "STK_TWO", "STK_PQR", "STK_GHI",
];

pub async fn topics() -> TopicNames {
    let names = TopicNames {
        stock_ticks_enriched: ferroflow_testkit::unique("ticks-enriched"),
        user_login_enriched: ferroflow_testkit::unique("logins-enriched"),
        stock_bars: ferroflow_testkit::unique("bars"),
        login_stats: ferroflow_testkit::unique("stats"),
        late_events: ferroflow_testkit::unique("late"),
        dead_letters: ferroflow_testkit::unique("dlq"),
        ..TopicNames::default()
    };
    for topic in [
        &names.stock_ticks_enriched,
        &names.user_login_enriched,
        &names.stock_bars,
        &names.login_stats,
        &names.late_events,
        &names.dead_letters,
    ] {
        ferroflow_testkit::create_topic(topic, PARTITIONS).await;
    }
    names
}

/// Window settings of a test, as the aggregator's environment and as [`Timing`].
#[derive(Debug, Clone, Copy)]
pub struct Windows {
    pub size_ms: i64,
    pub advance_ms: i64,
    pub out_of_orderness_ms: i64,
    pub grace_ms: i64,
}

impl Windows {
    pub fn timing(&self) -> Timing {
        Timing::new(
            WindowSpec::hopping(self.size_ms, self.advance_ms).unwrap(),
            Lateness {
                out_of_orderness_ms: self.out_of_orderness_ms,
                grace_ms: self.grace_ms,
            },
        )
    }

    fn env(&self) -> Vec<(String, String)> {
        [
            ("WINDOW_SIZE", self.size_ms),
            ("WINDOW_ADVANCE", self.advance_ms),
            ("MAX_OUT_OF_ORDERNESS", self.out_of_orderness_ms),
            ("GRACE", self.grace_ms),
        ]
        .into_iter()
        .map(|(k, v)| (format!("FERROFLOW_AGGREGATOR__{k}"), format!("{v}ms")))
        .collect()
    }
}

/// An aggregator process (restartable with the same settings).
pub struct Aggregator {
    env: Vec<(String, String)>,
    pub log: PathBuf,
    pub grpc_port: u16,
}

impl Aggregator {
    pub fn new(
        dir: &Path,
        name: &str,
        topics: &TopicNames,
        group: &str,
        windows: Windows,
        extra: &[(&str, &str)],
    ) -> Self {
        let grpc_port = ferroflow_testkit::free_port();
        let mut env = ferroflow_testkit::pipeline::topic_env(topics);
        env.extend(windows.env());
        env.extend([
            ("FERROFLOW_AGGREGATOR__GROUP_ID".into(), group.to_string()),
            (
                "FERROFLOW_AGGREGATOR__INSTANCE_ID".into(),
                ferroflow_testkit::unique(name),
            ),
            (
                "FERROFLOW_AGGREGATOR__GRPC_LISTEN".into(),
                format!("127.0.0.1:{grpc_port}"),
            ),
            ("FERROFLOW_AGGREGATOR__BATCH_MAX_WAIT".into(), "50ms".into()),
        ]);
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Aggregator {
            env,
            log: dir.join(format!("{name}.log")),
            grpc_port,
        }
    }

    pub fn start(&self) -> ChildService {
        ChildService::start(
            Path::new(env!("CARGO_BIN_EXE_aggregator")),
            &self.env,
            &self.log,
        )
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Prints the aggregators' logs if the test fails while it is alive.
pub struct LogsOnFailure<'a>(pub Vec<&'a Aggregator>);

impl Drop for LogsOnFailure<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for aggregator in &self.0 {
                eprintln!(
                    "--- {} ---\n{}",
                    aggregator.log.display(),
                    aggregator.log_text()
                );
            }
        }
    }
}

/// Waits until `child` reports ready; on timeout fails with its log.
pub async fn wait_ready(child: &ChildService, aggregator: &Aggregator) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while child.http_status("/readyz") != Some(200) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} not ready after 90 s: {:?}\n{}",
            aggregator.log.display(),
            child.http_body("/readyz"),
            aggregator.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Transactions the aggregator has committed, from its /metrics.
pub fn commits(metrics: &str) -> f64 {
    metric_sum(metrics, "ferroflow_commits_total{")
}

pub fn metric_sum(metrics: &str, prefix: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A tiny deterministic generator (xorshift), so a failing run can be repeated.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One enriched input record to produce.
pub struct Planned {
    pub topic: String,
    pub partition: i32,
    pub key: String,
    pub payload: Vec<u8>,
}

pub fn tick(ticker: &str, t: i64, price: i32) -> Vec<u8> {
    EnrichedStockTick {
        ticker: ticker.into(),
        timestamp_ms: t,
        price,
        name: String::new(),
        exchange: String::new(),
        currency: String::new(),
        reference_known: false,
        change: None,
        change_percent: None,
        processing_time_ms: t,
        delay_ms: 0,
    }
    .encode_as(Format::Protobuf)
}

pub fn login(user: u64, t_seconds: i64, rng: &mut Rng) -> Vec<u8> {
    let locales = [
        "RU", "US", "DE", "FR", "GB", "JP", "BR", "IN", "CN", "ES", "IT", "NL",
    ];
    let devices = ["android", "ios", "web", "windows", "macos"];
    let versions = ["2.3.0", "2.2.1", "2.4.0", "1.9.9"];
    let version = versions[rng.below(versions.len() as u64) as usize];
    EnrichedUserLogin {
        user_id: format!("00000000-0000-4000-8000-{user:012x}"),
        app_version: version.into(),
        device_type: devices[rng.below(devices.len() as u64) as usize].into(),
        ip: "192.0.2.1".into(),
        locale: locales[(rng.below(100) as usize * rng.below(100) as usize / 900).min(11)].into(),
        device_id: format!("dev-{user}"),
        event_time_rfc3339: String::new(),
        timestamp_seconds: t_seconds,
        version_major: 2,
        version_minor: 3,
        version_patch: 0,
        version_outdated: version != "2.4.0",
        ip_version: 4,
        ip_private: false,
        ip_anonymized: "192.0.2.0".into(),
        country: String::new(),
    }
    .encode_as(Format::Protobuf)
}

/// Ticks of six tickers (each ticker always in the same partition, as keyed input is),
/// advancing `step_ms` of event time per record with jitter within ±400 ms; every 97th
/// tick is 5 s behind (late for small windows); every 1000th is garbage.
pub fn plan_ticks(topics: &TopicNames, count: usize, step_ms: i64, seed: u64) -> Vec<Planned> {
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|i| {
            let index = i % TICKERS.len();
            let ticker = TICKERS[index];
            let jitter = rng.below(801) as i64 - 400;
            let mut t = T0 + i as i64 * step_ms + jitter;
            if i % 97 == 96 {
                t -= 5_000;
            }
            let payload = if i % 1000 == 999 {
                b"\x08garbage".to_vec()
            } else {
                tick(ticker, t, 100 + rng.below(50) as i32)
            };
            Planned {
                topic: topics.stock_ticks_enriched.clone(),
                partition: (index % PARTITIONS as usize) as i32,
                key: ticker.into(),
                payload,
            }
        })
        .collect()
}

/// Logins round-robin over the partitions, `step_ms` of event time per record (whole
/// seconds, as logins carry), users from a pool of 400.
pub fn plan_logins(topics: &TopicNames, count: usize, step_ms: i64, seed: u64) -> Vec<Planned> {
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|i| {
            let user = rng.below(400);
            let jitter = rng.below(1_501) as i64 - 750;
            let t_seconds = (T0 + i as i64 * step_ms + jitter).div_euclid(1_000);
            Planned {
                topic: topics.user_login_enriched.clone(),
                partition: i as i32 % PARTITIONS,
                key: format!("user-{user}"),
                payload: login(user, t_seconds, &mut rng),
            }
        })
        .collect()
}

pub fn producer() -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", ferroflow_testkit::bootstrap())
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .expect("producer")
}

/// Produces `records` in order, `per_second` at most (all at once if `None`).
pub async fn produce(records: Vec<Planned>, per_second: Option<f64>) {
    let producer = producer();
    let started = tokio::time::Instant::now();
    let mut pending = Vec::new();
    for (i, r) in records.iter().enumerate() {
        if let Some(rate) = per_second {
            let due = started + Duration::from_secs_f64(i as f64 / rate);
            tokio::time::sleep_until(due).await;
        }
        let headers = OwnedHeaders::new().insert(Header {
            key: "content-type",
            value: Some(Format::Protobuf.content_type()),
        });
        let record = FutureRecord::to(&r.topic)
            .partition(r.partition)
            .key(&r.key)
            .payload(&r.payload)
            .headers(headers);
        pending.push(
            producer
                .send_result(record)
                .map_err(|(e, _)| e)
                .expect("enqueue"),
        );
        if pending.len() >= 1000 {
            for delivery in pending.drain(..) {
                delivery.await.expect("delivery").expect("delivered");
            }
        }
    }
    for delivery in pending {
        delivery.await.expect("delivery").expect("delivered");
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
}

fn input_records(records: &[ReadRecord]) -> Vec<InputRecord<'_>> {
    records
        .iter()
        .map(|r| InputRecord {
            partition: r.partition,
            offset: r.offset,
            key: r.key.as_deref(),
            payload: r.payload.as_deref(),
            content_type: r.headers.get("content-type").map(|s| s.as_bytes()),
        })
        .collect()
}

/// The batch recomputation over the input topics as they are in Kafka.
pub fn expected(topics: &TopicNames, windows: Windows, ticks: usize, logins: usize) -> Recomputed {
    let tick_records = read_topic(&topics.stock_ticks_enriched, ticks, READ);
    let login_records = read_topic(&topics.user_login_enriched, logins, READ);
    assert_eq!(tick_records.len(), ticks);
    assert_eq!(login_records.len(), logins);
    recompute(
        windows.timing(),
        PARTITIONS,
        &input_records(&tick_records),
        &input_records(&login_records),
    )
}

/// Reads `topic` until `expected` records, then to its end; decodes each, and fails on a
/// key seen twice (a window emitted twice).
pub fn read_results<R: Record>(
    topic: &str,
    expected: usize,
    key: impl Fn(&R) -> String,
) -> BTreeMap<String, R> {
    let records = read_topic(topic, expected, READ);
    let mut by_key = BTreeMap::new();
    for r in &records {
        let value: R = decode(r.payload.as_deref(), Some(b"application/x-protobuf"), None)
            .expect("result decodes");
        let k = key(&value);
        assert_eq!(
            r.key.as_deref(),
            Some(k.as_bytes()),
            "record key is the window key"
        );
        assert!(
            by_key.insert(k.clone(), value).is_none(),
            "window {k} emitted twice"
        );
    }
    by_key
}

pub fn read_bars(topic: &str, expected: usize) -> BTreeMap<String, StockBar> {
    read_results(topic, expected, StockBar::key)
}

pub fn read_stats(topic: &str, expected: usize) -> BTreeMap<String, LoginStats> {
    read_results(topic, expected, LoginStats::key)
}

/// (input topic, partition, offset) of every record in a dead-letter-style topic, with
/// how often each appears.
pub fn sources(records: &[ReadRecord]) -> HashMap<(String, i32, i64), usize> {
    let mut counts = HashMap::new();
    for r in records {
        let key = (
            r.headers["ff-dlq-source-topic"].clone(),
            r.headers["ff-dlq-source-partition"].parse().unwrap(),
            r.headers["ff-dlq-source-offset"].parse().unwrap(),
        );
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

/// The late records the recomputation expects, as (topic, partition, offset).
pub fn expected_late(
    topics: &TopicNames,
    result: &Recomputed,
) -> HashMap<(String, i32, i64), usize> {
    result
        .late
        .iter()
        .map(|(input, p, o)| {
            let topic = match input {
                Input::Ticks => topics.stock_ticks_enriched.clone(),
                Input::Logins => topics.user_login_enriched.clone(),
                Input::Partials => unreachable!("the recomputation has no partials input"),
            };
            ((topic, *p, *o), 1)
        })
        .collect()
}

/// Asserts two result maps are equal, naming the first difference.
pub fn assert_same<V: PartialEq + std::fmt::Debug>(
    what: &str,
    actual: &BTreeMap<String, V>,
    expected: &BTreeMap<String, V>,
) {
    let missing: Vec<&String> = expected
        .keys()
        .filter(|k| !actual.contains_key(*k))
        .take(5)
        .collect();
    let extra: Vec<&String> = actual
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "{what}: windows missing from the output: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "{what}: windows the recomputation does not have: {extra:?}"
    );
    for (k, v) in expected {
        assert_eq!(
            &actual[k], v,
            "{what}: window {k} differs from the recomputation"
        );
    }
}
