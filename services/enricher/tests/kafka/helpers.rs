//! Topics, an in-process generator, enricher child processes, and output checks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ferroflow_runtime::config::TopicNames;
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

pub use ferroflow_testkit::pipeline::{generate, generator_settings};

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
        let mut env = ferroflow_testkit::pipeline::topic_env(topics);
        env.extend([
            ("FERROFLOW_ENRICHER__GROUP_ID".into(), group.to_string()),
            (
                "FERROFLOW_ENRICHER__INSTANCE_ID".into(),
                ferroflow_testkit::unique(name),
            ),
        ]);
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

pub use ferroflow_testkit::assert_exactly_once;
