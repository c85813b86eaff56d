//! The aggregator's `read_committed` output equals the batch recomputation from the
//! input topics exactly — through SIGKILLs and through an instance leaving the group
//! while records flow: no window missing, none emitted twice, no event counted twice.

use std::time::Duration;

use ferroflow_testkit::{read_topic, topic_size, wait_until};

use crate::helpers::*;

/// Hopping windows of 2 s every 1 s; the watermark 300 ms behind, 200 ms of grace.
const WINDOWS: Windows = Windows {
    size_ms: 2_000,
    advance_ms: 1_000,
    out_of_orderness_ms: 300,
    grace_ms: 200,
};

/// Compares everything the aggregator wrote with the recomputation.
fn assert_matches_recomputation(
    topics: &ferroflow_runtime::config::TopicNames,
    ticks: usize,
    logins: usize,
    logs: &[&Aggregator],
) {
    let check = || {
        let expected = expected(topics, WINDOWS, ticks, logins);
        assert!(expected.bars.len() > 50, "{} bars", expected.bars.len());
        assert!(expected.stats.len() > 10, "{} stats", expected.stats.len());
        assert!(expected.late.len() > 50, "{} late", expected.late.len());

        let bars = read_bars(&topics.stock_bars, expected.bars.len());
        assert_same("stock-bars", &bars, &expected.bars);
        let stats = read_stats(&topics.login_stats, expected.stats.len());
        assert_same("login-stats", &stats, &expected.stats);

        let late = read_topic(&topics.late_events, expected.late.len(), READ);
        assert_eq!(
            sources(&late),
            expected_late(topics, &expected),
            "late events"
        );
        let dead = read_topic(&topics.dead_letters, expected.undecodable.len(), READ);
        assert_eq!(dead.len(), expected.undecodable.len(), "dead letters");
        assert!(
            sources(&dead).values().all(|n| *n == 1),
            "a dead letter twice"
        );
    };
    if let Err(panic) = std::panic::catch_unwind(check) {
        for aggregator in logs {
            eprintln!(
                "--- {} ---\n{}",
                aggregator.log.display(),
                aggregator.log_text()
            );
        }
        std::panic::resume_unwind(panic);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_repeatedly_while_records_flow_the_output_equals_the_batch_recomputation() {
    const TICKS: usize = 24_000;
    const LOGINS: usize = 4_800;
    let topics = topics().await;
    let dir = tempfile::tempdir().unwrap();
    // One identity across restarts: the same transactional.id fences the killed
    // instance's open transaction; static membership returns its partitions at once.
    let member = ferroflow_testkit::unique("aggregator-0");
    let instance = ferroflow_testkit::unique("aggregator");
    let aggregator = Aggregator::new(
        dir.path(),
        "aggregator",
        &topics,
        &ferroflow_testkit::unique("aggregator"),
        WINDOWS,
        &[
            ("FERROFLOW_AGGREGATOR__INSTANCE_ID", &instance),
            ("FERROFLOW_RDKAFKA_GROUP_INSTANCE_ID", &member),
        ],
    );
    let _logs = LogsOnFailure(vec![&aggregator]);
    // 24 s of event time over about 20 s of wall time.
    let ticks = tokio::spawn(produce(plan_ticks(&topics, TICKS, 1, 7), Some(1_200.0)));
    let logins = tokio::spawn(produce(plan_logins(&topics, LOGINS, 5, 11), Some(240.0)));
    let mut child = aggregator.start();
    for kill in 1..=3 {
        wait_until(
            Duration::from_secs(60),
            &format!("the aggregator commits before kill {kill}"),
            || {
                child
                    .http_body("/metrics")
                    .is_some_and(|m| commits(&m) > 0.0)
            },
        )
        .await;
        wait_until(Duration::from_secs(60), "more input", || {
            topic_size(&topics.stock_ticks_enriched) as usize > TICKS * kill / 4
        })
        .await;
        child.kill_hard();
        child = aggregator.start();
    }
    ticks.await.unwrap();
    logins.await.unwrap();
    assert_matches_recomputation(&topics, TICKS, LOGINS, &[&aggregator]);
    let log = aggregator.log_text();
    assert!(log.contains("earlier instances fenced"), "{log}");
    assert!(log.contains("state restored from checkpoint"), "{log}");
    child.kill_hard();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_joining_and_leaving_mid_stream_leaves_the_output_equal_to_the_batch_recomputation()
 {
    const TICKS: usize = 12_000;
    const LOGINS: usize = 2_400;
    let topics = topics().await;
    let dir = tempfile::tempdir().unwrap();
    let group = ferroflow_testkit::unique("aggregator");
    let a = Aggregator::new(dir.path(), "aggregator-a", &topics, &group, WINDOWS, &[]);
    let b = Aggregator::new(dir.path(), "aggregator-b", &topics, &group, WINDOWS, &[]);
    let _logs = LogsOnFailure(vec![&a, &b]);
    let mut child_a = a.start();
    wait_ready(&child_a, &a).await;
    let ticks = tokio::spawn(produce(plan_ticks(&topics, TICKS, 2, 3), Some(1_000.0)));
    let logins = tokio::spawn(produce(plan_logins(&topics, LOGINS, 10, 5), Some(200.0)));
    // b joins a quarter into the stream: a gives partitions up in the middle of its
    // batches (checkpoints written into the transaction the revocation commits), and b
    // rebuilds them from those checkpoints.
    wait_until(Duration::from_secs(60), "a quarter of the input", || {
        topic_size(&topics.stock_ticks_enriched) as usize > TICKS / 4
    })
    .await;
    let mut child_b = b.start();
    wait_ready(&child_b, &b).await;
    // b leaves two thirds into the stream: its partitions (maybe the merge) go back to a.
    wait_until(Duration::from_secs(60), "two thirds of the input", || {
        topic_size(&topics.stock_ticks_enriched) as usize > TICKS * 2 / 3
    })
    .await;
    let status = child_b
        .stop(Duration::from_secs(30))
        .expect("b stops within its deadline");
    assert!(status.success(), "{}", b.log_text());
    ticks.await.unwrap();
    logins.await.unwrap();
    assert_matches_recomputation(&topics, TICKS, LOGINS, &[&a, &b]);
    assert!(
        child_a.exited().is_none(),
        "a kept running through the rebalances"
    );
    let log = a.log_text();
    assert!(log.contains("partitions revoked"), "{log}");
    child_a.kill_hard();
}
