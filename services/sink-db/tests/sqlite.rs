//! The write path on SQLite, in process (no Kafka): migrations, offsets stored with the
//! rows, replays, crashes before commit, refused rows, and how aggregates replace each
//! other. The same code runs on PostgreSQL in the integration tests.

use std::collections::BTreeMap;

use ferroflow_runtime::kafka::context::TopicPartition;
use ferroflow_schema::{EnrichedStockTick, Format, LocaleCount, LoginStats, Record, StockBar};
use ferroflow_sink_db::batch::{Batch, Entry, message_bytes};
use ferroflow_sink_db::config::SinkDbSettings;
use ferroflow_sink_db::database::Database;
use ferroflow_sink_db::rows::{Rejection, Stream};
use ferroflow_sink_db::write::{Outcome, prepare};
use rdkafka::Timestamp;
use rdkafka::message::{OwnedHeaders, OwnedMessage};
use sqlx::Row as _;

const GROUP: &str = "g";

struct Fixture {
    _dir: tempfile::TempDir,
    db: Database,
    pool: sqlx::SqlitePool,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/sink.sqlite");
    let settings = SinkDbSettings {
        url: format!("sqlite://{}", path.display()),
        ..SinkDbSettings::default()
    };
    let db = Database::connect_lazy(&settings).unwrap();
    db.migrate().await.unwrap();
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    Fixture {
        _dir: dir,
        db,
        pool,
    }
}

fn tp(topic: &str) -> TopicPartition {
    TopicPartition {
        topic: topic.into(),
        partition: 0,
    }
}

fn message(topic: &str, offset: i64, payload: Vec<u8>, seq: i64) -> OwnedMessage {
    let headers = OwnedHeaders::new()
        .insert(rdkafka::message::Header {
            key: "ff-seq",
            value: Some(seq.to_string().as_bytes()),
        })
        .insert(rdkafka::message::Header {
            key: "content-type",
            value: Some("application/x-protobuf".as_bytes()),
        });
    OwnedMessage::new(
        Some(payload),
        None,
        topic.into(),
        Timestamp::NotAvailable,
        0,
        offset,
        Some(headers),
    )
}

fn tick(seq: i64) -> Vec<u8> {
    EnrichedStockTick {
        ticker: "STK_ONE".into(),
        timestamp_ms: 1_694_479_551_000 + seq,
        price: 42 + seq as i32,
        name: "Stock One Corp.".into(),
        exchange: "NASDAQ".into(),
        currency: "USD".into(),
        reference_known: true,
        change: (seq > 0).then_some(1),
        change_percent: (seq > 0).then_some(2.5),
        processing_time_ms: 1_694_479_552_000,
        delay_ms: 1000 - seq,
    }
    .encode_as(Format::Protobuf)
}

fn bar(window: i64, close: i64, last: bool) -> StockBar {
    StockBar {
        ticker: "STK_ONE".into(),
        window_start_ms: window * 60_000,
        window_end_ms: (window + 1) * 60_000,
        open: 10,
        high: 20,
        low: 5,
        close,
        count: 3,
        mean_price: 12.5,
        twap: 12.0,
        change_percent: 1.0,
        first_event_ms: window * 60_000 + 1,
        last_event_ms: window * 60_000 + 2,
        r#final: last,
    }
}

/// A batch of `stream` records at `offsets`, with payloads from `payload(offset)`.
fn batch_of(
    stream: Stream,
    topic: &str,
    expected: Option<i64>,
    offsets: impl IntoIterator<Item = i64>,
    payload: impl Fn(i64) -> Vec<u8>,
) -> Batch {
    let mut batch = Batch::default();
    for offset in offsets {
        let message = message(topic, offset, payload(offset), offset);
        let bytes = message_bytes(&message);
        let entry = Entry {
            offset,
            row: stream.decode(&message),
            message,
        };
        batch.push(&tp(topic), stream, expected, entry, bytes);
    }
    batch
}

async fn count(pool: &sqlx::SqlitePool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

async fn stored(pool: &sqlx::SqlitePool, topic: &str) -> Option<i64> {
    sqlx::query_scalar("SELECT next_offset FROM kafka_offsets WHERE topic = $1")
        .bind(topic)
        .fetch_optional(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_batch_lands_with_its_offsets_in_one_transaction() {
    let f = fixture().await;
    let batch = batch_of(Stream::StockTicksEnriched, "ticks", None, 0..10, tick);
    let prepared = prepare(&f.db, GROUP, &batch).await.unwrap();
    assert!(prepared.rejected.is_empty());
    assert_eq!(prepared.rows.0["stock_ticks"], 10);
    prepared.commit().await.unwrap();

    assert_eq!(count(&f.pool, "SELECT count(*) FROM stock_ticks").await, 10);
    assert_eq!(stored(&f.pool, "ticks").await, Some(10));
    let row = sqlx::query(
        "SELECT ticker, event_time, price, change, seq FROM stock_ticks WHERE kafka_offset = 1",
    )
    .fetch_one(&f.pool)
    .await
    .unwrap();
    assert_eq!(row.get::<String, _>("ticker"), "STK_ONE");
    assert_eq!(
        row.get::<String, _>("event_time"),
        "2023-09-12T00:45:51.001Z"
    );
    assert_eq!(row.get::<i64, _>("price"), 43);
    assert_eq!(row.get::<Option<i64>, _>("change"), Some(1));
    assert_eq!(row.get::<i64, _>("seq"), 1);
}

#[tokio::test]
async fn a_replayed_batch_writes_only_what_the_database_does_not_hold() {
    let f = fixture().await;
    let first = batch_of(Stream::StockTicksEnriched, "ticks", None, 0..10, tick);
    prepare(&f.db, GROUP, &first)
        .await
        .unwrap()
        .commit()
        .await
        .unwrap();

    // After a crash, Kafka redelivers from an older position: 5..15.
    let replay = batch_of(Stream::StockTicksEnriched, "ticks", Some(5), 5..15, tick);
    let prepared = prepare(&f.db, GROUP, &replay).await.unwrap();
    assert_eq!(
        prepared.outcomes[&tp("ticks")],
        Outcome::Applied {
            next: 15,
            handled: 5,
            skipped: 5
        }
    );
    prepared.commit().await.unwrap();
    assert_eq!(count(&f.pool, "SELECT count(*) FROM stock_ticks").await, 15);
    assert_eq!(
        count(&f.pool, "SELECT count(DISTINCT seq) FROM stock_ticks").await,
        15
    );
    assert_eq!(stored(&f.pool, "ticks").await, Some(15));
}

#[tokio::test]
async fn a_batch_not_committed_leaves_neither_rows_nor_offsets() {
    let f = fixture().await;
    let batch = batch_of(Stream::StockTicksEnriched, "ticks", None, 0..10, tick);
    // The process dies between the inserts and the commit.
    drop(prepare(&f.db, GROUP, &batch).await.unwrap());
    assert_eq!(count(&f.pool, "SELECT count(*) FROM stock_ticks").await, 0);
    assert_eq!(stored(&f.pool, "ticks").await, None);
    // And the next attempt writes all of it.
    prepare(&f.db, GROUP, &batch)
        .await
        .unwrap()
        .commit()
        .await
        .unwrap();
    assert_eq!(count(&f.pool, "SELECT count(*) FROM stock_ticks").await, 10);
}

#[tokio::test]
async fn a_stored_offset_below_the_expected_one_asks_to_read_the_partition_again() {
    let f = fixture().await;
    let first = batch_of(Stream::StockTicksEnriched, "ticks", None, 0..10, tick);
    prepare(&f.db, GROUP, &first)
        .await
        .unwrap()
        .commit()
        .await
        .unwrap();
    // The instance believes 20 is stored (the database was restored from an older copy).
    let next = batch_of(Stream::StockTicksEnriched, "ticks", Some(20), 20..25, tick);
    let prepared = prepare(&f.db, GROUP, &next).await.unwrap();
    assert_eq!(
        prepared.outcomes[&tp("ticks")],
        Outcome::Rewind { to: Some(10) }
    );
    prepared.commit().await.unwrap();
    assert_eq!(count(&f.pool, "SELECT count(*) FROM stock_ticks").await, 10);
    assert_eq!(stored(&f.pool, "ticks").await, Some(10));
}

#[tokio::test]
async fn rows_the_database_refuses_are_isolated_and_the_rest_of_the_batch_is_written() {
    let f = fixture().await;
    // Offsets 3 and 6: the window ends before it starts (a CHECK constraint).
    let batch = batch_of(Stream::StockBars, "bars", None, 0..10, |offset| {
        let mut b = bar(offset, 12, true);
        if offset == 3 || offset == 6 {
            b.window_end_ms = b.window_start_ms - 1;
        }
        b.encode_as(Format::Protobuf)
    });
    let prepared = prepare(&f.db, GROUP, &batch).await.unwrap();
    let rejected: Vec<i64> = prepared.rejected.iter().map(|r| r.offset).collect();
    assert_eq!(rejected, [3, 6]);
    assert_eq!(prepared.rejected[0].rejection.kind, Rejection::BY_DATABASE);
    assert!(
        prepared.rejected[0].rejection.message.contains("CHECK"),
        "{}",
        prepared.rejected[0].rejection.message
    );
    prepared.commit().await.unwrap();
    assert_eq!(count(&f.pool, "SELECT count(*) FROM stock_bars").await, 8);
    assert_eq!(stored(&f.pool, "bars").await, Some(10));
}

#[tokio::test]
async fn undecodable_and_out_of_range_records_are_rejected_and_passed() {
    let f = fixture().await;
    let batch = batch_of(
        Stream::StockBars,
        "bars",
        None,
        0..3,
        |offset| match offset {
            0 => b"not a bar".to_vec(),
            1 => StockBar {
                count: u64::MAX,
                ..bar(1, 1, true)
            }
            .encode_as(Format::Protobuf),
            _ => bar(2, 1, true).encode_as(Format::Protobuf),
        },
    );
    let prepared = prepare(&f.db, GROUP, &batch).await.unwrap();
    let kinds: Vec<&str> = prepared.rejected.iter().map(|r| r.rejection.kind).collect();
    assert_eq!(kinds, ["malformed_protobuf", Rejection::OUT_OF_RANGE]);
    prepared.commit().await.unwrap();
    assert_eq!(count(&f.pool, "SELECT count(*) FROM stock_bars").await, 1);
    assert_eq!(stored(&f.pool, "bars").await, Some(3));
}

#[tokio::test]
async fn later_results_of_a_window_replace_earlier_ones_but_never_a_final_one() {
    let f = fixture().await;
    // One batch: early (close 11), final (close 12), then a stray early one (close 13).
    let results = [bar(7, 11, false), bar(7, 12, true), bar(7, 13, false)];
    let batch = batch_of(Stream::StockBars, "bars", None, 0..3, |offset| {
        results[offset as usize].encode_as(Format::Protobuf)
    });
    prepare(&f.db, GROUP, &batch)
        .await
        .unwrap()
        .commit()
        .await
        .unwrap();
    let row = sqlx::query("SELECT close, final, kafka_offset FROM stock_bars")
        .fetch_all(&f.pool)
        .await
        .unwrap();
    assert_eq!(row.len(), 1);
    assert_eq!(row[0].get::<i64, _>("close"), 12);
    assert!(row[0].get::<bool, _>("final"));
    assert_eq!(row[0].get::<i64, _>("kafka_offset"), 1);
}

fn stats(final_result: bool, locales: &[(&str, u64)]) -> LoginStats {
    let by_locale: BTreeMap<String, u64> =
        locales.iter().map(|(l, n)| (l.to_string(), *n)).collect();
    let logins = by_locale.values().sum();
    LoginStats {
        window_start_ms: 0,
        window_end_ms: 60_000,
        logins,
        by_locale,
        by_device_type: BTreeMap::from([("android".to_string(), logins)]),
        by_app_version: BTreeMap::from([("2.3.0".to_string(), logins)]),
        distinct_users_estimate: logins,
        distinct_users_relative_error: 0.0081,
        outdated_logins: 0,
        outdated_share: 0.0,
        top_locales: vec![LocaleCount {
            locale: locales[0].0.into(),
            logins: locales[0].1,
        }],
        r#final: final_result,
    }
}

#[tokio::test]
async fn login_stats_and_their_breakdown_are_replaced_together() {
    let f = fixture().await;
    let results = [
        stats(false, &[("RU", 2), ("US", 1)]),
        stats(true, &[("RU", 3), ("DE", 1)]),
        stats(false, &[("FR", 9)]),
    ];
    let batch = batch_of(Stream::LoginStats, "stats", None, 0..3, |offset| {
        results[offset as usize].encode_as(Format::Protobuf)
    });
    let prepared = prepare(&f.db, GROUP, &batch).await.unwrap();
    assert_eq!(
        prepared.rows.0["login_stats"], 2,
        "the stray early result changes nothing"
    );
    prepared.commit().await.unwrap();
    assert_eq!(
        count(&f.pool, "SELECT logins FROM login_stats WHERE final").await,
        4
    );
    let locales: Vec<(String, i64)> = sqlx::query_as(
        "SELECT value, logins FROM login_stats_breakdown WHERE dimension = 'locale' ORDER BY value",
    )
    .fetch_all(&f.pool)
    .await
    .unwrap();
    assert_eq!(locales, [("DE".to_string(), 1), ("RU".to_string(), 3)]);
    assert_eq!(
        count(&f.pool, "SELECT count(*) FROM login_stats_breakdown").await,
        4
    );
}
