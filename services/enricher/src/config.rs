//! The `[enricher]` configuration section.

use std::path::PathBuf;
use std::time::Duration;

use ferroflow_runtime::config::{ConfigError, ServiceSettings, Validate};
use ferroflow_runtime::kafka::transactional::Guarantee;
use serde::{Deserialize, Serialize};

/// Settings of the enricher.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnricherSettings {
    /// This instance's stable identity: the `transactional.id` is
    /// `ferroflow-enricher-<instance_id>`, so a restarted instance fences its zombie.
    /// Default: the `HOSTNAME` environment variable (a StatefulSet pod name), else
    /// `enricher-0`. Two live instances must never share one.
    pub instance_id: String,
    /// Consumer group. Default `ferroflow-enricher`.
    pub group_id: String,
    /// `exactly_once` (default: Kafka transactions) or `at_least_once`.
    pub guarantee: Guarantee,
    /// TOML file of ticker reference data; default: the built-in table.
    pub reference_file: Option<PathBuf>,
    /// How far in the future an event time may be before it is rejected. Default 5m.
    #[serde(with = "humantime_serde")]
    pub max_future_skew: Duration,
    /// Commit after this many records. Default 50000: at full speed the 100 ms
    /// interval decides, and each commit costs a few milliseconds of stall
    /// (docs/benchmarks.md), so a small cap would commit far more often.
    pub batch_max_records: usize,
    /// Commit this long after a batch's first record at the latest. Default 100ms.
    #[serde(with = "humantime_serde")]
    pub batch_max_wait: Duration,
    /// Limit of each transaction call (init, send offsets, commit). Default 30s.
    #[serde(with = "humantime_serde")]
    pub transaction_timeout: Duration,
}

impl Default for EnricherSettings {
    fn default() -> Self {
        EnricherSettings {
            instance_id: std::env::var("HOSTNAME")
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "enricher-0".into()),
            group_id: "ferroflow-enricher".into(),
            guarantee: Guarantee::ExactlyOnce,
            reference_file: None,
            max_future_skew: Duration::from_secs(300),
            batch_max_records: 50_000,
            batch_max_wait: Duration::from_millis(100),
            transaction_timeout: Duration::from_secs(30),
        }
    }
}

impl Validate for EnricherSettings {
    fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        if self.instance_id.is_empty()
            || !self
                .instance_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(ConfigError::invalid(
                &format!("{prefix}.instance_id"),
                format!("`{}` is not a usable identity", self.instance_id),
                "letters, digits, '-', '_' or '.', e.g. \"enricher-0\"",
            ));
        }
        if self.group_id.trim().is_empty() {
            return Err(ConfigError::invalid(
                &format!("{prefix}.group_id"),
                "empty",
                "a consumer group name",
            ));
        }
        if let Some(path) = &self.reference_file
            && !path.is_file()
        {
            return Err(ConfigError::invalid(
                &format!("{prefix}.reference_file"),
                format!("{} is not a file", path.display()),
                "the path of a TOML file of [[ticker]] entries",
            ));
        }
        if self.batch_max_records == 0 {
            return Err(ConfigError::invalid(
                &format!("{prefix}.batch_max_records"),
                "zero",
                "a count of at least 1",
            ));
        }
        if self.batch_max_wait.is_zero() || self.transaction_timeout < Duration::from_secs(1) {
            let key = if self.batch_max_wait.is_zero() {
                "batch_max_wait"
            } else {
                "transaction_timeout"
            };
            return Err(ConfigError::invalid(
                &format!("{prefix}.{key}"),
                "too short",
                "a duration such as \"100ms\" (batch) or \"30s\" (transaction)",
            ));
        }
        Ok(())
    }
}

impl ServiceSettings for EnricherSettings {
    const SECTION: &'static str = "enricher";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_is_documented_in_docs_configuration_md() {
        let doc = include_str!("../../../docs/configuration.md");
        let missing = ferroflow_runtime::config::undocumented_keys::<EnricherSettings>(doc);
        assert!(
            missing.is_empty(),
            "add to docs/configuration.md: {missing:?}"
        );
    }
}
