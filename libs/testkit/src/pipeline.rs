//! Driving the generator from a test: the input side of every pipeline test.

use std::time::Duration;

use ferroflow_generator::config::{GeneratorSettings, Rate};
use ferroflow_runtime::config::{KafkaSettings, TopicNames};
use ferroflow_runtime::health::Health;
use ferroflow_runtime::kafka::KafkaClients;
use ferroflow_runtime::shutdown::Shutdown;

/// Generator settings for `ticks` stock ticks (JSON, six tickers) and `logins` logins (protobuf) at
/// `rate` per stream, with a `malformed` share; a fixed seed, so runs repeat.
pub fn generator_settings(
    ticks: u64,
    logins: u64,
    rate: Rate,
    malformed: f64,
) -> GeneratorSettings {
    let mut s = GeneratorSettings {
        seed: Some(42),
        ..GeneratorSettings::default()
    };
    s.stock_ticks.count = Some(ticks);
    s.stock_ticks.enabled = ticks > 0;
    s.stock_ticks.rate = rate;
    s.stock_ticks.malformed_ratio = malformed;
    s.user_login.count = Some(logins);
    s.user_login.enabled = logins > 0;
    s.user_login.rate = rate;
    s.user_login.format = ferroflow_schema::Format::Protobuf;
    s.user_login.malformed_ratio = malformed;
    s
}

/// Runs the generator to completion in this process against the test broker and asserts
/// that every record was delivered.
pub async fn generate(
    topics: &TopicNames,
    settings: &GeneratorSettings,
) -> ferroflow_generator::Report {
    let kafka = KafkaSettings {
        bootstrap_servers: crate::bootstrap(),
        ..KafkaSettings::default()
    };
    let clients = KafkaClients::new(kafka, "generator", Health::new());
    let report = ferroflow_generator::generate(
        &clients,
        topics,
        settings,
        &Shutdown::new(),
        Duration::from_secs(60),
    )
    .await
    .expect("generator run");
    assert_eq!(report.failed, 0, "generator failed to deliver: {report:?}");
    report
}

/// The environment that points a service at `topics`: one `FERROFLOW_TOPICS__…` variable
/// per topic, named as the runtime's config loader expects.
pub fn topic_env(topics: &TopicNames) -> Vec<(String, String)> {
    topics
        .all()
        .into_iter()
        .map(|(stream, topic)| {
            (
                ferroflow_runtime::config::env_name(&format!("topics.{stream}")),
                topic.to_string(),
            )
        })
        .collect()
}
