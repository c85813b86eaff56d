//! Every record lands in its table exactly once: in a plain run, across SIGKILLs in the
//! middle of batches, and across a graceful stop.

use std::time::Duration;

use ferroflow_schema::{Format, LoginStats, Record, StockBar};
use ferroflow_testkit::wait_until;

use crate::helpers::*;

fn bar(ticker: &str, window: i64, close: i64, last: bool) -> StockBar {
    StockBar {
        ticker: ticker.into(),
        window_start_ms: 1_694_479_500_000 + window * 60_000,
        window_end_ms: 1_694_479_560_000 + window * 60_000,
        open: 100,
        high: 120,
        low: 90,
        close,
        count: 10,
        mean_price: 105.5,
        twap: 104.25,
        change_percent: (close - 100) as f64,
        first_event_ms: 1_694_479_500_001 + window * 60_000,
        last_event_ms: 1_694_479_559_999 + window * 60_000,
        r#final: last,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stream_lands_in_its_table_with_typed_columns() {
    let db = TestDatabase::create().await;
    let topics = topics(3).await;
    let dir = tempfile::tempdir().unwrap();
    let sink = SinkDb::new(dir.path(), &topics, &db.url, &[]);
    let mut child = sink.start();

    produce(&topics.stock_ticks_enriched, ticks(0..600), 100, None).await;
    produce(&topics.user_login_enriched, logins(0..300), 100, None).await;
    // An early and a final result of one window, and a final one of the next.
    let bars = [
        bar("STK_ONE", 0, 101, false),
        bar("STK_ONE", 0, 110, true),
        bar("STK_ONE", 1, 95, true),
    ];
    let outgoing = bars
        .iter()
        .enumerate()
        .map(|(i, b)| (b.key(), b.encode_as(Format::Protobuf), i as u64))
        .collect();
    produce(&topics.stock_bars, outgoing, 10, None).await;
    let stats = LoginStats {
        window_start_ms: 1_694_479_500_000,
        window_end_ms: 1_694_479_560_000,
        logins: 5,
        by_locale: [("RU".to_string(), 3), ("US".to_string(), 2)].into(),
        by_device_type: [("android".to_string(), 5)].into(),
        by_app_version: [("2.3.0".to_string(), 4), ("2.2.9".to_string(), 1)].into(),
        distinct_users_estimate: 4,
        distinct_users_relative_error: 0.0081,
        outdated_logins: 1,
        outdated_share: 0.2,
        top_locales: Vec::new(),
        r#final: true,
    };
    produce(
        &topics.login_stats,
        vec![(stats.key(), stats.encode_as(Format::Protobuf), 0)],
        1,
        None,
    )
    .await;

    wait_for_rows(
        Duration::from_secs(60),
        "every record is written",
        600 + 300 + 2 + 1 + 5,
        || async {
            db.count("stock_ticks").await
                + db.count("user_logins").await
                + db.count("stock_bars").await
                + db.count("login_stats").await
                + db.count("login_stats_breakdown").await
        },
    )
    .await;
    assert_exactly_once(
        &db.sequences("stock_ticks", &topics.stock_ticks_enriched)
            .await,
        0..600,
    );
    assert_exactly_once(
        &db.sequences("user_logins", &topics.user_login_enriched)
            .await,
        0..300,
    );

    // Typed columns: timestamps are timestamptz, numbers bigint, flags boolean.
    let (ticker, minute, price, change): (String, chrono::DateTime<chrono::Utc>, i64, Option<i64>) =
        sqlx::query_as(
            "SELECT ticker, date_trunc('minute', event_time), price, change \
             FROM stock_ticks WHERE seq = 7",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!((ticker.as_str(), price, change), ("STK_MNO", 107, Some(1)));
    assert_eq!(minute.to_rfc3339(), "2023-09-12T00:45:00+00:00");
    let (close, last): (i64, bool) = sqlx::query_as(
        "SELECT close, final FROM stock_bars WHERE ticker = 'STK_ONE' ORDER BY window_start LIMIT 1",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        (close, last),
        (110, true),
        "the final result replaced the early one"
    );
    let per_locale: Vec<(String, i64)> = sqlx::query_as(
        "SELECT value, logins FROM login_stats_breakdown WHERE dimension = 'locale' ORDER BY value",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(per_locale, [("RU".into(), 3), ("US".into(), 2)]);
    // The full IP never reaches the database.
    let ip_columns: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'user_logins' AND column_name = 'ip'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(ip_columns, 0);

    // Each partition's stored offset is the one after its last row (the high watermark
    // is further: it counts the producer's transaction markers).
    let (stored, after_last): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT sum(next_offset)::bigint FROM kafka_offsets WHERE topic = $1), \
                (SELECT sum(n)::bigint FROM (SELECT max(kafka_offset) + 1 AS n FROM stock_ticks \
                 WHERE kafka_topic = $1 GROUP BY kafka_partition) AS p)",
    )
    .bind(&topics.stock_ticks_enriched)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(stored, after_last);

    assert_eq!(
        child.http_status("/readyz"),
        Some(200),
        "{}",
        child.http_body("/readyz").unwrap_or_default()
    );
    let metrics = child.http_body("/metrics").unwrap();
    assert!(
        metrics.contains("ferroflow_sink_db_rows_written_total{")
            && metrics.contains("table=\"stock_ticks\""),
        "{metrics}"
    );
    assert!(
        metrics.contains("ferroflow_sink_db_database_up"),
        "{metrics}"
    );
    child.kill_hard();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_db_killed_mid_batch_several_times_writes_every_record_exactly_once() {
    const TOTAL: u64 = 30_000;
    let db = TestDatabase::create().await;
    let topics = topics(3).await;
    let dir = tempfile::tempdir().unwrap();
    // Static membership: the restarted process takes its partitions back at once. Small
    // batches, so that a kill lands in the middle of one more often than between two.
    let instance = ferroflow_testkit::unique("sink-db-0");
    let sink = SinkDb::new(
        dir.path(),
        &topics,
        &db.url,
        &[
            ("FERROFLOW_SINK_DB__BATCH_MAX_RECORDS", "400"),
            ("FERROFLOW_SINK_DB__BATCH_MAX_WAIT", "20ms"),
            ("FERROFLOW_RDKAFKA_GROUP_INSTANCE_ID", &instance),
        ],
    );
    let topic = topics.stock_ticks_enriched.clone();
    let producing = tokio::spawn(async move {
        produce(&topic, ticks(0..TOTAL), 200, Some(5000.0)).await;
    });
    let mut child = sink.start();
    for kill in 1..=4 {
        let before = db.count("stock_ticks").await;
        wait_for_rows(
            Duration::from_secs(60),
            &format!("progress before kill {kill}"),
            before + 2000,
            || db.count("stock_ticks"),
        )
        .await;
        child.kill_hard();
        child = sink.start();
    }
    producing.await.unwrap();
    wait_for_rows(
        Duration::from_secs(90),
        "every record is written after the kills",
        TOTAL as i64,
        || db.count("stock_ticks"),
    )
    .await;
    assert_exactly_once(
        &db.sequences("stock_ticks", &topics.stock_ticks_enriched)
            .await,
        0..TOTAL,
    );
    assert!(
        sink.log_text()
            .contains("partition positioned at the offset stored in the database"),
        "restarts positioned from the database"
    );
    child.kill_hard();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_writes_the_open_batch_and_exits_zero() {
    let db = TestDatabase::create().await;
    let topics = topics(2).await;
    let dir = tempfile::tempdir().unwrap();
    // A long batch wait: rows reach the database only through the shutdown write.
    let sink = SinkDb::new(
        dir.path(),
        &topics,
        &db.url,
        &[
            ("FERROFLOW_SINK_DB__BATCH_MAX_WAIT", "1h"),
            ("FERROFLOW_SINK_DB__BATCH_MAX_RECORDS", "1000000"),
        ],
    );
    let mut child = sink.start();
    wait_until(Duration::from_secs(60), "sink-db is ready", || {
        child.http_status("/readyz") == Some(200)
    })
    .await;
    produce(&topics.stock_ticks_enriched, ticks(0..500), 100, None).await;
    wait_until(
        Duration::from_secs(30),
        "sink-db has consumed the records",
        || {
            child.http_body("/metrics").is_some_and(|m| {
                m.lines().any(|l| {
                    l.starts_with("ferroflow_records_total")
                        && l.contains("outcome=\"consumed\"")
                        && l.ends_with(" 500")
                })
            })
        },
    )
    .await;
    assert_eq!(
        db.count("stock_ticks").await,
        0,
        "nothing written before shutdown"
    );
    let status = child
        .stop(Duration::from_secs(30))
        .expect("exits within the deadline");
    assert!(
        status.success(),
        "exit status {status:?}\n{}",
        sink.log_text()
    );
    assert_exactly_once(
        &db.sequences("stock_ticks", &topics.stock_ticks_enriched)
            .await,
        0..500,
    );
    assert!(sink.log_text().contains("every batch written"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_as_in_the_embedded_run_every_record_lands_once() {
    let topics = topics(3).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data/sink-db.sqlite");
    let url = format!("sqlite://{}", file.display());
    let sink = SinkDb::new(dir.path(), &topics, &url, &[]);
    let mut child = sink.start();
    produce(&topics.stock_ticks_enriched, ticks(0..2000), 100, None).await;
    produce(&topics.user_login_enriched, logins(0..500), 100, None).await;
    wait_until(Duration::from_secs(60), "the SQLite file exists", || {
        file.exists()
    })
    .await;
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let count = |table: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(&format!("SELECT count(*) FROM {table}"))
                .fetch_one(&pool)
                .await
                .unwrap_or(0)
        }
    };
    wait_for_rows(
        Duration::from_secs(60),
        "every record is in SQLite",
        2500,
        || async { count("stock_ticks").await + count("user_logins").await },
    )
    .await;
    let distinct: i64 = sqlx::query_scalar("SELECT count(DISTINCT seq) FROM stock_ticks")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!((count("stock_ticks").await, distinct), (2000, 2000));
    let (first, last): (String, String) =
        sqlx::query_as("SELECT min(event_time), max(event_time) FROM stock_ticks")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        (first.as_str(), last.as_str()),
        ("2023-09-12T00:45:51.000Z", "2023-09-12T00:45:52.999Z")
    );
    child.kill_hard();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_sharing_partitions_through_rebalances_write_every_record_once() {
    const TOTAL: u64 = 20_000;
    let db = TestDatabase::create().await;
    let topics = topics(6).await;
    let dir = tempfile::tempdir().unwrap();
    let group = ferroflow_testkit::unique("sink-db");
    let settings = [
        ("FERROFLOW_SINK_DB__GROUP_ID", group.as_str()),
        ("FERROFLOW_SINK_DB__BATCH_MAX_RECORDS", "300"),
    ];
    let first = SinkDb::new(&dir.path().join("a"), &topics, &db.url, &settings);
    let second = SinkDb::new(&dir.path().join("b"), &topics, &db.url, &settings);
    std::fs::create_dir_all(dir.path().join("a")).unwrap();
    std::fs::create_dir_all(dir.path().join("b")).unwrap();
    let topic = topics.stock_ticks_enriched.clone();
    let producing = tokio::spawn(async move {
        produce(&topic, ticks(0..TOTAL), 200, Some(4000.0)).await;
    });
    let mut a = first.start();
    wait_for_rows(
        Duration::from_secs(60),
        "the first instance writes",
        2000,
        || db.count("stock_ticks"),
    )
    .await;
    // A second instance joins: partitions move to it while batches are open.
    let mut b = second.start();
    let before = db.count("stock_ticks").await;
    wait_for_rows(Duration::from_secs(60), "both write", before + 4000, || {
        db.count("stock_ticks")
    })
    .await;
    // The first leaves (SIGTERM): its partitions move back to the second.
    let status = a.stop(Duration::from_secs(30)).expect("stops");
    assert!(status.success(), "{}", first.log_text());
    producing.await.unwrap();
    wait_for_rows(
        Duration::from_secs(90),
        "every record is written",
        TOTAL as i64,
        || db.count("stock_ticks"),
    )
    .await;
    assert_exactly_once(
        &db.sequences("stock_ticks", &topics.stock_ticks_enriched)
            .await,
        0..TOTAL,
    );
    assert!(second.log_text().contains("partitions assigned"));
    b.kill_hard();
}
