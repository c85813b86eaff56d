//! PostgreSQL stopped and started again while records flow: sink-db reports it (not
//! ready, a metric, a log line), pauses its partitions, and when the database returns
//! writes everything exactly once. A test binary of its own, because it stops the
//! PostgreSQL every other test uses, and cargo runs test binaries one after another.

mod common;

use std::time::Duration;

use common::*;
use ferroflow_testkit::database::{start_postgres, stop_postgres};
use ferroflow_testkit::wait_until;

fn metric(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .next()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_and_started_under_load_loses_and_doubles_nothing() {
    const TOTAL: u64 = 24_000;
    let db = TestDatabase::create().await;
    let topics = topics(3).await;
    let dir = tempfile::tempdir().unwrap();
    let sink = SinkDb::new(
        dir.path(),
        &topics,
        &db.url,
        &[
            ("FERROFLOW_SINK_DB__BATCH_MAX_RECORDS", "1000"),
            ("FERROFLOW_SINK_DB__CONNECT_TIMEOUT", "1s"),
        ],
    );
    let child = sink.start();
    let topic = topics.stock_ticks_enriched.clone();
    let producing = tokio::spawn(async move {
        produce(&topic, ticks(0..TOTAL), 200, Some(2000.0)).await;
    });
    wait_for_rows(
        Duration::from_secs(60),
        "rows flow before the outage",
        3000,
        || db.count("stock_ticks"),
    )
    .await;
    db.pool.close().await;

    stop_postgres();
    let outage = async {
        wait_until(
            Duration::from_secs(30),
            "sink-db reports the database down",
            || {
                let ready = child.http_body("/readyz").unwrap_or_default();
                let metrics = child.http_body("/metrics").unwrap_or_default();
                ready.contains("database unreachable")
                    && child.http_status("/readyz") == Some(503)
                    && metric(&metrics, "ferroflow_sink_db_database_up") == Some(0.0)
                    && metric(&metrics, "ferroflow_sink_db_paused_partitions").unwrap_or(0.0) > 0.0
            },
        )
        .await;
    };
    // Start PostgreSQL again whatever the checks found, so other tests keep a database.
    let reported = tokio::time::timeout(Duration::from_secs(35), outage).await;
    start_postgres();
    reported.expect("the outage was reported");
    assert!(
        sink.log_text()
            .contains("database unreachable: writing a batch failed"),
        "a log line says what is wrong"
    );

    producing.await.unwrap();
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let db = TestDatabase {
        url: db.url.clone(),
        pool,
    };
    wait_for_rows(
        Duration::from_secs(90),
        "every record is written after the outage",
        TOTAL as i64,
        || db.count("stock_ticks"),
    )
    .await;
    assert_exactly_once(
        &db.sequences("stock_ticks", &topics.stock_ticks_enriched)
            .await,
        0..TOTAL,
    );
    wait_until(Duration::from_secs(30), "sink-db is ready again", || {
        child.http_status("/readyz") == Some(200)
    })
    .await;
    assert!(sink.log_text().contains("database reachable again"));
}
