//! The whole pipeline as a newcomer starts it — `ferroflow run` — on the real Kafka and
//! PostgreSQL the test command started: generator → enricher → aggregator → sink-csv and
//! sink-db, five processes talking only through Kafka. A bounded data set (`--count`)
//! with malformed records in it flows through, and every generated record is accounted
//! for exactly once at every stage: enriched or dead-lettered, then a CSV row and a
//! database row. The aggregator's bars, login statistics and late events equal their
//! recomputation from the enriched topics, and the database holds them as emitted.
//!
//! The launcher runs the service binaries next to its own; `cargo test --workspace` (what
//! `scripts/test.sh` runs) builds them all first.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ferroflow_aggregator::recompute::{InputRecord, recompute};
use ferroflow_aggregator::state::Input;
use ferroflow_aggregator::window::{Lateness, Timing, WindowSpec};
use ferroflow_runtime::config::{TopicNames, env_name};
use ferroflow_runtime::kafka::headers;
use ferroflow_schema::{LoginStats, Record, StockBar, decode};
use ferroflow_testkit::{ReadRecord, assert_exactly_once, read_topic, topic_size, wait_until};
use sqlx::PgPool;

/// Records per generated stream.
const COUNT: u64 = 3_000;
/// Tumbling windows of 2 s; the watermark 500 ms behind the newest event of its
/// partition, 500 ms of grace.
const WINDOW: &str = "2s";
const LATENESS: &str = "500ms";
const WINDOW_MS: i64 = 2_000;
const LATENESS_MS: i64 = 500;
/// Partitions of every topic the launcher creates.
const PARTITIONS: i32 = 3;
const READ: Duration = Duration::from_secs(60);
const LANDING: Duration = Duration::from_secs(120);

/// `ferroflow run`, stopped with SIGTERM (it stops its services gracefully) when dropped.
struct Launcher {
    child: Child,
    log: std::path::PathBuf,
}

impl Launcher {
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM and the exit status, or None if it did not stop within `timeout`.
    fn stop(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        ferroflow_testkit::terminate(&mut self.child, timeout)
    }
}

impl Drop for Launcher {
    fn drop(&mut self) {
        // Not SIGKILL: the services run in process groups of their own and would outlive
        // a killed launcher.
        if self.stop(Duration::from_secs(45)).is_none() {
            let _ = self.child.kill();
        }
        if std::thread::panicking() {
            eprintln!("--- {} ---\n{}", self.log.display(), self.log_text());
        }
    }
}

fn unique_topics() -> TopicNames {
    let u = ferroflow_testkit::unique;
    TopicNames {
        stock_ticks: u("e2e-ticks"),
        user_login: u("e2e-logins"),
        stock_ticks_enriched: u("e2e-ticks-enriched"),
        user_login_enriched: u("e2e-logins-enriched"),
        stock_bars: u("e2e-bars"),
        login_stats: u("e2e-login-stats"),
        dead_letters: u("e2e-dead-letters"),
        late_events: u("e2e-late"),
    }
}

/// Seven consecutive ports (the launcher's base port and its six offsets), away from the
/// ephemeral range `free_port` draws from and from the test brokers.
fn base_port() -> u16 {
    21_000 + (std::process::id() % 1_000) as u16 * 8
}

fn start(topics: &TopicNames, database_url: &str, data: &Path) -> Launcher {
    let group = ferroflow_testkit::unique("e2e");
    let mut env = ferroflow_testkit::pipeline::topic_env(topics);
    for service in ["enricher", "aggregator", "sink_csv", "sink_db"] {
        env.push((
            env_name(&format!("{service}.group_id")),
            format!("{group}-{service}"),
        ));
    }
    for (key, value) in [
        ("aggregator.window_size", WINDOW),
        ("aggregator.max_out_of_orderness", LATENESS),
        ("aggregator.grace", LATENESS),
    ] {
        env.push((env_name(key), value.to_string()));
    }
    let replication = std::env::var("FERROFLOW_TEST_REPLICATION").unwrap_or_else(|_| "1".into());
    let log = data.join("launcher.log");
    let log_file = std::fs::File::create(&log).expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_ferroflow"))
        .arg("run")
        .args(["--bootstrap-servers", &ferroflow_testkit::bootstrap()])
        .args(["--database-url", database_url])
        .args(["--count", &COUNT.to_string()])
        .args(["--rate", "400"])
        .args(["--malformed-ratio", "0.05"])
        .args(["--partitions", &PARTITIONS.to_string()])
        .args(["--replication", &replication])
        .args(["--base-port", &base_port().to_string()])
        .arg("--data-dir")
        .arg(data)
        .envs(env)
        .env("RUST_LOG", "info,librdkafka=warn")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log"))
        .stderr(log_file)
        .spawn()
        .expect("spawn ferroflow run");
    Launcher { child, log }
}

fn sequence(record: &ReadRecord) -> u64 {
    record.headers[headers::SEQUENCE]
        .parse()
        .expect("a numeric ff-seq")
}

fn sequences<'a>(records: impl IntoIterator<Item = &'a ReadRecord>) -> HashMap<u64, usize> {
    let mut counts = HashMap::new();
    for record in records {
        *counts.entry(sequence(record)).or_insert(0) += 1;
    }
    counts
}

fn decoded<R: Record>(record: &ReadRecord) -> R {
    decode::<R>(
        record.payload.as_deref(),
        record
            .headers
            .get(headers::CONTENT_TYPE)
            .map(String::as_bytes),
        record.key.as_deref(),
    )
    .expect("a record the pipeline wrote decodes")
}

/// `seq` → rows carrying it in `table`.
async fn table_sequences(pool: &PgPool, table: &str) -> HashMap<u64, usize> {
    let rows: Vec<(i64, i64)> =
        sqlx::query_as(&format!("SELECT seq, count(*) FROM {table} GROUP BY seq"))
            .fetch_all(pool)
            .await
            .expect("query sequences");
    rows.into_iter()
        .map(|(seq, n)| (seq as u64, n as usize))
        .collect()
}

/// Rows in `table`; 0 while sink-db has not created it yet.
async fn rows(pool: &PgPool, table: &str) -> usize {
    sqlx::query_scalar::<_, i64>(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(pool)
        .await
        .map_or(0, |n| n as usize)
}

async fn wait_for_rows(pool: &PgPool, table: &str, expected: usize, launcher: &Launcher) {
    let deadline = tokio::time::Instant::now() + LANDING;
    loop {
        let n = rows(pool, table).await;
        if n >= expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{table} holds {n} of {expected} rows after {LANDING:?}\n{}",
            launcher.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn csv_sequences(dir: &Path, topic: &str) -> HashMap<u64, usize> {
    let mut counts = HashMap::new();
    for row in ferroflow_sink_csv::read_rows(dir, topic).expect("CSV rows parse") {
        // The sequence number is every row's last column.
        let seq: u64 = row[row.len() - 1].parse().expect("a numeric seq column");
        *counts.entry(seq).or_insert(0) += 1;
    }
    counts
}

/// The enricher's dead letters of records from `raw`.
fn enricher_dead_letters<'a>(dead: &'a [ReadRecord], raw: &str) -> Vec<&'a ReadRecord> {
    // sink-csv also reads the raw topics and sets undecodable records aside, as stage
    // "sink-csv": those are not the enricher's.
    dead.iter()
        .filter(|d| {
            d.headers.get(headers::DLQ_SOURCE_TOPIC).map(String::as_str) == Some(raw)
                && d.headers.get(headers::DLQ_STAGE).map(String::as_str) == Some("enricher")
        })
        .collect()
}

/// Every raw record of `raw` is either in `enriched` or one of the enricher's dead
/// letters, exactly once.
fn assert_enriched_or_dead_once(raw: &str, enriched: &[ReadRecord], dead: &[ReadRecord]) {
    let raw_records = read_topic(raw, COUNT as usize, READ);
    assert_eq!(
        raw_records.len() as u64,
        COUNT,
        "{raw}: the generator's count"
    );
    let dead = enricher_dead_letters(dead, raw);
    assert!(
        !dead.is_empty(),
        "{raw}: the malformed share made no dead letter"
    );
    assert!(
        dead.iter()
            .all(|d| !d.headers[headers::DLQ_ERROR_KIND].is_empty()),
        "a dead letter without its reason"
    );
    // The generator's sequence numbers are dense per stream: every raw record once is
    // every number in 0..COUNT once.
    assert_exactly_once(&sequences(enriched.iter().chain(dead)), 0..COUNT);
}

/// The enriched records as the aggregator's batch recomputation takes them.
fn input_records(records: &[ReadRecord]) -> Vec<InputRecord<'_>> {
    records
        .iter()
        .map(|r| InputRecord {
            partition: r.partition,
            offset: r.offset,
            key: r.key.as_deref(),
            payload: r.payload.as_deref(),
            content_type: r.headers.get(headers::CONTENT_TYPE).map(String::as_bytes),
        })
        .collect()
}

/// `(source topic, partition, offset)` of each record set aside, from its headers.
fn sources(records: &[ReadRecord]) -> HashSet<(String, i32, i64)> {
    records
        .iter()
        .map(|r| {
            let header = |name: &str| r.headers[name].clone();
            (
                header(headers::DLQ_SOURCE_TOPIC),
                header(headers::DLQ_SOURCE_PARTITION)
                    .parse()
                    .expect("a partition"),
                header(headers::DLQ_SOURCE_OFFSET)
                    .parse()
                    .expect("an offset"),
            )
        })
        .collect()
}

/// Waits until the database's `query` (key, value pairs) holds `expected` exactly.
async fn assert_stored(
    pool: &PgPool,
    table: &str,
    query: &str,
    expected: &HashMap<(String, i64), u64>,
    launcher: &Launcher,
) {
    wait_for_rows(pool, table, expected.len(), launcher).await;
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(query)
        .fetch_all(pool)
        .await
        .expect("query aggregates");
    let stored: HashMap<(String, i64), u64> = rows
        .into_iter()
        .map(|(group, start, n)| ((group, start), n as u64))
        .collect();
    assert_eq!(&stored, expected, "{table} in the database");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_run_lands_every_record_exactly_once_from_generator_to_csv_and_database() {
    let topics = unique_topics();
    let database_url = ferroflow_testkit::database::create_database("e2e").await;
    let data = tempfile::tempdir().unwrap();
    let launcher = start(&topics, &database_url, data.path());

    // The generator stops after COUNT records per stream; the others keep running.
    wait_until(
        LANDING,
        "the generator's full count in both raw topics",
        || {
            topic_size(&topics.stock_ticks) as u64 >= COUNT
                && topic_size(&topics.user_login) as u64 >= COUNT
        },
    )
    .await;

    // Enricher: every raw record enriched or dead-lettered, exactly once. Both are
    // committed in the enricher's transactions; read until they account for the input.
    let deadline = tokio::time::Instant::now() + LANDING;
    let (ticks, logins, dead) = loop {
        let ticks = read_topic(&topics.stock_ticks_enriched, 0, READ);
        let logins = read_topic(&topics.user_login_enriched, 0, READ);
        let dead = read_topic(&topics.dead_letters, 0, READ);
        let accounted = ticks.len()
            + logins.len()
            + enricher_dead_letters(&dead, &topics.stock_ticks).len()
            + enricher_dead_letters(&dead, &topics.user_login).len();
        if accounted as u64 >= 2 * COUNT {
            break (ticks, logins, dead);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the enricher accounted for {accounted} of {} records\n{}",
            2 * COUNT,
            launcher.log_text()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_enriched_or_dead_once(&topics.stock_ticks, &ticks, &dead);
    assert_enriched_or_dead_once(&topics.user_login, &logins, &dead);

    // sink-db: one row per enriched record in PostgreSQL.
    let pool = PgPool::connect(&database_url).await.expect("connect");
    wait_for_rows(&pool, "stock_ticks", ticks.len(), &launcher).await;
    wait_for_rows(&pool, "user_logins", logins.len(), &launcher).await;
    assert_exactly_once(
        &table_sequences(&pool, "stock_ticks").await,
        ticks.iter().map(sequence),
    );
    assert_exactly_once(
        &table_sequences(&pool, "user_logins").await,
        logins.iter().map(sequence),
    );

    // sink-csv: one row per enriched record in the CSV files.
    let csv = data.path().join("csv");
    for (topic, records) in [
        (&topics.stock_ticks_enriched, &ticks),
        (&topics.user_login_enriched, &logins),
    ] {
        wait_until(
            LANDING,
            &format!("{} CSV rows of {topic}", records.len()),
            || csv_sequences(&csv, topic).values().sum::<usize>() >= records.len(),
        )
        .await;
        assert_exactly_once(&csv_sequences(&csv, topic), records.iter().map(sequence));
    }

    // Aggregator: its committed bars, login statistics and late events equal the batch
    // recomputation over the enriched topics (the aggregator's own operators, replayed),
    // and sink-db stores them as emitted.
    let timing = Timing::new(
        WindowSpec::tumbling(WINDOW_MS).expect("a window size"),
        Lateness {
            out_of_orderness_ms: LATENESS_MS,
            grace_ms: LATENESS_MS,
        },
    );
    let expected = recompute(
        timing,
        PARTITIONS,
        &input_records(&ticks),
        &input_records(&logins),
    );
    assert!(
        expected.undecodable.is_empty(),
        "{:?}",
        expected.undecodable
    );
    let tickers: HashSet<&str> = expected.bars.values().map(|b| b.ticker.as_str()).collect();
    assert!(
        tickers.len() >= 2,
        "closed windows of too few tickers: {:?}",
        expected.bars.keys()
    );
    assert!(!expected.stats.is_empty(), "no login window closed");

    let bars = read_topic(&topics.stock_bars, expected.bars.len(), READ);
    assert_eq!(bars.len(), expected.bars.len(), "bars emitted");
    let emitted: BTreeMap<String, StockBar> = bars
        .iter()
        .map(decoded::<StockBar>)
        .map(|b| (b.key(), b))
        .collect();
    assert_eq!(emitted, expected.bars, "stock-bars");

    let stats = read_topic(&topics.login_stats, expected.stats.len(), READ);
    assert_eq!(
        stats.len(),
        expected.stats.len(),
        "login statistics emitted"
    );
    let emitted: BTreeMap<String, LoginStats> = stats
        .iter()
        .map(decoded::<LoginStats>)
        .map(|s| (s.key(), s))
        .collect();
    assert_eq!(emitted, expected.stats, "login-stats");

    let late = read_topic(&topics.late_events, expected.late.len(), READ);
    let late_expected: HashSet<(String, i32, i64)> = expected
        .late
        .iter()
        .map(|&(input, partition, offset)| {
            let topic = match input {
                Input::Ticks => &topics.stock_ticks_enriched,
                Input::Logins => &topics.user_login_enriched,
                Input::Partials => unreachable!("the recomputation has no partials input"),
            };
            (topic.clone(), partition, offset)
        })
        .collect();
    assert_eq!(late.len(), late_expected.len(), "late events");
    assert_eq!(sources(&late), late_expected, "late events");

    let bars_emitted: HashMap<(String, i64), u64> = expected
        .bars
        .values()
        .map(|b| ((b.ticker.clone(), b.window_start_ms), b.count))
        .collect();
    let stats_emitted: HashMap<(String, i64), u64> = expected
        .stats
        .values()
        .map(|s| ((String::new(), s.window_start_ms), s.logins))
        .collect();
    assert_stored(
        &pool,
        "stock_bars",
        "SELECT ticker, (extract(epoch FROM window_start) * 1000)::bigint, count FROM stock_bars",
        &bars_emitted,
        &launcher,
    )
    .await;
    assert_stored(
        &pool,
        "login_stats",
        "SELECT '', (extract(epoch FROM window_start) * 1000)::bigint, logins FROM login_stats",
        &stats_emitted,
        &launcher,
    )
    .await;

    let mut launcher = launcher;
    let status = launcher
        .stop(Duration::from_secs(45))
        .expect("ferroflow run stops within its grace period");
    let log = launcher.log_text();
    assert!(status.success(), "ferroflow run exited {status}\n{log}");
    assert!(log.contains("produced its --count records"), "{log}");
}
