//! The generator on a real Kafka.

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use ferroflow_generator::config::{GeneratorSettings, Rate};
use ferroflow_runtime::config::{KafkaSettings, TopicNames};
use ferroflow_runtime::health::Health;
use ferroflow_runtime::kafka::KafkaClients;
use ferroflow_runtime::shutdown::Shutdown;
use ferroflow_schema::{Format, StockTick, UserLogin, decode};

async fn topics() -> TopicNames {
    let names = TopicNames {
        stock_ticks: ferroflow_testkit::unique("ticks"),
        user_login: ferroflow_testkit::unique("logins"),
        ..TopicNames::default()
    };
    ferroflow_testkit::create_topic(&names.stock_ticks, 3).await;
    ferroflow_testkit::create_topic(&names.user_login, 3).await;
    names
}

fn clients() -> KafkaClients {
    let settings = KafkaSettings {
        bootstrap_servers: ferroflow_testkit::bootstrap(),
        ..KafkaSettings::default()
    };
    KafkaClients::new(settings, "generator", Health::new())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_carries_content_type_producer_id_and_a_dense_sequence() {
    let names = topics().await;
    let mut settings = GeneratorSettings {
        tickers: vec!["STK_ONE".into(), "STK_TWO".into(), "STK_THREE".into()],
        ..GeneratorSettings::default()
    };
    settings.stock_ticks.count = Some(4000);
    settings.stock_ticks.rate = Rate::Max;
    settings.stock_ticks.format = Format::Protobuf;
    settings.user_login.count = Some(2000);
    settings.user_login.rate = Rate::Max;
    let report = ferroflow_generator::generate(
        &clients(),
        &names,
        &settings,
        &Shutdown::new(),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    assert_eq!((report.delivered, report.failed), (6000, 0));

    let ticks = ferroflow_testkit::read_topic(&names.stock_ticks, 4000, Duration::from_secs(30));
    let mut seqs = HashSet::new();
    let mut tickers = HashSet::new();
    for r in &ticks {
        assert_eq!(r.headers["content-type"], "application/x-protobuf");
        assert!(r.headers["ff-producer-id"].ends_with(&format!("/{}", names.stock_ticks)));
        assert!(
            seqs.insert(r.headers["ff-seq"].parse::<u64>().unwrap()),
            "sequence doubled"
        );
        let tick: StockTick = decode(
            r.payload.as_deref(),
            Some(b"application/x-protobuf"),
            r.key.as_deref(),
        )
        .unwrap();
        assert_eq!(
            r.key.as_deref(),
            Some(tick.ticker.as_bytes()),
            "key is the ticker"
        );
        assert!(tick.price > 0 && tick.timestamp_ms > 1_600_000_000_000);
        tickers.insert(tick.ticker);
    }
    assert_eq!(seqs, (0..4000).collect());
    assert_eq!(tickers.len(), 3);

    let logins = ferroflow_testkit::read_topic(&names.user_login, 2000, Duration::from_secs(30));
    let seqs: HashSet<u64> = logins
        .iter()
        .map(|r| r.headers["ff-seq"].parse().unwrap())
        .collect();
    assert_eq!(seqs, (0..2000).collect());
    for r in &logins {
        assert_eq!(r.headers["content-type"], "application/json");
        let login: UserLogin = decode(r.payload.as_deref(), None, None).unwrap();
        assert!(login.timestamp_seconds().is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_stream_keeps_to_its_rate() {
    let names = topics().await;
    let mut settings = GeneratorSettings::default();
    settings.stock_ticks.count = Some(60);
    settings.stock_ticks.rate = Rate::PerSecond(20.0);
    settings.user_login.enabled = false;
    let started = std::time::Instant::now();
    let report = ferroflow_generator::generate(
        &clients(),
        &names,
        &settings,
        &Shutdown::new(),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(report.delivered, 60);
    // 60 records at 20/s: the last is due at 2.95 s.
    assert!(elapsed >= 2.9, "finished too early: {elapsed:.2}s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_an_unbounded_stream_and_delivers_what_was_sent() {
    let names = topics().await;
    let mut settings = GeneratorSettings::default();
    settings.stock_ticks.rate = Rate::PerSecond(500.0);
    settings.user_login.enabled = false;
    let shutdown = Shutdown::new();
    let trigger = shutdown.clone();
    let run = {
        let names = names.clone();
        tokio::spawn(async move {
            ferroflow_generator::generate(
                &clients(),
                &names,
                &settings,
                &shutdown,
                Duration::from_secs(30),
            )
            .await
        })
    };
    ferroflow_testkit::wait_until(Duration::from_secs(30), "some records are in Kafka", || {
        ferroflow_testkit::topic_size(&names.stock_ticks) >= 200
    })
    .await;
    trigger.trigger();
    let report = run.await.unwrap().unwrap();
    assert_eq!(report.failed, 0);
    assert_eq!(report.delivered, report.streams[0].sent);
    assert_eq!(
        ferroflow_testkit::topic_size(&names.stock_ticks),
        report.delivered as i64
    );
}

#[test]
fn bounded_binary_run_exits_zero_with_a_summary() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let names = runtime.block_on(topics());
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    let output = Command::new(env!("CARGO_BIN_EXE_generator"))
        .env(
            "FERROFLOW_KAFKA__BOOTSTRAP_SERVERS",
            ferroflow_testkit::bootstrap(),
        )
        .env("FERROFLOW_HTTP__LISTEN", "127.0.0.1:0")
        .env("FERROFLOW_TOPICS__STOCK_TICKS", &names.stock_ticks)
        .env("FERROFLOW_TOPICS__USER_LOGIN", &names.user_login)
        .env("FERROFLOW_GENERATOR__STOCK_TICKS__RATE", "max")
        .env("FERROFLOW_GENERATOR__STOCK_TICKS__COUNT", "3000")
        .env("FERROFLOW_GENERATOR__USER_LOGIN__COUNT", "20")
        .env("FERROFLOW_GENERATOR__PROGRESS_INTERVAL", "100ms")
        .env("FERROFLOW_GENERATOR__SUMMARY_FILE", &summary)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");
    assert!(
        log.contains("progress"),
        "a bounded run shows progress: {log}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(report["delivered"], 3020);
    assert_eq!(report["failed"], 0);
}

#[test]
fn bad_rate_fails_at_start_up_naming_the_key() {
    let output = Command::new(env!("CARGO_BIN_EXE_generator"))
        .env("FERROFLOW_GENERATOR__STOCK_TICKS__RATE", "fast")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("`generator.stock_ticks.rate`"), "{stderr}");
}
