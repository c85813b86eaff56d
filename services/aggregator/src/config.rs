//! The `[aggregator]` configuration section.

use std::net::SocketAddr;
use std::time::Duration;

use ferroflow_runtime::config::{ConfigError, ServiceSettings, Validate};
use serde::{Deserialize, Serialize};

use crate::window::{Lateness, Timing, WindowSpec};

/// Settings of the aggregator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AggregatorSettings {
    /// This instance's stable identity: the `transactional.id` is
    /// `ferroflow-aggregator-<instance_id>`, so a restarted instance fences its zombie.
    /// Default: the `HOSTNAME` environment variable, else `aggregator-0`.
    pub instance_id: String,
    /// Consumer group. Default `ferroflow-aggregator`.
    pub group_id: String,
    /// Window length (event time). Default 1m.
    #[serde(with = "humantime_serde")]
    pub window_size: Duration,
    /// Hopping windows: a new window starts every `window_advance`. Unset (default):
    /// tumbling windows, i.e. the advance equals the size.
    #[serde(with = "humantime_serde")]
    pub window_advance: Option<Duration>,
    /// How far behind the largest event time of a partition its watermark trails.
    /// Default 5s.
    #[serde(with = "humantime_serde")]
    pub max_out_of_orderness: Duration,
    /// How long after the watermark passes a window's end the window still accepts
    /// events before it closes. Default 5s.
    #[serde(with = "humantime_serde")]
    pub grace: Duration,
    /// Also emit updating (non-final) results of open windows after every batch.
    /// Default false: each window's result is emitted once, when it closes.
    pub early_results: bool,
    /// Compacted topic of the per-partition checkpoints. Default `<group_id>-state`.
    pub state_topic: Option<String>,
    /// One-partition topic where per-partition login partials meet. Default
    /// `<group_id>-login-partials`.
    pub partials_topic: Option<String>,
    /// Closed windows kept per ticker (and of login statistics) for the query API.
    /// Default 10.
    pub query_history: usize,
    /// Address of the gRPC query API. Default `0.0.0.0:50051`; port 0 picks a free port.
    pub grpc_listen: SocketAddr,
    /// Commit after this many records. Default 50000: results wait for their window to
    /// close anyway, so large transactions cost no visible latency and save commits.
    pub batch_max_records: usize,
    /// Commit this long after a batch's first record at the latest. Default 1s.
    #[serde(with = "humantime_serde")]
    pub batch_max_wait: Duration,
    /// Limit of each transactional call (init, send offsets, commit) and of state
    /// restoration reads. Default 30s.
    #[serde(with = "humantime_serde")]
    pub transaction_timeout: Duration,
}

impl Default for AggregatorSettings {
    fn default() -> Self {
        AggregatorSettings {
            instance_id: std::env::var("HOSTNAME")
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "aggregator-0".into()),
            group_id: "ferroflow-aggregator".into(),
            window_size: Duration::from_secs(60),
            window_advance: None,
            max_out_of_orderness: Duration::from_secs(5),
            grace: Duration::from_secs(5),
            early_results: false,
            state_topic: None,
            partials_topic: None,
            query_history: 10,
            grpc_listen: SocketAddr::from(([0, 0, 0, 0], 50051)),
            batch_max_records: 50_000,
            batch_max_wait: Duration::from_secs(1),
            transaction_timeout: Duration::from_secs(30),
        }
    }
}

impl AggregatorSettings {
    /// The state topic's name.
    pub fn state_topic(&self) -> String {
        self.state_topic
            .clone()
            .unwrap_or_else(|| format!("{}-state", self.group_id))
    }

    /// The partials topic's name.
    pub fn partials_topic(&self) -> String {
        self.partials_topic
            .clone()
            .unwrap_or_else(|| format!("{}-login-partials", self.group_id))
    }

    /// The windows and lateness rules (valid once [`Validate::validate`] passed).
    pub fn timing(&self) -> Result<Timing, ConfigError> {
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let size = ms(self.window_size);
        let advance = self.window_advance.map(ms).unwrap_or(size);
        let spec = WindowSpec::hopping(size, advance).map_err(|problem| {
            let key = if problem.concerns_advance() {
                "aggregator.window_advance"
            } else {
                "aggregator.window_size"
            };
            ConfigError::invalid(
                key,
                problem.to_string(),
                "whole milliseconds, at least 1ms, with window_advance <= window_size",
            )
        })?;
        Ok(Timing::new(
            spec,
            Lateness {
                out_of_orderness_ms: ms(self.max_out_of_orderness),
                grace_ms: ms(self.grace),
            },
        ))
    }
}

fn topic_name_ok(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= 249
        && topic != "."
        && topic != ".."
        && topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

impl Validate for AggregatorSettings {
    fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        let key = |k: &str| format!("{prefix}.{k}");
        if self.instance_id.is_empty()
            || !self
                .instance_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(ConfigError::invalid(
                &key("instance_id"),
                format!("`{}` is not a usable identity", self.instance_id),
                "letters, digits, '-', '_' or '.', e.g. \"aggregator-0\"",
            ));
        }
        if self.group_id.trim().is_empty() {
            return Err(ConfigError::invalid(
                &key("group_id"),
                "empty",
                "a consumer group name",
            ));
        }
        for (name, topic) in [
            ("state_topic", self.state_topic()),
            ("partials_topic", self.partials_topic()),
        ] {
            if !topic_name_ok(&topic) {
                return Err(ConfigError::invalid(
                    &key(name),
                    format!("`{topic}` is not a legal Kafka topic name"),
                    "1 to 249 characters of [a-zA-Z0-9._-]",
                ));
            }
        }
        for (name, d) in [
            ("window_size", Some(self.window_size)),
            ("window_advance", self.window_advance),
            ("max_out_of_orderness", Some(self.max_out_of_orderness)),
            ("grace", Some(self.grace)),
        ] {
            if let Some(d) = d
                && d.subsec_nanos() % 1_000_000 != 0
            {
                return Err(ConfigError::invalid(
                    &key(name),
                    format!("{d:?} is not a whole number of milliseconds"),
                    "a duration in whole milliseconds, e.g. \"1m\" or \"250ms\"",
                ));
            }
        }
        self.timing()?;
        if self.query_history == 0 {
            return Err(ConfigError::invalid(
                &key("query_history"),
                "zero",
                "a count of at least 1",
            ));
        }
        if self.batch_max_records == 0 {
            return Err(ConfigError::invalid(
                &key("batch_max_records"),
                "zero",
                "a count of at least 1",
            ));
        }
        if self.batch_max_wait.is_zero() {
            return Err(ConfigError::invalid(
                &key("batch_max_wait"),
                "zero",
                "a duration such as \"100ms\"",
            ));
        }
        if self.transaction_timeout < Duration::from_secs(1) {
            return Err(ConfigError::invalid(
                &key("transaction_timeout"),
                "shorter than 1s",
                "a duration such as \"30s\"",
            ));
        }
        Ok(())
    }
}

impl ServiceSettings for AggregatorSettings {
    const SECTION: &'static str = "aggregator";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_is_documented_in_docs_configuration_md() {
        let doc = include_str!("../../../docs/configuration.md");
        let missing = ferroflow_runtime::config::undocumented_keys::<AggregatorSettings>(doc);
        assert!(
            missing.is_empty(),
            "add to docs/configuration.md: {missing:?}"
        );
    }

    #[test]
    fn defaults_are_valid_tumbling_minutes() {
        let settings = AggregatorSettings::default();
        settings.validate("aggregator").unwrap();
        let timing = settings.timing().unwrap();
        assert_eq!(timing.spec().size_ms(), 60_000);
        assert_eq!(timing.spec().advance_ms(), 60_000);
        assert_eq!(settings.state_topic(), "ferroflow-aggregator-state");
        assert_eq!(
            settings.partials_topic(),
            "ferroflow-aggregator-login-partials"
        );
    }

    #[test]
    fn an_advance_longer_than_the_window_is_rejected_naming_the_key() {
        let settings = AggregatorSettings {
            window_size: Duration::from_secs(10),
            window_advance: Some(Duration::from_secs(20)),
            ..AggregatorSettings::default()
        };
        let error = settings.validate("aggregator").unwrap_err().to_string();
        assert!(error.contains("aggregator.window_advance"), "{error}");
        assert!(
            error.contains("FERROFLOW_AGGREGATOR__WINDOW_ADVANCE"),
            "{error}"
        );
    }

    #[test]
    fn sub_millisecond_durations_and_zero_windows_are_rejected() {
        let settings = AggregatorSettings {
            grace: Duration::from_micros(1500),
            ..AggregatorSettings::default()
        };
        let error = settings.validate("aggregator").unwrap_err().to_string();
        assert!(error.contains("aggregator.grace"), "{error}");
        let settings = AggregatorSettings {
            window_size: Duration::ZERO,
            ..AggregatorSettings::default()
        };
        let error = settings.validate("aggregator").unwrap_err().to_string();
        assert!(error.contains("aggregator.window_size"), "{error}");
    }
}
