//! The `[sink_db]` configuration section.

use std::time::Duration;

use ferroflow_runtime::config::{ConfigError, ServiceSettings, Validate, list_or_csv};
use serde::{Deserialize, Serialize, Serializer};

use crate::rows::Stream;

/// Settings of sink-db.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SinkDbSettings {
    /// The database: `postgres://user:password@host:5432/db` (or `postgresql://…`), or
    /// `sqlite:///absolute/path.sqlite` / `sqlite://relative/path.sqlite` (created if
    /// missing). Default `sqlite://./data/sink-db.sqlite`. The password is redacted by
    /// `--print-config`.
    #[serde(serialize_with = "redact_url")]
    pub url: String,
    /// Consumer group; also the key of this sink's rows in `kafka_offsets`. Default
    /// `ferroflow-sink-db`.
    pub group_id: String,
    /// Streams to write, by their name in `[topics]`. Default all four:
    /// `stock_ticks_enriched, user_login_enriched, stock_bars, login_stats`.
    #[serde(deserialize_with = "list_or_csv")]
    pub streams: Vec<String>,
    /// Write a batch once it holds this many records. Default 5000.
    pub batch_max_records: usize,
    /// Write a batch once its records' payloads reach this many bytes. Default 4 MiB.
    pub batch_max_bytes: usize,
    /// Write a batch this long after its first record at the latest. Default 200ms.
    #[serde(with = "humantime_serde")]
    pub batch_max_wait: Duration,
    /// Connections in the pool (PostgreSQL; SQLite always uses one). Default 4.
    pub max_connections: u32,
    /// How long to wait for a connection before counting the database as unreachable.
    /// Default 5s.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// First wait before retrying a failed write; it doubles up to `retry_backoff_max`.
    /// Default 100ms.
    #[serde(with = "humantime_serde")]
    pub retry_backoff_initial: Duration,
    /// Longest wait between retries while the database is unreachable. Default 5s.
    #[serde(with = "humantime_serde")]
    pub retry_backoff_max: Duration,
}

impl Default for SinkDbSettings {
    fn default() -> Self {
        SinkDbSettings {
            url: "sqlite://./data/sink-db.sqlite".into(),
            group_id: "ferroflow-sink-db".into(),
            streams: Stream::ALL.iter().map(|s| s.name().to_string()).collect(),
            batch_max_records: 5000,
            batch_max_bytes: 4 * 1024 * 1024,
            batch_max_wait: Duration::from_millis(200),
            max_connections: 4,
            connect_timeout: Duration::from_secs(5),
            retry_backoff_initial: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(5),
        }
    }
}

/// `postgres://user:secret@host/db` is printed as `postgres://user:<redacted>@host/db`.
pub fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:<redacted>@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

fn redact_url<S: Serializer>(url: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&redacted_url(url))
}

impl Validate for SinkDbSettings {
    fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        let key = |k: &str| format!("{prefix}.{k}");
        if crate::database::Dialect::of_url(&self.url).is_none() {
            return Err(ConfigError::invalid(
                &key("url"),
                format!("`{}` is not a database URL", redacted_url(&self.url)),
                "postgres://user:password@host:5432/database or sqlite:///path/file.sqlite",
            ));
        }
        if self.group_id.trim().is_empty() {
            return Err(ConfigError::invalid(
                &key("group_id"),
                "empty",
                "a consumer group name",
            ));
        }
        if self.streams.is_empty() {
            return Err(ConfigError::invalid(
                &key("streams"),
                "empty",
                "stream names such as \"stock_ticks_enriched,stock_bars\"",
            ));
        }
        for stream in &self.streams {
            if Stream::by_name(stream).is_none() {
                let all: Vec<&str> = Stream::ALL.iter().map(|s| s.name()).collect();
                return Err(ConfigError::invalid(
                    &key("streams"),
                    format!("`{stream}` is not a stream sink-db can write"),
                    format!("some of {}", all.join(", ")),
                ));
            }
        }
        if self.batch_max_records == 0 {
            return Err(ConfigError::invalid(
                &key("batch_max_records"),
                "zero",
                "a count of at least 1",
            ));
        }
        if self.batch_max_bytes < 1024 {
            return Err(ConfigError::invalid(
                &key("batch_max_bytes"),
                format!("{} is too small", self.batch_max_bytes),
                "a size in bytes of at least 1024",
            ));
        }
        for (name, value) in [
            ("batch_max_wait", self.batch_max_wait),
            ("connect_timeout", self.connect_timeout),
            ("retry_backoff_initial", self.retry_backoff_initial),
        ] {
            if value.is_zero() {
                return Err(ConfigError::invalid(
                    &key(name),
                    "zero",
                    "a positive duration such as \"200ms\"",
                ));
            }
        }
        if self.retry_backoff_max < self.retry_backoff_initial {
            return Err(ConfigError::invalid(
                &key("retry_backoff_max"),
                "shorter than retry_backoff_initial",
                "a duration at least as long as sink_db.retry_backoff_initial",
            ));
        }
        if self.max_connections == 0 {
            return Err(ConfigError::invalid(
                &key("max_connections"),
                "zero",
                "a count of at least 1",
            ));
        }
        Ok(())
    }
}

impl ServiceSettings for SinkDbSettings {
    const SECTION: &'static str = "sink_db";
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn every_setting_is_documented_in_docs_configuration_md() {
        let doc = include_str!("../../../docs/configuration.md");
        let missing = ferroflow_runtime::config::undocumented_keys::<SinkDbSettings>(doc);
        assert!(
            missing.is_empty(),
            "add to docs/configuration.md: {missing:?}"
        );
    }

    fn load(pairs: &[(&str, &str)]) -> Result<SinkDbSettings, ConfigError> {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ferroflow_runtime::config::load::<SinkDbSettings>(None, &env).map(|s| s.service)
    }

    #[test]
    fn defaults_write_every_stream_to_sqlite_under_data() {
        let s = load(&[]).unwrap();
        assert_eq!(s.url, "sqlite://./data/sink-db.sqlite");
        assert_eq!(s.streams.len(), 4);
    }

    #[test]
    fn a_url_that_is_neither_postgres_nor_sqlite_is_rejected_naming_the_key() {
        let err = load(&[("FERROFLOW_SINK_DB__URL", "mysql://x@y/z")]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`sink_db.url`"), "{text}");
        assert!(text.contains("FERROFLOW_SINK_DB__URL"), "{text}");
    }

    #[test]
    fn an_unknown_stream_is_rejected() {
        let err = load(&[("FERROFLOW_SINK_DB__STREAMS", "stock_ticks")]).unwrap_err();
        assert!(err.to_string().contains("`sink_db.streams`"), "{err}");
    }

    #[test]
    fn the_password_is_redacted_when_settings_are_printed() {
        let s = load(&[(
            "FERROFLOW_SINK_DB__URL",
            "postgres://ferroflow:hunter2@db:5432/ferroflow",
        )])
        .unwrap();
        let printed = serde_json::to_string(&s).unwrap();
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("postgres://ferroflow:<redacted>@db:5432/ferroflow"));
    }
}
