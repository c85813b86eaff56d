//! Undecodable records go to the dead-letter topic with their reason; nothing is skipped.

use std::collections::HashSet;
use std::time::Duration;

use ferroflow_generator::config::Rate;
use ferroflow_testkit::wait_until;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_records_go_to_dead_letters_with_reason_and_counts_add_up() {
    const TICKS: u64 = 2000;
    const LOGINS: u64 = 1000;
    let topics = TestTopics::create(3).await;
    let dir = tempfile::tempdir().unwrap();
    let sink = SinkCsv::new(dir.path(), &topics.names, &[]);
    let mut child = sink.start();
    let report = generate(
        &topics.names,
        &generator_settings(TICKS, LOGINS, Rate::Max, 0.2),
    )
    .await;
    let malformed: u64 = report.streams.iter().map(|s| s.malformed).sum();
    assert!(
        malformed > 300,
        "a fifth of the records are malformed: {malformed}"
    );

    let dead = ferroflow_testkit::read_topic(
        &topics.names.dead_letters,
        malformed as usize,
        Duration::from_secs(60),
    );
    wait_until(
        Duration::from_secs(60),
        "all valid rows are written",
        || {
            complete_rows(&sink.dir, &topics.names.stock_ticks)
                + complete_rows(&sink.dir, &topics.names.user_login)
                == (TICKS + LOGINS - malformed) as usize
        },
    )
    .await;

    // Every dead letter is one the generator broke on purpose, with a full account of why.
    let mut dead_by_topic: std::collections::HashMap<String, HashSet<u64>> = Default::default();
    for record in &dead {
        let h = &record.headers;
        assert!(
            h.contains_key("ff-injected-fault"),
            "a valid record was dead-lettered: {h:?}"
        );
        let source = &h["ff-dlq-source-topic"];
        assert!(source == &topics.names.stock_ticks || source == &topics.names.user_login);
        assert!(h["ff-dlq-source-partition"].parse::<i32>().is_ok());
        assert!(h["ff-dlq-source-offset"].parse::<i64>().is_ok());
        assert_eq!(h["ff-dlq-stage"], "sink-csv");
        let kind = h["ff-dlq-error-kind"].as_str();
        assert!(
            ferroflow_schema::DecodeError::KINDS.contains(&kind),
            "unknown reason {kind}"
        );
        assert!(!h["ff-dlq-error-message"].is_empty());
        let fault = h["ff-injected-fault"].as_str();
        let expected: &[&str] = match fault {
            "empty" => &["empty_payload"],
            "missing_field" => &["missing_field"],
            "wrong_type" => &["invalid_field", "malformed_protobuf", "malformed_json"],
            "garbage" => &["malformed_json", "malformed_protobuf"],
            other => panic!("unknown fault {other}"),
        };
        assert!(expected.contains(&kind), "fault {fault} reported as {kind}");
        let seq: u64 = h["ff-seq"].parse().unwrap();
        assert!(
            dead_by_topic.entry(source.clone()).or_default().insert(seq),
            "dead letter doubled"
        );
    }

    // Rows and dead letters together account for every record, each once.
    for (topic, total) in [
        (&topics.names.stock_ticks, TICKS),
        (&topics.names.user_login, LOGINS),
    ] {
        let mut counts = sequence_counts(&sink.dir, topic);
        for seq in dead_by_topic.get(topic).into_iter().flatten() {
            *counts.entry(*seq).or_insert(0) += 1;
        }
        assert_exactly_once(&counts, 0..total);
    }

    let metrics = child.http_body("/metrics").unwrap();
    let counted: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("ferroflow_dead_letters_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(counted as u64, malformed, "dead letters counted in metrics");
    child.kill_hard();
}
