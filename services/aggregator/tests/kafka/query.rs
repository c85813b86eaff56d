//! Windows, late events and dead letters on a small known input, and the query API
//! answering over HTTP and gRPC.

use std::time::Duration;

use ferroflow_aggregator::query::grpc::proto::aggregator_query_client::AggregatorQueryClient;
use ferroflow_aggregator::query::grpc::proto::{GetLoginStatsRequest, GetTickerBarsRequest};
use ferroflow_schema::{LoginStats, StockBar};
use ferroflow_testkit::{read_topic, wait_until};

use crate::helpers::*;

/// Tumbling 1 s windows, no out-of-orderness, no grace: easy to reason about.
const WINDOWS: Windows = Windows {
    size_ms: 1_000,
    advance_ms: 1_000,
    out_of_orderness_ms: 0,
    grace_ms: 0,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_input_gives_known_bars_late_events_dead_letters_and_query_answers() {
    let topics = topics().await;
    let dir = tempfile::tempdir().unwrap();
    let aggregator = Aggregator::new(
        dir.path(),
        "aggregator-q",
        &topics,
        &ferroflow_testkit::unique("aggregator"),
        WINDOWS,
        &[],
    );
    let _logs = LogsOnFailure(vec![&aggregator]);
    let mut child = aggregator.start();
    let tick_at = |t: i64, price: i32| Planned {
        topic: topics.stock_ticks_enriched.clone(),
        partition: 0,
        key: "STK_ONE".into(),
        payload: tick("STK_ONE", T0 + t, price),
    };
    let mut rng = Rng::new(1);
    let mut records = vec![
        tick_at(100, 10),
        tick_at(600, 12),
        tick_at(1_100, 11), // watermark T0+1100 closes [T0, T0+1000)
        tick_at(500, 99),   // late
        Planned {
            payload: b"not protobuf at all".to_vec(),
            ..tick_at(0, 0)
        },
        tick_at(1_700, 13),
    ];
    // Every login partition reaches second 2, which closes [T0, T0+1000) there.
    for (partition, user) in [(0, 1u64), (1, 2), (2, 3)] {
        for second in [0, 2] {
            records.push(Planned {
                topic: topics.user_login_enriched.clone(),
                partition,
                key: format!("user-{user}"),
                payload: login(user, T0 / 1_000 + second, &mut rng),
            });
        }
    }
    produce(records, None).await;

    let bars = read_bars(&topics.stock_bars, 1);
    let bar = &bars[&format!("STK_ONE@{T0}-{}", T0 + 1_000)];
    assert_eq!(
        (bar.open, bar.high, bar.low, bar.close, bar.count),
        (10, 12, 10, 12, 2),
        "the late 99 is not in it"
    );
    assert_eq!(bar.mean_price, 11.0);
    assert_eq!(bar.twap, (10.0 * 500.0 + 12.0 * 400.0) / 900.0);
    assert!(bar.r#final);

    let stats = read_stats(&topics.login_stats, 1);
    assert_eq!(stats.len(), 1);
    let window = &stats[&format!("{T0}-{}", T0 + 1_000)];
    assert_eq!((window.logins, window.distinct_users_estimate), (3, 3));
    assert_eq!(window.by_locale.values().sum::<u64>(), 3);

    let late = read_topic(&topics.late_events, 1, READ);
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].headers["ff-dlq-error-kind"], "late");
    assert_eq!(late[0].headers["ff-dlq-source-offset"], "3");
    assert_eq!(late[0].headers["ff-dlq-stage"], "aggregator");
    assert!(late[0].headers["ff-dlq-error-message"].contains("too late"));
    let dead = read_topic(&topics.dead_letters, 1, READ);
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].headers["ff-dlq-source-offset"], "4");
    assert!(!dead[0].headers["ff-dlq-error-kind"].is_empty());

    // HTTP JSON, on the runtime's port.
    let body = child.http_body("/v1/bars/STK_ONE").expect("HTTP answers");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let closed: StockBar = serde_json::from_value(json["closed"][0].clone()).unwrap();
    assert_eq!(&closed, bar);
    let open: StockBar = serde_json::from_value(json["open"].clone()).unwrap();
    assert_eq!(
        (open.window_start_ms, open.count, open.r#final),
        (T0 + 1_000, 2, false)
    );
    assert_eq!(child.http_status("/v1/bars/NOPE"), Some(404));
    let body = child.http_body("/v1/login-stats").unwrap();
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let latest: LoginStats = serde_json::from_value(json["latest"].clone()).unwrap();
    assert_eq!(&latest, window);

    // gRPC, on its own port.
    let endpoint = format!("http://127.0.0.1:{}", aggregator.grpc_port);
    let mut client = AggregatorQueryClient::connect(endpoint)
        .await
        .expect("gRPC connects");
    let reply = client
        .get_ticker_bars(GetTickerBarsRequest {
            ticker: "STK_ONE".into(),
            limit: 5,
        })
        .await
        .unwrap()
        .into_inner();
    let closed: Vec<StockBar> = reply
        .closed
        .into_iter()
        .map(|b| StockBar::try_from(b).unwrap())
        .collect();
    assert_eq!(closed, std::slice::from_ref(bar));
    assert_eq!(StockBar::try_from(reply.open.unwrap()).unwrap(), open);
    let missing = client
        .get_ticker_bars(GetTickerBarsRequest {
            ticker: "NOPE".into(),
            limit: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    let reply = client
        .get_login_stats(GetLoginStatsRequest { limit: 0 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        &LoginStats::try_from(reply.latest.unwrap()).unwrap(),
        window
    );
    assert_eq!(reply.closed.len(), 1);

    let metrics = child.http_body("/metrics").unwrap();
    assert_eq!(
        metric_sum(&metrics, "ferroflow_aggregator_late_events_total{"),
        1.0,
        "{metrics}"
    );
    assert!(
        metrics.contains("ferroflow_aggregator_watermark_lag_seconds{"),
        "{metrics}"
    );
    // SIGTERM commits and exits cleanly.
    let status = child.stop(Duration::from_secs(30)).expect("stops");
    assert!(status.success(), "{}", aggregator.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_window_settings_stop_start_up_naming_the_key() {
    // Settings are checked before Kafka is contacted: no topics needed.
    let topics = ferroflow_runtime::config::TopicNames::default();
    let dir = tempfile::tempdir().unwrap();
    let aggregator = Aggregator::new(
        dir.path(),
        "aggregator-bad",
        &topics,
        "unused",
        WINDOWS,
        &[("FERROFLOW_AGGREGATOR__WINDOW_ADVANCE", "2s")],
    );
    let mut child = aggregator.start();
    wait_until(Duration::from_secs(30), "the aggregator exits", || {
        child.exited().is_some()
    })
    .await;
    assert!(!child.exited().unwrap().success());
    let log = aggregator.log_text();
    assert!(log.contains("aggregator.window_advance"), "{log}");
    assert!(
        log.contains("FERROFLOW_AGGREGATOR__WINDOW_ADVANCE"),
        "{log}"
    );
}
