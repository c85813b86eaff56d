//! Shared set-up: unique topics, an in-process generator, a sink-csv child process, and
//! readers of what it wrote.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ferroflow_runtime::config::TopicNames;
use ferroflow_testkit::ChildService;

/// Topics of one test, all with unique names.
pub struct TestTopics {
    pub names: TopicNames,
}

impl TestTopics {
    pub async fn create(partitions: i32) -> Self {
        let names = TopicNames {
            stock_ticks: ferroflow_testkit::unique("ticks"),
            user_login: ferroflow_testkit::unique("logins"),
            dead_letters: ferroflow_testkit::unique("dlq"),
            ..TopicNames::default()
        };
        for topic in [&names.stock_ticks, &names.user_login, &names.dead_letters] {
            ferroflow_testkit::create_topic(topic, partitions).await;
        }
        TestTopics { names }
    }
}

pub use ferroflow_testkit::pipeline::{generate, generator_settings};

/// A sink-csv process writing under `dir`.
pub struct SinkCsv {
    pub dir: PathBuf,
    pub log: PathBuf,
    env: Vec<(String, String)>,
}

impl SinkCsv {
    pub fn new(dir: &Path, topics: &TopicNames, extra: &[(&str, &str)]) -> Self {
        let mut env = ferroflow_testkit::pipeline::topic_env(topics);
        env.extend([
            (
                "FERROFLOW_SINK_CSV__DIRECTORY".into(),
                dir.join("csv").display().to_string(),
            ),
            (
                "FERROFLOW_SINK_CSV__GROUP_ID".into(),
                ferroflow_testkit::unique("sink-csv"),
            ),
            ("FERROFLOW_SINK_CSV__BATCH_MAX_WAIT".into(), "200ms".into()),
        ]);
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        SinkCsv {
            dir: dir.join("csv"),
            log: dir.join("sink-csv.log"),
            env,
        }
    }

    pub fn start(&self) -> ChildService {
        ChildService::start(
            Path::new(env!("CARGO_BIN_EXE_sink-csv")),
            &self.env,
            &self.log,
        )
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Complete lines in the CSV files of `topic`, headers excluded: cheap enough to poll
/// while the sink writes (a half-written last line is not counted).
pub fn complete_rows(dir: &Path, topic: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(dir.join(topic)) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .map(|p| {
            let text = std::fs::read(&p).unwrap_or_default();
            text.iter()
                .filter(|b| **b == b'\n')
                .count()
                .saturating_sub(1)
        })
        .sum()
}

/// Sequence number → how many rows carry it, for rows of one producer.
pub fn sequence_counts(dir: &Path, topic: &str) -> HashMap<u64, usize> {
    let rows = ferroflow_sink_csv::read_rows(dir, topic).expect("rows parse");
    let mut counts = HashMap::new();
    for row in &rows {
        let seq: u64 = row
            .get(row.len() - 1)
            .and_then(|s| s.parse().ok())
            .expect("sequence column");
        *counts.entry(seq).or_insert(0) += 1;
    }
    counts
}

pub use ferroflow_testkit::assert_exactly_once;
