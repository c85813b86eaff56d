//! Every record lands exactly once: in a plain run, across SIGKILLs, and across a graceful
//! stop.

use std::time::Duration;

use ferroflow_generator::config::Rate;
use ferroflow_testkit::wait_until;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generator_to_sink_csv_lands_every_record_exactly_once() {
    let topics = TestTopics::create(3).await;
    let dir = tempfile::tempdir().unwrap();
    let sink = SinkCsv::new(dir.path(), &topics.names, &[]);
    let mut child = sink.start();
    let report = generate(
        &topics.names,
        &generator_settings(3000, 1500, Rate::Max, 0.0),
    )
    .await;
    assert_eq!(report.delivered, 4500);

    wait_until(Duration::from_secs(60), "all rows are written", || {
        complete_rows(&sink.dir, &topics.names.stock_ticks) == 3000
            && complete_rows(&sink.dir, &topics.names.user_login) == 1500
    })
    .await;
    assert_exactly_once(
        &sequence_counts(&sink.dir, &topics.names.stock_ticks),
        0..3000,
    );
    assert_exactly_once(
        &sequence_counts(&sink.dir, &topics.names.user_login),
        0..1500,
    );

    // Columns: origin, event time, the record's fields, provenance.
    let rows = ferroflow_sink_csv::read_rows(&sink.dir, &topics.names.stock_ticks).unwrap();
    let row = &rows[0];
    assert_eq!(&row[0], topics.names.stock_ticks.as_str());
    assert!(
        row[3].ends_with('Z') && row[3].contains('T'),
        "event time {:?}",
        &row[3]
    );
    assert!(row[4].starts_with("STK_"));
    assert!(row[7].ends_with(&format!("/{}", topics.names.stock_ticks)));

    assert_eq!(
        child.http_status("/readyz"),
        Some(200),
        "{}",
        child.http_body("/readyz").unwrap_or_default()
    );
    let metrics = child.http_body("/metrics").unwrap();
    assert!(metrics.contains("ferroflow_records_total{"), "{metrics}");
    assert!(metrics.contains("outcome=\"consumed\""), "{metrics}");
    // The process metrics every Prometheus client exports, for dashboards without cAdvisor.
    for name in [
        "process_cpu_seconds_total{",
        "process_resident_memory_bytes{",
        "process_threads{",
    ] {
        assert!(metrics.contains(name), "no {name} in {metrics}");
    }
    child.kill_hard();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_csv_killed_mid_stream_loses_and_doubles_nothing() {
    const TOTAL: u64 = 24_000;
    let topics = TestTopics::create(3).await;
    let dir = tempfile::tempdir().unwrap();
    // Static group membership: the restarted process takes its partitions back at once
    // instead of waiting for the killed member's session to time out.
    let instance = ferroflow_testkit::unique("sink-csv-0");
    let sink = SinkCsv::new(
        dir.path(),
        &topics.names,
        &[
            ("FERROFLOW_SINK_CSV__BATCH_MAX_WAIT", "50ms"),
            ("FERROFLOW_SINK_CSV__BATCH_MAX_RECORDS", "300"),
            ("FERROFLOW_SINK_CSV__ROTATE_BYTES", "65536"),
            ("FERROFLOW_RDKAFKA_GROUP_INSTANCE_ID", &instance),
        ],
    );
    // The generator keeps producing while the sink is killed and restarted.
    let names = topics.names.clone();
    let producing = tokio::spawn(async move {
        generate(
            &names,
            &generator_settings(TOTAL, 0, Rate::PerSecond(4000.0), 0.0),
        )
        .await
    });

    let mut child = sink.start();
    for kill in 1..=4 {
        let before = complete_rows(&sink.dir, &topics.names.stock_ticks);
        wait_until(
            Duration::from_secs(60),
            &format!("progress before kill {kill}"),
            || complete_rows(&sink.dir, &topics.names.stock_ticks) > before + 1500,
        )
        .await;
        child.kill_hard();
        child = sink.start();
    }
    let report = producing.await.unwrap();
    assert_eq!(report.delivered, TOTAL);
    wait_until(
        Duration::from_secs(90),
        "all rows are written after the restarts",
        || complete_rows(&sink.dir, &topics.names.stock_ticks) >= TOTAL as usize,
    )
    .await;
    // Wait for a flush to cover the tail, then compare exactly.
    assert_exactly_once(
        &sequence_counts(&sink.dir, &topics.names.stock_ticks),
        0..TOTAL,
    );
    let log = sink.log_text();
    assert!(
        log.contains("partition recovered from checkpoint"),
        "restarts recovered from checkpoints"
    );
    child.kill_hard();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_commits_and_exits_zero() {
    let topics = TestTopics::create(2).await;
    let dir = tempfile::tempdir().unwrap();
    // A long batch wait: rows only reach disk through the shutdown flush.
    let sink = SinkCsv::new(
        dir.path(),
        &topics.names,
        &[
            ("FERROFLOW_SINK_CSV__BATCH_MAX_WAIT", "1h"),
            ("FERROFLOW_SINK_CSV__BATCH_MAX_RECORDS", "1000000"),
        ],
    );
    let mut child = sink.start();
    wait_until(Duration::from_secs(60), "sink-csv is ready", || {
        child.http_status("/readyz") == Some(200)
    })
    .await;
    generate(&topics.names, &generator_settings(500, 0, Rate::Max, 0.0)).await;
    wait_until(
        Duration::from_secs(30),
        "the sink has consumed the records",
        || {
            child.http_body("/metrics").is_some_and(|m| {
                m.lines().any(|l| {
                    l.starts_with("ferroflow_records_total")
                        && l.contains("consumed")
                        && l.ends_with(" 500")
                })
            })
        },
    )
    .await;
    assert_eq!(
        complete_rows(&sink.dir, &topics.names.stock_ticks),
        0,
        "nothing flushed before shutdown"
    );

    let status = child
        .stop(Duration::from_secs(30))
        .expect("exited within the deadline");
    assert!(
        status.success(),
        "exit status {status:?}\n{}",
        sink.log_text()
    );
    assert_exactly_once(
        &sequence_counts(&sink.dir, &topics.names.stock_ticks),
        0..500,
    );
    assert!(sink.log_text().contains("all rows flushed"));
}
