//! Losing a broker mid-stream loses and doubles nothing (needs the 3-node test cluster).
//!
//! A test binary of its own: cargo runs test binaries one after another, so no other
//! test is running while this one takes a broker down.

// Shared with the `it` binary; this test uses only part of it.
#[allow(dead_code)]
#[path = "it/helpers.rs"]
mod helpers;

use std::time::Duration;

use ferroflow_generator::config::Rate;
use ferroflow_testkit::wait_until;

use helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_killed_and_restarted_mid_stream_loses_and_doubles_nothing() {
    assert_eq!(
        ferroflow_testkit::cluster_nodes(),
        3,
        "this test needs the 3-node cluster that scripts/test.sh starts (FERROFLOW_TEST_KAFKA_NODES=3)"
    );
    const TOTAL: u64 = 16_000;
    let topics = TestTopics::create(3).await;
    let dir = tempfile::tempdir().unwrap();
    let sink = SinkCsv::new(
        dir.path(),
        &topics.names,
        &[("FERROFLOW_SINK_CSV__BATCH_MAX_WAIT", "100ms")],
    );
    let mut child = sink.start();
    let names = topics.names.clone();
    let producing = tokio::spawn(async move {
        generate(
            &names,
            &generator_settings(TOTAL, 0, Rate::PerSecond(2000.0), 0.0),
        )
        .await
    });

    let rows = || complete_rows(&sink.dir, &topics.names.stock_ticks);
    wait_until(
        Duration::from_secs(60),
        "rows before the broker loss",
        || rows() > 2000,
    )
    .await;
    ferroflow_testkit::kafka_node("kill-node", 2);
    let at_loss = rows();
    // Two of three brokers keep the pipeline moving: leaders move, min.insync.replicas=2
    // still holds, and acks=all writes go on being acknowledged.
    wait_until(
        Duration::from_secs(90),
        "progress with a broker down",
        || rows() > at_loss + 3000,
    )
    .await;
    ferroflow_testkit::kafka_node("start-node", 2);

    let report = producing.await.unwrap();
    assert_eq!((report.delivered, report.failed), (TOTAL, 0));
    wait_until(Duration::from_secs(90), "every row is written", || {
        rows() >= TOTAL as usize
    })
    .await;
    assert_exactly_once(
        &sequence_counts(&sink.dir, &topics.names.stock_ticks),
        0..TOTAL,
    );
    assert!(
        child.exited().is_none(),
        "sink-csv survived the broker loss"
    );
    child.kill_hard();
}
