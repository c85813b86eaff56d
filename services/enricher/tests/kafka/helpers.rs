//! Topics, an in-process generator, enricher child processes, and output checks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferroflow_generator::config::{GeneratorSettings, Rate};
use ferroflow_runtime::config::{KafkaSettings, TopicNames};
use ferroflow_runtime::health::Health;
use ferroflow_runtime::kafka::KafkaClients;
use ferroflow_runtime::shutdown::Shutdown;
use ferroflow_testkit::{ChildService, ReadRecord};

pub async fn topics() -> TopicNames {
    let names = TopicNames {
        stock_ticks: ferroflow_testkit::unique("ticks"),
        user_login: ferroflow_testkit::unique("logins"),
        stock_ticks_enriched: ferroflow_testkit::unique("ticks-enriched"),
        user_login_enriched: ferroflow_testkit::unique("logins-enriched"),
        dead_letters: ferroflow_testkit::unique("dlq"),
        ..TopicNames::default()
    };
    for topic in [
        &names.stock_ticks,
        &names.user_login,
        &names.stock_ticks_enriched,
        &names.user_login_enriched,
        &names.dead_letters,
    ] {
        ferroflow_testkit::create_topic(topic, 3).await;
    }
    names
}

pub fn generator_settings(
    ticks: u64,
    logins: u64,
    rate: Rate,
    malformed: f64,
) -> GeneratorSettings {
    let mut s = GeneratorSettings {
        seed: Some(7),
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

pub async fn generate(
    topics: &TopicNames,
    settings: &GeneratorSettings,
) -> ferroflow_generator::Report {
    let kafka = KafkaSettings {
        bootstrap_servers: ferroflow_testkit::bootstrap(),
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
    assert_eq!(report.failed, 0, "{report:?}");
    report
}

/// An enricher process.
pub struct Enricher {
    env: Vec<(String, String)>,
    pub log: PathBuf,
}

impl Enricher {
    pub fn new(
        dir: &Path,
        name: &str,
        topics: &TopicNames,
        group: &str,
        extra: &[(&str, &str)],
    ) -> Self {
        let mut env: Vec<(String, String)> = vec![
            (
                "FERROFLOW_TOPICS__STOCK_TICKS".into(),
                topics.stock_ticks.clone(),
            ),
            (
                "FERROFLOW_TOPICS__USER_LOGIN".into(),
                topics.user_login.clone(),
            ),
            (
                "FERROFLOW_TOPICS__STOCK_TICKS_ENRICHED".into(),
                topics.stock_ticks_enriched.clone(),
            ),
            (
                "FERROFLOW_TOPICS__USER_LOGIN_ENRICHED".into(),
                topics.user_login_enriched.clone(),
            ),
            (
                "FERROFLOW_TOPICS__DEAD_LETTERS".into(),
                topics.dead_letters.clone(),
            ),
            ("FERROFLOW_ENRICHER__GROUP_ID".into(), group.to_string()),
            (
                "FERROFLOW_ENRICHER__INSTANCE_ID".into(),
                ferroflow_testkit::unique(name),
            ),
        ];
        // Later entries win in the child's environment.
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Enricher {
            env,
            log: dir.join(format!("{name}.log")),
        }
    }

    pub fn start(&self) -> ChildService {
        ChildService::start(
            Path::new(env!("CARGO_BIN_EXE_enricher")),
            &self.env,
            &self.log,
        )
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// `ff-seq` → how many records carry it.
pub fn sequences(records: &[ReadRecord]) -> HashMap<u64, usize> {
    let mut counts = HashMap::new();
    for r in records {
        let seq: u64 = r
            .headers
            .get("ff-seq")
            .and_then(|s| s.parse().ok())
            .expect("ff-seq header");
        *counts.entry(seq).or_insert(0) += 1;
    }
    counts
}

pub fn assert_exactly_once(counts: &HashMap<u64, usize>, total: u64) {
    let missing: Vec<u64> = (0..total)
        .filter(|s| !counts.contains_key(s))
        .take(10)
        .collect();
    let doubled: Vec<(u64, usize)> = counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(s, n)| (*s, *n))
        .take(10)
        .collect();
    assert!(
        missing.is_empty(),
        "missing sequence numbers (first 10): {missing:?}"
    );
    assert!(
        doubled.is_empty(),
        "doubled sequence numbers (first 10): {doubled:?}"
    );
    assert_eq!(counts.len() as u64, total, "unexpected sequence numbers");
}
