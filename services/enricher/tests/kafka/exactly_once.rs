//! Every input ends in exactly one place — its enriched topic or dead-letters — through
//! malformed input, SIGKILLs and a second instance that stops mid-stream.

use std::time::Duration;

use ferroflow_generator::config::Rate;
use ferroflow_testkit::{read_topic, wait_until};

use crate::helpers::*;

const READ: Duration = Duration::from_secs(120);

/// Transactions (or offset commits) the enricher has made, from its /metrics.
fn commits(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("ferroflow_commits_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_valid_records_each_land_exactly_once_and_counts_add_up() {
    let topics = topics().await;
    let dir = tempfile::tempdir().unwrap();
    let enricher = Enricher::new(
        dir.path(),
        "enricher",
        &topics,
        &ferroflow_testkit::unique("enricher"),
        &[],
    );
    let mut child = enricher.start();
    let report = generate(&topics, &generator_settings(3000, 2000, Rate::Max, 0.1)).await;
    let bad_ticks = report.streams[0].malformed as usize;
    let bad_logins = report.streams[1].malformed as usize;

    let ticks = read_topic(&topics.stock_ticks_enriched, 3000 - bad_ticks, READ);
    let logins = read_topic(&topics.user_login_enriched, 2000 - bad_logins, READ);
    let dead = read_topic(&topics.dead_letters, bad_ticks + bad_logins, READ);

    // in = out + dead letters, per stream, each sequence number once.
    for (out, source, total) in [
        (&ticks, &topics.stock_ticks, 3000),
        (&logins, &topics.user_login, 2000),
    ] {
        let mut all = out.clone();
        all.extend(
            dead.iter()
                .filter(|d| &d.headers["ff-dlq-source-topic"] == source)
                .cloned(),
        );
        assert_exactly_once(&sequences(&all), 0..total);
    }
    for record in &ticks {
        assert_eq!(record.headers["content-type"], "application/x-protobuf");
        let tick = ferroflow_schema::decode::<ferroflow_schema::EnrichedStockTick>(
            record.payload.as_deref(),
            Some(b"application/x-protobuf"),
            record.key.as_deref(),
        )
        .expect("enriched tick decodes");
        assert_eq!(
            record.key.as_deref(),
            Some(tick.ticker.as_bytes()),
            "key kept"
        );
        assert!(tick.price > 0);
    }
    for d in &dead {
        assert!(
            d.headers.contains_key("ff-injected-fault"),
            "a valid record was rejected: {:?}",
            d.headers
        );
        assert_eq!(d.headers["ff-dlq-stage"], "enricher");
        assert!(
            !d.headers["ff-dlq-error-kind"].is_empty()
                && !d.headers["ff-dlq-error-message"].is_empty()
        );
    }
    let metrics = child.http_body("/metrics").unwrap_or_default();
    assert!(commits(&metrics) > 0.0, "{metrics}");
    child.kill_hard();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enricher_killed_repeatedly_while_the_generator_produces_is_exactly_once() {
    const TOTAL: u64 = 15_000;
    let topics = topics().await;
    let dir = tempfile::tempdir().unwrap();
    // One identity across restarts: the same transactional.id fences the killed
    // instance's open transaction, static membership returns its partitions at once.
    let member = ferroflow_testkit::unique("enricher-0");
    let enricher = Enricher::new(
        dir.path(),
        "enricher",
        &topics,
        &ferroflow_testkit::unique("enricher"),
        &[
            ("FERROFLOW_ENRICHER__INSTANCE_ID", "enricher-0"),
            ("FERROFLOW_RDKAFKA_GROUP_INSTANCE_ID", &member),
        ],
    );
    let names = topics.clone();
    let producing = tokio::spawn(async move {
        generate(
            &names,
            &generator_settings(TOTAL, 0, Rate::PerSecond(3000.0), 0.0),
        )
        .await
    });
    let mut child = enricher.start();
    for kill in 1..=3 {
        wait_until(
            Duration::from_secs(60),
            &format!("the enricher is committing before kill {kill}"),
            || {
                child
                    .http_body("/metrics")
                    .is_some_and(|m| commits(&m) > 0.0)
            },
        )
        .await;
        wait_until(Duration::from_secs(60), "some more input", || {
            ferroflow_testkit::topic_size(&topics.stock_ticks) as u64 > TOTAL * kill / 4
        })
        .await;
        child.kill_hard();
        child = enricher.start();
    }
    producing.await.unwrap();
    let out = read_topic(&topics.stock_ticks_enriched, TOTAL as usize, READ);
    assert_exactly_once(&sequences(&out), 0..TOTAL);
    assert!(enricher.log_text().contains("earlier instances fenced"));
    child.kill_hard();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_one_stopped_mid_stream_is_exactly_once() {
    const TOTAL: u64 = 12_000;
    const LOGINS: u64 = 6_000;
    let topics = topics().await;
    let dir = tempfile::tempdir().unwrap();
    let group = ferroflow_testkit::unique("enricher");
    let a = Enricher::new(dir.path(), "enricher-a", &topics, &group, &[]);
    let b = Enricher::new(dir.path(), "enricher-b", &topics, &group, &[]);
    let mut child_a = a.start();
    let mut child_b = b.start();
    wait_until(
        Duration::from_secs(60),
        "both instances share the partitions",
        || {
            child_a.http_status("/readyz") == Some(200)
                && child_b.http_status("/readyz") == Some(200)
        },
    )
    .await;
    let names = topics.clone();
    let producing = tokio::spawn(async move {
        generate(
            &names,
            &generator_settings(TOTAL, LOGINS, Rate::PerSecond(3000.0), 0.0),
        )
        .await
    });
    // Stop b a quarter into the stream: the group rebalances while a is processing, and
    // a's open transaction meets the new generation.
    wait_until(
        Duration::from_secs(60),
        "a quarter of the input is in Kafka",
        || ferroflow_testkit::topic_size(&topics.stock_ticks) as u64 > TOTAL / 4,
    )
    .await;
    let status = child_b
        .stop(Duration::from_secs(30))
        .expect("b stops within its deadline");
    assert!(status.success(), "{}", b.log_text());
    producing.await.unwrap();
    let out = std::panic::catch_unwind(|| {
        (
            read_topic(&topics.stock_ticks_enriched, TOTAL as usize, READ),
            read_topic(&topics.user_login_enriched, LOGINS as usize, READ),
        )
    })
    .unwrap_or_else(|panic| {
        eprintln!(
            "--- enricher-a ---\n{}\n--- enricher-b ---\n{}",
            a.log_text(),
            b.log_text()
        );
        std::panic::resume_unwind(panic)
    });
    assert_exactly_once(&sequences(&out.0), 0..TOTAL);
    assert_exactly_once(&sequences(&out.1), 0..LOGINS);
    assert!(
        child_a.exited().is_none(),
        "a kept running through the rebalance"
    );
    child_a.kill_hard();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_least_once_mode_delivers_every_record() {
    const TOTAL: u64 = 4000;
    let topics = topics().await;
    let dir = tempfile::tempdir().unwrap();
    let enricher = Enricher::new(
        dir.path(),
        "enricher-alo",
        &topics,
        &ferroflow_testkit::unique("enricher"),
        &[("FERROFLOW_ENRICHER__GUARANTEE", "at_least_once")],
    );
    let mut child = enricher.start();
    generate(&topics, &generator_settings(TOTAL, 0, Rate::Max, 0.0)).await;
    let out = read_topic(&topics.stock_ticks_enriched, TOTAL as usize, READ);
    // Without a crash, at-least-once delivers each record once; the guarantee is that
    // none is missing.
    assert_exactly_once(&sequences(&out), 0..TOTAL);
    let metrics = child.http_body("/metrics").unwrap_or_default();
    assert!(metrics.contains("guarantee=\"at_least_once\""), "{metrics}");
    assert!(!enricher.log_text().contains("transactions initialised"));
    child.kill_hard();
}
