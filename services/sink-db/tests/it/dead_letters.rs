//! What the database refuses goes to `dead-letters` with the reason; the rest is written.

use std::time::Duration;

use ferroflow_schema::{EnrichedStockTick, Format, Record, StockBar};

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_the_database_refuses_go_to_dead_letters_with_the_reason_and_the_rest_is_written() {
    let db = TestDatabase::create().await;
    let topics = topics(1).await;
    let dir = tempfile::tempdir().unwrap();
    let sink = SinkDb::new(dir.path(), &topics, &db.url, &[]);
    let mut child = sink.start();

    // 50 ticks in one transaction; 17 breaks the price > 0 constraint, 33 has text
    // PostgreSQL cannot store (a NUL byte), 40 is not a tick at all.
    let mut records = ticks(0..50);
    let mut bad = |seq: usize, edit: &dyn Fn(&mut EnrichedStockTick)| {
        let mut tick: EnrichedStockTick =
            ferroflow_schema::decode(Some(&records[seq].1), Some(b"application/x-protobuf"), None)
                .unwrap();
        edit(&mut tick);
        records[seq].1 = tick.encode_as(Format::Protobuf);
    };
    bad(17, &|t| t.price = -5);
    bad(33, &|t| t.name = "nul\0byte".into());
    records[40].1 = b"\x08\x96\x01garbage".to_vec();
    produce(&topics.stock_ticks_enriched, records, 50, None).await;
    // A bar whose window ends before it starts, and one in the year -5000 (before
    // PostgreSQL's timestamptz range), among good ones.
    let mut bars: Vec<Outgoing> = (0..6)
        .map(|i| {
            let mut b = StockBar {
                ticker: format!("STK_{i}"),
                window_start_ms: 1_694_479_500_000,
                window_end_ms: 1_694_479_560_000,
                open: 1,
                high: 2,
                low: 1,
                close: 2,
                count: 2,
                mean_price: 1.5,
                twap: 1.5,
                change_percent: 100.0,
                first_event_ms: 1_694_479_500_000,
                last_event_ms: 1_694_479_500_001,
                r#final: true,
            };
            if i == 2 {
                b.window_end_ms = b.window_start_ms - 1;
            }
            if i == 4 {
                b.first_event_ms = -220_000_000_000_000;
            }
            (b.key(), b.encode_as(Format::Protobuf), 1000 + i)
        })
        .collect();
    bars.truncate(6);
    produce(&topics.stock_bars, bars, 6, None).await;

    wait_for_rows(
        Duration::from_secs(60),
        "the good rows are written",
        47 + 4,
        || async { db.count("stock_ticks").await + db.count("stock_bars").await },
    )
    .await;
    let dead = ferroflow_testkit::read_topic(&topics.dead_letters, 5, Duration::from_secs(60));
    assert_eq!(
        dead.len(),
        5,
        "each refused record once: {:?}",
        dead.iter().map(|d| &d.headers).collect::<Vec<_>>()
    );
    let reason = |seq: &str| {
        let d = dead
            .iter()
            .find(|d| d.headers["ff-seq"] == seq)
            .unwrap_or_else(|| panic!("a dead letter for seq {seq}"));
        assert_eq!(d.headers["ff-dlq-stage"], "sink-db");
        (
            d.headers["ff-dlq-error-kind"].clone(),
            d.headers["ff-dlq-error-message"].clone(),
        )
    };
    let (kind, message) = reason("17");
    assert_eq!(kind, "rejected_by_database");
    assert!(message.contains("stock_ticks_price_check"), "{message}");
    let (kind, message) = reason("33");
    assert_eq!(kind, "rejected_by_database");
    assert!(message.contains("0x00"), "{message}");
    assert!(reason("40").0.starts_with("malformed_"));
    assert!(
        reason("1002").1.contains("stock_bars_check"),
        "{}",
        reason("1002").1
    );
    assert!(
        reason("1004").1.contains("out of range"),
        "{}",
        reason("1004").1
    );

    let written = db
        .sequences("stock_ticks", &topics.stock_ticks_enriched)
        .await;
    assert_eq!(written.len(), 47);
    assert!(![17, 33, 40].iter().any(|s| written.contains_key(s)));
    child.kill_hard();
}
