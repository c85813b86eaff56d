//! The `[sink_csv]` configuration section.

use std::path::PathBuf;
use std::time::Duration;

use ferroflow_runtime::config::{ConfigError, ServiceSettings, Validate, list_or_csv};
use serde::{Deserialize, Serialize};

use crate::rows::RecordKind;

/// Settings of sink-csv.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SinkCsvSettings {
    /// Where the files go: `<directory>/<topic>/<topic>-<partition>-<first offset>.csv`.
    /// Default `./data`.
    pub directory: PathBuf,
    /// Consumer group. Default `ferroflow-sink-csv`.
    pub group_id: String,
    /// Streams to write, by their name in `[topics]`. Default `stock_ticks, user_login`.
    #[serde(deserialize_with = "list_or_csv")]
    pub streams: Vec<String>,
    /// Start a new file once the current one reaches this size. Default 64 MiB.
    pub rotate_bytes: u64,
    /// Start a new file once the current one is this old. Default 1h.
    #[serde(with = "humantime_serde")]
    pub rotate_interval: Duration,
    /// Flush (write, fsync, checkpoint, commit) after this many records. Default 10000.
    pub batch_max_records: usize,
    /// Flush this long after the first record of a batch at the latest. Default 1s.
    #[serde(with = "humantime_serde")]
    pub batch_max_wait: Duration,
}

impl Default for SinkCsvSettings {
    fn default() -> Self {
        SinkCsvSettings {
            directory: PathBuf::from("./data"),
            group_id: "ferroflow-sink-csv".into(),
            streams: vec!["stock_ticks".into(), "user_login".into()],
            rotate_bytes: 64 * 1024 * 1024,
            rotate_interval: Duration::from_secs(3600),
            batch_max_records: 10_000,
            batch_max_wait: Duration::from_secs(1),
        }
    }
}

impl Validate for SinkCsvSettings {
    fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        if self.streams.is_empty() {
            return Err(ConfigError::invalid(
                &format!("{prefix}.streams"),
                "empty",
                "stream names such as \"stock_ticks,user_login\"",
            ));
        }
        for stream in &self.streams {
            if RecordKind::for_stream(stream).is_none() {
                return Err(ConfigError::invalid(
                    &format!("{prefix}.streams"),
                    format!("`{stream}` is not a stream sink-csv can write"),
                    format!("some of {}", RecordKind::STREAMS.join(", ")),
                ));
            }
        }
        if self.group_id.trim().is_empty() {
            return Err(ConfigError::invalid(
                &format!("{prefix}.group_id"),
                "empty",
                "a consumer group name",
            ));
        }
        if self.rotate_bytes < 1024 {
            return Err(ConfigError::invalid(
                &format!("{prefix}.rotate_bytes"),
                format!("{} is too small", self.rotate_bytes),
                "a size in bytes of at least 1024",
            ));
        }
        if self.rotate_interval < Duration::from_secs(1) {
            return Err(ConfigError::invalid(
                &format!("{prefix}.rotate_interval"),
                "shorter than 1s",
                "a duration such as \"1h\"",
            ));
        }
        if self.batch_max_records == 0 {
            return Err(ConfigError::invalid(
                &format!("{prefix}.batch_max_records"),
                "zero",
                "a count of at least 1",
            ));
        }
        if self.batch_max_wait.is_zero() {
            return Err(ConfigError::invalid(
                &format!("{prefix}.batch_max_wait"),
                "zero",
                "a duration such as \"1s\"",
            ));
        }
        Ok(())
    }
}

impl ServiceSettings for SinkCsvSettings {
    const SECTION: &'static str = "sink_csv";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_is_documented_in_docs_configuration_md() {
        let doc = include_str!("../../../docs/configuration.md");
        let missing = ferroflow_runtime::config::undocumented_keys::<SinkCsvSettings>(doc);
        assert!(
            missing.is_empty(),
            "add to docs/configuration.md: {missing:?}"
        );
    }
}
